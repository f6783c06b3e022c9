"""Bad input: one line on stderr, a non-zero exit, no traceback, nothing half-written in the output."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DUB = [sys.executable, "-m", "dub"]
PROGRESS = re.compile(r"\d+% \d+:\d\d:\d\d( left (\d+:\d\d:\d\d|-:--:--))?\s*$")  # a rich progress bar's last state


def dub(*args, cwd=None, env=None):
    return subprocess.run([*DUB, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip() and not PROGRESS.search(l)]  # bars are not errors
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def no_outputs(folder: Path):
    return not folder.exists() or not [p for p in folder.rglob("*") if p.suffix in {".mp4", ".wav", ".srt", ".part"}
                                         and p.parent == folder]


@pytest.mark.parametrize("case, words", [
    ("missing", ["input not found"]),
    ("junk", ["not a readable media file"]),
    ("noaudio", ["no audio track"]),
])
def test_bad_inputs(case, words, made, tmp_path):
    path = tmp_path / "missing.mp4" if case == "missing" else made[case]
    r = dub("translate", path, "--to", "es", "--out", tmp_path / "out")
    assert_one_line_error(r, *words)
    assert no_outputs(tmp_path / "out" / path.stem)


def test_unknown_language_lists_supported(made, tmp_path):
    r = dub("translate", made["tone"], "--to", "es,klingon", "--out", tmp_path)
    assert_one_line_error(r, "unknown language code 'klingon'", "supported:")


def test_source_equal_to_target(made, tmp_path):
    r = dub("translate", made["tone"], "--from", "es", "--to", "es", "--out", tmp_path)
    assert_one_line_error(r, "also a target")


def test_unwritable_output(made, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    r = dub("translate", made["silence"], "--to", "es", "--out", f)
    assert_one_line_error(r, "not writable")


def test_bad_dask_setting_fails_before_any_work(made, tmp_path):
    r = dub("translate", made["tone"], "--to", "es", "--dask", "local:0", "--out", tmp_path / "out")
    assert_one_line_error(r, "bad Dask setting", "local:N")
    assert not (tmp_path / "out" / made["tone"].stem / "source").exists()


def test_bad_config_file(made, tmp_path):
    c = tmp_path / "c.yaml"
    c.write_text("fit:\n  nonsense: 1\n")
    r = dub("translate", made["silence"], "--to", "es", "--config", c, "--out", tmp_path)
    assert_one_line_error(r, "fit.nonsense")


@pytest.mark.slow
def test_no_speech_gives_message_and_untouched_copy(made, tmp_path):
    r = dub("translate", made["silence"], "--to", "es", "--out", tmp_path)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert "no speech" in r.stderr
    copy = tmp_path / "silence" / "silence.mp4"
    assert copy.read_bytes() == made["silence"].read_bytes()


@pytest.mark.slow
def test_animate_refuses_an_image_without_a_face(tmp_path, media_dir):
    import numpy as np
    from PIL import Image

    img = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(img)
    r = dub("animate", img, "--audio", media_dir / "audio/fw_jfk.flac", "--out", tmp_path / "out")
    assert_one_line_error(r, "no face")
    assert no_outputs(tmp_path / "out")


@pytest.fixture
def small_disk(tmp_path):
    """A folder on a tmpfs of a given size (needs the right to mount, as root in CI has)."""
    mounted = []

    def make(size: str) -> Path:
        d = tmp_path / f"disk-{size}"
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], capture_output=True)
        if r.returncode:
            pytest.skip("cannot mount a small tmpfs here (needs root): disk-full not testable")
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", str(d)], check=False)


def test_the_error_line_is_said_while_native_output_is_silenced():
    """lipsync.track points descriptor 2 at /dev/null while native libraries load (in a worker thread);
    a run that fails just then (a disk full under load) exited 5 with its error line thrown away."""
    code = ("import os; from dub import cli; null = os.open(os.devnull, os.O_WRONLY); os.dup2(null, 2); "
            "cli._fail('disk full while writing x: free space and run again to resume', 5)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 5
    assert_one_line_error(r, "disk full")


@pytest.mark.slow
@pytest.mark.parametrize("size", ["1500k", "5m"])  # full while separating audio / while saving the face tracks
def test_disk_full_is_one_line_and_loses_nothing(size, small_disk, media_dir):
    out = small_disk(size)
    job = out / "vr_face1"
    job.mkdir()
    earlier = job / "vr_face1.es.mp4"  # a dub the user already has
    earlier.write_bytes(b"an earlier dub")
    r = dub("translate", media_dir / "video/vr_face1.mp4", "--to", "es", "--out", out)
    assert_one_line_error(r, "disk full")
    assert r.returncode == 5
    assert earlier.read_bytes() == b"an earlier dub"
    partial = [p for p in job.rglob(".*") if not p.name.endswith(".key")]
    assert not partial, partial
