import pytest

from dubbing import config, fit

CFG = config.load().fit


def test_speed_is_bounded_and_matches_slot():
    assert fit.choose_speed(2.2, 2.0, CFG) == pytest.approx(1.1)
    assert fit.choose_speed(10.0, 2.0, CFG) == CFG.speed_max
    assert fit.choose_speed(1.0, 2.0, CFG) == CFG.speed_min


def test_plan_fills_slot_with_a_stretch_inside_bounds():
    p = fit.plan(1.0, 3.0, 1.8, 1.0, CFG)
    assert p.start == pytest.approx(1.0) and p.end == pytest.approx(3.0)
    assert CFG.stretch_min <= p.stretch <= CFG.stretch_max
    assert not p.needs_shorter


def test_overflow_borrows_silence_then_asks_for_shorter_text():
    # 3 s of speech for a 2 s slot: stretch hits its floor (2.4 s), 0.4 s over
    p = fit.plan(1.0, 3.0, 3.0, 1.3, CFG, room_before=0.1, room_after=0.2)
    assert p.stretch == pytest.approx(CFG.stretch_min)
    assert "borrowed" in p.flags
    assert p.end - p.start == pytest.approx(3.0 * CFG.stretch_min, abs=1e-3)
    # 0.3 s borrowed (0.2 after, 0.1 before); the last 0.1 s runs past the room but within tolerance
    assert p.start == pytest.approx(0.9) and p.end == pytest.approx(3.3)
    assert not p.needs_shorter
    q = fit.plan(1.0, 3.0, 4.0, 1.3, CFG)
    assert q.needs_shorter and "overflow" in q.flags


def test_short_speech_is_centred_in_its_slot():
    p = fit.plan(0.0, 4.0, 2.0, 0.85, CFG)
    assert p.stretch == pytest.approx(CFG.stretch_max)
    assert p.start == pytest.approx((4.0 - 2.5) / 2)
    assert "short" in p.flags


def test_pauses_are_the_long_gaps_between_phones():
    phones = [(0.0, 0.3), (0.32, 0.6), (0.9, 1.2), (1.25, 1.5)]  # word gaps of 0.02 and 0.05 s, one 0.3-s pause
    assert fit.pause_gaps(phones, fit.PAUSE_GAP) == [(0.6, 0.9)]
    assert fit.pause_gaps(phones[:2], fit.PAUSE_GAP) == []


def test_pause_plan_shares_the_extra_time_and_caps_each_pause():
    gaps = [(0.6, 0.9), (2.0, 2.2)]
    assert fit.pause_plan(gaps, 0.8, cap=0.6) == [(0.75, 0.4), (2.1, 0.4)]
    assert fit.pause_plan(gaps, 3.0, cap=0.6) == [(0.75, 0.6), (2.1, 0.6)]
    assert fit.pause_plan([], 1.0, cap=0.6) == [] and fit.pause_plan(gaps, -0.1, cap=0.6) == []
    # a phone after an added pause moves by it; one before stays
    assert fit.shift_times(0.5, [(0.75, 0.4)]) == 0.5 and fit.shift_times(0.9, [(0.75, 0.4)]) == pytest.approx(1.3)


def test_a_line_short_at_the_slowest_bounds_pauses_longer_and_fits(tmp_path):
    import numpy as np

    from dubbing import pipeline
    from dubbing.schema import Phone, SpokenLine

    sr = 1000
    # 0.6 s of sound, a 0.3-s pause, 0.6 s of sound: 1.5 s for a 2.6-s slot, 0.35 s short at stretch 1.25
    audio = np.concatenate([np.ones(600), np.zeros(300), np.ones(600)]).astype(np.float32)
    rec = SpokenLine(line_id="L0001", audio="x.wav", sample_rate=sr, duration=1.5, speed=CFG.speed_min,
                     phones=[Phone(symbol="a", start=0.0, end=0.6), Phone(symbol="o", start=0.9, end=1.5)])
    assert "short" in fit.plan(0.0, 2.6, 1.5, CFG.speed_min, CFG).flags
    out, moved, added = pipeline._longer_pauses(audio, sr, rec, 2.6 - 1.5, CFG.max_pause)
    assert added == pytest.approx(min(1.1, CFG.max_pause))
    assert len(out) == len(audio) + round(added * sr) and out[600:900 + round(added * sr)].max() == 0
    assert moved.phones[0].start == 0.0 and moved.phones[1].start == pytest.approx(0.9 + added)
    p = fit.plan(0.0, 2.6, moved.phones[-1].end, CFG.speed_min, CFG)
    assert "short" not in p.flags and max(abs(p.start), abs(p.end - 2.6)) <= CFG.tolerance


