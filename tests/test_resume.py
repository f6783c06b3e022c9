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
    lines = [l for l in err.splitlines() if l.strip() and not l.lstrip().startswith(("audio", "transcribe", "diarize", "separate", "translate", "dub "))]
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
