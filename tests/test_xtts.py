"""The xtts speech backend (dubbing/xtts.py, speak.py, xtts_voice.py) against a real HTTP server.

The server is tests/xtts_stand_in.py, run as a subprocess: it stands in for coqui's `tts-server` because
coqui-tts cannot be installed here (it imports torchaudio, which has no loadable build on this machine).
It serves the same /api/tts contract as coqui's TTS/server/server.py (the same value names, a WAV reply,
JSON errors) and speaks with espeak-ng; like coqui's, it fails on a speaker_wav path that is not a file.
"""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import ROOT, spoken_clip
from dubbing import config, espeak, media, own_voice
from dubbing.errors import DubError
from dubbing.schema import Diarization, SpeakerProfile, SpeakerTurn, Voice
from dubbing.speak import Synthesizer
from languages import get as language

STAND_IN = Path(__file__).resolve().parent / "xtts_stand_in.py"
LINE = "Hola, ¿cómo estás? Hoy hace muy buen tiempo en la ciudad."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve():
    """serve(mode) -> the base URL of a running stand-in server; all are stopped after the test."""
    procs = []

    def start(mode: str = "ok") -> str:
        port = _free_port()
        procs.append(subprocess.Popen([sys.executable, str(STAND_IN), str(port), mode], cwd=ROOT))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the stand-in server did not start")

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def requests(url: str) -> int:
    return int(httpx.get(url + "/requests").text)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> str:
    """A reference recording of a speaker (espeak-ng, 16 kHz WAV), as a user would pin."""
    audio, sr, _ = espeak.synthesize("This is how I sound when I read a sentence out loud.", "en")
    return str(media.write_wav(tmp_path_factory.mktemp("ref") / "me.wav", audio, sr))


def synth(url: str) -> Synthesizer:
    return Synthesizer(config.XTTSServer(base_url=url, timeout=60))


def voice(ref: str) -> Voice:
    return Voice(speaker="SPEAKER_00", backend="xtts", name=ref)


def test_a_line_is_spoken_with_its_phones_aligned_inside_the_audio(serve, reference):
    url = serve()
    speech = synth(url).synthesize(LINE, voice(reference), language("es"))
    assert speech.duration > 1.5 and np.max(np.abs(speech.audio)) > 0.1
    ph = speech.phones
    assert len(ph) > 20
    assert all(0 <= p.start <= p.end <= speech.duration + 1e-6 for p in ph)
    assert all(a.start <= b.start for a, b in zip(ph, ph[1:]))
    # the phones cover the speech: the trim keeps 0.05 s around the sound
    assert ph[0].start < 0.3 and ph[-1].end > speech.duration - 0.3
    # the phones are the text's (espeak-ng IPA of the same line), not something else
    assert "s" in {p.symbol for p in ph} and "t" in {p.symbol for p in ph}


def test_speed_shortens_the_line_and_the_server_is_asked_once(serve, reference):
    url = serve()
    s = synth(url)
    slow = s.synthesize(LINE, voice(reference), language("es"))
    fast = s.synthesize(LINE, voice(reference), language("es"), speed=1.4)
    assert fast.duration == pytest.approx(slow.duration / 1.4, rel=0.1)
    assert fast.phones[-1].end == pytest.approx(slow.phones[-1].end / 1.4, abs=0.15)
    assert all(p.end <= fast.duration + 1e-6 for p in fast.phones)
    assert requests(url) == 1  # the fit asks at several speeds; the server speaks the line once
    assert s.predict(LINE, voice(reference), language("es")) is None  # no duration predictor: synthesize


def test_server_down_is_one_line_naming_the_url(reference):
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(DubError) as e:
        synth(url).synthesize(LINE, voice(reference), language("es"))
    msg = str(e.value)
    assert "\n" not in msg and url in msg and "tts-server" in msg and "xtts_v2" in msg


@pytest.mark.parametrize("mode,says", [("error", "HTTP 500: TTS synthesis failed: CUDA out of memory"),
                                       ("html", "not a WAV")])