def test_a_line_that_cannot_fit_is_shortened_before_it_is_spoken_and_a_rerun_speaks_nothing(tmp_path, monkeypatch):
    """The duration predictor says the text cannot fit even at the fastest rate: it is shortened unspoken.
    The speech of each text has files of its own, so a rerun finds it instead of speaking again."""
    from types import SimpleNamespace

    import numpy as np

    import languages
    from dubbing import pipeline, translate
    from dubbing.schema import Line, Phone, Voice
    from dubbing.speak import Speech
    from dubbing.workspace import Job

    class Synth:  # 0.1 s per character at rate 1, one phone over all of it
        def __init__(self):
            self.spoken = []

        def predict(self, text, voice, lang, speed=1.0):
            return 0.1 * len(text) / speed

        def reading(self, text, lang):
            return text.strip()

        def synthesize(self, text, voice, lang, speed=1.0):
            self.spoken.append(text)
            n = int(100 * len(text) / speed)
            return Speech(np.full(n, 0.1, np.float32), 1000, [Phone(symbol="a", start=0.0, end=n / 1000)])

    monkeypatch.setattr(translate, "shorten", lambda line, *a, **k: line.text[:10])
    cfg = config.load()
    line = Line(id="L0001", start=0.0, end=1.0, speaker="S", source="Hello there my friend.",
                text="Hola, mi querido amigo del alma.")
    src = SimpleNamespace(job=Job(tmp_path))
    voice = Voice(speaker="S", backend="kokoro", name="x")
    args = (src, languages.get("es"), line, voice, cfg, None, (0.0, 0.0), "en")
    (tmp_path / "es/speech").mkdir(parents=True)

    first = Synth()
    *_, text = pipeline.fit_line(*args[:5], first, *args[6:])
    assert text == "Hola, mi q" and first.spoken == ["Hola, mi q"]
    again = Synth()
    *_, text2 = pipeline.fit_line(*args[:5], again, *args[6:])
    assert text2 == text and again.spoken == []

    class Unforeseen(Synth):  # no predictor (espeak-ng): spoken, measured, then shortened
        def predict(self, text, voice, lang, speed=1.0):
            return None

    (tmp_path / "es/speech").mkdir(exist_ok=True)
    for f in (tmp_path / "es/speech").iterdir():
        f.unlink()
    blind = Unforeseen()
    pipeline.fit_line(*args[:5], blind, *args[6:])
    assert blind.spoken == [line.text, line.text, "Hola, mi q", "Hola, mi q"]  # each at rate 1, then its own


def test_the_stretch_does_not_push_the_effective_rate_past_its_cap():
    """speed x 1/stretch is what the ear gets: French at 1.3 x a 0.8 stretch (1.63) was misheard."""
    capped = CFG.model_copy(update={"rate_max": 1.4})
    p = fit.plan(1.0, 2.0, 2.0, 1.3, capped)  # 2 s of speech at 1.3 for a 1 s slot
    assert 1.3 / p.stretch == pytest.approx(1.4, abs=1e-3)
    assert p.needs_shorter and "overflow" in p.flags  # what the cap keeps out becomes a shorter line
    free = fit.plan(1.0, 2.0, 2.0, 1.3, CFG)
    assert free.stretch == pytest.approx(CFG.stretch_min)
    slow = fit.plan(1.0, 2.0, 1.1, 1.0, capped)  # a line that needs little: the cap changes nothing
    assert slow.stretch == pytest.approx(1 / 1.1, abs=1e-3)


def test_lines_spoken_as_parts_elsewhere_give_what_one_pass_gives(monkeypatch, tmp_path):
    """run_parts: the lines go out in parts of SPEECH_PART_S seconds (pickled, as to a cluster's
    workers), each line with the room its neighbours in the whole video leave it; the parts come back
    in order, the same as one pass, and each remote part lets its worker's translation model go."""
    import functools
    import operator
    import pickle
    from types import SimpleNamespace

    import numpy as np

    import languages
    from dubbing import llm, pipeline
    from dubbing.clip_file import StoredClip
    from dubbing.schema import Line

    def fit_line(src, lang, line, voice, cfg, synth, room, source_language):
        return np.full(3, float(line.start), np.float32), line.start - room[0], (line.id, room), [(voice, line.id)], \
            line.text.upper()

    released = []
    monkeypatch.setattr(pipeline, "fit_line", fit_line)
    monkeypatch.setattr(llm, "release", lambda: released.append(1))
    monkeypatch.setattr(pipeline, "SPEECH_PART_S", 10.0)
    lines = [Line(id=f"L{i:04d}", start=3.0 * i, end=3.0 * i + 2.0, speaker="S", source="x", text=f"línea {i}")
             for i in range(12)]
    src = SimpleNamespace(info=SimpleNamespace(duration=40.0), job=SimpleNamespace(path=functools.partial(operator.truediv, tmp_path)))
    cast = SimpleNamespace(voices={"S": "voice of S"})
    args = (src, languages.get("es"), lines, cast, "en", config.load())
    sent = []

    def elsewhere(fn, parts):
        sent.extend(parts)
        return [pickle.loads(pickle.dumps(fn))(pickle.loads(pickle.dumps(p))) for p in parts]

    ticks = []
    here = pipeline._speak_lines(*args, ticks.append)
    there = pipeline._speak_lines(*args, lambda i: None, elsewhere)
    assert len(sent) == 4 and [len(p.lines) for p in sent] == [4, 3, 3, 2]  # 0-9 s, 10-19 s, ...
    assert ticks == list(range(13))
    clips = lambda r: [(start, np.asarray(a).tolist()) for start, a in r[0]]
    assert clips(here) == clips(there) and here[1:] == there[1:]
    assert all(isinstance(a, StoredClip) for _, a in here[0] + there[0])  # in files, not held through the mix
    assert clips(here)[5] == (15.0 - 0.5, [15.0] * 3)
    assert there[1][4] == ("L0004", (0.5, 0.5))  # the first line of a part still borrows from the line before
    assert released == [1, 1, 1, 1]
