"""Outputs for editors and players: subtitle line breaking, burned-in subtitles, stems, the multi-track file.
Every input is made here (a few seconds of test pattern, tones, noise); about 15 s on 2 cores."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import srt

import languages
from dubbing import burn, linebreak, media, mix, mix_file, multitrack, subtitles
from dubbing.config import load
from dubbing.schema import MediaInfo

from conftest import ROOT, ffmpeg

MIX = load().mix
SR = 48000


# --- line breaking -----------------------------------------------------------------------------------


def test_japanese_lines_break_between_words_never_inside_one():
    text = "私の最大の弱点は助けを求めることです。"
    for width in range(4, 19):
        lines = linebreak.wrap_lines(text, width, 2, cjk=True)
        assert "".join(lines) == text and len(lines) <= 2
        assert any("助け" in ln for ln in lines), (width, lines)  # today's bug: 助/け
        for ln in lines[1:]:  # no line starts with a particle or punctuation
            assert ln[0] not in "をはのが。、", (width, lines)


def test_subtitle_rules_per_language():
    ja = subtitles.wrap("東京都立大学で勉強しています、よろしくお願いします。", languages.get("ja").subtitles)
    assert [len(x) for x in ja.splitlines()] == [15, 11] and "東京都立大学" in ja.splitlines()[0]
    rules = languages.get("es").subtitles
    text = "Mi mayor debilidad es pedir ayuda cuando la necesito, incluso en el trabajo."
    lines = subtitles.wrap(text, rules).splitlines()
    assert len(lines) == 2 and all(len(x) <= rules.max_chars_per_line for x in lines)
    assert abs(len(lines[0]) - len(lines[1])) <= 6  # balanced, not one full line and a stub
    assert subtitles.wrap("Hola.", rules) == "Hola."
    long = " ".join(["palabra"] * 30)  # longer than two lines: still two, a little long, nothing lost
    assert len(subtitles.wrap(long, rules).splitlines()) == 2 and subtitles.wrap(long, rules).split() == long.split()


# --- burned-in subtitles -----------------------------------------------------------------------------


def _video(path: Path, w: int = 640, h: int = 360, seconds: float = 2.0) -> MediaInfo:
    ffmpeg("-f", "lavfi", "-i", f"color=c=0x202020:size={w}x{h}:rate=25:duration={seconds}", "-f", "lavfi", "-i",
           f"sine=frequency=220:sample_rate={SR}:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(path))
    return media.probe(path)


def _frame(video: Path, t: float) -> np.ndarray:
    """Grey levels of the frame shown at `t` seconds, shape (height, width)."""
    import av

    with av.open(str(video)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            if f.time >= t:
                return f.to_ndarray(format="gray").astype(float)
    raise AssertionError(f"no frame at {t} s")


def _rows_of_text(ink: np.ndarray) -> int:
    """Separate bands of rows that hold text pixels."""
    rows = ink.any(axis=1).astype(int)
    return int(np.sum(np.diff(np.r_[0, rows]) == 1))


def _burned(tmp_path: Path, code: str, text: str, font: str = "") -> tuple[Path, MediaInfo]:
    src = tmp_path / "src dir, with 'odd' chars"  # the filter's escaping is part of what is tested
    src.mkdir()
    info = _video(src / "v.mp4")
    cue = srt.Subtitle(1, dt.timedelta(seconds=0.8), dt.timedelta(seconds=1.6),
                       subtitles.wrap(text, languages.get(code).subtitles))
    srt_path = subtitles.write([cue], src / f"v.{code}")[0]
    ass, chosen = burn.write_ass(srt_path, src / f"{code}.ass", info, code, font)
    wav = media.write_wav(tmp_path / "a.wav", np.zeros(2 * SR, np.float32), SR)
    out = media.mux(tmp_path / f"v.{code}.mp4", wav, video=src / "v.mp4", video_filter=burn.video_filter(ass, chosen))
    return out, info


@pytest.mark.parametrize("code, text", [
    ("es", "Mi mayor debilidad es pedir ayuda cuando la necesito, incluso en el trabajo de todos los días."),
    ("ja", "私の最大の弱点は助けを求めることです。仕事でも同じです。"),
])
def test_burned_subtitles_stay_in_the_safe_area_on_two_lines(tmp_path, code, text):
    try:
        burn.check_fonts("", [code])
    except burn.FontError as e:
        pytest.skip(str(e))
    out, info = _burned(tmp_path, code, text)
    assert media.probe(out).frame_count == info.frame_count  # re-encoded, no frame lost
    before, during = _frame(out, 0.4), _frame(out, 1.2)
    assert (before > 128).sum() == 0  # nothing drawn outside the cue's time
    ink = during > 160
    ys, xs = np.nonzero(ink)
    assert len(xs) > 300, "no subtitle drawn"
    w, h = info.width, info.height
    assert xs.min() >= burn.SAFE * w - 1 and xs.max() <= (1 - burn.SAFE) * w + 1
    assert ys.max() <= (1 - burn.SAFE) * h + 1 and ys.min() > h / 2  # bottom, inside the safe area
    assert _rows_of_text(ink) == 2
    # centred: as much room left as right
    assert abs(xs.min() - (w - 1 - xs.max())) <= 0.05 * w


def test_overlapping_cues_are_not_stacked():
    def cue(a, b):
        return srt.Subtitle(1, dt.timedelta(seconds=a), dt.timedelta(seconds=b), "x")

    got = burn.ends([cue(0.0, 3.348), cue(3.32, 4.6), cue(5.0, 6.0)])
    assert [e.total_seconds() for e in got] == [3.32, 4.6, 6.0]


def test_font_size_shrinks_only_when_a_line_would_not_fit():
    font = burn.choose_font("DejaVu Sans", "x", "en")
    nominal = burn.font_size(["short"], font, 1280, 720)
    assert nominal == round(burn.SIZE * 720)
    long = "a line much too long to fit the safe width of this frame at the nominal size, by far"
    small = burn.font_size([long, "short"], font, 1280, 720)
    assert 8 <= small < nominal
    from PIL import ImageFont  # drawn at that size (libass's size is the font's cell, not its em), it fits

    width = ImageFont.truetype(str(font.path), round(small / font.cell)).getlength(long)
    assert width <= (1 - 2 * burn.SAFE) * 1280


def test_missing_font_or_glyphs_is_one_clear_line():
    with pytest.raises(burn.FontError, match="not found") as e:
        burn.choose_font("No Such Font Sans", "hola", "es")
    assert "\n" not in str(e.value) and "output.subtitle_font" in str(e.value)
    dejavu = burn.choose_font("DejaVu Sans", "x", "en").path
    with pytest.raises(burn.FontError, match="助") as e:
        burn.choose_font(str(dejavu), "助けを求める", "ja")  # a Latin font asked to draw Japanese
    assert "\n" not in str(e.value)


def test_cli_refuses_a_missing_font_before_it_runs(made, tmp_path):
    cfg = tmp_path / "font.yaml"
    cfg.write_text("output: {subtitle_font: No Such Font Sans}\n")
    r = subprocess.run([sys.executable, "-m", "dub", "translate", str(made["silence"]), "--to", "es",
                        "--out", str(tmp_path / "out"), "--config", str(cfg), "--burn-subtitles"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "No Such Font Sans" in lines[0], r.stderr


# --- stems -------------------------------------------------------------------------------------------


def _tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


@pytest.mark.parametrize("amp", [0.1, 0.9])  # 0.9: loud enough that the mix's limiter acts
def test_stems_add_up_to_the_mix(tmp_path, amp):
    rng = np.random.default_rng(0)
    n = 3 * SR
    background = (0.05 * rng.standard_normal((n, 2))).astype(np.float32)
    media.write_wav(tmp_path / "background.wav", background, SR)
    clips = [(0.2, _tone(200, 0.8, amp)), (1.0, _tone(300, 0.6, amp)), (1.9, _tone(250, 0.9, amp))]
    who = ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    folder = tmp_path / "stems"
    folder.mkdir()
    (folder / "dialogue-GONE.wav").write_bytes(b"")  # a speaker of an earlier run
    dub = mix_file.write(clips, tmp_path / "background.wav", n, SR, -20.0, MIX, tmp_path / "voices.wav",
                         tmp_path / "dub.wav", (folder, who))
    out = {p.stem: media.read_wav(p)[0] for p in folder.glob("*.wav")}
    assert sorted(out) == ["background", "dialogue", "dialogue-SPEAKER_00", "dialogue-SPEAKER_01", "mix"]
    assert all(a.shape == (n, 2) for a in out.values())
    step = 2 / 2 ** 16  # one 16-bit step per stem summed
    # the mix stem is the dub, and the one the whole-array mix makes from the same clips
    assert np.abs(out["mix"] - media.read_wav(dub)[0]).max() <= step
    voices = mix.normalize(mix.place(clips, n, SR), SR, -20.0)
    assert np.abs(out["mix"] - mix.mix(voices, media.read_wav(tmp_path / "background.wav")[0], SR, MIX)).max() < 4 * step
    assert np.abs(out["dialogue"] + out["background"] - out["mix"]).max() <= 2 * step
    assert np.abs(out["dialogue-SPEAKER_00"] + out["dialogue-SPEAKER_01"] - out["dialogue"]).max() <= 3 * step
    # each speaker's stem holds only that speaker's lines
    a = np.abs(out["dialogue-SPEAKER_01"][:, 0])
    assert a[: int(0.95 * SR)].max() == 0 and a[int(1.1 * SR): int(1.5 * SR)].max() > 0.01


# --- one file, every language ------------------------------------------------------------------------


def _dominant(audio: np.ndarray, rate: int) -> float:
    """The strongest frequency (Hz) in `audio`."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spec) * rate / len(audio))


