"""Safe, atomic file I/O: npz without pickles, JSON, safetensors; temp file + rename."""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import D3PRError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", needed: int = 0) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Nothing is left half-written: on an exception the temporary file is removed. A full disk or a
    folder that cannot be written to raises :class:`D3PRError` naming ``path`` (with ``needed``,
    the bytes about to be written, when known). The rename releases this process's
    :func:`lock_output` lock on ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent
        )
    except OSError as exc:
        raise _write_error(path, exc, needed) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        try:
            yield tmp
        except Exception as exc:
            if _no_space(exc):
                raise _write_error(path, exc, max(needed, _size(tmp))) from None
            raise
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _write_error(path, exc, needed) from None
        release_output_lock(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _no_space(exc: BaseException) -> bool:
    """A full disk, as an ``OSError`` or as another library's error (safetensors) that says so."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "no space left" in str(exc).lower()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def _write_error(path: Path, exc: BaseException, needed: int = 0) -> D3PRError:
    """One line for a write that the file system refused (full disk, no permission, ...)."""
    if _no_space(exc):
        try:
            free = f", {_mb(shutil.disk_usage(path.parent).free)} free"
        except OSError:
            free = ""
        need = f"writing it needs about {_mb(needed)}" if needed else "the write did not fit"
        return D3PRError(f"{path}: no space left on the device ({need}{free}); free some space")
    if isinstance(exc, PermissionError):
        return D3PRError(f"{path}: cannot write there (permission denied); choose another path")
    return D3PRError(f"{path}: cannot write it ({getattr(exc, 'strerror', None) or exc})")


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write an uncompressed-free (compressed) npz atomically. Object arrays are refused."""
    for k, v in arrays.items():
        if np.asarray(v).dtype == object:
            raise D3PRError(f"{path}: array '{k}' has dtype object; refusing to pickle")
    needed = sum(np.asarray(v).nbytes for v in arrays.values())  # at most (compressed)
    with atomic_path(path, ".npz", needed) as tmp:
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
    if head.startswith(b"\x93NUMPY"):
        raise D3PRError(
            f"{path}: is a single .npy array, not an npz archive of named arrays (a renamed .npy "
            "file?); save it with numpy.savez"
        )
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
    text = json.dumps(obj, indent=2) + "\n"
    with atomic_path(path, ".json", len(text.encode())) as tmp:
        tmp.write_text(text)


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
    needed = sum(t.numel() * t.element_size() for t in tensors.values())
    with atomic_path(path, ".safetensors", needed) as tmp:
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


def up_to_date(path: str | os.PathLike, *sources: str | os.PathLike) -> bool:
    """Whether ``path`` exists and is not older than any of the ``sources`` that exist: a cached
    result made from them (e.g. a refiner's output on a file) is stale once one is rewritten."""
    p = Path(path)
    if not p.exists():
        return False
    made = p.stat().st_mtime
    return all(Path(s).stat().st_mtime <= made for s in sources if Path(s).exists())


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return _resolve(a) == _resolve(b)


def _resolve(path: Path) -> Path:
    """``path.resolve()``, or the path made absolute when resolving fails (a symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _check_resolvable(path: Path, flag: str) -> None:
    """Refuse a path that is, or lies under, a symlink loop (or a link that cannot be followed)."""
    try:
        path.resolve(strict=False)
        os.stat(path)
    except FileNotFoundError:
        pass
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            raise D3PRError(f"{flag} {path}: is a symlink loop; give a plain path") from None
        if exc.errno != errno.ENOTDIR:
            raise D3PRError(f"{flag} {path}: cannot be checked ({exc.strerror})") from None


def _given(inputs) -> list[Path]:
    """The input paths a command was given (None: an optional input left out)."""
    return [Path(src) for src in inputs if src is not None]


def check_output_file(
    path: str | os.PathLike, inputs: tuple = (), force: bool = False, flag: str = "-o"
) -> Path:
    """Refuse, before any work, an output file that would destroy something, then lock it.

    Raises :class:`D3PRError` when ``path`` is one of ``inputs`` (files or directories read by the
    command, or a run file inside an input directory), one of a run directory's own files
    (:data:`RUN_FILES` beside a ``config.json``), a directory, under an existing file, a symlink
    loop, in a folder whose own parent does not exist (a mistyped drive or folder: only one missing
    level is created), an existing file while ``force`` is false, or being written by another
    process (:func:`lock_output`).
    """
    path = Path(path)
    _check_resolvable(path, flag)
    for src in _given(inputs):
        inside = src.is_dir() and _resolve(path).is_relative_to(_resolve(src))
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
    _check_near_existing(path, flag)
    if path.exists() and not force:
        raise D3PRError(f"{flag} {path}: already exists; pass --force to overwrite it")
    lock_output(path, flag)
    if path.exists() and not force:  # another writer finished between the check and the lock
        release_output_lock(path)
        raise D3PRError(f"{flag} {path}: already exists; pass --force to overwrite it")
    return path


def _check_near_existing(path: Path, flag: str) -> None:
    """Refuse an output whose folder's own parent does not exist (``/nonexistent_drive/sub/x``):
    a typo, not a folder to create."""
    grand = _resolve(path.absolute().parent).parent
    if not grand.exists():
        raise D3PRError(
            f"{flag} {path}: the folder {grand} does not exist; create it first or fix the path"
        )


# ------------------------------------------------------------------ output locks (one writer)

#: Lock files this process holds: output path (absolute) -> lock file.
_LOCKS: dict[Path, Path] = {}


def _lock_file(path: Path) -> Path:
    """``<output>.lock`` beside the output, or in its nearest existing folder when the output's
    folder is still to be created (``sub/out.npz`` → ``sub%out.npz.lock``)."""
    path = _resolve(path.absolute())
    base = path.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    rel = str(path.relative_to(base)).replace(os.sep, "%")
    return base / f"{rel}.lock"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


#: A lock file with no PID in it yet is taken for held for this long (its writer may be between
#: creating it and writing it, where the link below is not available).
_LOCK_GRACE_S = 10.0


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _create_lock(lock: Path) -> None:
    """Create ``lock`` holding this process's PID, atomically where the file system has hard
    links (a PID file linked into place), else with ``O_EXCL``. FileExistsError if it exists."""
    pid = f"{os.getpid()}\n"
    tmp = lock.with_name(f"{lock.name}.{os.getpid()}.tmp")
    tmp.write_text(pid)
    try:
        os.link(tmp, lock)
        return
    except FileExistsError:
        raise
    except OSError:  # no hard links here
        pass
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(pid)


def lock_output(path: str | os.PathLike, flag: str = "-o") -> Path:
    """Take this process's exclusive lock on the output ``path`` (an ``O_EXCL`` ``<output>.lock``
    holding the PID), so that a second writer is refused instead of overwriting the first.

    A lock whose process no longer runs is stale and taken over. The lock is released when the
    output is renamed into place (:func:`atomic_path`), by :func:`release_output_locks` (the CLI
    calls it when a command ends) and at exit.

    Raises:
        D3PRError: another running process holds the lock, or the folder cannot be written to.
    """
    path = Path(path)
    key = _resolve(path.absolute())
    if key in _LOCKS:
        return _LOCKS[key]
    lock = _lock_file(path)
    for _ in range(3):
        try:
            _create_lock(lock)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            young = pid == 0 and _age_s(lock) < _LOCK_GRACE_S  # its writer may still be writing
            if young or (pid and pid != os.getpid() and _pid_alive(pid)):
                raise D3PRError(
                    f"{flag} {path}: another d3pr process (pid {pid}) is writing it; wait for it "
                    f"to finish or choose another path (its lock: {lock})"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # stale: its process has ended
            continue
        except OSError as exc:
            raise D3PRError(
                f"{flag} {path}: cannot write in {lock.parent} ({exc.strerror}); choose another "
                "path"
            ) from None
        _LOCKS[key] = lock
        return lock
    raise D3PRError(f"{flag} {path}: could not take its lock {lock}; try again")


def release_output_lock(path: str | os.PathLike) -> None:
    """Remove this process's lock on ``path``, if it holds one."""
    lock = _LOCKS.pop(_resolve(Path(path).absolute()), None)
    if lock is not None:
        with contextlib.suppress(OSError):
            lock.unlink()


