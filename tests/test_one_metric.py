"""One metric per concept: every pose error in src/ comes from d3prefiner.metrics.

The check reads every ``.py`` file under ``src/d3prefiner`` except ``metrics.py`` and looks for a
hand-written Euclidean error over joints: a norm over the last axis of a difference ``(a - b)``,
written as ``(a - b).norm(dim=-1)``, ``torch.linalg.norm(a - b, dim=-1)`` (or ``vector_norm``,
``torch.norm``), ``np.linalg.norm(a - b, axis=-1)`` or ``(a - b).pow(2).sum(-1).sqrt()``, and a
metric called on a pose whose root is subtracted by hand (``mpjpe(x - x[:, :1], gt)``: say
``align="root"``). Each hit fails with its ``file:line``; use :func:`d3prefiner.metrics.mpjpe` (``align=...``),
:func:`~d3prefiner.metrics.joint_errors`, :func:`~d3prefiner.metrics.frame_errors` or
:func:`~d3prefiner.metrics.mpjve` instead. Norms that are not pose errors are listed in
:data:`ALLOWED`, each with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "d3prefiner"

# Text with up to two levels of nested brackets, () or [] (no recursion in `re`).
_FLAT = r"[^()\[\]]*"
_B1 = rf"(?:\({_FLAT}\)|\[{_FLAT}\])"
_L1 = rf"{_FLAT}(?:{_B1}{_FLAT})*"
_B2 = rf"(?:\({_L1}\)|\[{_L1}\])"
_NEST = rf"{_FLAT}(?:{_B2}{_FLAT})*"
# The same for a first argument: stops at a top-level comma.
_ARG = rf"[^()\[\],]*(?:{_B2}[^()\[\],]*)*"
_LAST_AXIS = r"(?:dim|axis)\s*=\s*-1\b"

_PATTERNS = (
    # (a - b).norm(dim=-1), .norm(-1), .norm(p=2, dim=-1)
    re.compile(rf"\((?P<diff>{_NEST})\)\s*\.norm\(\s*(?:p\s*=\s*2\s*,\s*)?(?:dim\s*=\s*)?-1\b"),
    # np.linalg.norm(a - b, axis=-1), torch.linalg.norm / vector_norm / torch.norm(a - b, dim=-1)
    re.compile(
        rf"\b(?:np|numpy|torch)\.(?:linalg\.)?(?:vector_)?norm\(\s*(?P<diff>{_ARG}),"
        rf"[^()]*?{_LAST_AXIS}"
    ),
    # (a - b).pow(2).sum(-1).sqrt(), .square().sum(dim=-1).sqrt()
    re.compile(
        rf"\((?P<diff>{_NEST})\)\s*(?:\.pow\(\s*2\s*\)|\.square\(\))\s*"
        rf"\.sum\(\s*(?:dim\s*=\s*)?-1\s*\)\s*\.sqrt\(\)"
    ),
)
# a binary minus (ruff format puts spaces around it), not a negative literal such as -1
_MINUS = re.compile(r"\S\s+-\s+\S")
# a metric of metrics.py called on a pose whose root is subtracted by hand: pass align="root"
_METRIC_CALL = re.compile(rf"(?<!\w)(?:p_mpjpe|n_mpjpe|mpjpe|joint_errors)\((?P<args>{_NEST})\)")
_ROOT_BY_HAND = re.compile(r"([\w.]+)\s+-\s+\1\[(?::,\s*:1|\.\.\.,\s*:1,\s*:|:,\s*0:1)\]")

#: Norms over the last axis of a difference that are NOT pose errors: (path under src/d3prefiner,
#: a piece of the matched text, why it is allowed).
ALLOWED: tuple[tuple[str, str, str], ...] = (
    ("skeleton.py", "list(child)", "bone lengths: child joint minus parent joint"),
    ("data/mocap.py", "_IDX[a]", "bone lengths of a motion-capture skeleton"),
    ("data/pipeline.py", "joints[:, :1]", "distances from the root: the camera rig's reach"),
    ("diffusion.py", "e_hat - e", "the denoiser's loss on normalised error vectors: see there"),
    ("quality.py", "px - kp2d", "reprojection error of 2D keypoints in pixels (not 3D poses)"),
    ("quality.py", "feet[1:, :, :2]", "foot speed: a joint's displacement between frames"),
)


def hand_written_errors(text: str) -> list[tuple[int, str]]:
    """``(line, matched text)`` of every norm over the last axis of a difference in ``text``."""
    found = [m for p in _PATTERNS for m in p.finditer(text) if _MINUS.search(m.group("diff"))]
    found += [m for m in _METRIC_CALL.finditer(text) if _ROOT_BY_HAND.search(m.group("args"))]
    hits = {}
    for m in found:
        line = text.count("\n", 0, m.start()) + 1
        hits.setdefault((line, m.start()), " ".join(m.group(0).split()))
    return [(line, s) for (line, _), s in sorted(hits.items())]


def _allowed(rel: str, snippet: str) -> bool:
    return any(rel == path and piece in snippet for path, piece, _ in ALLOWED)


def test_checker_finds_hand_written_errors():
    snippet = "\n".join(
        [
            "a = (pred - gt).norm(dim=-1).mean(-1)",
            "b = np.linalg.norm(x - y, axis=-1)",
            "c = (pred.diff(dim=1) - gt.diff(dim=1)).norm(dim=-1).mean()",
            "d = torch.linalg.vector_norm(p[:, 1:] - q[:, 1:], dim=-1)",
            "e = (x - y).pow(2).sum(-1).sqrt()",
            "f = np.linalg.norm(",
            "    x[..., :3] - y[..., :3], axis=-1",
            ")",
            "g = torch.norm(a - b, p=2, dim=-1)",
            "h = 1000 * mpjpe(x - x[:, :1], gt)",  # the root aligned by hand
            "i = metrics.p_mpjpe(pred[..., :1, :], gt - gt[..., :1, :]).mean()",
        ]
    )
    assert [line for line, _ in hand_written_errors(snippet)] == [1, 2, 3, 4, 5, 6, 9, 10, 11]


def test_checker_leaves_other_norms_alone():
    snippet = "\n".join(
        [
            "q = q / np.linalg.norm(q, axis=-1, keepdims=True)",
            "s = np.linalg.norm(rel[:, 1:], axis=-1).mean()",
            "h = fp32_head(self.head, self.norm(h))",
            "n = (x * -1).norm(dim=-1)",
            "m = (a - b).norm()",  # a whole-tensor norm, not per joint
            "e = (x - y).abs().mean()",
            "k = mpjpe(x, gt, align='root') + closed_form_mpjpe(model, preds - 1)",
        ]
    )
    assert hand_written_errors(snippet) == []


def test_allow_list_entries_still_match():
    """A stale allow-list entry would hide nothing but mislead: each must still be needed."""
    for path, piece, why in ALLOWED:
        hits = hand_written_errors((SRC / path).read_text())
        assert any(piece in s for _, s in hits), f"{path}: allow-list entry for {why!r} unused"


def test_no_hand_written_pose_error_outside_metrics():
    found = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC).as_posix()
        if rel == "metrics.py":
            continue
        for line, snippet in hand_written_errors(f.read_text()):
            if not _allowed(rel, snippet):
                found.append(f"src/d3prefiner/{rel}:{line}: {snippet}")
    assert not found, (
        "pose errors written by hand (use d3prefiner.metrics: mpjpe(..., align=...), "
        "joint_errors, frame_errors, mpjve):\n" + "\n".join(found)
    )
