"""Is a predictions file really in Human3.6M-17 joint order? Tell by its geometry.

A file whose 2D comes from a COCO-17 detector, or whose left and right were exchanged somewhere,
has the right shapes and units and passes every other check; refined or evaluated as if it were
H36M-17 it gives garbage. Two ground-truth-free tests name the mix-up instead:

* **2D against 3D** (:func:`order_of_2d`): per frame, the estimate's ``(x, y)`` on the twelve
  limb joints both orders share (hips, knees, ankles, shoulders, elbows, wrists) is fitted to the
  2D by a scale and a shift (weak perspective). The relative residual under the H36M order is
  compared with the residual when the 2D is read in COCO-17 order, and with left and right
  exchanged. A file is named as the other order only when that order fits at least
  :data:`BETTER` times better and H36M's fit is poor (:data:`POOR`): a person seen side-on,
  whose left and right project alike, is never flagged.
* **The 3D's own symmetry** (:func:`limb_asymmetry`): the left and right upper arm, forearm,
  thigh and shin of a person have nearly the same length. COCO-ordered 3D read as H36M pairs,
  e.g., the eyes' distance with a shoulder-to-ear one; it is named as COCO-ordered when its limbs
  read in COCO order are :data:`BETTER` times more symmetric and read in H36M order asymmetric
  (:data:`ASYMMETRIC`).
"""

from __future__ import annotations

import numpy as np

from .errors import D3PRError
from .skeleton import H36M17

#: The limb joints both orders have: H36M-17 indices and the COCO-17 index of the same joint.
H36M_LIMBS = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16)
COCO_LIMBS = (12, 14, 16, 11, 13, 15, 5, 7, 9, 6, 8, 10)
#: H36M-17 with left and right exchanged (hips, legs, shoulders, arms).
H36M_SWAP = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)
#: Left/right limb pairs of H36M-17 (thigh, shin, upper arm, forearm) as (joint, parent) bones
#: (in H36M-17 every joint but the root ends exactly one bone).
LIMB_PAIRS = (((2, 1), (5, 4)), ((3, 2), (6, 5)), ((12, 11), (15, 14)), ((13, 12), (16, 15)))

#: Frames a file is judged on (evenly spread): the medians need no more, and reading stays fast.
MAX_FRAMES = 4000
#: Another order must fit the 2D this many times better than H36M's to be named.
BETTER = 2.5
#: ... and H36M's relative residual must be at least this (a fit within 25 % of the spread).
POOR = 0.25
#: Median |ln(left / right)| of the limb lengths (×1.8) beyond which 3D read in H36M order is
#: asymmetric: a body's is a few per cent, weak lifters' up to ~0.35.
ASYMMETRIC = 0.6


def _relative_residual(pose2d: np.ndarray, pose3d: np.ndarray) -> float:
    """Median over frames of the weak-perspective fit's RMS residual divided by the 2D's RMS
    spread (dimensionless): ``pose2d (F, K, 2)`` against ``pose3d (F, K, 3)``'s x, y."""
    a = pose3d[..., :2] - pose3d[..., :2].mean(axis=1, keepdims=True)  # (F, K, 2)
    b = pose2d - pose2d.mean(axis=1, keepdims=True)  # (F, K, 2)
    aa = (a * a).sum(axis=(1, 2))
    bb = (b * b).sum(axis=(1, 2))
    ok = (aa > 1e-12) & (bb > 1e-12)
    if not ok.any():
        return 0.0
    a, b, aa, bb = a[ok], b[ok], aa[ok], bb[ok]
    s = (a * b).sum(axis=(1, 2)) / aa  # (F,) least-squares scale
    res = ((b - s[:, None, None] * a) ** 2).sum(axis=(1, 2))
    return float(np.median(np.sqrt(res / bb)))


