"""Prosody carried from source lines to their dubs (dubbing/prosody.py), on synthetic voiced sound whose
pitch and loudness are known by construction."""

from types import SimpleNamespace

import numpy as np
import pytest

from dubbing import prosody
from dubbing.config import Prosody
from dubbing.schema import ProsodyMove, Shape

SR = 24000


def voiced(f0_hz, level_db: float = -20.0, sr: int = SR) -> np.ndarray:
    """A vowel-like sound following the pitch track `f0_hz` (one value per sample): 20 harmonics falling
    at 6 dB per octave through two formant-like peaks, at `level_db` RMS."""
    f0 = np.asarray(f0_hz, dtype=np.float64)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = np.zeros_like(f0)
    for k in range(1, 21):
        amp = (1.0 / k) * (1.0 + 2.0 * np.exp(-((k * f0 - 700) / 200) ** 2) + np.exp(-((k * f0 - 1200) / 250) ** 2))
        x += np.where(k * f0 < sr / 2 - 500, amp, 0.0) * np.sin(k * phase)
    x *= 10 ** (level_db / 20) / np.sqrt(np.mean(x ** 2))
    return x.astype(np.float32)


def glide(start_hz: float, end_hz: float, seconds: float, sr: int = SR) -> np.ndarray:
    """Pitch track gliding exponentially from start_hz to end_hz, one value per sample."""
    return start_hz * (end_hz / start_hz) ** np.linspace(0, 1, int(seconds * sr))


def padded(x: np.ndarray, sr: int = SR, pad: float = 0.15) -> np.ndarray:
    z = np.zeros(int(pad * sr), np.float32)
    return np.concatenate([z, x, z])


def test_a_line_s_pitch_level_range_and_final_movement_are_read_in_semitones():
    flat = prosody.measure(padded(voiced(np.full(SR, 150.0))), SR, 0.5)
    assert flat.median_st == pytest.approx(12 * np.log2(1.5), abs=0.3)
    assert flat.range_st < 0.5 and abs(flat.final_st) < 0.5
    assert flat.level_db == pytest.approx(-20.0, abs=1.5)
    assert flat.voiced == pytest.approx(1.0, abs=0.1)

    # flat for 1 s, then up 4 semitones over the last 0.5 s: a question's rise
    rising = prosody.measure(padded(voiced(np.concatenate([np.full(SR, 150.0), glide(150, 150 * 2 ** (4 / 12), 0.5)]))),
                             SR, 0.5)
    assert rising.final_st == pytest.approx(4.0, abs=0.8)
    falling = prosody.measure(padded(voiced(np.concatenate([np.full(SR, 150.0), glide(150, 150 * 2 ** (-4 / 12), 0.5)]))),
                              SR, 0.5)
    assert falling.final_st == pytest.approx(-4.0, abs=0.8)
    wide = prosody.measure(padded(voiced(glide(100, 200, 1.5))), SR, 0.5)
    assert wide.range_st == pytest.approx(12 * 0.8, abs=1.5)  # 10-90 % of a one-octave glide


def test_silence_and_noise_give_no_pitch_rather_than_a_made_up_one():
    rng = np.random.default_rng(0)
    assert prosody.measure(np.zeros(SR, np.float32), SR, 0.5).median_st is None
    whisper = prosody.measure((0.05 * rng.standard_normal(SR)).astype(np.float32), SR, 0.5)
    assert whisper.median_st is None and whisper.level_db > -40


def test_the_move_is_the_source_line_s_difference_from_its_speaker_within_bounds():
    cfg = Prosody()
    speaker = prosody.Baseline(level_db=-25.0, median_st=5.0, range_st=4.0)
    voice = prosody.Baseline(level_db=-20.0, median_st=10.0, range_st=6.0)
    src = Shape(level_db=-19.0, median_st=7.0, range_st=2.0, final_st=3.0, voiced=1.0)  # 6 dB louder, 2 st up
    dub = Shape(level_db=-21.0, median_st=9.0, range_st=8.0, final_st=-1.0, voiced=1.0)  # 1 dB soft, 1 st low
    mv = prosody.plan(src, speaker, dub, voice, cfg)
    assert mv.gain_db == pytest.approx(7.0)
    assert mv.shift_st == pytest.approx(3.0)
    assert mv.range_scale == pytest.approx(cfg.range_min)  # 2/8 = 0.25, held at the bound
    assert mv.final_st == pytest.approx(3.0 + 1.0 * cfg.range_min)
    shouted = src.model_copy(update={"level_db": 5.0})
    assert prosody.plan(shouted, speaker, dub, voice, cfg).gain_db == cfg.max_gain_db
    # a source line with too little voicing to read (a cough, a word the separation lost) moves nothing:
    # its level says nothing of how loud the words were
    assert prosody.plan(src.model_copy(update={"level_db": -45.0, "median_st": None, "range_st": None,
                                               "final_st": None}), speaker, dub, voice, cfg) == ProsodyMove()
    # and it does not pull its speaker's usual level down
    lost = Shape(level_db=-60.0, voiced=0.05)
    assert prosody.baseline([src, lost, src.model_copy(update={"level_db": -23.0})]).level_db == pytest.approx(-21.0)


