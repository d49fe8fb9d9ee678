"""The dilated temporal-convolution lifter: shapes, receptive field and taps checked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from d3prefiner.errors import D3PRError
from d3prefiner.lifters import build_lifter
from d3prefiner.lifters.predict import _context_windows, predict
from d3prefiner.lifters.tcn import gather_taps

torch.set_num_threads(1)


@pytest.mark.parametrize("depth, field", [(1, 9), (2, 27), (4, 243)])
def test_receptive_field_and_output_length(depth, field):
    net = build_lifter("tcn", "tiny", depth=depth)
    assert net.receptive_field == field and net.context == (field - 1) // 2
    x = torch.randn(2, 5 + 2 * net.context, 17, 2)
    y = net.eval()(x)
    assert y.shape == (2, 5, 17, 3)  # T + 2c in, T out
    assert torch.all(y[..., 0, :] == 0)  # root-relative


def test_each_output_frame_sees_exactly_its_receptive_field():
    torch.manual_seed(0)
    net = build_lifter("tcn", "tiny", depth=1).eval()  # receptive field 3^2 = 9, context 4
    T, c = 6, 4
    x = torch.randn(1, T + 2 * c, 17, 2, requires_grad=True)
    for t in range(T):
        (g,) = torch.autograd.grad(net(x)[0, t, 1:].sum(), x)
        touched = torch.nonzero(g.abs().sum(dim=(0, 2, 3))).flatten().tolist()
        # output t is centred on input frame t + c and reads frames t .. t + 2c, no others
        assert touched == list(range(t, t + 2 * c + 1)), (t, touched)


def test_gathered_taps_equal_a_dilated_convolution():
    torch.manual_seed(0)
    B, L, C, O, d = 2, 11, 4, 5, 3
    h = torch.randn(B, L, C)
    w = torch.randn(O, C, 3)  # Conv1d weight (out, in, width)
    conv = F.conv1d(h.transpose(1, 2), w, dilation=d).transpose(1, 2)  # (B, L - 2d, O)
    lin = gather_taps(h, d) @ w.permute(2, 1, 0).reshape(3 * C, O)  # taps t-d, t, t+d
    torch.testing.assert_close(lin, conv)
    # by hand for one entry: out[b, t] = sum_k W_k · h[b, t + k·d]
    b, t = 1, 2
    manual = sum(w[:, :, k] @ h[b, t + k * d] for k in range(3))
    torch.testing.assert_close(lin[b, t], manual)


def test_too_short_input_is_refused():
    net = build_lifter("tcn", "tiny", depth=1)
    with pytest.raises(D3PRError, match="context"):
        net(torch.randn(1, 8, 17, 2))
    with pytest.raises(D3PRError, match="17, 2"):
        net(torch.randn(1, 20, 16, 2))


def test_context_windows_replicate_the_ends():
    seq = np.arange(5, dtype=np.float32)[:, None, None].repeat(17, 1).repeat(2, 2)  # frame ids
    w = _context_windows(seq, T=3, context=2)  # windows start at 0 and 2 (the last aligned)
    assert w.shape == (2, 7, 17, 2)
    assert w[0, :, 0, 0].tolist() == [0, 0, 0, 1, 2, 3, 4]
    assert w[1, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 4, 4]


def test_predict_covers_every_frame_like_a_whole_sequence_pass():
    torch.manual_seed(0)
    net = build_lifter("tcn", "tiny", depth=1).eval()
    a = np.random.default_rng(0).normal(0, 0.3, (23, 17, 2)).astype(np.float32)
    out = predict(net, [a], flip_test=False)[0]
    c = net.context
    padded = np.concatenate([a[:1].repeat(c, 0), a, a[-1:].repeat(c, 0)])
    with torch.no_grad():
        whole = net(torch.as_tensor(padded)[None])[0].numpy()  # the sequence in one pass
    np.testing.assert_allclose(out, whole, atol=1e-5)
