import languages
from dubbing import subtitles
from dubbing.lines import make_lines
from dubbing.schema import Segment, Transcript, Word


def _transcript():
    words = [Word(start=0.0, end=0.4, text="Hello", speaker="A"), Word(start=0.45, end=0.9, text="there.", speaker="A"),
             Word(start=1.0, end=1.4, text="Hi!", speaker="B"),
             Word(start=3.0, end=3.5, text="Long", speaker="B"), Word(start=3.6, end=4.0, text="pause.", speaker="B")]
    return Transcript(language="en", duration=5.0, segments=[Segment(id=0, start=0, end=4, text="", words=words)])


def test_lines_break_at_speaker_change_and_pause():
    lines = make_lines(_transcript(), max_pause=0.6, max_borrow=0.6)
    assert [(l.speaker, l.source) for l in lines] == [("A", "Hello there."), ("B", "Hi!"), ("B", "Long pause.")]
    assert [l.id for l in lines] == ["L0001", "L0002", "L0003"]
    # budget: the slot plus borrowable silence, never more than max_borrow per side
    for l in lines:
        assert l.duration <= l.budget <= l.duration + 1.2 + 1e-6
    assert lines[1].budget < lines[1].duration + 0.1 + 0.6 + 1e-6  # only 0.05 s before (shared gap of 0.1)


def _spoken(text: str, speaker: str = "A", pace: float = 0.45) -> list[Word]:
    """Words of `text` one after another, `pace` seconds each, 0.05 s apart."""
    return [Word(start=round(i * (pace + 0.05), 3), end=round(i * (pace + 0.05) + pace, 3), text=t, speaker=speaker)
            for i, t in enumerate(text.split())]


def test_a_line_too_long_is_cut_at_its_last_clause_not_at_the_word_that_overflows():
    # fw_jfk: one sentence of 10.2 s was cut at 10 s, leaving "country" to be dubbed alone
    words = _spoken("And so my fellow Americans ask not what your country can do for you, "
                    "ask what you can do for your country.")
    lines = make_lines(Transcript(language="en", duration=12.0,
                                  segments=[Segment(id=0, start=0, end=11, text="", words=words)]), max_length=10.0)
    assert [l.source for l in lines] == ["And so my fellow Americans ask not what your country can do for you,",
                                         "ask what you can do for your country."]
    # without punctuation the cut goes to the longest pause, still not to the overflowing word
    plain = [w.model_copy(update={"text": w.text.strip(",.")}) for w in words]
    plain[7:] = [w.model_copy(update={"start": w.start + 0.3, "end": w.end + 0.3}) for w in plain[7:]]
    lines = make_lines(Transcript(language="en", duration=12.0,
                                  segments=[Segment(id=0, start=0, end=11, text="", words=plain)]), max_length=10.0)
    assert [l.source.split()[0] for l in lines] == ["And", "what"]
    assert all(l.duration <= 10.0 for l in lines)


def test_subtitles_wrap_and_round_trip(tmp_path):
    lines = make_lines(_transcript())
    for l in lines:
        l.text = "una frase bastante larga que no cabe en una sola línea de subtítulos " + l.source
    subs = subtitles.cues(lines, languages.get("es").subtitles, times={"L0001": (0.1, 1.0)})
    srt_path, vtt_path = subtitles.write(subs, tmp_path / "x.es")
    back = subtitles.read(srt_path)
    assert len(back) == 3 and back[0].start.total_seconds() == 0.1
    assert all(len(row) <= 42 for s in back for row in s.content.splitlines())
    assert all(len(s.content.splitlines()) <= 2 for s in back)
    vtt = vtt_path.read_text()
    assert vtt.startswith("WEBVTT") and "00:00:00.100 --> 00:00:01.000" in vtt


def test_cjk_subtitles_cut_by_characters():
    rules = languages.get("ja").subtitles
    text = "これは字幕のテストです。とても長い文章なので二行に分けます。"
    wrapped = subtitles.wrap(text, rules)
    assert wrapped.replace("\n", "") == text
    assert len(wrapped.splitlines()) <= 2


def test_unsupported_trailing_word_is_dropped_and_times_clipped_to_speech():
    from dubbing.lines import clean_words
    from dubbing.schema import SpeakerTurn

    turns = [SpeakerTurn(start=0.0, end=2.48, speaker="A"), SpeakerTurn(start=3.47, end=4.63, speaker="A")]
    words = [Word(start=0.0, end=0.4, text="my", probability=0.23),        # weak but in speech: kept
             Word(start=3.28, end=3.64, text="I'd", probability=0.95),     # starts in silence: clipped
             Word(start=4.48, end=6.08, text="I", probability=0.10)]       # mostly silence: dropped
    out = clean_words(words, turns)
    assert [w.text for w in out] == ["my", "I'd"]
    assert out[1].start == 3.32 and out[1].end == 3.64
