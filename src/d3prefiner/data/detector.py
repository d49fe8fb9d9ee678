"""A 2D detector-noise model, to emulate detected 2D (the paper's CPN setting) from GT 2D.

The noise of a keypoint detector is not white: it has a systematic part (a detector's idea of a hip
or a shoulder differs from the mocap marker's), a slowly varying part (the same appearance gives the
same mistake a few frames in a row), rare gross errors, and left/right confusions of limbs.
:func:`apply_detector_noise` adds, in pixels, per sequence and joint:

* **bias**: a constant offset of length ``bias_px[j]`` in a random direction (drawn per sequence);
* **jitter**: an Ornstein–Uhlenbeck process per axis with standard deviation ``spread_px[j]`` and
  correlation time ``tau`` seconds (AR(1) with ``a = exp(-1 / (fps · tau))``, stationary from the
  first frame);
* **outliers**: with a fraction ``outlier_rate`` of joint-frames affected, bursts of
  ``outlier_duration`` seconds displaced by ``outlier_px · U(0.5, 1.5)`` in a random direction;
* **swaps**: for the leg pair (hip, knee, foot) and the arm pair (elbow, wrist) independently, a
  fraction ``swap_rate`` of frames with left and right exchanged, in bursts of ``swap_duration`` s.

``scale`` multiplies bias, spread and outlier magnitude. :data:`DEFAULT_PROFILE` (the ``detected``
setting everywhere) has ``scale = 4``, calibrated so that a lifter's MPJPE with detected 2D is
1.5–1.8× its MPJPE with GT 2D, the ratio of the paper's Tables I and II, for the `cpu` lifters
(docs/data.md). At scale 4 the mean 2D error is about 30 px, about four times a real CPN's. ``DetectorProfile()`` (scale 1) is the CPN-like profile described next.

CPN-like magnitudes at scale 1, 1000×1002 H36M images, subject ~5 m away). Published CPN detections on
H36M (VideoPose3D's ``cpn_ft_h36m_dbb``) differ from the projected GT by roughly 5–10 px on average,
least on the shoulders / head, most on the wrists and ankles, and the hips carry a systematic offset
(COCO-style hip keypoints sit higher and wider than H36M's hip joint centres). The per-joint RMS
error without outliers is ``sqrt(bias² + 2 spread²)``: hips 10, knees 8, feet 9.5, spine 7,
thorax 5.5, nose 6, head 7, shoulders 6.5, elbows 8, wrists 11 px (mean ≈ 8 px).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import lfilter

from ..errors import D3PRError, check_joints

#: (left joints, right joints) exchanged together by a swap.
SWAP_GROUPS = (((4, 5, 6), (1, 2, 3)), ((12, 13), (15, 16)))

#                Hip RHip RKne RFoo LHip LKne LFoo Spin Thor Nose Head LSho LElb LWri RSho RElb RWri
_BIAS = (4.0, 7.0, 5.0, 5.5, 7.0, 5.0, 5.5, 4.5, 3.0, 3.5, 4.5, 4.0, 5.0, 6.5, 4.0, 5.0, 6.5)
_SPREAD = (3.5, 5.0, 4.4, 5.5, 5.0, 4.4, 5.5, 3.8, 3.3, 3.4, 3.8, 3.6, 4.4, 6.3, 3.6, 4.4, 6.3)


@dataclass(frozen=True)
class DetectorProfile:
    """Parameters of the 2D detector-noise model (pixels and seconds; see module doc).

    Attributes:
        bias_px: (17,) length of the per-sequence constant offset of each joint.
        spread_px: (17,) per-axis standard deviation of the correlated jitter.
        tau: correlation time of the jitter, seconds.
        outlier_rate: fraction of joint-frames inside an outlier burst.
        outlier_px: typical outlier displacement.
        outlier_duration: length of an outlier burst, seconds.
        swap_rate: fraction of frames with a limb pair's left/right exchanged.
        swap_duration: length of a swap, seconds.
        scale: multiplies bias, spread and outlier magnitude.
    """

    bias_px: tuple[float, ...] = _BIAS
    spread_px: tuple[float, ...] = _SPREAD
    tau: float = 0.1
    outlier_rate: float = 0.004
    outlier_px: float = 40.0
    outlier_duration: float = 0.06
    swap_rate: float = 0.004
    swap_duration: float = 0.1
    scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("bias_px", "spread_px"):
            v = tuple(float(x) for x in getattr(self, name))
            if len(v) != 17 or any(not np.isfinite(x) or x < 0 for x in v):
                raise D3PRError(f"detector profile: {name} must be 17 finite values >= 0")
            object.__setattr__(self, name, v)
        for name in ("tau", "outlier_duration", "swap_duration"):
            if not getattr(self, name) > 0:
                raise D3PRError(f"detector profile: {name} must be > 0, got {getattr(self, name)}")
        for name in ("outlier_rate", "swap_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise D3PRError(f"detector profile: {name} must be in [0, 1)")
        if not (self.scale >= 0 and self.outlier_px >= 0):
            raise D3PRError("detector profile: scale and outlier_px must be >= 0")

    def scaled(self, scale: float) -> DetectorProfile:
        """The same profile with another ``scale``."""
        return replace(self, scale=scale)

    def rms_error(self) -> np.ndarray:
        """(17,) expected RMS 2D error per joint in pixels, without outliers and swaps."""
        b, s = np.asarray(self.bias_px), np.asarray(self.spread_px)
        return self.scale * np.sqrt(b**2 + 2 * s**2)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


#: The profile of the ``detected`` setting: CPN-like magnitudes × 4 (see the module doc).
DEFAULT_PROFILE = DetectorProfile(scale=4.0)

#: A profile that adds nothing (GT 2D).
NO_NOISE = DetectorProfile(
    bias_px=(0.0,) * 17, spread_px=(0.0,) * 17, outlier_rate=0.0, swap_rate=0.0
)


def _bursts(
    rng: np.random.Generator, shape: tuple[int, ...], rate: float, length: int
) -> np.ndarray:
    """Boolean mask of ``shape`` (frames first): bursts of ``length`` frames, each frame starting
    one with probability ``rate / length``, so that about ``rate`` of the frames are covered."""
    starts = rng.random(shape) < rate / length
    mask = starts.copy()
    for k in range(1, length):
        mask[k:] |= starts[:-k]
    return mask


def apply_detector_noise(
    pose2d_px: np.ndarray,
    fps: float,
    profile: DetectorProfile = DEFAULT_PROFILE,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Add detector-like noise to 2D poses ``(F, 17, 2)`` in pixels → ``(F, 17, 2)`` pixels.

    Deterministic for a given ``rng`` state (default: ``np.random.default_rng(0)``).
    """
    x = np.asarray(pose2d_px, dtype=np.float64)
    check_joints(x, 17, 2, "2D poses")
    if x.ndim != 3 or len(x) == 0:
        raise D3PRError(f"2D poses: expected a non-empty (F, 17, 2) array, got {x.shape}")
    if not fps > 0:
        raise D3PRError(f"fps must be > 0, got {fps}")
    rng = np.random.default_rng(0) if rng is None else rng
    n = len(x)
    out = x.copy()
    # left/right swaps (before the noise: a detector swaps its own estimates)
    swap_len = max(1, round(profile.swap_duration * fps))
    swaps = _bursts(rng, (n, len(SWAP_GROUPS)), profile.swap_rate, swap_len)  # (F, 2)
    for (left, right), mask in zip(SWAP_GROUPS, swaps.T):
        if mask.any():
            lr = list(left) + list(right)
            out[np.ix_(mask, lr)] = x[np.ix_(mask, list(right) + list(left))]
    s = profile.scale
    # bias: constant per sequence and joint
    angle = rng.uniform(0, 2 * np.pi, 17)
    bias = s * np.asarray(profile.bias_px)[:, None] * np.stack([np.cos(angle), np.sin(angle)], -1)
    # jitter: stationary AR(1) per joint and axis
    a = np.exp(-1.0 / (fps * profile.tau))
    z = rng.standard_normal((n, 17, 2))
    c = np.sqrt(1 - a * a)
    # y_t = a y_{t-1} + c z_t with y_0 = z_0 (unit variance from the first frame)
    jit, _ = lfilter([c], [1.0, -a], z, axis=0, zi=((1 - c) * z[:1]))  # (F, 17, 2)
    jit *= s * np.asarray(profile.spread_px)[None, :, None]
    out += bias[None] + jit
    # outliers
    length = max(1, round(profile.outlier_duration * fps))
    starts = rng.random((n, 17)) < profile.outlier_rate / length  # (F, 17)
    mag = s * profile.outlier_px * rng.uniform(0.5, 1.5, (n, 17))
    ang = rng.uniform(0, 2 * np.pi, (n, 17))
    jump = starts[..., None] * (mag[..., None] * np.stack([np.cos(ang), np.sin(ang)], -1))
    for k in range(length):
        out[k:] += jump[: n - k] if k else jump
    return out