def test_an_error_or_non_wav_reply_is_a_dub_error(serve, reference, mode, says):
    with pytest.raises(DubError, match=says) as e:
        synth(serve(mode)).synthesize(LINE, voice(reference), language("es"))
    assert "\n" not in str(e.value)


def test_a_reference_the_server_cannot_read_is_refused(serve, tmp_path):
    with pytest.raises(DubError, match="HTTP 500.*No such file"):
        synth(serve()).synthesize(LINE, voice(str(tmp_path / "gone.wav")), language("es"))


def test_a_silent_reply_is_asked_again_then_refused(serve, reference):
    once = serve("silent-once")
    speech = synth(once).synthesize(LINE, voice(reference), language("es"))
    assert np.max(np.abs(speech.audio)) > 0.1 and requests(once) == 2
    always = serve("silent")
    with pytest.raises(DubError, match="silence twice"):
        synth(always).synthesize(LINE, voice(reference), language("es"))
    assert requests(always) == 2


# --- the cast: each speaker's reference clip ------------------------------------------------------------------


def _two_speakers():
    """16 kHz source: SPEAKER_00 (espeak male) has 2 clean turns and one overlapped by SPEAKER_01
    (espeak female), who speaks ~1.5 s."""
    import soxr

    def say(text, v):
        a, sr, _ = espeak.synthesize(text, v)
        return soxr.resample(a, sr, 16000).astype(np.float32)

    a = say("The first thing I want to tell you is about the river.", "en")
    b = say("Then we walked along the old bridge to the town.", "en")
    c = say("Yes, really.", "en+f3")
    gap = np.zeros(8000, np.float32)
    wav = np.concatenate([a, gap, b, gap, c, gap, a])
    t = np.cumsum([0, len(a), len(gap), len(b), len(gap), len(c), len(gap), len(a)]) / 16000
    turns = [SpeakerTurn(start=t[0], end=t[1], speaker="SPEAKER_00"),
             SpeakerTurn(start=t[2], end=t[3], speaker="SPEAKER_00"),
             SpeakerTurn(start=t[4], end=t[5], speaker="SPEAKER_01"),
             SpeakerTurn(start=t[5] - 0.3, end=t[7], speaker="SPEAKER_00")]  # overlaps SPEAKER_01's turn
    profiles = [SpeakerProfile(speaker="SPEAKER_00", median_f0=110, f0_low=90, f0_high=130, gender="male",
                               speech_seconds=t[7] - t[5] + t[3] - t[2] + t[1]),
                SpeakerProfile(speaker="SPEAKER_01", median_f0=210, f0_low=180, f0_high=240, gender="female",
                               speech_seconds=t[5] - t[4])]
    return wav, turns, profiles, (len(a) + len(b)) / 16000, len(c) / 16000


def test_the_cast_writes_each_speakers_own_reference_clip(tmp_path):
    wav, turns, profiles, clean_00, seconds_01 = _two_speakers()
    cfg = config.load(overrides={"tts": {"backend": "xtts"}})
    diar = Diarization(turns=turns, speakers=["SPEAKER_00", "SPEAKER_01"])
    cast = own_voice.cast(profiles, diar, wav, language("es"), cfg, clips=tmp_path / "voices")
    v0, v1 = cast.voices["SPEAKER_00"], cast.voices["SPEAKER_01"]
    assert {v0.backend, v1.backend} == {"xtts"} and {v0.origin, v1.origin} == {"cloned"}
    clip0, sr0 = media.read_wav(v0.name)
    clip1, sr1 = media.read_wav(v1.name)
    assert Path(v0.name).parent == tmp_path / "voices" and sr0 == sr1 == 16000
    # SPEAKER_00's clip is their two clean turns (the overlapped one left out), a short gap between
    assert len(clip0) / sr0 == pytest.approx(clean_00 + 0.15, abs=0.01)
    assert np.allclose(clip0[:1000], wav[:1000], atol=1e-3)
    assert len(clip1) / sr1 == pytest.approx(seconds_01, abs=0.01)
    assert "only" in v1.note and "3 s" in v1.note and "only" not in v0.note
    again = own_voice.cast(profiles, diar, wav, language("es"), cfg, clips=tmp_path / "voices")
    assert again == cast  # the same audio gives the same clip paths


