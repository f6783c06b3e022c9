"""The review page, approval, edit checks and `dub review`'s server, on a small job folder made here
(records written with the schema classes, tiny real mp4s made by ffmpeg); the page is loaded in a
real headless Chromium where one is installed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dub.review_server import serve
from dubbing import config, edits, review, subtitles
from dubbing.errors import DubError
from dubbing.lines import make_lines
from dubbing.schema import (Diarization, FittedLine, Lines, MediaInfo, Segment, SpeakerTurn, TimingReport, Transcript,
                            Translation, Word)
from lipsync.report import SyncReport

from conftest import ROOT, ffmpeg

CHROMIUM = Path("/usr/bin/chromium")
FIT = config.load().fit  # stretch bounds ×0.8-×1.25, tolerance 0.3 s
DURATION = 3.0  # seconds of the made source


def _words(spec):
    return [Word(start=a, end=b, text=t, probability=p, speaker=s) for t, a, b, p, s in spec]


def make_job(root: Path) -> Path:
    """out/talk/ as the pipeline leaves it for Spanish: L0001 is fine, L0002 was recognized with low
    confidence, stretched to the bound, shortened, and its lips were skipped; L0003 has no speaker and
    its back-transcription is wrong."""
    src = root / "talk.mp4"
    job = root / "out" / "talk"
    (job / "source").mkdir(parents=True)
    (job / "es").mkdir()
    video = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=25:duration={DURATION}"]
    for path, hz in ((src, 220), (job / "talk.es.mp4", 330)):
        ffmpeg(*video, "-f", "lavfi", "-i", f"sine=frequency={hz}:sample_rate=48000:duration={DURATION}",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-shortest",
               str(path))
    MediaInfo(path=str(src), duration=DURATION, has_video=True, has_audio=True, width=160, height=120, fps=25.0,
              frame_count=75).save(job / "source/media.json")
    segs = [
        ([("Hello", 0.2, 0.5, 0.95, "SPEAKER_00"), ("there.", 0.5, 0.9, 0.9, "SPEAKER_00")], -0.2),
        ([("mumble", 1.2, 1.6, 0.3, "SPEAKER_01"), ("words.", 1.6, 1.9, 0.4, "SPEAKER_01")], -1.3),
        ([("Bye.", 2.2, 2.6, 0.9, None)], -0.3),
    ]
    transcript = Transcript(language="en", duration=DURATION, segments=[
        Segment(id=i, start=w[0][1], end=w[-1][2], text=" ".join(x[0] for x in w), words=_words(w), avg_logprob=lp)
        for i, (w, lp) in enumerate(segs)])
    transcript.save(job / "source/transcript.json")
    Diarization(turns=[SpeakerTurn(start=0.2, end=0.9, speaker="SPEAKER_00"),
                       SpeakerTurn(start=1.2, end=1.9, speaker="SPEAKER_01")],
                speakers=["SPEAKER_00", "SPEAKER_01"]).save(job / "source/diarization.json")
    lines = make_lines(transcript)
    Lines(language="en", lines=lines).save(job / "source/lines.json")
    texts = {"L0001": "Hola, ¿qué tal?", "L0002": "palabras murmuradas <b>raras</b>", "L0003": "Adiós."}
    tr = Translation(source_language="en", language="es", backend="test",
                     lines=[ln.model_copy(update={"text": texts[ln.id]}) for ln in lines])
    tr.save(job / "es/translation.json")
    fitted = [
        FittedLine(line_id="L0001", speaker="SPEAKER_00", slot_start=0.2, slot_end=0.9, start=0.2, end=0.9,
                   speed=1.0, stretch=1.0),
        FittedLine(line_id="L0002", speaker="SPEAKER_01", slot_start=1.2, slot_end=1.9, start=1.1, end=2.35,
                   speed=1.3, stretch=FIT.stretch_max, shortened=True, flags=["stretched", "borrowed", "overflow", "shortened"]),
        FittedLine(line_id="L0003", speaker="SPEAKER_00", slot_start=2.2, slot_end=2.6, start=2.2, end=2.62,
                   speed=1.0, stretch=1.05, flags=["stretched"]),
    ]
    phones = [(p, a, a + 0.08, "SPEAKER_00") for a, p in zip(np.arange(0.2, 0.9, 0.08), "olakɛtalm")]
    TimingReport(language="es", lines=fitted, phones=phones).save(job / "es/timing.json")
    shown = [ln.model_copy(update={"text": "palabras raras"}) if ln.id == "L0002" else ln for ln in tr.lines]
    import languages

    subtitles.write(subtitles.cues(shown, languages.get("es").subtitles,
                                   times={f.line_id: (f.start, f.end) for f in fitted}), job / "talk.es")
    (job / "es/quality.json").write_text(json.dumps({
        "language": "es", "detected_language": "es", "cer": 0.31, "back_transcript": "Hola qué tal. Palabras raras. Xyzzy plugh.",
        "lines": 3, "within_0.3s": 0.67, "max_timing_error": 0.45, "stretch_min": 1.0, "stretch_max": 1.25,
        "shortened": 1}))
    SyncReport(frames=75, synced_frames=40, tracks=1, av_offset_frames=1, av_confidence=0.31, closure_rate=0.5,
               jitter_ratio=1.1, psnr_outside=38.2, ssim_outside=0.97,
               skipped=[(1.5, 1.8, "no face in frame")]).save(job / "es/sync.json")
    import soundfile as sf

    t = np.arange(int(DURATION * 48000)) / 48000
    sf.write(job / "es/voices.wav", (0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 3 * t) > 0)), 48000)
    (job / "job.json").write_text(json.dumps({"input": str(src), "status": "ok", "job": str(job),
                                              "languages": {"es": {"output": str(job / "talk.es.mp4")}}}))
    return job


@pytest.fixture
def job(tmp_path) -> Path:
    return make_job(tmp_path)


# --- lines and figures -------------------------------------------------------------------------------


def test_lines_that_need_a_look_come_first_with_their_reasons(job):
    src = review.load_source(job)
    tr = Translation.load(job / "es/translation.json")
    timing = TimingReport.load(job / "es/timing.json")
    quality = json.loads((job / "es/quality.json").read_text())
    sync = json.loads((job / "es/sync.json").read_text())
    spoken = review.spoken_texts(job / "talk.es.srt", timing.lines, cjk=False)
    rows = review.line_rows(tr, timing, src, quality, sync, None, spoken, False, FIT)
    assert [r.id for r in rows] == ["L0002", "L0003", "L0001"]
    by = {r.id: r for r in rows}
    assert by["L0001"].concerns == []
    c2 = " | ".join(by["L0002"].concerns)
    for want in ("stretched to the bound", "too long for its slot", "shortened", "low ASR confidence",
                 "lips not re-rendered: no face in frame", "off its slot by 0.45 s"):
        assert want in c2
    assert by["L0002"].spoken == "palabras raras"  # what was said, read back from the subtitles
    assert by["L0003"].concerns and any("speaker not assigned" in c for c in by["L0003"].concerns)
    assert any("back-transcription differs" in c for c in by["L0003"].concerns)
    assert by["L0001"].back_match > 0.9 and by["L0002"].back_match > 0.9 and by["L0003"].back_match < 0.5


def test_a_translation_made_before_the_overlap_was_heard_still_shows_it(job):
    """A translation.json kept from before source/overlap.json (an edited one) carries no overlap flag:
    the page reads it from the source, and lists that line first."""
    from dubbing.schema import Overlap

    Overlap(spans=[(0.3, 0.8)], method="test").save(job / "source/overlap.json")
    rows = review.line_rows(Translation.load(job / "es/translation.json"), TimingReport.load(job / "es/timing.json"),
                            review.load_source(job), {}, {}, None, {}, False, FIT)
    by = {r.id: r for r in rows}
    assert any(c.startswith("two voices at once") for c in by["L0001"].concerns)
    assert rows[0].id == "L0001" and review.first(by["L0001"])  # first with L0002, in time order


def test_a_line_left_in_the_speakers_own_voice_says_so(job):
    """An untranslated line is not silent when the dub keeps the speaker's own voice (dubbing.kept_speech):
    the page says which, and still asks for a look at the failed translation."""
    from dubbing.schema import KeptLine

    tr = Translation.load(job / "es/translation.json")
    timing = TimingReport.load(job / "es/timing.json")
    gone = tr.lines[2]
    tr.lines[2] = gone.model_copy(update={"text": "", "flags": ["guard:chatter", "untranslated"]})
    timing = timing.model_copy(update={"lines": [f for f in timing.lines if f.line_id != gone.id]})
    rows = {r.id: r for r in review.line_rows(tr, timing, review.load_source(job), {}, {}, None, {}, False, FIT)}
    assert "no translation: the line is not dubbed" in rows[gone.id].concerns
    timing.own_voice = [KeptLine(line_id=gone.id, speaker=gone.speaker, start=gone.start, end=gone.end)]
    rows = {r.id: r for r in review.line_rows(tr, timing, review.load_source(job), {}, {}, None, {}, False, FIT)}
    said = rows[gone.id].concerns
    assert "no translation: the line is said in the speaker's own voice" in said and "translation failed" in said
    assert review.OWN_VOICE in rows[gone.id].flags and review.first(rows[gone.id])


def test_a_line_whose_pauses_were_lengthened_asks_for_a_listen():
    row = review.Row(id="L0007", speaker="SPEAKER_00", start=21.82, end=27.86, source="Well...", text="ここでは、...",
                     out_start=21.82, out_end=27.86, stretch=1.1, flags=["stretched", "paused"])
    assert review.concerns(row, FIT) == ["pauses lengthened to fill its slot"]
    assert review.concerns(review.Row(**{**row.__dict__, "flags": ["stretched"]}), FIT) == []


def test_stored_sync_curves_flag_lines_whose_mouth_does_not_follow(job):
    t = np.arange(0, DURATION, 0.04)
    voice = np.abs(np.sin(2 * np.pi * 2 * t))
    opening = np.where(t < 1.0, 1 - voice, voice)  # the mouth moves against the voice over L0001 only
    (job / "es/sync_curves.json").write_text(json.dumps({"times": t.tolist(), "opening": opening.tolist(),
                                                         "voice": voice.tolist()}))
    review.build(job)
    rows = {r.id: r for r in review.line_rows(
        Translation.load(job / "es/translation.json"), TimingReport.load(job / "es/timing.json"),
        review.load_source(job), {}, {}, json.loads((job / "es/sync_curves.json").read_text()), {}, False, FIT)}
    assert rows["L0001"].sync_r < -0.9 and any("low sync confidence" in c for c in rows["L0001"].concerns)
    assert rows["L0002"].sync_r > 0.9 and not any("sync" in c for c in rows["L0002"].concerns)


def test_back_transcription_is_cut_per_line_by_alignment():
    scripts = ["el perro come", "la casa es azul", "adiós amigos"]
    heard = review.split_back(scripts, "El perro comió. La cosa es azul; adiós, amigo", cjk=False)
    assert [h for h, _ in heard] == ["el perro comió", "la cosa es azul", "adiós amigo"]
    assert all(0.7 < m < 1.0 for _, m in heard)
    ja = review.split_back(["こんにちは", "さようなら"], "こんにちは。さよなら", cjk=True)
    assert ja[0] == ("こんにちは", 1.0) and ja[1][0] == "さよなら"
    assert review.split_back(["uno", "dos"], "", cjk=False) == [("", 0.0), ("", 0.0)]


def test_figures_are_graded():
    figs = {f.label: f for f in review.figures({"cer": 0.5, "language": "es", "detected_language": "it",
                                                "within_0.3s": 0.95}, {"av_offset_frames": -1, "psnr_outside": 28.0}, 25.0)}
    assert figs["back-transcription CER"].grade == "poor"
    assert figs["heard as"].grade == "poor"
    assert figs["lines within 0.3 s"].grade == "good"
    assert figs["A/V offset"].value == "-1 frames (-40 ms)" and figs["A/V offset"].grade == "good"
    assert figs["identity PSNR"].grade == "poor"
    ja = {f.label: f for f in review.figures({"cer": 0.35, "cer_reading": 0.1, "language": "ja"}, {}, 25.0)}
    assert (ja["back-transcription CER"].value, ja["back-transcription CER"].grade) == ("10.0%", "good")
    assert ja["CER of the spelling"].value == "35.0%" and ja["CER of the spelling"].grade == ""
    assert "CER of the spelling" not in figs
    swing = lambda v: {f.label: f for f in review.figures({}, {"amp_ratio": v}, 25.0)}["mouth swing"].grade
    assert (swing(1.1), swing(0.9), swing(0.78), swing(1.4), swing(0.5)) == ("good", "good", "fair", "poor", "poor")
    check = lambda person: {f.label: f for f in review.figures({}, {"person": person}, 25.0)}["mouth model check"]
    assert (check({"r": 0.71, "r_generic": 0.41, "used": True}).value, check({"r": 0.71, "used": True}).grade) == ("r 0.71", "good")
    assert (check({"r": 0.71, "r_generic": 0.41, "used": False}).value,  # a dub draws the generic mouth
            check({"r": 0.71, "r_generic": 0.41, "used": False}).grade) == ("r 0.41", "fair")


def test_the_page_shows_how_each_line_follows_the_source_s_prosody(job):
    from dubbing.schema import ProsodyLine, ProsodyMove, ProsodyReport, Shape

    flat = Shape(level_db=-20.0, median_st=5.0, range_st=4.0, final_st=0.0, voiced=0.6)
    line = ProsodyLine(line_id="L0001", speaker="SPEAKER_00", question=True, source=flat, before=flat, after=flat,
                       move=ProsodyMove(gain_db=3.0, final_st=4.0),
                       wanted={"level": 3.2, "pitch": 1.0, "range": 4.0, "final": 3.5},
                       got_before={"level": 0.0, "pitch": 0.0, "range": 6.0, "final": -5.0},
                       got={"level": 2.9, "pitch": 0.8, "range": 4.2, "final": 2.8})
    ProsodyReport(language="es", lines=[line], summary={"lines": 1, "level_r_after": 0.93, "pitch_r_after": 0.2,
                                                        "final_kept_after": 1.0}).save(job / "es/prosody.json")
    html = review.build(job).read_text()
    assert "level +2.9 dB (+3.2 dB) · pitch +0.8 st (+1.0 st) · end ↗ (↗)" in html
    figs = {f.label: f for f in review.figures({}, {}, 25.0, {"level_r_after": 0.93, "pitch_r_after": 0.2})}
    assert figs["loudness follows the source"].value == "r 0.93" and figs["loudness follows the source"].grade == "good"
    assert figs["pitch follows the source"].grade == "poor"
    assert "line endings kept" not in figs  # no figure where the summary has none


def test_lines_said_at_once_by_two_speakers_are_marked_to_listen_to_not_to_distrust():
    from types import SimpleNamespace as L

    lines = [L(id="L0001", speaker="A", start=0.1, end=4.5), L(id="L0002", speaker="B", start=0.4, end=2.6),
             L(id="L0003", speaker="A", start=5.0, end=6.0), L(id="L0004", speaker="A", start=5.5, end=6.5)]
    assert review.talking_over(lines) == {"L0001": ["B (L0002)"], "L0002": ["A (L0001)"]}
    row = review.Row(id="L0002", speaker="B", start=0.4, end=2.6, source="x", text="y", back_match=0.2,
                     talks_over=["A (L0001)"])
    said = review.concerns(row, FIT)
    assert said == ["said over A (L0001): both dubbed at once, listen"]  # the mix's low match is not blamed on it


def test_two_lines_that_start_together_each_read_their_own_subtitle(tmp_path):
    from dubbing.schema import FittedLine

    (tmp_path / "two.srt").write_text("1\n00:00:00,088 --> 00:00:02,320\nEl horizonte parece lejano.\n\n"
                                      "2\n00:00:00,088 --> 00:00:04,520\nEmpezó una queja confusa\ncontra el mago.\n\n")
    fitted = [FittedLine(line_id=i, speaker=s, slot_start=0.088, slot_end=e, start=0.088, end=e, speed=1.0, stretch=1.0)
              for i, s, e in (("L0002", "B", 4.52), ("L0001", "A", 2.32))]
    spoken = review.spoken_texts(tmp_path / "two.srt", fitted, cjk=False,
                                 translated={"L0001": "El horizonte parece lejano.",
                                             "L0002": "Empezó una queja confusa contra el mago."})
    assert spoken == {"L0001": "El horizonte parece lejano.", "L0002": "Empezó una queja confusa contra el mago."}


# --- the page ----------------------------------------------------------------------------------------


def test_build_writes_a_self_contained_page_with_plots(job):
    page = review.build(job)
    html = page.read_text()
    assert page == job / "review/index.html"
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # no network needed
    assert 'src="../talk.es.mp4"' in html and 'src="source.mp4"' in html
    assert (page.parent / "source.mp4").resolve() == (job.parent.parent / "talk.mp4").resolve()
    assert "&lt;b&gt;raras&lt;/b&gt;" in html and "<b>raras</b>" not in html  # user text is escaped
    assert html.index("L0002") < html.index("L0001")
    assert f"dub translate {job.parent.parent / 'talk.mp4'} --to es --out {job.parent}" in html
    for name in ("es-timing.png", "es-mouth.png"):
        png = page.parent / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'src="{name}"' in html


def test_plots_drawn_by_a_dub_branch_are_kept_until_their_data_changes(job, monkeypatch):
    drawn = []
    for name in ("plot_timing", "plot_mouth"):
        real = getattr(review, name)
        monkeypatch.setattr(review, name, lambda *a, real=real, name=name: drawn.append(name) or real(*a))
    review.draw_plots(job, "es")  # as the es branch ends
    assert sorted(drawn) == ["plot_mouth", "plot_timing"]
    review.build(job)  # the page at the end of the run
    assert len(drawn) == 2
    quality = json.loads((job / "es/quality.json").read_text())
    (job / "es/quality.json").write_text(json.dumps(quality | {"back_transcript": "Hola. Palabras. Adiós."}))
    review.build(job)  # what ASR heard changed the rows: both plots show the rows
    assert sorted(drawn[2:]) == ["plot_mouth", "plot_timing"]


def test_videos_have_poster_frames_taken_while_someone_speaks(job):
    from PIL import Image

    page = review.build(job).read_text()
    assert 'poster="poster-source.jpg"' in page and 'poster="poster-es.jpg"' in page
    for name, video in (("poster-source.jpg", job.parent.parent / "talk.mp4"), ("poster-es.jpg", job / "talk.es.mp4")):
        img = Image.open(job / "review" / name)
        assert img.size == (160, 120)
        assert np.asarray(img.convert("L")).std() > 20  # a picture (the test pattern), not a black frame
    # the source's first words start at 0.2 s: its poster is the frame at 0.7 s, not the first one
    first = ffmpeg_frame(job.parent.parent / "talk.mp4", 0.0)
    at = ffmpeg_frame(job.parent.parent / "talk.mp4", 0.7)
    poster = np.asarray(Image.open(job / "review/poster-source.jpg").convert("L"), float)
    assert np.abs(poster - at).mean() < np.abs(poster - first).mean()
    made = (job / "review/poster-es.jpg").stat().st_mtime_ns
    review.build(job)
    assert (job / "review/poster-es.jpg").stat().st_mtime_ns == made  # kept while the dub is the same


def test_burned_subtitles_are_not_laid_over_again(job):
    assert 'data-vtt="../talk.es.vtt"' in review.build(job).read_text()
    (job / "es/subtitles.ass").write_text("[Script Info]\n")  # what a --burn-subtitles run leaves
    assert 'data-vtt=""' in review.build(job).read_text()


def ffmpeg_frame(video: Path, at: float) -> np.ndarray:
    import av

    with av.open(str(video)) as c:
        for f in c.decode(video=0):
            if f.time >= at - 1e-3:
                return f.to_ndarray(format="gray").astype(float)
    raise AssertionError(f"no frame at {at} s")


def test_page_survives_a_broken_edit_and_a_missing_run(job):
    (job / "es/translation.json").write_text('{"lines": [\n  {"id": "L0001",, }\n]}')
    (job / "es/timing.json").unlink()
    (job / "es/sync.json").unlink()
    html = review.build(job).read_text()
    assert "line 2, column 18" in html and "fix them before running again" in html


# --- approval and edits ----------------------------------------------------------------------------


def test_approval_follows_the_translation_and_the_output(job):
    assert review.approval(job, "es")[0] == "not approved"
    review.approve(job, "es")
    assert review.approval(job, "es")[0] == "approved"
    assert "approved" in review.build(job).read_text()
    tr = Translation.load(job / "es/translation.json")
    tr.lines[0].text = "Hola."
    tr.save(job / "es/translation.json")
    status, detail = review.approval(job, "es")
    assert status == "changed since approval" and "translation" in detail and "output" not in detail
    review.approve(job, "es")
    with open(job / "talk.es.mp4", "ab") as f:
        f.write(b"\0")
    assert review.approval(job, "es") == ("changed since approval", review.approval(job, "es")[1])
    assert "output" in review.approval(job, "es")[1]
    with pytest.raises(DubError, match="no 'fr' dub"):
        review.approve(job, "fr")


def test_check_edit_says_what_is_wrong_one_line_each(job):
    p = job / "es/translation.json"
    assert edits.check_edit(job, "es") == []
    good = json.loads(p.read_text())

    p.write_text(p.read_text().replace('"text": "Adiós."', '"text": "Adiós.",'))
    [msg] = edits.check_edit(job, "es")
    assert "JSON syntax error" in msg and "line " in msg and "column " in msg and "\n" not in msg

    bad = json.loads(json.dumps(good))
    bad["lines"][1]["text"] = 7
    bad["lines"][2]["txt"] = "typo"
    p.write_text(json.dumps(bad))
    msgs = edits.check_edit(job, "es")
    assert any("lines[1] (L0002).text" in m for m in msgs) and any("lines[2] (L0003).txt" in m for m in msgs)

    bad = json.loads(json.dumps(good))
    bad["lines"][0]["id"] = "L0099"
    del bad["lines"][2]
    p.write_text(json.dumps(bad))
    msgs = edits.check_edit(job, "es")
    assert len(msgs) == 3 and all("\n" not in m for m in msgs)
    assert any("unknown line id L0099" in m for m in msgs)
    assert any("line L0001 is missing" in m for m in msgs) and any("line L0003 is missing" in m for m in msgs)


# --- the server --------------------------------------------------------------------------------------


@pytest.fixture
def served(job):
    review.build(job)
    server = serve(job, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield job, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str, rng: str | None = None):
    req = urllib.request.Request(url, headers={"Range": rng} if rng else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers, r.read()  # headers: case-insensitive, as HTTP says


def test_server_answers_range_requests(served):
    job, base = served
    data = (job / "talk.es.mp4").read_bytes()
    status, headers, body = _get(f"{base}/talk.es.mp4")
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
    status, headers, body = _get(f"{base}/talk.es.mp4", "bytes=100-199")
    assert status == 206 and body == data[100:200] and headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert _get(f"{base}/talk.es.mp4", "bytes=-10")[2] == data[-10:]
    assert _get(f"{base}/talk.es.mp4", "bytes=10-1000000")[2] == data[10:]  # a range past the end stops at it
    assert headers["Cache-Control"] == "no-store"  # a rebuilt page or dub is what the next reload shows
    with pytest.raises(urllib.error.HTTPError) as e:
        _get(f"{base}/talk.es.mp4", f"bytes={len(data)}-")
    assert e.value.code == 416
    status, _, body = _get(f"{base}/")  # redirected to the page
    assert status == 200 and b"<title>Review: talk</title>" in body
    assert _get(f"{base}/review/source.mp4", "bytes=0-3")[2] == (job.parent.parent / "talk.mp4").read_bytes()[:4]


def test_a_port_in_use_is_one_line(served):
    _, base = served
    with pytest.raises(DubError, match="in use") as e:
        serve(Path("."), int(base.rsplit(":", 1)[1]))
    assert "\n" not in str(e.value)


def test_dub_review_serves_until_ctrl_c(job):
    code = ("import sys; from pathlib import Path; from dub.review_server import review_command; "
            "review_command(Path(sys.argv[1]), None, 0, True)")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.Popen([sys.executable, "-c", code, str(job)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = p.stdout.readline()
        url = first.split()[2]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/review/index.html")
        assert _get(url)[0] == 200
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out.strip().splitlines()[-1] == "stopped serving the review page" and "Traceback" not in err


def test_dub_review_approve(job, capsys):
    from dub.review_server import review_command

    review_command(job, ["es"], 0, False)
    assert "approved es" in capsys.readouterr().out
    assert review.approval(job, "es")[0] == "approved"
    with pytest.raises(DubError, match="no job folder"):
        review_command(job / "nope", None, 0, False)


# --- in a real browser -----------------------------------------------------------------------------


def _browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright not installed (pip install playwright; no browser download needed)")
    return sync_playwright


ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def _check_page(page, url: str) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url, wait_until="load")
    section = page.locator("section.lang:not([hidden])")
    assert section.count() == 1
    assert section.locator("table.lines tbody tr").count() == 3
    assert section.locator("table.lines tbody tr").first.get_attribute("class") == "look"
    widths = page.eval_on_selector_all("section.lang:not([hidden]) .plots img", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 2 and all(w > 0 for w in widths)
    # the dub plays and the source follows it
    page.eval_on_selector("section.lang:not([hidden]) video.dub", "v => { v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video.dub').currentTime > 0.5", timeout=15000)
    page.wait_for_function("() => document.querySelector('video.src').currentTime > 0.3", timeout=15000)
    page.eval_on_selector("video.dub", "v => v.pause()")
    # a line played on its own starts at its time
    section.locator("button.seek", has_text="L0003").click()
    page.wait_for_function("() => { const v = document.querySelector('video.dub');"
                           " return !v.paused && v.currentTime > 1.85; }", timeout=15000)
    return problems


def test_page_in_a_headless_browser(served, tmp_path):
    import io

    from PIL import Image

    sync_playwright = _browser()
    job, base = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems = _check_page(page, f"{base}/review/index.html")
            page.wait_for_function("() => document.querySelector('video.dub').textTracks.length === 1")
            page.eval_on_selector("video.dub", "v => { v.pause(); v.currentTime = 0.5; }")
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
            shutil.copyfile(tmp_path / "review.png", "/tmp/review-shot.png")
            assert problems == []
            # before anything plays, each player shows a picture (its poster), not a black box
            fresh = browser.new_page(viewport={"width": 1280, "height": 900})
            fresh.goto(f"{base}/review/index.html", wait_until="load")
            assert len(fresh.eval_on_selector_all("video[poster]", "vs => vs.map(v => v.poster)")) == 2
            for sel in ("video.src", "video.dub"):
                shot = np.asarray(Image.open(io.BytesIO(fresh.locator(sel).screenshot())).convert("L"), float)
                assert shot.std() > 20, f"{sel} shows no picture"
            file_page = browser.new_page()
            assert _check_page(file_page, (job / "review/index.html").as_uri()) == []  # the page from file://
        finally:
            browser.close()


def test_the_page_says_when_faces_seen_talking_changed_the_speakers(job):
    summary = json.loads((job / "job.json").read_text())
    summary["source"] = {"speakers_from_faces": [
        {"kind": "split", "speakers": ["SPEAKER_02"], "faces": [3, 5], "cosine": 0.463, "seconds": 3.66},
        {"kind": "kept together", "speakers": ["SPEAKER_00"], "faces": [0, 4], "cosine": 0.9, "seconds": 5.0}]}
    (job / "job.json").write_text(json.dumps(summary))
    html = review.build(job).read_text()
    assert "faces seen talking split the voice's SPEAKER_02 (faces 3, 5, voices alike 0.46)" in html
    assert "SPEAKER_00 (faces 0, 4" not in html  # what the voice refused changed nothing: not shown


def test_the_page_lists_speech_that_has_no_words(job):
    """A voice heard with no word near it is not in any dub (dubbing.transcribe.missed): the page says
    where, so no speech is lost unseen; a short sound is not listed."""
    from dubbing.schema import SpeakerTurn

    transcript = Transcript.load(job / "source/transcript.json")
    transcript.segments = transcript.segments[:1]  # "Hello there.": the recognizer heard nothing else
    transcript.save(job / "source/transcript.json")
    Diarization(turns=[SpeakerTurn(start=0.2, end=0.9, speaker="SPEAKER_00"),
                       SpeakerTurn(start=1.0, end=1.3, speaker="SPEAKER_00"),  # a breath
                       SpeakerTurn(start=1.2, end=2.9, speaker="SPEAKER_01")],
                speakers=["SPEAKER_00", "SPEAKER_01"]).save(job / "source/diarization.json")
    assert review.load_source(job).unheard == [(1.2, 2.9, "SPEAKER_01")]
    html = review.build(job).read_text()
    assert "Speech with no words, so not in the dubs (a laugh, another language, words not made out):" in html
    assert "1.20-2.90 s (SPEAKER_01)." in html


def test_a_japanese_line_is_matched_by_what_is_heard_not_how_it_is_spelled():
    # a name said in katakana (dubbing.katakana) and written back in katakana, a number written in kanji
    assert review.heard_match("昨日Disneylandに行った", "昨日ディズニーランドに行った", "ja", 0.3) > 0.8
    assert review.heard_match("三週間で", "3週間で", "ja", 0.2) == 1.0
    assert review.heard_match("昨日行った", "機能言った", "ja", 0.2) == 1.0  # homophones: heard alike
    assert review.heard_match("昨日行った", "明日来る", "ja", 0.9) < 0.5  # heard otherwise: still a mismatch
    assert review.heard_match("hola", "ola", "es", 0.42) == 0.42 and review.heard_match("行った", "", "ja", 0.0) == 0.0
