"""The registry of motion sources: how to load each, where it lives, its clip rate and its split.

A :class:`Source` loads sequences (metres, z-up, ground at z ≈ 0) from a path, or from its default
location; :func:`load_source` looks one up by name. Adding a motion source is one module with a
loader and one :func:`register_source` line at the bottom of this file (see README "Where to add
…").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArgumentError, D3PRError
from ..registry import Registry
from .sequences import Sequence

Loader = Callable[[Path | None, list[str] | None], list[Sequence]]


@dataclass(frozen=True)
class Source:
    """One motion source.

    Args:
        name: its name on the command line (``--source``).
        load: ``load(path or None, subjects or None) -> sequences``; ``None`` path means the
            default location, and the loader states in its error where it looked.
        fps: the frame rate clips are subsampled to by default (None: the source's own).
        train, test: the standard split (subject ids); ``test`` may overlap ``train`` for sources
            with a single performer, which then have no held-out test subjects.
        single_performer: one person only: experiments hold out camera-view groups
            (pseudo-subjects ``view0``, ``view1``, …) instead of people.
        description: one line for ``--help`` and ``d3pr data info``.
        options: keyword options its loader takes beyond ``(path, subjects)``: ``"setting"``
            (which 2D file: ``gt``, ``cpn``; ``detected``: none, the 2D is projected and noised)
            and ``"camera_file"`` (the cameras JSON); ``"skeleton"`` (``fixed`` or ``subject``
            bone lengths).
    """

    name: str
    load: Loader
    fps: float | None = None
    train: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    single_performer: bool = False
    description: str = ""
    options: tuple[str, ...] = ()

    @property
    def has_test_split(self) -> bool:
        """Whether the standard test subjects are held out of the standard training ones."""
        return bool(self.test) and not set(self.train) & set(self.test)


_SOURCES: Registry[Source] = Registry("unknown source {name!r}; choose one of {names}")
#: ``register_source(source)``: add (or replace) a motion source; returns ``source``.
register_source = _SOURCES.register
#: ``source_names()``: the registered sources' names, in the order registered.
source_names = _SOURCES.names
#: ``get_source(name)``: the registered source ``name``, or a one-line error listing them.
get_source = _SOURCES.get


def load_source(
    name: str,
    path: str | os.PathLike | None = None,
    subjects: list[str] | None = None,
    setting: str | None = None,
    camera_file: str | os.PathLike | None = None,
    skeleton: str | None = None,
) -> list[Sequence]:
    """Load a motion source by name → sequences (metres, z-up, ground at z ≈ 0).

    Args:
        name: a registered source (:func:`source_names`): ``"h36m-fk17"`` (folder of
            ``h36m_expmap_fk17_S*.npz``; default ``../shared/data/h36m-expmap-fk17``),
            ``"deepmimic"`` (pybullet's clips, 30 fps, wrap clips played twice), or
            ``"videopose3d"`` (a folder holding ``data_3d_h36m.npz``, optionally
            ``data_2d_h36m_gt.npz`` and ``cameras.json``), ``"bvh"`` (a ``.bvh`` file or a folder
            of them, recursively; subject = the file's folder name, action = the file stem;
            options in ``bvh.json``) or ``"npz-folder"`` (per-subject npz of any name in the
            fk17 layout; subject = the file stem; options in ``npz-folder.json``): see
            :mod:`d3prefiner.data.mocap`.
        path: where the source lives (None: its default).
        subjects: subjects to keep.
        setting: the 2D setting the clips will have (``gt``, ``detected``, ``cpn``): sources with
            2D files of their own (``videopose3d``) read the matching file; ``cpn`` needs one.
        camera_file: the cameras JSON of a source with real cameras (``videopose3d``).
        skeleton: ``h36m-fk17``'s bone lengths: ``fixed`` (one skeleton, the default) or
            ``subject`` (:func:`~d3prefiner.data.fk17.subject_bone_lengths`).
    """
    src = get_source(name)
    if setting == "cpn" and "setting" not in src.options:
        raise ArgumentError("setting", f"cpn needs detections from a file: source {name} has none "
                            "(use --source videopose3d)")  # fmt: skip
    if camera_file is not None and "camera_file" not in src.options:
        raise ArgumentError("camera_file", f"source {name} has no real cameras to read")
    if skeleton not in (None, "fixed") and "skeleton" not in src.options:
        raise ArgumentError("skeleton", f"source {name} has its own skeletons")
    given = {"setting": setting, "camera_file": camera_file, "skeleton": skeleton}
    options = {k: v for k, v in given.items() if v is not None and k in src.options}
    return src.load(Path(path) if path is not None else None, subjects, **options)


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository (where the research data lives, if anywhere)."""
    return Path(__file__).resolve().parents[4] / "shared" / "data"


# ------------------------------------------------------------------------ built-in loaders


def _fk17(
    path: Path | None, subjects: list[str] | None, skeleton: str | None = None
) -> list[Sequence]:
    from .cameras import level_and_center
    from .fk17 import SKELETONS, load_fk17, measured_bone_lengths, subject_bone_lengths
    from .fk17 import with_bone_lengths as rescale

    folder = path if path is not None else shared_data_dir() / "h36m-expmap-fk17"
    if not folder.is_dir():
        raise D3PRError(
            f"{folder}: h36m-fk17 folder not found (give its path, or convert the exp-map "
            "release with `d3pr data convert-expmap`)"
        )
    if skeleton not in (None, *SKELETONS):
        raise ArgumentError("skeleton", f"must be one of {', '.join(SKELETONS)}, got {skeleton!r}")
    seqs = load_fk17(folder, subjects=subjects)
    measured = {}
    if skeleton == "subject":  # the real subjects' bones, a seeded spread for the others
        measured = measured_bone_lengths(shared_data_dir() / "mmpose-h36m-testdata" /
                                         "test_h36m_body3d.npz")  # fmt: skip
    for s in seqs:  # tilted ground → levelled (see cameras.estimate_up)
        if measured:
            s.joints3d = rescale(s.joints3d, subject_bone_lengths(s.subject, measured))
        s.joints3d = level_and_center(s.joints3d, "auto")
    return seqs


def _deepmimic(path: Path | None, subjects: list[str] | None) -> list[Sequence]:
    from .deepmimic import load_deepmimic

    seqs = load_deepmimic(fps=30.0, cycles=2, folder=path)
    return seqs if subjects is None else [s for s in seqs if s.subject in subjects]


def videopose3d_files(
    path: str | os.PathLike | None, setting: str | None = None, camera_file: str | None = None
) -> tuple[Path, Path | None, Path | None]:
    """``(3D file, 2D file or None, cameras JSON or None)`` the ``videopose3d`` source reads for
    a 2D ``setting`` (checked, nothing loaded): ``path`` (default ``../shared/data/videopose3d``),
    the cameras from ``camera_file``, else ``cameras.json`` beside the data, else the real H36M
    cameras of ``../shared/data/mmpose-h36m-testdata``
    (:func:`~d3prefiner.data.videopose3d.videopose3d_paths`)."""
    from .videopose3d import videopose3d_paths

    folder = Path(path) if path is not None else shared_data_dir() / "videopose3d"
    fallback = shared_data_dir() / "mmpose-h36m-testdata" / "cameras.json"
    return videopose3d_paths(folder, setting, camera_file, fallback)


def _videopose3d(
    path: Path | None,
    subjects: list[str] | None,
    setting: str | None = None,
    camera_file: str | None = None,
) -> list[Sequence]:
    from .videopose3d import load_videopose3d

    f3d, f2d, cams = videopose3d_files(path, setting, camera_file)
    return load_videopose3d(f3d, f2d, cameras_json=cams, subjects=subjects)


def _bvh(path: Path | None, subjects: list[str] | None) -> list[Sequence]:
    from .mocap import load_bvh_source

    if path is None:
        raise ArgumentError("path", "is needed by source bvh: a .bvh file or a folder of them")
    return load_bvh_source(path, subjects)


def _npz_folder(path: Path | None, subjects: list[str] | None) -> list[Sequence]:
    from .mocap import load_npz_folder

    if path is None:
        raise ArgumentError(
            "path", "is needed by source npz-folder: a folder of per-subject .npz files"
        )
    return load_npz_folder(path, subjects)


_H36M_SPLIT = dict(train=("S1", "S5", "S6", "S7", "S8"), test=("S9", "S11"))
register_source(Source("h36m-fk17", _fk17, 25.0, **_H36M_SPLIT,
                       description="Human3.6M motion (exp-map release, forward kinematics)",
                       options=("skeleton",)))  # fmt: skip
register_source(Source("deepmimic", _deepmimic, None, ("deepmimic",), ("deepmimic",), True,
                       description="pybullet's embedded DeepMimic clips (one performer)"))  # fmt: skip
register_source(Source("videopose3d", _videopose3d, 50.0, **_H36M_SPLIT,
                       description="VideoPose3D's data_3d_h36m.npz (+ 2D, cameras)",
                       options=("setting", "camera_file")))  # fmt: skip
register_source(Source("bvh", _bvh, None,
                       description="BVH motion capture (a .bvh file or a folder)"))  # fmt: skip
register_source(Source("npz-folder", _npz_folder, None,
                       description="per-subject npz, action -> (F, 17, 3)"))  # fmt: skip
