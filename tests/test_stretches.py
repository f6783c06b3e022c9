"""A source in more than one language: stretch languages, runs, lines per language, translation from each."""

import numpy as np
import pytest

import languages
from conftest import needs_media
from dubbing import config, stretches
from dubbing.errors import DubError
from dubbing.lines import make_lines
from dubbing.schema import Line, Segment, Transcript, Translation, Word

CFG = config.load()


def _st(start, end, lang):
    return stretches.Stretch(start=start, end=end, language=lang)


def test_labels_follow_strong_evidence_and_ignore_weak_flips():
    states = ["en", "pt"]
    probs = [{"en": 0.9}, {"pt": 0.75, "en": 0.01}, {}, {"hr": 0.64}, {"en": 0.88}]  # {} = too short to ask
    weights = [2.0, 1.5, 0.4, 3.7, 2.0]
    assert stretches.label(probs, weights, states, 2.0) == ["en", "pt", "pt", "pt", "en"]
    # one short unsure region is not worth two changes of language
    assert stretches.label([{"en": 0.9}, {"pt": 0.5, "en": 0.3}, {"en": 0.9}], [2.0, 1.0, 2.0], states, 2.0) == [
        "en", "en", "en"]
    assert stretches.label([], [], states, 2.0) == []


def test_runs_cover_the_audio_and_cut_halfway_through_pauses():
    sts = [_st(0.5, 3, "en"), _st(3.2, 5, "en"), _st(6, 9, "pt"), _st(10, 12, "en")]
    assert stretches.runs(sts, 13.0) == [(0.0, 5.5, "en"), (5.5, 9.5, "pt"), (9.5, 13.0, "en")]
    assert stretches.runs([_st(1, 2, "es")], 4.0) == [(0.0, 4.0, "es")]
    assert stretches.runs([], 4.0) == []


def test_a_region_is_cut_where_its_first_transcription_stops_being_clear():
    """A VAD region runs on through a hard cut between two shots that has no pause: where the words of
    the first transcription (in the file's language) turn from clear to unsure or absent, the region is
    cut and each side asked alone; a region heard evenly is left whole."""
    def words(start, probs, each=0.4):
        return [Word(start=start + k * each, end=start + (k + 1) * each, text="w", probability=p)
                for k, p in enumerate(probs)]

    english = words(0.0, [0.95, 0.9, 0.99, 0.85, 0.97, 0.92, 0.9, 0.96])  # 0-3.2 s
    forced = words(3.2, [0.4, 0.55, 0.3, 0.6, 0.45, 0.5, 0.35, 0.5])  # 3.2-6.4 s: another language
    got = stretches.pieces([(0.0, 6.4), (7.0, 9.0)], english + forced, least=1.0, jump=0.3)
    assert len(got) == 3 and got[0][0] == 0.0 and got[1][1] == 6.4 and got[2] == (7.0, 9.0)
    assert got[0][1] == got[1][0] == pytest.approx(3.2, abs=0.15)
    # unheard speech after clear words (English forced into French comes out as nothing)
    assert [round(b) for _, b in stretches.pieces([(0.0, 8.0)], english, 1.0, 0.3)] == [3, 8]
    assert stretches.pieces([(0.0, 3.2)], english, 1.0, 0.3) == [(0.0, 3.2)]  # even: whole
    assert stretches.pieces([(0.0, 1.5)], english[:2] + forced[:2], 1.0, 0.3) == [(0.0, 1.5)]  # too short to cut


def _transcript():
    def seg(i, start, words, lang):
        ws = [Word(start=start + k * 0.4, end=start + k * 0.4 + 0.3, text=w, language=lang, speaker="S0")
              for k, w in enumerate(words.split())]
        return Segment(id=i, start=ws[0].start, end=ws[-1].end, text=words, words=ws, language=lang, speaker="S0")

    return Transcript(language="en", duration=10.0, segments=[
        seg(0, 0.0, "so my fellow Americans", "en"), seg(1, 1.7, "eu vou fazer uma receita", "pt"),
        seg(2, 3.8, "ask not what your country", "en")])


def test_a_line_never_spans_a_change_of_language():
    lines = make_lines(_transcript())
    assert [(l.language, l.source) for l in lines] == [
        ("en", "so my fellow Americans"), ("pt", "eu vou fazer uma receita"), ("en", "ask not what your country")]