def test_multitrack_file_carries_every_language_tagged(tmp_path):
    info = _video(tmp_path / "talk.mp4", seconds=2.0)  # original audio: 220 Hz
    dubs, subs = [], []
    for code, freq in (("es", 440.0), ("ja", 660.0)):
        wav = media.write_wav(tmp_path / f"{code}.wav", np.r_[np.zeros(SR // 2, np.float32), _tone(freq, 1.5, 0.3)], SR)
        dubs.append(multitrack.Track(wav, {"es": "spa", "ja": "jpn"}[code], f"{code} (dub)"))
        cue = srt.Subtitle(1, dt.timedelta(seconds=0.5), dt.timedelta(seconds=1.5), f"{code} text")
        subs.append(multitrack.Track(subtitles.write([cue], tmp_path / f"talk.{code}")[0], dubs[-1].language, code))
    original = multitrack.Track(tmp_path / "talk.mp4", "eng", "English (original)")
    out = multitrack.write(tmp_path / "talk.mp4", info, original, dubs, subs, media.probe(tmp_path / "talk.mp4").audio_start,
                           tmp_path / "talk.multi.mkv")
    tracks = multitrack.tracks(out)
    assert [(t["type"], t["language"]) for t in tracks] == [
        ("video", ""), ("audio", "eng"), ("audio", "spa"), ("audio", "jpn"), ("subtitle", "spa"), ("subtitle", "jpn")]
    assert [t["default"] for t in tracks if t["type"] == "audio"] == [True, False, False]
    # each audio track plays its own language, at its time (the dubs start after 0.5 s of silence)
    import av

    for i, freq in enumerate((220.0, 440.0, 660.0)):
        with av.open(str(out)) as c:
            s = c.streams.audio[i]
            pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(s)])
            rate = s.codec_context.sample_rate
        mid = pcm[int(0.8 * rate): int(1.6 * rate)]
        assert abs(_dominant(mid, rate) - freq) < 10
        if i:
            assert np.abs(pcm[int(0.05 * rate): int(0.4 * rate)]).max() < 0.01


def test_job_multitrack_takes_every_language_dubbed_from_the_source(tmp_path):
    from types import SimpleNamespace

    from dubbing.workspace import Job

    info = _video(tmp_path / "talk.mp4", seconds=1.0)
    job = Job(tmp_path / "out/talk")
    for code in ("es", "fr"):  # es from an earlier run, fr from this one; ja was never dubbed
        job.path(code).mkdir(parents=True)
        media.write_wav(job.path(f"{code}/dub.wav"), _tone(440, 1.0, 0.2), SR)
        cue = srt.Subtitle(1, dt.timedelta(seconds=0.1), dt.timedelta(seconds=0.9), code)
        subtitles.write([cue], job.root / f"talk.{code}")
    src = SimpleNamespace(job=job, name="talk", info=info, transcript=SimpleNamespace(language="en"))
    out = multitrack.for_job(src, ["es", "fr", "ja"], load(), job.root)
    assert out == job.root / "talk.multi.mkv"
    tracks = multitrack.tracks(out)
    assert [(t["type"], t["language"], t["title"]) for t in tracks if t["type"] != "video"] == [
        ("audio", "eng", "English (original)"), ("audio", "spa", "Spanish (dub)"), ("audio", "fra", "French (dub)"),
        ("subtitle", "spa", "Spanish"), ("subtitle", "fra", "French")]


def test_burning_into_a_webm_keeps_it_a_webm(tmp_path):
    src = tmp_path / "v.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-f", "lavfi", "-i", "sine=duration=1",
           "-c:v", "libvpx-vp9", "-c:a", "libopus", "-shortest", str(src))
    cue = srt.Subtitle(1, dt.timedelta(seconds=0.2), dt.timedelta(seconds=0.8), "hola")
    ass, font = burn.write_ass(subtitles.write([cue], tmp_path / "v.es")[0], tmp_path / "es.ass", media.probe(src), "es")
    wav = media.write_wav(tmp_path / "a.wav", np.zeros(SR, np.float32), SR)
    out = media.probe(media.mux(tmp_path / "v.es.webm", wav, video=src, video_filter=burn.video_filter(ass, font)))
    assert out.video_codec == "vp9" and out.frame_count == 25