def order_of_2d(pose2d: np.ndarray, pose3d: np.ndarray) -> tuple[str, dict[str, float]]:
    """Which joint order the 2D ``(F, 17, 2)`` is in, judged against the 3D ``(F, 17, 3)``
    (H36M-17): ``"h36m"``, ``"coco"`` or ``"swapped"`` (left and right exchanged), and the
    relative residual of each (:func:`_relative_residual`)."""
    x = np.asarray(pose3d, dtype=np.float64)[:, list(H36M_LIMBS)]
    y = np.asarray(pose2d, dtype=np.float64)
    fits = {
        "h36m": _relative_residual(y[:, list(H36M_LIMBS)], x),
        "coco": _relative_residual(y[:, list(COCO_LIMBS)], x),
        "swapped": _relative_residual(y[:, list(H36M_SWAP)][:, list(H36M_LIMBS)], x),
    }
    other = min(("coco", "swapped"), key=fits.get)
    if fits["h36m"] >= POOR and fits[other] * BETTER <= fits["h36m"]:
        return other, fits
    return "h36m", fits


def limb_asymmetry(pose3d: np.ndarray, order: str = "h36m") -> float:
    """Median over frames and limbs of ``|ln(left / right)|`` of the four limb-length pairs of
    ``pose3d (F, 17, 3)`` read in ``order`` (``"h36m"`` or ``"coco"``); 0 for a symmetric body,
    nan without lengths."""
    p = np.asarray(pose3d, dtype=np.float64)
    if order == "coco":  # the COCO joints moved to their H36M places
        q = np.zeros_like(p)
        q[:, list(H36M_LIMBS)] = p[:, list(COCO_LIMBS)]
        p = q
    lengths = H36M17.bone_lengths(p)  # (F, 16), one per child joint 1..16
    ratios = []
    for left, right in LIMB_PAIRS:
        lo, ro = lengths[:, left[0] - 1], lengths[:, right[0] - 1]
        ok = (lo > 1e-6) & (ro > 1e-6)
        ratios.append(np.abs(np.log(lo[ok] / ro[ok])))
    r = np.concatenate(ratios)
    return float(np.median(r)) if r.size else float("nan")


_NAMES = {"coco": "COCO-17 order", "swapped": "H36M-17 order with left and right exchanged"}


def check_joint_order(pose2d: np.ndarray | None, pose3d: np.ndarray | None, name: str) -> None:
    """Refuse 2D ``(F, 17, 2)`` or 3D ``(F, 17, 3)`` whose geometry says they are not in
    H36M-17 order, naming the order they look like; ``name`` names them in the message. The
    medians are taken over at most :data:`MAX_FRAMES` frames spread evenly over the file."""
    n = len(pose3d) if pose3d is not None else len(pose2d) if pose2d is not None else 0
    if n > MAX_FRAMES:
        pick = np.linspace(0, n - 1, MAX_FRAMES).astype(int)
        pose2d = None if pose2d is None else np.asarray(pose2d)[pick]
        pose3d = None if pose3d is None else np.asarray(pose3d)[pick]
    if pose3d is not None and len(pose3d):
        asym, as_coco = limb_asymmetry(pose3d), limb_asymmetry(pose3d, "coco")
        if asym > ASYMMETRIC and as_coco * BETTER <= asym:
            raise D3PRError(
                f"{name} pred3d: looks like COCO-17 order, not H36M-17: read as H36M-17 its "
                f"left and right limbs differ in length by ×{np.exp(asym):.2f} (median), read "
                f"as COCO-17 by ×{np.exp(as_coco):.2f}; map it to H36M-17 (docs/predictions.md)"
            )
    if pose2d is None or pose3d is None or not len(pose2d):
        return
    order, fits = order_of_2d(pose2d, pose3d)
    if order != "h36m":
        raise D3PRError(
            f"{name} pose2d: looks like {_NAMES[order]}, not H36M-17: its 3D projects onto it "
            f"{fits['h36m'] / fits[order]:.1f}x better so (relative residual "
            f"{fits[order]:.2f} against {fits['h36m']:.2f} as H36M-17); map it to H36M-17 "
            "(docs/predictions.md)"
        )
