"""From a motion source to lifter-ready clips: load → level → cameras → project → noise → normalise.

``load_source(name)`` returns sequences whose world is z-up with the ground at z ≈ 0 (the fk17 folder
is levelled here, DeepMimic is levelled by its loader, VideoPose3D's H36M world already is);
``make_clips`` turns each (sequence, camera) pair into a :class:`Clip`.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import D3PRError
from ..geometry import Intrinsics
from .cameras import (
    Camera,
    normalize_screen,
    project,
    virtual_rig,
    world_to_camera,
)
from .detector import DetectorProfile, apply_detector_noise
from .resample import check_rate, frame_step, resample_sequence
from .sequences import Clip, Sequence
from .sources import load_source  # noqa: F401  (re-exported: the pipeline's entry)


def _sequence_seed(seed: int, seq: Sequence) -> np.random.SeedSequence:
    """A seed that depends on the sequence's name, not on its position in the list."""
    return np.random.SeedSequence([seed, zlib.crc32(f"{seq.subject}/{seq.action}".encode())])


def _at_rate(seq: Sequence, target_fps: float | None, where: str) -> tuple[Sequence, int]:
    """``seq`` ready to be read every ``step`` frames at ``target_fps``: ``(seq, step)`` with
    ``step`` the integer factor where the rates divide, else ``(seq resampled, 1)``."""
    if target_fps is None:
        return seq, 1
    target_fps = check_rate(target_fps, f"{where}: target")
    step = frame_step(seq.fps, target_fps)
    if step is not None:
        return seq, step
    return resample_sequence(seq, target_fps), 1


def make_clips(
    sequences: list[Sequence],
    cameras: list[Camera] | None = None,
    n_cameras: int = 4,
    detector: DetectorProfile | None = None,
    seed: int = 0,
    target_fps: float | None = None,
    center: str = "middle",
) -> list[Clip]:
    """Turn sequences into clips, one per (sequence, camera).

    Cameras: ``cameras`` if given (world frame of every sequence); else the sequence's own cameras
    (with its own 2D where present: real 2D is used as it is, never noised); else a
    :func:`~d3prefiner.data.cameras.virtual_rig` of ``n_cameras`` seeded by ``seed`` and the
    sequence's name, around the sequence re-centred horizontally (``center="first"``: the first
    frame's pelvis; ``"middle"``: the middle of the pelvis trajectory's bounding box, which frames
    long walks better), with the camera distance range (4.5–6 m) moved back by twice how much further than
    1.5 m the pelvis wanders from that centre. The 3D is moved to the camera frame and projected (with distortion); the
    ``detector`` profile, if given, adds detector-like noise to projected 2D; 2D is normalised
    (:func:`~d3prefiner.data.cameras.normalize_screen`) and 3D made root-relative; each clip keeps
    its camera's intrinsics.
    ``target_fps``: the clips' frame rate; every ``m``-th frame where the rates divide (50 → 25),
    else linear interpolation in time (120 → 25, 30 → 25;
    :mod:`~d3prefiner.data.resample`).

    Returns:
        Clips with ``pose2d (F, 17, 2)`` float32 normalised and ``pose3d (F, 17, 3)`` float32
        metres, camera frame, root-relative.
    """
    if center not in ("first", "middle"):
        raise D3PRError(f"center must be 'first' or 'middle', got {center!r}")
    clips: list[Clip] = []
    for seq in sequences:
        where = f"sequence {seq.subject}/{seq.action}"
        seq, step = _at_rate(seq, target_fps, where)
        fps = seq.fps / step
        ss = _sequence_seed(seed, seq)
        rig_seed, noise_seed = ss.spawn(2)
        joints = np.asarray(seq.joints3d, dtype=np.float64)[::step]  # (F', 17, 3)
        reach = float(np.linalg.norm(joints - joints[:, :1], axis=-1).max()) if len(joints) else 0
        if reach > 10.0:  # a person spans < 2.5 m; millimetres reach ~1000
            raise D3PRError(
                f"{where}: joints reach {reach:.4g} units from the pelvis; motion must be in "
                "metres (are these millimetres? divide by 1000)"
            )
        own_2d: dict[str, np.ndarray] = {}
        if cameras is not None:
            cams = list(cameras)
        elif seq.cameras:
            cams = list(seq.cameras.values())
            own_2d = {k: np.asarray(v)[::step] for k, v in seq.pose2d.items()}
        else:
            pelvis = joints[:, 0, :2]
            c = pelvis[0] if center == "first" else (pelvis.min(0) + pelvis.max(0)) / 2
            joints = joints.copy()
            joints[..., :2] -= c
            # motions that wander further than H36M's ~1.5 m push the cameras back to keep framing
            extra = 2 * max(0.0, float(np.linalg.norm(joints[:, 0, :2], axis=-1).max()) - 1.5)
            cams = virtual_rig(
                n_cameras,
                seed=int(rig_seed.generate_state(1)[0]),
                distance=(4.5 + extra, 6.0 + extra),
            )
        noise_rngs = [np.random.default_rng(s) for s in noise_seed.spawn(len(cams))]
        for cam, rng in zip(cams, noise_rngs):
            X = world_to_camera(joints, cam)  # (F', 17, 3)
            if cam.name in own_2d:
                uv = own_2d[cam.name]
            else:
                if np.any(X[..., 2] <= 0.1):
                    raise D3PRError(f"{where}: joints behind or at camera {cam.name}")
                uv = project(X, cam)  # (F', 17, 2) pixels
                if detector is not None:
                    uv = apply_detector_noise(uv, fps, detector, rng)
            clips.append(
                Clip(
                    subject=seq.subject,
                    action=seq.action,
                    camera=cam.name,
                    fps=fps,
                    pose2d=normalize_screen(uv, cam.width, cam.height).astype(np.float32),
                    pose3d=(X - X[:, :1]).astype(np.float32),
                    intrinsics=Intrinsics.from_camera(cam),
                )
            )
    return clips


def clips_by_view(clips: list[Clip], n_groups: int) -> dict[str, list[Clip]]:
    """Group the clips of a single-performer source into pseudo-subjects ``view0 …
    view{n_groups-1}`` by camera index.

    DeepMimic has a single performer, so held-out *subjects* do not exist; the demo holds out
    camera viewpoints instead (each sequence has its own seeded virtual rig, and camera ``i`` of
    every rig goes to group ``i mod n_groups``). Test poses are thus seen from unseen viewpoints.
    Each clip's ``subject`` becomes its group's name.
    """
    from dataclasses import replace

    groups: dict[str, list[Clip]] = {f"view{g}": [] for g in range(n_groups)}
    for c in clips:
        idx = int("".join(ch for ch in c.camera if ch.isdigit()) or 0)
        g = f"view{idx % n_groups}"
        groups[g].append(replace(c, subject=g))
    return groups
