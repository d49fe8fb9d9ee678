"""Safe, atomic file I/O: npz without pickles, JSON, safetensors; temp file + rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import D3PRError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Nothing is left half-written: on an exception the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed-free (compressed) npz atomically. Object arrays are refused."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise D3PRError(f"{path}: array '{k}' has dtype object; refusing to pickle")
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= 32 or c in (9, 10, 13) for c in head)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of an npz with ``allow_pickle=False``; clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    if path.is_dir():
        raise D3PRError(f"{path}: is a directory, expected an .npz file")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}") and b"\n" not in head:
            raise D3PRError(f"{path}: holds pickled objects, which are never loaded")
        kind = "empty" if not head else ("text" if _is_text(head) else "binary data")
        raise D3PRError(f"{path}: not an npz file (it is {kind}, not a numpy zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise D3PRError(f"{path}: holds pickled objects, which are never loaded") from None
        raise D3PRError(f"{path}: not a readable npz file ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise D3PRError(f"{path}: not a readable npz file ({exc})") from None


def save_json(path: str | os.PathLike, obj) -> None:
    """Write JSON atomically (indented, sorted keys off so configs read in order)."""
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2) + "\n")


def load_json(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise D3PRError(f"{path}: not valid JSON ({exc})") from None


def save_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict | None = None) -> None:
    """Save a dict of torch tensors as safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_safetensors(
    path: str | os.PathLike, fmt: str | None = None, what: str = ""
) -> tuple[dict, dict]:
    """Load ``(tensors, metadata)`` from a safetensors file with a clear error on bad files.

    With ``fmt``, the metadata's ``format`` must be it, or the error says the file is not a ``what``
    file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise D3PRError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types
        raise D3PRError(f"{path}: not a readable safetensors file ({exc})") from None
    if fmt is not None and meta.get("format") != fmt:
        raise D3PRError(f"{path}: not a {what} file (format {meta.get('format')!r})")
    return tensors, meta


#: Files a run directory (lifter, refiner, experiment) owns; nothing else may be written over them.
RUN_FILES = (
    "config.json", "model.safetensors", "state.safetensors", "history.json", "noise.safetensors",
    "data.json", "experiment.json", "steps.json", "done.json",
)  # fmt: skip


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_file(
    path: str | os.PathLike, inputs: tuple = (), force: bool = False, flag: str = "-o"
) -> Path:
    """Refuse, before any work, an output file that would destroy something.

    Raises :class:`D3PRError` when ``path`` is one of ``inputs`` (files or directories read by the
    command, or a run file inside an input directory), one of a run directory's own files
    (:data:`RUN_FILES` beside a ``config.json``), a directory, under an existing file, or an
    existing file while ``force`` is false.
    """
    path = Path(path)
    for src in inputs:
        if src is None:
            continue
        src = Path(src)
        inside = src.is_dir() and path.resolve().is_relative_to(src.resolve())
        if _same(path, src) or (inside and path.name in RUN_FILES):
            raise D3PRError(f"{flag} {path}: would overwrite the input {src}; choose another path")
    if path.name in RUN_FILES and (path.parent / "config.json").exists():
        raise D3PRError(
            f"{flag} {path}: is a file of the run directory {path.parent}; write elsewhere"
        )
    if path.is_dir():
        raise D3PRError(f"{flag} {path}: is a directory; give a file name")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise D3PRError(f"{flag} {path}: {parent} is a file, not a folder")
    if path.exists() and not force:
        raise D3PRError(f"{flag} {path}: already exists; pass --force to overwrite it")
    return path


def check_output_dir(
    path: str | os.PathLike, inputs: tuple = (), resume: bool = False, force: bool = False,
    flag: str = "--out",
) -> Path:  # fmt: skip
    """Refuse, before any work, an output directory that would destroy something: an input, a
    path that is or lies under a file, or a non-empty directory unless the command resumes it
    (``resume``) or ``force`` is given."""
    path = Path(path)
    for src in inputs:
        if src is None:
            continue
        src = Path(src)
        if _same(path, src):
            raise D3PRError(f"{flag} {path}: is the input {src}; choose another folder")
    if path.exists() and not path.is_dir():
        raise D3PRError(f"{flag} {path}: is a file, not a folder")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise D3PRError(f"{flag} {path}: {parent} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()) and not (resume or force):
        raise D3PRError(
            f"{flag} {path}: is not empty; pass --resume to continue the run in it, --force to "
            "write into it anyway, or choose another folder"
        )
    return path
