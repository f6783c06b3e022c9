"""Bad input: one line on stderr, a non-zero exit, no traceback, nothing half-written in the output."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DUB = [sys.executable, "-m", "dubbing.cli"]


def dub(*args, cwd=None, env=None):
    return subprocess.run([*DUB, *map(str, args)], capture_output=True, text=True, cwd=cwd or ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
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
