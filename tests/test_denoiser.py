"""PoseDenoiser: shapes, gradients, conditioning, presets."""

import pytest
import torch

from d3prefiner.denoiser import DenoiserConfig, PoseDenoiser, timestep_embedding
from d3prefiner.errors import D3PRError


def _inputs(B=2, T=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, T, 17, 3, generator=g),
        torch.randn(B, T, 17, 2, generator=g),
        torch.randint(0, 50, (B,), generator=g),
    )


def _randomise_head(net):
    with torch.no_grad():
        net.head.weight.normal_(0, 0.1)
        net.head.bias.normal_(0, 0.1)


def test_shapes_root_zero_and_untrained_output_zero():
    net = PoseDenoiser(DenoiserConfig.preset("tiny"))
    x, y, t = _inputs()
    out = net(x, y, t)
    assert out.shape == (2, 9, 17, 3)
    assert torch.all(out == 0)  # zero-initialised head: an untrained net changes nothing
    _randomise_head(net)
    out = net(x, y, t)
    assert torch.all(out[..., 0, :] == 0) and out[..., 1:, :].abs().sum() > 0
    assert net(x[:, :1], y[:, :1], 3).shape == (2, 1, 17, 3)  # one frame, int time step


def test_gradients_reach_every_parameter():
    net = PoseDenoiser(DenoiserConfig.preset("tiny", input_noisy=True))
    _randomise_head(net)
    x, y, t = _inputs()
    net(x, y, t, x_cond=x + 0.1).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_output_depends_on_time_step_and_inputs():
    net = PoseDenoiser(DenoiserConfig.preset("tiny"))
    _randomise_head(net)
    x, y, _ = _inputs()
    a = net(x, y, torch.tensor([0, 0]))
    b = net(x, y, torch.tensor([49, 49]))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, net(x, y + 0.5, torch.tensor([0, 0])))
    # per-sample independence: sample 0 does not see sample 1
    c = net(x[:1], y[:1], torch.tensor([0]))
    torch.testing.assert_close(a[:1], c, atol=1e-5, rtol=1e-5)


def test_switches_input_noisy_and_no_timestep():
    x, y, t = _inputs()
    with pytest.raises(D3PRError, match="x_cond"):
        PoseDenoiser(DenoiserConfig.preset("tiny", input_noisy=True))(x, y, t)
    assert PoseDenoiser(DenoiserConfig.preset("tiny", input_noisy=True)).embed.in_features == 8
    plain = PoseDenoiser(DenoiserConfig.preset("tiny"))
    assert plain.embed.in_features == 5
    with pytest.raises(D3PRError, match="pass t"):
        plain(x, y)
    no_t = PoseDenoiser(DenoiserConfig.preset("tiny", timestep=False))
    assert no_t(x, y).shape == x.shape
    assert not any("time" in n for n, _ in no_t.named_parameters())


def test_presets_and_config_validation():
    paper = DenoiserConfig.preset("paper")
    assert (paper.dim, paper.depth) == (256, 4)
    assert DenoiserConfig.preset("paper8").depth == 8
    net = PoseDenoiser(DenoiserConfig.preset("cpu"))
    assert len(net.blocks) == 2
    with pytest.raises(D3PRError):
        DenoiserConfig(dim=30, heads=4)
    with pytest.raises(D3PRError):
        DenoiserConfig.preset("huge")


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0, 1]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    assert emb[1, 4].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item())


def test_attention_in_chunks_equals_attention_whole(monkeypatch):
    """More sequences than one fused call takes (SDPA_MAX_BATCH) are attended in chunks, with the
    same values and gradients as one call."""
    import torch

    import d3prefiner.nn.stc as stc

    q, k, v = (torch.randn(10, 2, 5, 4, requires_grad=True) for _ in range(3))
    whole = stc.attention(q, k, v)
    gw = torch.autograd.grad(whole.sum(), (q, k, v))
    monkeypatch.setattr(stc, "SDPA_MAX_BATCH", 3)  # 10 sequences → chunks of 3, 3, 3, 1
    chunked = stc.attention(q, k, v)
    gc = torch.autograd.grad(chunked.sum(), (q, k, v))
    torch.testing.assert_close(chunked, whole)
    for a, b in zip(gc, gw):
        torch.testing.assert_close(a, b)