def test_each_line_is_translated_from_its_own_language():
    lines = make_lines(_transcript())
    calls = []

    def fake_translate(ls, source, target, cfg):
        calls.append((source, [l.id for l in ls]))
        if source == "xx":
            raise DubError("no translation backend for xx->es")
        return Translation(source_language=source, language=target.code, backend=f"b{source}",
                           lines=[l.model_copy(update={"text": f"[{source}] {l.source}"}) for l in ls])

    tr = stretches.translate_by_language(lines, "en", languages.get("es"), CFG.translation, fake_translate)
    assert calls == [("en", ["L0001", "L0003"]), ("pt", ["L0002"])]  # the main language first
    assert [l.text for l in tr.lines] == ["[en] so my fellow Americans", "[pt] eu vou fazer uma receita",
                                          "[en] ask not what your country"]
    assert tr.source_language == "en" and tr.backend == "ben+bpt"
    # a line already in the target language keeps its words, flagged
    into_pt = stretches.translate_by_language(lines, "en", languages.get("pt"), CFG.translation, fake_translate)
    assert into_pt.lines[1].text == "eu vou fazer uma receita" and "kept: in pt" in into_pt.lines[1].flags
    # a second language no backend serves is flagged untranslated; the main language's failure stops the run
    odd = [l.model_copy(update={"language": "xx"}) if l.id == "L0002" else l for l in lines]
    tr = stretches.translate_by_language(odd, "en", languages.get("es"), CFG.translation, fake_translate)
    assert tr.lines[1].text == "" and tr.lines[1].flags == ["untranslated: no backend for xx->es"]
    with pytest.raises(DubError):
        stretches.translate_by_language(odd, "xx", languages.get("es"), CFG.translation, fake_translate)


def test_old_records_without_languages_still_load():
    assert Line(id="L1", start=0, end=1, speaker="S", source="x").language is None
    assert Segment.model_validate({"id": 0, "start": 0, "end": 1, "text": "x"}).language is None


@pytest.mark.slow
@needs_media
def test_a_portuguese_stretch_cut_into_english_is_transcribed_in_portuguese():
    """fw_jfk with 9 s of ls_demo2's Portuguese cut into its middle: each part is transcribed in its language."""
    from dubbing import langid
    from tests import langid_material as M

    audio, truth = M.switching()
    t = stretches.transcribe_source(audio, CFG.asr, CFG.language_id)
    assert t.language == "en"

    def lang_at(seg):
        mid = (seg.start + seg.end) / 2
        return next(lang for s, e, lang in truth if s - 0.5 <= mid <= e + 0.5)

    assert len(t.segments) >= 3
    assert all(seg.language == lang_at(seg) for seg in t.segments), [(s.start, s.end, s.language) for s in t.segments]
    pt_text = " ".join(s.text for s in t.segments if s.language == "pt")
    assert langid.word_share(pt_text, "pt") > max(0.5, langid.word_share(pt_text, "en")), pt_text
    assert np.all([w.language == s.language for s in t.segments for w in s.words])


def test_only_stretches_the_first_transcription_leaves_in_doubt_cost_a_detector_pass():
    """A clear first-pass stretch is evidence for the file's language and is not asked; a stretch with
    improbable words, or with speech but (almost) no words, is asked and can switch."""
    def w(t, p):
        return Word(start=t, end=t + 0.3, text="x", probability=p)

    first = Transcript(language="en", duration=12.0, segments=[Segment(
        id=0, start=0.0, end=12.0, text="x",
        words=[w(0.2 + 0.4 * k, 0.9) for k in range(6)] + [w(4.2 + 0.4 * k, 0.3) for k in range(6)])])
    regions = [(0.0, 2.5), (4.0, 6.5), (8.0, 10.5)]  # clear / improbable words / no words
    asked = []

    def detect(clip):
        asked.append(len(clip) / stretches.SAMPLE_RATE)
        return {"pt": 0.95, "en": 0.02}

    def decode(clip, lang):
        return ("eu vou fazer uma receita hoje", -0.3, 1.2) if lang == "pt" else ("the the the the the", -1.5, 3.5)

    audio = np.zeros(12 * stretches.SAMPLE_RATE, np.float32)
    out = stretches.stretch_languages(audio, regions, "en", detect, decode, CFG.language_id, first)
    assert asked == [2.5, 2.5]  # the second and third stretches only
    assert [s.language for s in out] == ["en", "pt", "pt"], [c.model_dump() for s in out for c in s.checked]
    assert [s.words for s in out] == [6, 6, 0] and out[0].heard == 0.9
    assert stretches.doubtful((0.0, 2.5), first.segments[0].words, CFG.language_id)[0] is False


def test_fluent_words_of_middling_probability_leave_a_stretch_in_doubt():
    """Forced into English, Whisper base translates Spanish or Portuguese fluently: ls_demo2's Portuguese
    came out as 4.7-5.4 English words a second at mean probability 0.61-0.69, and stayed English (a fifth of
    its speech on the 10-minute bench program). Such a stretch is asked; English read as English
    (0.82-0.99 on that program) is not."""
    def words(p):
        return [Word(start=0.1 + 0.2 * k, end=0.25 + 0.2 * k, text="x", probability=p) for k in range(20)]

    for translated in (0.61, 0.65, 0.69):
        assert stretches.doubtful((0.0, 4.1), words(translated), CFG.language_id)[0] is True
    assert stretches.doubtful((0.0, 4.1), words(0.85), CFG.language_id)[0] is False
