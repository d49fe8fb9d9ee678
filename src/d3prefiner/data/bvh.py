"""A reader of Biovision BVH motion capture files and their forward kinematics.

A BVH file has two parts::

    HIERARCHY
    ROOT Hips
    {
        OFFSET 0 0 0
        CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
        JOINT LeftUpLeg
        {
            OFFSET 9 -8 0
            CHANNELS 3 Zrotation Xrotation Yrotation
            End Site
            {
                OFFSET 0 -40 0
            }
        }
    }
    MOTION
    Frames: 2
    Frame Time: 0.0333333
    0 90 0 0 0 0 10 0 0
    ...

The skeleton is a tree of joints, each with an ``OFFSET`` from its parent (file units, usually cm or
inches) and the ``CHANNELS`` it reads from each frame line, in the order listed; ``End Site`` nodes
have an offset only (they mark the tips: head top, fingertips, toes). Here an End Site is named
``<parent>_End`` (``Head_End``). Joint names are the rest of the ``ROOT``/``JOINT`` line, spaces
included (``Bip01 L Thigh``).

Forward kinematics (:meth:`BVH.positions`), the usual convention (Meredith & Maddock, "Motion
capture file formats explained"):

* angles are in degrees; a joint's rotation is the product of its rotation channels **in the order
  listed**, ``R_local = R_first · R_second · R_third`` (intrinsic rotations: ``Zrotation Xrotation
  Yrotation`` is ``Rz(z) · Rx(x) · Ry(y)``), with ``R_x(a) = [[1, 0, 0], [0, c, -s], [0, s, c]]``;
* ``R_world(j) = R_world(parent) · R_local(j)`` and
  ``p_world(j) = p_world(parent) + R_world(parent) · t(j)``, where ``t(j)`` is the OFFSET;
* the root's position is its OFFSET plus its position channels; a non-root joint with position
  channels takes them as its translation from the parent **instead of** its OFFSET (exporters that
  key translation on every joint write the full local translation there, equal to the OFFSET at
  rest).

Everything is vectorised over frames with numpy. Malformed files raise :class:`D3PRError` naming the
file and line (``walk.bvh:12: ...``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import D3PRError

CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_CHANNEL_BY_LOWER = {c.lower(): c for c in CHANNEL_NAMES}
_AXIS = {"X": 0, "Y": 1, "Z": 2}


@dataclass(frozen=True)
class BVH:
    """A parsed BVH file.

    Attributes:
        path: the file it was read from.
        names: joint names in file order (End Sites included, named ``<parent>_End``), ``(J,)``.
        parents: index of each joint's parent (-1 for the root), ``(J,)``; parents come first.
        offsets: ``(J, 3)`` OFFSETs in file units.
        channels: the channel names of each joint in the order listed (``()`` for End Sites).
        frame_time: seconds per frame (the ``Frame Time:`` line).
        values: ``(F, C)`` the frame lines, ``C = sum(len(c) for c in channels)``; joint ``j``'s
            channels are columns ``starts[j] : starts[j] + len(channels[j])``.
    """

    path: Path
    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time: float
    values: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.values)

    @property
    def starts(self) -> tuple[int, ...]:
        """First column of each joint's channels in :attr:`values`."""
        out, k = [], 0
        for ch in self.channels:
            out.append(k)
            k += len(ch)
        return tuple(out)

    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    def rest_positions(self) -> np.ndarray:
        """``(J, 3)`` joint positions with every channel at zero but the root at its OFFSET."""
        out = np.zeros((len(self.names), 3))
        for j, p in enumerate(self.parents):
            out[j] = self.offsets[j] + (out[p] if p >= 0 else 0.0)
        return out

    def positions(self, chunk: int = 4096) -> np.ndarray:
        """World joint positions ``(F, J, 3)`` in file units and axes, by forward kinematics
        (``chunk`` frames at a time, which bounds the memory of long takes)."""
        parts = [self._fk(self.values[i : i + chunk]) for i in range(0, self.num_frames, chunk)]
        return np.concatenate(parts)

    def _fk(self, values: np.ndarray) -> np.ndarray:
        """``values (F, C)`` → positions ``(F, J, 3)``."""
        F = len(values)
        has_children = set(self.parents)
        rot: dict[int, np.ndarray] = {}  # world rotations (F, 3, 3) of joints with children
        pos = np.empty((len(self.names), F, 3))
        for j, (parent, chans, start) in enumerate(zip(self.parents, self.channels, self.starts)):
            cols = values[:, start : start + len(chans)]  # (F, n)
            local = np.broadcast_to(np.eye(3), (F, 3, 3))
            trans = np.tile(self.offsets[j], (F, 1))  # (F, 3)
            for k, ch in enumerate(chans):
                axis = _AXIS[ch[0]]
                if ch.endswith("rotation"):
                    local = local @ _axis_rotation(axis, np.radians(cols[:, k]))  # (F, 3, 3)
                elif parent < 0:
                    trans[:, axis] += cols[:, k]  # the root: OFFSET + position channels
                else:
                    trans[:, axis] = cols[:, k]  # other joints: the channel replaces the OFFSET
            if parent < 0:
                pos[j], world = trans, local
            else:
                pos[j] = pos[parent] + np.einsum("fab,fb->fa", rot[parent], trans)
                world = rot[parent] @ local if j in has_children else None
            if j in has_children:
                rot[j] = world
        return pos.transpose(1, 0, 2)  # (F, J, 3)


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotations ``(F, 3, 3)`` by ``angle (F,)`` radians about axis 0 (x), 1 (y) or 2 (z)."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((len(angle), 3, 3))
    i, k = [a for a in range(3) if a != axis]  # (y, z) for x, (x, z) for y, (x, y) for z
    sign = -1.0 if axis == 1 else 1.0  # about y the sine terms swap sign: Ry = [[c,0,s],...]
    R[:, axis, axis] = 1.0
    R[:, i, i] = c
    R[:, k, k] = c
    R[:, i, k] = -s * sign
    R[:, k, i] = s * sign
    return R