def test_a_pinned_reference_wav_is_the_voice_and_other_backends_refuse_it(tmp_path, reference):
    wav, turns, profiles, _, _ = _two_speakers()
    diar = Diarization(turns=turns, speakers=["SPEAKER_00", "SPEAKER_01"])
    cfg = config.load(overrides={"tts": {"backend": "xtts", "voices": {"SPEAKER_01": reference}}})
    cast = own_voice.cast(profiles, diar, wav, language("es"), cfg, clips=tmp_path)
    assert cast.voices["SPEAKER_01"].name == reference and cast.voices["SPEAKER_01"].origin == "pinned"
    assert own_voice.voice_name(reference) == reference  # --voice SPEAKER_01=me.wav is accepted
    with pytest.raises(DubError, match="not found"):
        own_voice.voice_name(str(tmp_path / "nope.wav"))
    espeak_cfg = config.load(overrides={"tts": {"backend": "espeak", "voices": {"SPEAKER_01": reference}}})
    with pytest.raises(DubError, match="xtts"):
        own_voice.cast(profiles, diar, wav, language("es"), espeak_cfg)


# --- the whole dub ---------------------------------------------------------------------------------------------


def _xtts_config(path: Path, url: str) -> Path:
    path.write_text("translation:\n  backend: apertium\nseparation:\n  backend: none\nlipsync:\n  enabled: false\n"
                    f"tts:\n  backend: xtts\n  xtts:\n    base_url: {url}\n")
    return path


def _translate(clip: Path, out: Path, cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dub", "translate", str(clip), "--to", "es", "--out", str(out),
                           "--config", str(cfg)], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_dub_translate_with_the_server_down_stops_before_any_work(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    spoken_clip(tmp_path / "hello.mp4", "Hello there.")
    r = _translate(tmp_path / "hello.mp4", tmp_path / "out", _xtts_config(tmp_path / "x.yaml", url))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if url in ln]
    assert len(errors) == 1 and "tts-server" in errors[0]
    assert not list((tmp_path / "out").rglob("asr.json"))  # nothing transcribed (a run writes source/asr.json)


def test_doctor_says_whether_the_configured_server_answers_and_why_xtts_cannot_run_here(serve, tmp_path):
    from dub import doctor

    def xtts_check(url: str) -> doctor.Check:
        cfg = _xtts_config(tmp_path / "x.yaml", url)
        return next(c for c in doctor.checks(cfg) if c.name.startswith("xtts"))

    up = serve()
    ok = xtts_check(up)
    assert ok.ok and up in ok.name and "answers" in ok.detail and "coqui-tts" in ok.detail
    down = f"http://127.0.0.1:{_free_port()}"
    bad = xtts_check(down)
    assert not bad.ok and bad.optional and down in bad.detail and "tts-server" in bad.detail
    assert "torchaudio" in bad.detail


@pytest.mark.slow
def test_dub_translate_speaks_with_the_xtts_server(serve, tmp_path):
    url = serve()
    spoken_clip(tmp_path / "hello.mp4", "Hello, the weather is nice today. The train leaves at nine.")
    r = _translate(tmp_path / "hello.mp4", tmp_path / "out", _xtts_config(tmp_path / "xtts.yaml", url))
    assert r.returncode == 0, r.stderr[-2000:]
    job = tmp_path / "out" / "hello"
    assert media.probe(job / "hello.es.mp4").has_audio
    voices = json.loads((job / "es" / "voices.json").read_text())["voices"]
    assert voices and all(v["backend"] == "xtts" and Path(v["name"]).is_file() for v in voices.values())
    assert requests(url) >= 1
    timing = json.loads((job / "es" / "timing.json").read_text())
    assert timing["lines"] and timing["phones"]
