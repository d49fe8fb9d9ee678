"""Frame-rate changes (data.resample): exact subsampling where rates divide, interpolation else."""

import numpy as np
import pytest

from d3prefiner.data.resample import (
    frame_step,
    interp_frames,
    resample_frames,
    resample_sequence,
    resample_times,
)
from d3prefiner.data.sequences import Sequence
from d3prefiner.errors import D3PRError


def test_frame_step_only_for_integer_ratios():
    assert frame_step(50, 25) == 2 and frame_step(25, 25) == 1 and frame_step(120, 30) == 4
    assert frame_step(30, 25) is None and frame_step(25, 50) is None and frame_step(120, 25) is None


def test_resample_times_by_hand():
    # 30 fps -> 25 fps: output frame k lies at input frame 1.2 k, up to the last input frame (6)
    np.testing.assert_allclose(resample_times(7, 30, 25), [0, 1.2, 2.4, 3.6, 4.8, 6.0])
    # 25 -> 50: every half frame; 3 input frames give 5 output frames
    np.testing.assert_allclose(resample_times(3, 25, 50), [0, 0.5, 1, 1.5, 2])
    assert len(resample_times(1, 50, 12.5)) == 1  # a single frame stays one frame
    with pytest.raises(D3PRError, match="no frames"):
        resample_times(0, 30, 25)


def test_interp_frames_and_subsampling():
    a = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    out = interp_frames(a, np.array([0.0, 2.5, 9.0, 9.7]))  # 9.7 clamps to the last frame
    assert out.dtype == np.float32 and out.shape == (4, 2, 3)
    np.testing.assert_allclose(out[:, 1, 2], [0, 2.5, 9, 9])
    np.testing.assert_array_equal(resample_frames(a, 50, 25), a[::2])  # exact, no interpolation
    np.testing.assert_allclose(
        resample_frames(a, 30, 25)[:, 0, 0], [0, 1.2, 2.4, 3.6, 4.8, 6, 7.2, 8.4]
    )


def test_resample_sequence_interpolates_3d_and_own_2d():
    x = np.zeros((7, 17, 3))
    x[:, :, 0] = np.arange(7)[:, None]  # x-coordinate = input frame index
    seq = Sequence("s", "a", 30.0, x, {"c": x[..., :2].astype(np.float32)})
    out = resample_sequence(seq, 25.0)
    assert out.fps == 25.0 and out.num_frames == 6  # 0, 1.2, …, 6.0
    np.testing.assert_allclose(out.joints3d[:, 0, 0], [0, 1.2, 2.4, 3.6, 4.8, 6.0], atol=1e-12)
    np.testing.assert_allclose(out.pose2d["c"][:, 3, 0], [0, 1.2, 2.4, 3.6, 4.8, 6.0], atol=1e-6)
    with pytest.raises(D3PRError, match="frame rate must be > 0"):
        resample_sequence(seq, -1)