# ----------------------------------------------------------------------------------- parsing


class _Tokens:
    """The hierarchy's tokens with their line numbers (1-based)."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.items: list[tuple[str, int]] = []
        for n, line in enumerate(lines, 1):
            for tok in line.replace("{", " { ").replace("}", " } ").split():
                self.items.append((tok, n))
        self.i = 0

    def error(self, msg: str, line: int | None = None) -> D3PRError:
        if line is None:
            line = self.items[min(self.i, len(self.items) - 1)][1] if self.items else 1
        return D3PRError(f"{self.path}:{line}: {msg}")

    def peek(self) -> tuple[str, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            last = self.items[-1][1] if self.items else 1
            raise D3PRError(f"{self.path}:{last}: file ends where {what} was expected")
        self.i += 1
        return self.items[self.i - 1]

    def expect(self, word: str, after: str) -> int:
        tok, line = self.next(f"{word!r} after {after}")
        if tok.upper() != word.upper():
            raise self.error(f"expected {word!r} after {after}, got {tok!r}", line)
        return line

    def numbers(self, n: int, what: str) -> list[float]:
        out = []
        for _ in range(n):
            tok, line = self.next(what)
            try:
                out.append(float(tok))
            except ValueError:
                raise self.error(f"{what}: {tok!r} is not a number", line) from None
        return out

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while (t := self.peek()) is not None and t[1] == line and t[0] != "{":
            out.append(self.next("a name")[0])
        return out


class _Builder:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[list[float]] = []
        self.channels: list[tuple[str, ...]] = []


def _parse_node(tok: _Tokens, b: _Builder, name: str, parent: int, line: int) -> None:
    """Parse ``{ OFFSET … CHANNELS … (JOINT … | End Site …)* }`` of joint ``name``."""
    tok.expect("{", f"joint {name!r}")
    j = len(b.names)
    b.names.append(name)
    b.parents.append(parent)
    b.offsets.append([])
    b.channels.append(())
    while True:
        word, wline = tok.next(f"'}}' closing joint {name!r} (opened on line {line})")
        key = word.upper()
        if key == "}":
            break
        if key == "OFFSET":
            b.offsets[j] = tok.numbers(3, f"OFFSET of {name!r}")
        elif key == "CHANNELS":
            (count,) = tok.numbers(1, f"CHANNELS count of {name!r}")
            if count != int(count) or not 0 <= count <= 6:
                raise tok.error(f"CHANNELS of {name!r}: count must be 0-6, got {count:g}", wline)
            chans = []
            for _ in range(int(count)):
                ch, cline = tok.next(f"a channel name of {name!r}")
                if ch.lower() not in _CHANNEL_BY_LOWER:
                    raise tok.error(
                        f"unknown channel {ch!r} of {name!r} (expected one of "
                        f"{', '.join(CHANNEL_NAMES)})",
                        cline,
                    )
                chans.append(_CHANNEL_BY_LOWER[ch.lower()])
            if len(set(chans)) != len(chans):
                raise tok.error(f"CHANNELS of {name!r} lists a channel twice", wline)
            b.channels[j] = tuple(chans)
        elif key == "JOINT":
            words = tok.rest_of_line(wline)
            if not words:
                raise tok.error("JOINT without a name", wline)
            _parse_node(tok, b, " ".join(words), j, wline)
        elif key == "END":
            tok.expect("Site", "'End'")
            tok.rest_of_line(wline)  # a few writers name End Sites; the name is not used
            tok.expect("{", f"End Site of {name!r}")
            b.names.append(f"{name}_End")
            b.parents.append(j)
            b.channels.append(())
            tok.expect("OFFSET", f"End Site of {name!r}")
            b.offsets.append(tok.numbers(3, f"OFFSET of the End Site of {name!r}"))
            tok.expect("}", f"the End Site OFFSET of {name!r}")
        elif key in ("ROOT", "MOTION"):
            raise tok.error(f"{word!r} inside joint {name!r}: a '}}' is missing", wline)
        else:
            raise tok.error(f"unexpected {word!r} in joint {name!r}", wline)
    if not b.offsets[j]:
        raise tok.error(f"joint {name!r} has no OFFSET", line)


def read_bvh(path: str | os.PathLike) -> BVH:
    """Parse a BVH file (see the module docstring for the format).

    Raises:
        D3PRError: ``<file>:<line>: <problem>`` for a missing or malformed file.
    """
    path = Path(path)
    if not path.is_file():
        raise D3PRError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise D3PRError(f"{path}: not a BVH file (binary data)")
    lines = raw.decode("utf-8", errors="replace").splitlines()
    motion_at = next(
        (n for n, ln in enumerate(lines) if ln.split()[:1] and ln.split()[0].upper() == "MOTION"),
        len(lines),
    )
    tok = _Tokens(path, lines[:motion_at])
    first = tok.peek()
    if first is None or first[0].upper() != "HIERARCHY":
        got = f"got {first[0]!r}" if first else "the file is empty"
        raise tok.error(f"not a BVH file: expected 'HIERARCHY' first, {got}", 1)
    tok.next("HIERARCHY")
    b = _Builder()
    rline = tok.expect("ROOT", "HIERARCHY")
    words = tok.rest_of_line(rline)
    if not words:
        raise tok.error("ROOT without a name", rline)
    _parse_node(tok, b, " ".join(words), -1, rline)
    extra = tok.peek()
    if extra is not None:
        if extra[0].upper() == "ROOT":
            raise tok.error("a second ROOT (one skeleton per file is supported)", extra[1])
        raise tok.error(f"unexpected {extra[0]!r} after the hierarchy", extra[1])
    if motion_at >= len(lines):
        raise D3PRError(f"{path}:{len(lines)}: no MOTION section")
    frame_time, values = _parse_motion(path, lines, motion_at, sum(len(c) for c in b.channels))
    return BVH(
        path=path,
        names=tuple(b.names),
        parents=tuple(b.parents),
        offsets=np.asarray(b.offsets, dtype=np.float64).reshape(-1, 3),
        channels=tuple(b.channels),
        frame_time=frame_time,
        values=values,
    )


def _header_value(path: Path, lines: list[str], n: int, label: str) -> tuple[str, int]:
    """The value of the ``label:`` line at or after line index ``n`` (blank lines skipped)."""
    while n < len(lines) and not lines[n].strip():
        n += 1
    if n >= len(lines):
        raise D3PRError(f"{path}:{len(lines)}: file ends where '{label}:' was expected")
    head, sep, value = lines[n].partition(":")
    if not sep or " ".join(head.split()).lower() != label.lower() or len(value.split()) != 1:
        raise D3PRError(f"{path}:{n + 1}: expected '{label}: <number>', got {lines[n].strip()!r}")
    return value.strip(), n + 1


def _parse_motion(
    path: Path, lines: list[str], motion_at: int, n_channels: int
) -> tuple[float, np.ndarray]:
    """``(frame time, values (F, C))`` of the MOTION section that starts at line ``motion_at``
    (0-based)."""
    if len(lines[motion_at].split()) != 1:
        raise D3PRError(f"{path}:{motion_at + 1}: expected 'MOTION' alone on its line")
    value, n = _header_value(path, lines, motion_at + 1, "Frames")
    try:
        frames = int(value)
    except ValueError:
        raise D3PRError(f"{path}:{n}: Frames: {value!r} is not an integer") from None
    if frames < 1:
        raise D3PRError(f"{path}:{n}: Frames: {frames} (no frames)")
    frames_line = n
    value, n = _header_value(path, lines, n, "Frame Time")
    try:
        frame_time = float(value)
    except ValueError:
        raise D3PRError(f"{path}:{n}: Frame Time: {value!r} is not a number") from None
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise D3PRError(f"{path}:{n}: Frame Time must be > 0 seconds, got {value}")
    numbered = [(k + 1, ln.split()) for k, ln in enumerate(lines[n:], n) if ln.strip()]
    if len(numbered) != frames:
        raise D3PRError(
            f"{path}:{frames_line}: Frames: {frames} but {len(numbered)} frame line(s) follow"
            + (" (the file is truncated)" if len(numbered) < frames else "")
        )
    for line, row in numbered:
        if len(row) != n_channels:
            raise D3PRError(
                f"{path}:{line}: {len(row)} values on a frame line, the hierarchy has "
                f"{n_channels} channels"
            )
    try:
        values = np.array([row for _, row in numbered], dtype=np.float64).reshape(
            frames, n_channels
        )
    except ValueError:
        for line, row in numbered:
            for v in row:
                try:
                    float(v)
                except ValueError:
                    raise D3PRError(f"{path}:{line}: {v!r} is not a number") from None
        raise
    bad = ~np.isfinite(values)
    if bad.any():
        line = numbered[int(np.argwhere(bad)[0, 0])][0]
        raise D3PRError(f"{path}:{line}: NaN or inf in a frame line")
    return frame_time, values