def test_applying_a_move_gives_the_dub_the_wanted_pitch_and_level_at_the_same_length():
    x = padded(voiced(np.full(int(1.5 * SR), 140.0)))
    before = prosody.measure(x, SR, 0.5)
    move = ProsodyMove(gain_db=4.0, shift_st=2.0, range_scale=1.0, final_st=5.0)
    y = prosody.apply(x, SR, move, 0.5)
    assert len(y) == len(x)
    after = prosody.measure(y, SR, 0.5)
    assert after.level_db - before.level_db == pytest.approx(4.0, abs=0.7)
    assert after.final_st == pytest.approx(5.0, abs=1.2)
    # the median moves by the shift plus what the ramp adds to the last third of the voicing
    assert after.median_st - before.median_st == pytest.approx(2.0, abs=0.8)
    # at the 48 kHz mix rate too (the line is resynthesized at WORLD_RATE and brought back)
    x48 = padded(voiced(np.full(int(1.2 * 48000), 140.0), sr=48000), sr=48000)
    y48 = prosody.apply(x48, 48000, ProsodyMove(shift_st=-3.0), 0.5)
    assert len(y48) == len(x48)
    assert prosody.measure(y48, 48000, 0.5).median_st == pytest.approx(prosody.measure(x48, 48000, 0.5).median_st - 3,
                                                                       abs=0.4)
    assert prosody.apply(x, SR, ProsodyMove(), 0.5) is not x and np.array_equal(prosody.apply(x, SR, ProsodyMove(), 0.5), x)


def test_carry_keeps_a_loud_rising_line_loud_and_rising_in_the_dub():
    # source: the speaker's second line is 6 dB louder and ends in a 5-semitone rise; the dub's two lines
    # come out of the synthesizer alike, flat and at one level
    lines = [SimpleNamespace(id="L1", speaker="S0", source="Well, I went home."),
             SimpleNamespace(id="L2", speaker="S0", source="You did what?"),
             SimpleNamespace(id="L3", speaker="S0", source="I went home.")]
    src = [padded(voiced(np.full(SR, 120.0), -26.0)),
           padded(voiced(np.concatenate([np.full(SR, 120.0), glide(120, 120 * 2 ** (5 / 12), 0.5)]), -20.0)),
           padded(voiced(np.full(SR, 118.0), -26.0))]
    shapes = {ln.id: prosody.measure(a, SR, 0.5) for ln, a in zip(lines, src)}
    dubs = [padded(voiced(np.full(int(1.3 * SR), 200.0), -22.0)) for _ in lines]
    out, report = prosody.carry(lines, shapes, dubs, SR, Prosody())
    assert [len(a) for a in out] == [len(a) for a in dubs]
    level = [prosody.measure(a, SR, 0.5).level_db for a in out]
    assert level[1] - level[0] == pytest.approx(6.0, abs=1.5)
    assert report[1].question and not report[0].question
    assert report[1].got["final"] == pytest.approx(5.0, abs=1.5) and abs(report[1].got_before["final"]) < 0.5
    s = prosody.summary(report)
    assert s["questions_rising_after"] == 1.0 and s["questions_rising_before"] == 0.0
    assert s["level_miss_after"] < s["level_miss_before"]


def test_questions_are_read_in_any_script_and_through_closing_quotes():
    assert prosody.is_question("¿Qué?") and prosody.is_question("本当？") and prosody.is_question('He said "why?"')
    assert not prosody.is_question("Why not.")


def test_small_pitch_moves_are_not_made_and_an_ending_alone_leaves_the_rest_of_the_line_untouched():
    cfg = Prosody()
    base = prosody.Baseline(level_db=-20.0, median_st=5.0, range_st=4.0)
    line = Shape(level_db=-20.0, median_st=5.6, range_st=4.4, final_st=-0.5, voiced=1.0)
    mv = prosody.plan(line.model_copy(update={"final_st": 3.0}), base, line.model_copy(update={"median_st": 5.0}), base, cfg)
    assert mv.shift_st == 0.0 and mv.range_scale == 1.0  # 0.6 st and x1.0: below what is worth resynthesizing
    assert mv.final_st == pytest.approx(3.5)
    # a fast line (rate 1.3 / stretch 0.8) keeps its pitch level and range; its level and ending still move
    src = line.model_copy(update={"level_db": -14.0, "median_st": 8.0, "range_st": 8.0, "final_st": 3.0})
    assert prosody.plan(src, base, line, base, cfg).shift_st != 0.0
    fast = prosody.plan(src, base, line, base, cfg, rate=1.3 / 0.8)
    assert (fast.shift_st, fast.range_scale) == (0.0, 1.0) and fast.gain_db == 6.0 and fast.final_st == 3.5
    x = padded(voiced(np.concatenate([np.full(SR, 140.0), glide(140, 120, 0.6)])))
    y = prosody.apply(x, SR, mv, 0.5)
    head = int(0.15 * SR) + int(0.9 * SR) - int((prosody.SPLICE_PAD + prosody.SPLICE_FADE) * SR)
    assert np.array_equal(y[:head], x[:head])  # the synthesizer's own sound up to the ending
    assert not np.allclose(y[-int(0.4 * SR):], x[-int(0.4 * SR):])
    assert prosody.measure(y, SR, 0.5).final_st > prosody.measure(x, SR, 0.5).final_st + 2.0
