"""Source lines the recognizer doubts: flagged from the segment's own figures, the flag kept through
translation, and such lines (and lines that failed the translation guard) listed first for review."""

from __future__ import annotations

import languages
from dubbing import asr_doubt, config, llm, review, translate
from dubbing.config import Fit
from dubbing.schema import Line, Segment, Transcript, Translation

ES = languages.get("es")
FIT = Fit(stretch_min=0.8, stretch_max=1.25, speed_min=0.85, speed_max=1.5, max_borrow=0.6, tolerance=0.3,
          max_pause=0.6)


def seg(i: int, start: float, end: float, logprob: float = -0.2, no_speech: float = 0.05,
        compression: float = 1.3) -> Segment:
    return Segment(id=i, start=start, end=end, text="x", avg_logprob=logprob, no_speech_prob=no_speech,
                   compression_ratio=compression)


def test_doubts_follow_whispers_own_thresholds():
    assert asr_doubt.doubts(seg(0, 0, 1)) == []
    assert asr_doubt.doubts(seg(0, 0, 1, logprob=-1.3)) == ["low-logprob"]
    assert asr_doubt.doubts(seg(0, 0, 1, no_speech=0.8, compression=3.1)) == ["no-speech", "compression"]


def test_lines_over_a_doubted_segment_are_flagged_and_the_flag_survives_translation(monkeypatch):
    tr = Transcript(language="en", duration=6.0, segments=[seg(0, 0.0, 2.0), seg(1, 2.5, 5.0, logprob=-1.4)])
    lines = [Line(id="L0001", start=0.1, end=1.9, speaker="S0", source="Hello there."),
             Line(id="L0002", start=2.6, end=4.8, speaker="S1", source="I call it a dream bubble.")]
    flagged = asr_doubt.flag_lines(lines, tr)
    assert [l.flags for l in flagged] == [[], ["asr:low-logprob"]] and lines[1].flags == []
    assert asr_doubt.flag_lines(flagged, tr)[1].flags == ["asr:low-logprob"], "flagging twice adds nothing"
    replies = iter(["Hola.", "Lo llamo una burbuja de sueño."])
    monkeypatch.setattr(translate.LLMBackend, "run", lambda self, ls, todo, *a: {
        i: llm.Result(next(replies), True) for i in todo})
    monkeypatch.setattr(translate.LLMBackend, "check", lambda *a: None)
    out = translate.translate(flagged, "en", ES, config.load().translation)
    assert out.lines[1].flags == ["asr:low-logprob"] and out.lines[0].flags == []


def test_doubted_and_guarded_lines_come_first_on_the_review_page(tmp_path):
    flags = [[], ["overflow"], ["asr:no-speech"], ["guard:loop", "fallback:apertium"]]
    lines = [Line(id=f"L{i + 1:04d}", start=2.0 * i, end=2.0 * i + 1, speaker="S0", source="s", text="t", flags=f)
             for i, f in enumerate(flags)]
    src = review.Source(job_dir=tmp_path, summary={}, info=None, transcript=None, speakers=["S0"], name="talk")
    rows = review.line_rows(Translation(source_language="en", language="es", backend="llm", lines=lines), None,
                            src, {}, {}, None, {}, False, FIT)
    assert [r.id for r in rows] == ["L0003", "L0004", "L0002", "L0001"]
    assert any("loop" in c for c in rows[1].concerns) and any("recognizer doubts" in c for c in rows[0].concerns)
