"""Placement, fades, ducking, loudness target and peak ceiling of the dubbed mix."""

import numpy as np
import pytest
from scipy.signal import resample_poly

from dubbing.config import Mix
from dubbing.mix import RELEASE, LoudnessMeter, duck_envelope, limit, loudness, mix, normalize, place, place_span

SR = 16000
CFG = Mix(loudness_lufs=-16.0, background_db=0.0, duck_db=-6.0)


def tone(seconds: float, freq: float = 440.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_place_puts_clips_at_their_start_and_overlaps_add():
    clip = np.ones(1600, np.float32)
    out = place([(0.5, clip), (0.55, clip)], SR, SR)
    assert out.shape == (SR,)
    assert not out[:8000].any()
    assert out[8000 + 1200] == pytest.approx(2.0)  # both clips there, away from the fades
    assert out[8000 + 400] == pytest.approx(1.0)
    assert not out[8800 + 1600:].any()


def test_place_fades_clip_edges_and_cuts_outside_the_track():
    clip = np.ones(1600, np.float32)
    out = place([(0.0, clip)], 2000, SR)
    assert out[0] < 0.05 and out[1599] < 0.05  # no step at either edge
    assert np.all(np.diff(out[:80]) > 0)  # a ramp, not a jump
    cut = place([(-0.05, clip), (0.1, clip)], 2000, SR)
    assert cut[:800].max() == pytest.approx(1.0)  # the first clip's start is cut away, its body kept
    assert np.abs(cut[1600:]).max() == pytest.approx(1.0)  # the second runs off the end
    with pytest.raises(ValueError):
        place([(0.0, np.ones((10, 2)))], 100, SR)


def test_duck_envelope_is_down_under_voice_and_ramps_back():
    voices = np.zeros(3 * SR, np.float32)
    voices[SR:2 * SR] = tone(1.0)
    g = duck_envelope(voices, SR, -6.0)
    assert g[int(0.5 * SR)] == 0.0
    assert np.all(g[SR:2 * SR - SR // 50] <= -5.9)  # fully ducked from the first voice sample
    assert g[int(0.9 * SR)] == 0.0  # the attack starts only shortly before the voice
    after = g[2 * SR:]
    back = np.argmax(after >= -0.01) / SR
    assert 0.6 * RELEASE < back < 1.5 * RELEASE
    assert np.all(np.diff(after[: int(back * SR)]) >= 0)  # smooth, monotone release
    assert np.abs(np.diff(g)).max() < 0.01  # dB per sample: no gain steps (clicks)


def test_short_pauses_stay_ducked_long_ones_release():
    voices = np.zeros(5 * SR, np.float32)
    voices[SR:int(1.8 * SR)] = tone(0.8)
    voices[2 * SR:3 * SR] = tone(1.0)  # 0.2 s pause: one phrase
    voices[4 * SR:] = tone(1.0)  # 1 s pause: the background comes back between
    g = duck_envelope(voices, SR, -6.0)
    assert np.all(g[SR + SR // 50:3 * SR - SR // 50] <= -5.9)
    assert g[int(3.7 * SR)] == 0.0


def test_duck_envelope_of_silent_voices_is_flat():
    assert not duck_envelope(np.zeros(SR, np.float32), SR, -6.0).any()


def test_loudness_follows_bs1770_for_a_sine():
    # BS.1770: a 997 Hz sine of peak amplitude A reads 20 log10(A) - 3.01 LUFS
    assert loudness(tone(3.0, 997.0, 0.1, 48000), 48000) == pytest.approx(-23.01, abs=0.1)
    assert loudness(np.zeros(SR), SR) == float("-inf")


def test_limit_keeps_intersample_peaks_under_the_ceiling():
    n = np.arange(SR)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)  # samples at 0.707, true peak 1.0
    y = limit(x, SR, -1.0)
    true_peak = np.abs(resample_poly(y, 8, 1)).max()
    assert 20 * np.log10(true_peak) <= -0.9
    quiet = 0.1 * x
    assert np.array_equal(limit(quiet, SR, -1.0), quiet)  # nothing to limit: untouched


def test_normalize_reaches_target_with_peaks_below_ceiling():
    rng = np.random.default_rng(0)
    x = (0.01 * rng.standard_normal(4 * SR)).astype(np.float32)
    x[:: SR // 3] = 0.95  # sparse clicks far above the noise: the limiter has to work
    y = normalize(x, SR, -16.0)
    assert abs(loudness(y, SR) + 16.0) <= 0.5
    assert np.abs(y).max() <= 10 ** (-1 / 20)
    assert not normalize(np.zeros(SR, np.float32), SR, -16.0).any()


def test_mix_hits_loudness_and_ceiling_and_keeps_background_channels():
    rng = np.random.default_rng(1)
    background = (0.05 * rng.standard_normal((4 * SR, 2))).astype(np.float32)
    voices = place([(1.0, tone(2.0, 220.0, 0.5))], 4 * SR, SR)
    out = mix(voices, background, SR, CFG)
    assert out.shape == background.shape
    assert abs(loudness(out, SR) - CFG.loudness_lufs) <= 0.5
    assert np.abs(out).max() <= 10 ** (-1 / 20)
    # voices are centred, so L - R is the background alone: its level shows the ducking
    side = out[:, 0] - out[:, 1]
    bg_side = background[:, 0] - background[:, 1]
    k = np.dot(side[: SR // 2], bg_side[: SR // 2]) / np.dot(bg_side[: SR // 2], bg_side[: SR // 2])
    under = slice(int(1.5 * SR), int(2.5 * SR))
    ducked = np.dot(side[under], bg_side[under]) / np.dot(bg_side[under], bg_side[under])
    assert 20 * np.log10(ducked / k) == pytest.approx(CFG.duck_db, abs=0.3)


def test_mix_mono_background_and_unequal_lengths():
    background = tone(2.0, 100.0, 0.1)
    voices = place([(0.2, tone(0.5))], SR, SR)
    out = mix(voices, background, SR, CFG.model_copy(update={"background_db": -10.0}))
    assert out.shape == (2 * SR,)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("rate,shape", [(48000, (7 * 48000 + 123,)), (48000, (5 * 48000 + 7, 2)),
                                        (16000, (4800,)), (24000, (3 * 24000, 2))])
def test_loudness_in_pieces_is_pyloudnorms_figure(rate, shape):
    import pyloudnorm

    x = (np.random.default_rng(0).standard_normal(shape) * 0.1).astype(np.float32)
    x[: len(x) // 3] *= 0.001  # a quiet stretch the relative gate drops
    x[len(x) // 2: len(x) // 2 + rate // 2] = 0  # and silence the absolute gate drops
    want = pyloudnorm.Meter(rate, block_size=min(0.4, len(x) / rate)).integrated_loudness(x.astype(np.float64))
    assert loudness(x, rate) == pytest.approx(want, abs=1e-9)
    meter = LoudnessMeter(rate, 1 if x.ndim == 1 else x.shape[1], len(x))  # fed in ragged pieces
    cuts = np.unique(np.r_[0, np.random.default_rng(1).integers(0, len(x), 7), len(x)])
    for a, b in zip(cuts[:-1], cuts[1:]):
        meter.add(x[a:b])
    assert meter.lufs == pytest.approx(want, abs=1e-9)


def test_loudness_of_ten_minutes_stays_small_in_memory():
    import tracemalloc

    x = (np.random.default_rng(1).standard_normal((600 * 48000, 2)) * 0.1).astype(np.float32)  # 230 MB
    tracemalloc.start()
    got = loudness(x, 48000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert np.isfinite(got)
    assert peak < 100e6, f"{peak / 1e6:.0f} MB traced measuring 230 MB of audio"


def _clips(seconds: float, sr: int, seed: int = 0) -> list[tuple[float, np.ndarray]]:
    """Voice-like clips (noise bursts of 1-4 s, some with a click the limiter must catch) over `seconds`."""
    rng = np.random.default_rng(seed)
    clips, t = [], 0.5
    while t < seconds - 5:
        clip = (0.05 * rng.standard_normal(int(rng.uniform(1, 4) * sr))).astype(np.float32)
        if rng.uniform() < 0.3:
            clip[len(clip) // 2] = 0.99
        clips.append((t, clip))
        t += len(clip) / sr + rng.uniform(0.2, 3)
    return clips


def test_the_mix_written_window_by_window_is_the_whole_arrays_mix(tmp_path):
    import soundfile as sf

    from dubbing import mix_file

    sr, n = 24000, 24000 * 75 + 11  # several windows and a ragged one
    clips = _clips(75, sr)
    background = (0.03 * np.random.default_rng(5).standard_normal((n - 500, 2))).astype(np.float32)  # padded
    sf.write(tmp_path / "bg.wav", background, sr, subtype="PCM_16")
    background = sf.read(tmp_path / "bg.wav", dtype="float32")[0]
    cfg = Mix(loudness_lufs=-14.0, background_db=-3.0, duck_db=-12.0)
    mix_file.write(clips, tmp_path / "bg.wav", n, sr, -20.0, cfg, tmp_path / "voices.wav", tmp_path / "dub.wav")
    voices_whole = normalize(place(clips, n, sr), sr, -20.0)
    dub_whole = mix(voices_whole, np.pad(background, [(0, 500), (0, 0)]), sr, cfg)
    voices, _ = sf.read(tmp_path / "voices.wav", dtype="float32")
    dub, _ = sf.read(tmp_path / "dub.wav", dtype="float32")
    assert voices.shape == (n,) and dub.shape == (n, 2)
    assert np.abs(voices - voices_whole).max() < 2e-4 and np.abs(dub - dub_whole).max() < 5e-4  # 16-bit steps
    assert loudness(dub, sr) == pytest.approx(-14.0, abs=0.2)


@pytest.mark.parametrize("stems", [False, True])
def test_the_mix_of_a_long_dub_needs_the_memory_of_a_window_not_of_the_dub(tmp_path, stems):
    """With `stems`, the editors' stems (two speakers) are written beside it, as flat."""
    import tracemalloc

    import soundfile as sf

    from dubbing import mix_file

    sr, peaks = 48000, {}
    cfg = Mix(loudness_lufs=-14.0, background_db=-3.0, duck_db=-12.0)
    for minutes in (2, 6):
        n = minutes * 60 * sr
        clips = _clips(minutes * 60, sr)
        with sf.SoundFile(tmp_path / "bg.wav", "w", sr, 2, "PCM_16") as f:
            rng = np.random.default_rng(0)
            for _ in range(minutes * 6):
                f.write((0.03 * rng.standard_normal((10 * sr, 2))).astype(np.float32))
        tracemalloc.start()
        mix_file.write(clips, tmp_path / "bg.wav", n, sr, -20.0, cfg, tmp_path / "voices.wav", tmp_path / "dub.wav",
                       (tmp_path / "stems", [f"S{i % 2}" for i in range(len(clips))]) if stems else None)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]  # the clips were made before tracing
        tracemalloc.stop()
        assert sf.info(tmp_path / "dub.wav").frames == n
        if stems:
            assert sf.info(tmp_path / "stems/dialogue-S1.wav").frames == n
    assert peaks[6] < 1.2 * peaks[2], peaks  # held whole, the mix's arrays triple from 2 to 6 minutes


def test_clips_kept_in_a_file_mix_as_the_arrays_do_and_are_read_only_where_the_window_meets_them(tmp_path):
    """dubbing.clip_file: the speech keeps each fitted clip in a file; the mix reads a clip only for the
    windows it falls in, so a long dub's clips are never in memory together."""
    import pickle

    import soundfile as sf

    from dubbing import clip_file, mix_file

    sr, n = 24000, 24000 * 75 + 11
    clips = _clips(75, sr, seed=3)
    reads = []

    class Counted(clip_file.StoredClip):
        def __array__(self, dtype=None, copy=None):
            reads.append(self.offset)
            return super().__array__(dtype, copy)

    with clip_file.ClipFile(tmp_path / "clips.f32") as kept:
        plain = [(start, kept.keep(a)) for start, a in clips]
    assert pickle.loads(pickle.dumps(plain[3][1])) == plain[3][1]  # as a cluster's worker sends it back
    stored = [(start, Counted(*vars(c).values())) for start, c in plain]
    assert [np.asarray(c).tolist() for _, c in plain] == [a.tolist() for _, a in clips]
    span = (int(20.0 * sr), int(30.0 * sr))
    assert np.array_equal(place_span(stored, *span, sr), place_span(clips, *span, sr))
    meeting = [c.offset for s, c in stored if s * sr < span[1] and s * sr + len(c) > span[0]]
    assert sorted(reads) == sorted(meeting) and 0 < len(meeting) < len(stored) / 3
    cfg = Mix(loudness_lufs=-14.0, background_db=-3.0, duck_db=-12.0)
    sf.write(tmp_path / "bg.wav", (0.03 * np.random.default_rng(5).standard_normal((n, 2))).astype(np.float32), sr)
    for name, cs in (("arrays", clips), ("stored", stored)):
        mix_file.write(cs, tmp_path / "bg.wav", n, sr, -20.0, cfg, tmp_path / f"voices-{name}.wav",
                       tmp_path / f"dub-{name}.wav")
    assert (tmp_path / "dub-arrays.wav").read_bytes() == (tmp_path / "dub-stored.wav").read_bytes()


def test_a_clip_whose_file_was_cut_short_is_an_error_not_silence(tmp_path):
    from dubbing import clip_file

    with clip_file.ClipFile(tmp_path / "clips.f32") as kept:
        kept.keep(np.ones(100, np.float32))
        clip = kept.keep(np.ones(50, np.float32))
    with open(tmp_path / "clips.f32", "r+b") as f:
        f.truncate(4 * 120)
    with pytest.raises(OSError, match="fewer samples"):
        np.asarray(clip)
    with pytest.raises(ValueError, match="mono"):
        clip_file.ClipFile(tmp_path / "other.f32").keep(np.ones((10, 2), np.float32))