def release_output_locks() -> None:
    """Remove every output lock this process holds (the end of a command, or exit)."""
    for path in list(_LOCKS):
        release_output_lock(path)


atexit.register(release_output_locks)


def check_output_dir(
    path: str | os.PathLike, inputs: tuple = (), resume: bool | None = None,
    force: bool | None = None, flag: str = "--out",
) -> Path:  # fmt: skip
    """Refuse, before any work, an output directory that would destroy something: an input, a
    path that is or lies under a file or a symlink loop, a folder whose parent does not exist,
    or a non-empty directory unless the command resumes it (``resume``) or ``force`` is given.

    ``resume`` / ``force`` are None for a command without ``--resume`` / ``--force`` (the
    message then does not offer the flag), else whether it was given."""
    path = Path(path)
    _check_resolvable(path, flag)
    for src in _given(inputs):
        if _same(path, src):
            raise D3PRError(f"{flag} {path}: is the input {src}; choose another folder")
    if path.exists() and not path.is_dir():
        raise D3PRError(f"{flag} {path}: is a file, not a folder")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise D3PRError(f"{flag} {path}: {parent} is a file, not a folder")
    if not path.exists():
        _check_near_existing(path, flag)
    if path.is_dir() and any(path.iterdir()) and not (resume or force):
        ways = [f"pass {f} to {what}" for f, what, offered in (
            ("--resume", "continue the run in it", resume is not None),
            ("--force", "write into it anyway", force is not None),
        ) if offered] + ["choose another folder (or empty it)"]  # fmt: skip
        raise D3PRError(f"{flag} {path}: is not empty; {', or '.join(ways)}")
    return path
