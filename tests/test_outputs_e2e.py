"""--burn-subtitles, --stems and --multitrack through the CLI on a real clip: vr_face1 into Japanese (the
language whose line breaking and font differ; Spanish is burned in tests/test_outputs.py), lips left as
they are to keep it short."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, needs_media

pytestmark = [pytest.mark.slow, needs_media]


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory, media_dir):
    out = tmp_path_factory.mktemp("outputs")
    r = subprocess.run([sys.executable, "-m", "dub", "translate", str(media_dir / "video/vr_face1.mp4"),
                        "--to", "ja", "--out", str(out), "--no-lipsync", "--burn-subtitles", "--stems",
                        "--multitrack"], capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert r.returncode == 0, r.stderr[-2000:]
    job = out / "vr_face1"
    return job, json.loads((job / "job.json").read_text())


def _gray(path, t: float) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            if f.time >= t:
                return f.to_ndarray(format="gray").astype(float)
    raise AssertionError(f"no frame at {t} s in {path}")


def test_subtitles_are_burned_into_the_bottom_of_the_picture(dubbed, media_dir, code="ja"):
    from dubbing import subtitles

    job, _ = dubbed
    cue = subtitles.read(job / f"vr_face1.{code}.srt")[0]
    t = (cue.start + cue.end).total_seconds() / 2
    src, out = _gray(media_dir / "video/vr_face1.mp4", t), _gray(job / f"vr_face1.{code}.mp4", t)
    h = src.shape[0]
    diff = np.abs(out - src)
    assert diff[int(0.75 * h):].mean() > 4 * diff[: int(0.5 * h)].mean()  # text at the bottom, the rest as it was
    assert (job / code / "subtitles.ass").exists()


def test_stems_per_language(dubbed):
    from dubbing import media

    job, _ = dubbed
    names = sorted(p.name for p in (job / "ja/stems").glob("*.wav"))
    assert {"mix.wav", "dialogue.wav", "background.wav"} <= set(names)
    assert any(n.startswith("dialogue-SPEAKER_") for n in names)
    mix, sr = media.read_wav(job / "ja/stems/mix.wav")
    dub, _ = media.read_wav(job / "ja/dub.wav")
    assert sr == 48000 and mix.shape == dub.shape and np.abs(mix - dub).max() < 2e-4


def test_one_file_plays_every_language(dubbed):
    from dubbing import multitrack

    job, summary = dubbed
    path = job / "vr_face1.multi.mkv"
    assert summary["multitrack"] == str(path)
    tracks = multitrack.tracks(path)
    assert [t["language"] for t in tracks if t["type"] == "audio"] == ["eng", "jpn"]
    assert [t["language"] for t in tracks if t["type"] == "subtitle"] == ["jpn", "eng"]
    assert sum(t["type"] == "video" for t in tracks) == 1
