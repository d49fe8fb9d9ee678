"""Foundation: shape checks, windows, predictions file, STC attention, skeleton."""

import numpy as np
import pytest
import torch

from d3prefiner.data.windows import cut_windows, reassemble, window_starts
from d3prefiner.errors import D3PRError, check_shape
from d3prefiner.io import load_npz
from d3prefiner.nn import STCAttention, STCBlock
from d3prefiner.predictions import Predictions, PredictionSequence
from d3prefiner.skeleton import H36M17, coco17_to_h36m17


def test_check_shape_binds_and_rejects():
    assert check_shape(np.zeros((2, 5, 17, 3)), "B T J 3") == {"B": 2, "T": 5, "J": 17}
    assert check_shape(np.zeros((4, 17, 3)), "* 17 3") == {}
    with pytest.raises(D3PRError, match=r"got \(2, 5, 16, 3\)"):
        check_shape(np.zeros((2, 5, 16, 3)), "B T 17 3")
    with pytest.raises(D3PRError):
        check_shape(np.zeros((2, 3)), "N N")


def test_skeleton_flip_is_involution_and_parents_precede_children():
    perm = H36M17.flip_permutation
    assert [perm[p] for p in perm] == list(range(17))
    assert all(p < j for j, p in enumerate(H36M17.parents) if p >= 0)


def test_coco_mapping_synthesises_pelvis_and_keeps_confidence_min():
    kp = np.random.default_rng(0).random((5, 17, 3)).astype(np.float32)
    out = coco17_to_h36m17(kp)
    assert out.shape == (5, 17, 3)
    np.testing.assert_allclose(out[:, 0, :2], kp[:, [11, 12], :2].mean(1), rtol=1e-6)
    np.testing.assert_allclose(out[:, 0, 2], kp[:, [11, 12], 2].min(1))
    np.testing.assert_allclose(out[:, 13, :2], kp[:, 9, :2])  # LWrist
    with pytest.raises(D3PRError):
        coco17_to_h36m17(np.zeros((5, 17, 4)))


@pytest.mark.parametrize("n", [1, 5, 27, 28, 100, 243])
@pytest.mark.parametrize("T,stride", [(27, 27), (27, 9), (81, 81), (243, 100)])
def test_windows_reassemble_identity(n, T, stride):
    x = np.random.default_rng(n).standard_normal((n, 17, 3)).astype(np.float32)
    w = cut_windows(x, T, stride)
    assert w.shape[1:] == (T, 17, 3)
    np.testing.assert_allclose(reassemble(w, n, T, stride), x, rtol=1e-6, atol=1e-6)
    xt = torch.from_numpy(x)
    torch.testing.assert_close(reassemble(cut_windows(xt, T, stride), n, T, stride), xt)
    # every frame is covered
    covered = set()
    for s in window_starts(n, T, stride):
        covered.update(range(s, min(s + T, n)))
    assert covered == set(range(n))


def test_windows_reject_empty():
    with pytest.raises(D3PRError):
        window_starts(0, 27, 27)


def _seq(n, subject="S9", gt=True):
    rng = np.random.default_rng(n)
    return PredictionSequence(
        subject=subject,
        action="walking_1",
        camera="cam0",
        fps=50.0,
        pose2d=rng.standard_normal((n, 17, 2)).astype(np.float32),
        pred3d=rng.standard_normal((n, 17, 3)).astype(np.float32),
        gt3d=rng.standard_normal((n, 17, 3)).astype(np.float32) if gt else None,
    )


def test_predictions_round_trip(tmp_path):
    preds = Predictions([_seq(10), _seq(3, "S11")], estimator="test")
    preds.save(tmp_path / "p.npz")
    back = Predictions.load(tmp_path / "p.npz")
    assert back.estimator == "test" and len(back) == 2
    for a, b in zip(preds, back):
        assert (a.subject, a.action, a.camera, a.fps) == (b.subject, b.action, b.camera, b.fps)
        np.testing.assert_array_equal(a.pred3d, b.pred3d)
        np.testing.assert_array_equal(a.gt3d, b.gt3d)
    assert back.filter(subjects=["S11"]).num_frames == 3


def test_predictions_reject_bad_input(tmp_path):
    with pytest.raises(D3PRError, match="NaN"):
        s = _seq(4)
        s.pred3d[0, 0, 0] = np.nan
        PredictionSequence(**{**s.__dict__})
    with pytest.raises(D3PRError, match="expected shape"):
        PredictionSequence("S1", "a", "c", 50.0, np.zeros((4, 16, 2)), np.zeros((4, 16, 3)))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(D3PRError, match="pickled"):
        load_npz(tmp_path / "obj.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(D3PRError, match="junk.npz"):
        Predictions.load(tmp_path / "junk.npz")
    with pytest.raises(D3PRError, match="not found"):
        Predictions.load(tmp_path / "missing.npz")


def test_stc_attention_shapes_and_gradients():
    torch.manual_seed(0)
    block = STCBlock(32, heads=4)
    x = torch.randn(2, 9, 17, 32, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    cross = STCAttention(32, heads=4, kv_dim=16)
    assert cross(torch.randn(2, 9, 17, 32), torch.randn(2, 9, 17, 16)).shape == (2, 9, 17, 32)


def test_window_index_with_context_repeats_the_edge_frames():
    from d3prefiner.data.windows import window_index

    idx = window_index(5, 3, 3, context=2)  # windows start at 0 and 2 (aligned to the end)
    assert idx.tolist() == [[0, 0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 4, 4]]
    assert window_index(2, 4, 1, context=1).tolist() == [[0, 0, 1, 1, 1, 1]]  # short: padded
    np.testing.assert_array_equal(window_index(10, 4, 2), window_index(10, 4, 2, context=0))


def test_overlap_average_matches_reassemble_whatever_the_batches():
    from d3prefiner.data.windows import OverlapAverage, cut_windows, reassemble, window_index

    x = np.random.default_rng(0).normal(size=(23, 4, 3))
    w = cut_windows(x, 7, 3) * 2.0  # (W, 7, 4, 3)
    idx = window_index(23, 7, 3)
    acc = OverlapAverage(23, (4, 3))
    for b in (slice(0, 2), slice(2, 5), slice(5, None)):
        acc.add(idx[b], w[b])
    np.testing.assert_allclose(acc.result(), reassemble(w, 23, 7, 3), atol=1e-12)
    np.testing.assert_allclose(acc.result(), 2 * x, atol=1e-12)
    with pytest.raises(D3PRError, match="no window"):
        OverlapAverage(3, (1,)).result()
