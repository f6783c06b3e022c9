"""The job folder: where every stage's record lives, keyed by a hash of its inputs and settings.

A stage's output is reused when the key stored beside it matches the key the stage would have now,
so a crashed or edited run redoes only what it must. Keys chain: a stage's key includes the digests
of the records it reads, so editing a translation invalidates exactly what depends on it.

Layout of out/<name>/:
  job.json                      summary of the last run (machine-readable)
  source/                       media.json transcript.json diarization.json/.rttm profiles.json audio
  <lang>/                       translation.json voices.json speech/<line>.wav timing.json dub.wav ...
  <name>.<lang>.<ext>           the dubbed outputs, with .srt/.vtt subtitles beside them
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import DubError
from .files import copy_aside, write_atomic
from .schema import Record

R = TypeVar("R", bound=Record)
log = logging.getLogger(__name__)


def digest(*parts) -> str:
    """Stable short hash of JSON-able parts (records by their content, paths by their bytes' fingerprint)."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Record):
            p = p.model_dump(mode="json")
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    """Content hash of a file (sha256 of its bytes), for keying stages on an input file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class Job:
    """One video's job folder."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def clean_partial(self) -> int:
        """Remove temporary files and folders a killed run left behind (hidden, written before a rename)."""
        n = 0
        for p in sorted(self.root.rglob(".*")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
                n += 1
            elif p.is_file() and not p.name.endswith(".key") and not p.name.startswith(".write-test"):
                p.unlink(missing_ok=True)
                n += 1
        return n

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def _key_path(self, p: Path) -> Path:
        return p.with_name(f".{p.name}.key")

    def fresh(self, p: Path, key: str) -> bool:
        """True if `p` exists and was made under `key`."""
        kp = self._key_path(p)
        return p.exists() and kp.exists() and kp.read_text().split("\n", 1)[0] == key

    def mark(self, p: Path, key: str, made: bool = False) -> None:
        """Store `key` beside `p`; `made`: with the digest of `p` as written, so that an edit of it shows (edited)."""
        write_atomic(self._key_path(p), (f"{key}\n{file_digest(p)}" if made else key).encode())

    def edited(self, p: Path) -> bool:
        """Whether `p` changed since a stage wrote it (marked `made`): a person edited it. False where not known."""
        kp = self._key_path(p)
        try:
            made = kp.read_text().split("\n")
        except FileNotFoundError:
            return False
        return len(made) > 1 and p.exists() and file_digest(p) != made[1]

    def record(self, rel: str, cls: type[R], key: str, produce: Callable[[], R]) -> R:
        """Load the record at `rel` if made under `key`, else produce, save and mark it. A record a person
        edited is copied aside first (copy_aside), and the run says so: what they wrote is not lost."""
        p = self.path(rel)
        if self.fresh(p, key):
            return cls.load(p)
        rec = produce()
        if self.edited(p):
            kept_as = copy_aside(p)
            log.warning("%s was edited, and what it is made from changed, so it was made again; your file is kept "
                        "as %s", rel, kept_as.name)
        rec.save(p)
        self.mark(p, key, made=True)
        return rec

    def file(self, rel: str, key: str, produce: Callable[[Path], object]) -> Path:
        """Reuse the file at `rel` if made under `key`, else call produce(path) to write it (atomically)."""
        p = self.path(rel)
        if not self.fresh(p, key):
            produce(p)
            self.mark(p, key)
        return p


def check_writable(folder: str | os.PathLike) -> Path:
    """Create `folder` if needed and prove we can write there; DubError otherwise."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise DubError(f"output folder not writable: {p} ({e.strerror})") from None
    return p
