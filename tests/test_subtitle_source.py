"""Starting a dub from the user's subtitles: parsing, speaker labels, the checks, and a dub that runs no ASR."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import MEDIA, ffmpeg, needs_media
from dubbing import subtitle_source as ss
from dubbing.errors import DubError
from test_cli_errors import assert_one_line_error, dub


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def srt_time(x: float) -> str:
    h, rest = divmod(x, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{int(s):02d},{round((s - int(s)) * 1000):03d}"


def srt(cues: list[tuple[float, float, str]]) -> str:
    return "\n".join(f"{i + 1}\n{srt_time(a)} --> {srt_time(b)}\n{t}\n" for i, (a, b, t) in enumerate(cues))


def test_speaker_labels_in_every_written_form_name_the_same_people(tmp_path):
    p = write(tmp_path, "a.srt", srt([(1, 2, "ANNA: Where were you?"), (2.2, 3, "[Ben] At the station."),
                                       (3.5, 5, "- Anna: Why?\n- Because the train was late."),
                                       (5.5, 6, "And then it rained.")]))
    tr = ss.transcript(p, "en", 10.0)
    assert [(s.speaker, s.text) for s in tr.segments] == [
        ("ANNA", "Where were you?"), ("Ben", "At the station."), ("ANNA", "Why?"),
        ("Ben", "Because the train was late."), ("Ben", "And then it rained.")]
    # a "- " cue's time is shared by its turns in order, by text length
    why, because = tr.segments[2], tr.segments[3]
    assert why.start == 3.5 and because.end == 5.0 and why.end == because.start and why.end < 3.8
    assert all(w.speaker == s.speaker and s.start <= w.start < w.end <= s.end for s in tr.segments for w in s.words)
    assert " ".join(w.text for w in tr.segments[0].words) == "Where were you?"


def test_words_are_not_taken_for_speaker_names():
    cue = ss.Cue(1, 0.0, 2.0, "Note that the time is 10:30: late.")
    assert ss.split_turns(cue)[0].speaker is None
    assert ss.split_turns(ss.Cue(1, 0.0, 2.0, "the plan: go home"))[0].speaker is None


def test_unlabelled_subtitles_leave_speakers_to_the_voice_clustering(tmp_path):
    p = write(tmp_path, "a.srt", srt([(1, 2, "Where were you?"), (2.5, 3, "- At home.\n- Really?")]))
    tr = ss.transcript(p, "en", 10.0)
    assert not ss.labelled(tr) and [s.speaker for s in tr.segments] == [None, None, None]


def test_webvtt_with_voices_settings_and_short_times(tmp_path):
    p = write(tmp_path, "a.vtt", "WEBVTT - a talk\n\nNOTE written by hand\n\n"
                                 "intro\n00:01.000 --> 00:02.500 align:start line:0\n<v Anna>Where <i>were</i> you?</v>\n\n"
                                 "01:00:03.000 --> 01:00:04.000\n<v.loud Ben>At the station.\n")
    tr = ss.transcript(p, "en", 4000.0)
    assert [(s.start, s.end, s.speaker, s.text) for s in tr.segments] == [
        (1.0, 2.5, "Anna", "Where were you?"), (3603.0, 3604.0, "Ben", "At the station.")]


def test_japanese_subtitles_get_one_word_per_character(tmp_path):
    p = write(tmp_path, "ja.srt", srt([(0, 2, "[花子] こんにちは、元気？")]))
    tr = ss.transcript(p, None, 5.0)
    assert tr.language == "ja" and len(tr.segments[0].words) == len("こんにちは、元気？")


@pytest.mark.parametrize("text, words", [
    (srt([(1, 3, "Hello there."), (2.5, 4, "Hi.")]), ["cue 2", "overlaps cue 1", "'- ' turns"]),
    (srt([(1, 3, "  "), (4, 5, "♪")]), ["hold no text"]),
    (srt([(1, 3, "Hello there."), (40, 41, "Bye.")]), ["cue 2", "after the end of the media"]),
    ("1\n00:00:01,000 -> 00:00:02,000\nHello\n", ["line 1", "not valid SRT"]),
    (srt([(1, 3, "No sé qué es lo que pasa con el tren."), (3, 5, "Pero está tarde y no me lo explico.")]),
     ["read as Spanish, not English", "--translation"]),
])
def test_bad_subtitles_say_what_is_wrong_in_one_line(tmp_path, text, words):
    p = write(tmp_path, "bad.srt", text)
    with pytest.raises(DubError) as e:
        ss.transcript(p, "en", 30.0)
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_bad_webvtt_names_its_line(tmp_path):
    with pytest.raises(DubError, match="line 1: a WebVTT file starts"):
        ss.transcript(write(tmp_path, "a.vtt", "00:01.000 --> 00:02.000\nHi\n"), "en", 10.0)
    with pytest.raises(DubError, match="line 3: bad cue time"):
        ss.transcript(write(tmp_path, "b.vtt", "WEBVTT\n\n00:01.0 --> 00:02.000\nHi\n"), "en", 10.0)


@pytest.mark.parametrize("text, code", [("Where were you yesterday? I was at the station and the train was late.", "en"),
                                        ("Je ne sais pas pourquoi il est en retard, mais ce n'est pas grave.", "fr"),
                                        ("Ich weiß nicht, warum er zu spät ist, und das ist mir egal.", "de"),
                                        ("会議は九時に始まるから、遅れないでね。", "ja"), ("Okay.", None)])
def test_guess_language_of_running_text(text, code):
    assert ss.guess_language(text) == code


def test_cli_refuses_overlapping_subtitles_in_one_line(made, tmp_path):
    bad = write(tmp_path, "bad.srt", srt([(0.1, 0.8, "Hello there."), (0.5, 0.9, "Hi.")]))
    r = dub("translate", made["tone"], "--to", "es", "--from", "en", "--transcript", bad, "--out", tmp_path / "out")
    assert_one_line_error(r, "overlaps cue 1")


PA_STM = MEDIA / "refs" / "pa_sample.stm"


@pytest.mark.slow
@needs_media
def test_a_dub_from_labelled_subtitles_gives_each_named_speaker_their_voice_without_asr(tmp_path, monkeypatch):
    """pa_sample from 6 to 13 s (Diane and Sheila, 6 turns), its reference transcript as an SRT with
    "DIANE:" and "[Sheila]" labels and a Spanish translation file: no speech recognition of the source, the
    lines' speakers are the labels, each speaker has one voice of their own throughout."""
    import languages
    from dubbing import config, diarize, pipeline, transcribe
    from dubbing.schema import VoiceCast
    from dubbing.workspace import Job

    clip = tmp_path / "pa.wav"
    ffmpeg("-ss", "6", "-t", "7", "-i", str(MEDIA / "audio" / "pa_sample.wav"), str(clip))
    rows = [r.split(None, 5) for r in PA_STM.read_text().splitlines() if r.strip()]
    rows = [(r[2], float(r[3]) - 6, float(r[4]) - 6, r[5]) for r in rows if float(r[4]) <= 13]
    labelled = [(a, b, f"{who.upper()}: {t}" if who == "Diane" else f"[{who}] {t}") for who, a, b, t in rows]
    subs = write(tmp_path, "pa.en.srt", srt(labelled))
    spanish = write(tmp_path, "pa.es.srt", srt([(a, b, f"Línea {i + 1} en español.") for i, (a, b, _) in
                                                 enumerate(labelled)]))
    real = transcribe.transcribe

    def no_source_asr(*a, check=False, **kw):
        assert check, "speech recognition of the source ran"
        return real(*a, check=check, **kw)

    monkeypatch.setattr(transcribe, "transcribe", no_source_asr)
    monkeypatch.setattr(diarize, "diarize", lambda *a, **k: pytest.fail("the voices were clustered"))
    cfg = config.load().model_copy(deep=True)
    cfg.asr.transcript = str(subs)
    cfg.translation.files = {"es": str(spanish)}
    cfg.lipsync.enabled = False
    cfg.separation.backend = "none"  # the background is not what this test is about
    job = Job(tmp_path / "out" / "pa")
    t0 = time.perf_counter()
    src = pipeline.prepare(clip, job, cfg, "en")
    prepared = time.perf_counter() - t0
    assert src.diarization.method.startswith("subtitles") and set(src.diarization.speakers) == {"DIANE", "Sheila"}
    label = {"Diane": "DIANE", "Sheila": "Sheila"}
    for who, a, b, text in rows:  # every reference turn lies in a line of its speaker
        mid = (a + b) / 2
        owner = [l for l in src.lines if l.start - 0.2 <= mid <= l.end + 0.2]
        assert [l.speaker for l in owner] == [label[who]], (who, text, owner)
    assert {l.speaker for l in src.lines} == {"DIANE", "Sheila"}
    print(f"prepared from subtitles in {prepared:.1f} s: {src.timings}")
    es = languages.get("es")
    tr = pipeline.translate_lines(src, es, cfg)
    assert tr.backend == "file" and tr.lines[0].text == "Línea 1 en español."
    pipeline.separate_source(src, cfg)
    result = pipeline.dub_language(src, tr, cfg, job.root)
    cast = VoiceCast.load(job.path("es/voices.json"))
    assert set(cast.voices) == {"DIANE", "Sheila"}
    assert cast.voices["DIANE"].name != cast.voices["Sheila"].name or \
        cast.voices["DIANE"].pitch != cast.voices["Sheila"].pitch
    assert [f.speaker for f in result.timing.lines] == [l.speaker for l in src.lines]
    print(f"whole dub {time.perf_counter() - t0:.1f} s: {result.timings}")
