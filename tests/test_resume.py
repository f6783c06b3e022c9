"""Interrupted runs: Ctrl-C gives one line and exit 130; after kill -9 the same command resumes from the
records already written and redoes nothing that finished."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, needs_media

pytestmark = [pytest.mark.slow, needs_media]


def start(media_dir, out):
    return subprocess.Popen([sys.executable, "-m", "dub", "translate", str(media_dir / "video/vr_face1.mp4"),
                             "--to", "es", "--no-lipsync", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(path, proc, timeout=600):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - t0 < timeout
        time.sleep(0.2)


def _one_line_130(p, err):
    assert p.returncode == 130, err
    from dubbing.workload import SOURCE

    bars = ("all", *SOURCE, "translate", "dub ")  # the progress bars' lines
    lines = [l for l in err.splitlines() if l.strip() and not l.lstrip().startswith(bars)]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("moment", ["source/background.wav", "es/translation.json"])
def test_ctrl_c_as_translation_starts_or_while_dubbing_stops_the_run(tmp_path, media_dir, moment):
    """Prefect swallowed a Ctrl-C that landed in its task set-up (the run went on to the end, exit 0),
    and the language branches run in threads no signal reaches."""
    p = start(media_dir, tmp_path)
    wait_for(tmp_path / "vr_face1" / moment, p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    _one_line_130(p, err)
    assert not (tmp_path / "vr_face1/vr_face1.es.mp4").exists()


def test_ctrl_c_is_one_line_and_kill_9_resumes(tmp_path, media_dir):
    job = tmp_path / "vr_face1"
    p = start(media_dir, tmp_path)
    wait_for(job / "source/asr.json", p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    _one_line_130(p, err)

    p = start(media_dir, tmp_path)
    wait_for(job / "source/lines.json", p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    asr = (job / "source/asr.json").stat().st_mtime_ns
    lines_rec = (job / "source/lines.json").read_bytes()
    assert not (job / "vr_face1.es.mp4").exists()

    p = start(media_dir, tmp_path)
    _, err = p.communicate(timeout=1200)
    assert p.returncode == 0, err
    assert (job / "source/asr.json").stat().st_mtime_ns == asr, "finished stages are not redone"
    assert (job / "source/lines.json").read_bytes() == lines_rec
    assert (job / "vr_face1.es.mp4").exists()
    assert not list(job.glob(".*.part")) and not list(job.glob(".vr_face1*")), "no partial files left"


def test_kill_9_mid_render_keeps_the_rendered_chunks_and_gives_the_same_dub(tmp_path, media_dir):
    """Killed while a language's lips are half rendered, a re-run keeps the 2-s chunks already made
    (untouched) and renders only the rest; the dub is the same as an uninterrupted run's, frame for
    frame and sample for sample."""
    import json

    import numpy as np
    import soundfile as sf

    from dubbing import video as vio

    def run(out):
        return subprocess.Popen([sys.executable, "-m", "dub", "translate", str(media_dir / "video/vr_face1.mp4"),
                                 "--to", "es", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    chunks = killed / "vr_face1/es/lipsync/chunks"
    p = run(killed)
    t0 = time.time()
    while not list(chunks.glob("*.npy")):  # a chunk's record is written once its video is in place
        assert p.poll() is None, p.stderr.read()
        assert time.time() - t0 < 900
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert not (killed / "vr_face1/es/lips.mp4").exists(), "killed before the lips were finished"
    made = {c.name: c.stat().st_mtime_ns for c in chunks.glob("*.mp4") if (chunks / f"{c.stem}.npy").exists()}
    assert made

    for out in (killed, clean):
        p = run(out)
        _, err = p.communicate(timeout=1200)
        assert p.returncode == 0, err
    assert {n: (chunks / n).stat().st_mtime_ns for n in made} == made, "finished chunks are not rendered again"
    sync = json.loads((killed / "vr_face1/es/sync.json").read_text())
    assert 0 < sync["rendered_frames"] < sync["synced_frames"]  # only the chunks not made before the kill
    a, b = ([f.rgb for f in vio.frames(o / "vr_face1/es/lips.mp4")] for o in (killed, clean))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert np.array_equal(sf.read(killed / "vr_face1/es/dub.wav")[0], sf.read(clean / "vr_face1/es/dub.wav")[0])
    assert not list(chunks.glob(".*.mp4")), "the chunk being written at the kill is not left behind"
