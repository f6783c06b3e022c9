"""Files written whole or not at all: the one atomic write every stage uses.

A writer gets a hidden temporary path beside the destination (same file system, so the rename is atomic),
writes there, and the file appears under its name only when the writer finished; on any error the
partial file is removed. A killed run leaves at most hidden `.name.*` files, which Job.clean_partial
removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: changing it later would race with other threads


def temp_beside(path: Path, suffix: str) -> tuple[int, str]:
    """A hidden temporary file next to `path`, with the permissions a normally created file gets
    (mkstemp alone makes 0600). Returns (open descriptor, path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success it is renamed over `path`, on an
    error removed. `suffix` (default: `path`'s) lets writers that pick a format by extension work."""
    p = Path(path)
    fd, tmp = temp_beside(p, p.suffix if suffix is None else suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes to `path` atomically, fsynced before the rename. An OSError names `path`."""
    p = Path(path)
    try:
        with atomic_path(p, ".part") as tmp, open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if e.filename == str(p):
            raise
        raise OSError(e.errno, e.strerror, str(p)) from e
    return p


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden temporary folder beside `path`; on success it replaces `path` (an older one is
    removed only after the new one is in place), on an error it is removed."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=p.parent, prefix=f".{p.name}."))
    try:
        yield tmp
        if p.exists():
            old = p.parent / f".{p.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def reserve(path: str | os.PathLike) -> None:
    """Allocate every byte of the file at `path` on disk now. A memory-mapped file is sparse when made; a
    page written to it later on a full disk kills the process with SIGBUS, where this raises ENOSPC."""
    p = Path(path)
    try:
        with open(p, "r+b") as f:
            os.posix_fallocate(f.fileno(), 0, p.stat().st_size)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(p)) from e


def copy_aside(path: str | os.PathLike, tag: str = "edited") -> Path:
    """A copy of `path` beside it, named by `tag` and the time now (translation.edited-20261206-150102.json),
    written atomically: what a person wrote, kept before a stage replaces it."""
    import time

    p = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n, dest = 1, p.with_name(f"{p.stem}.{tag}-{stamp}{p.suffix}")
    while dest.exists():
        n += 1
        dest = p.with_name(f"{p.stem}.{tag}-{stamp}-{n}{p.suffix}")
    return write_atomic(dest, p.read_bytes())
