"""The review of a job: a static page (each language's dub beside the source, its lines with those
that need a human eye first, the quality figures and plots), approval of a language, and the check
of a hand-edited translation before a re-run.

Reads only what the pipeline stored in the job folder (dubbing.workspace) and never runs a model,
so building the page takes seconds. Times are seconds on the source timeline, which the dubbed
output shares.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import io
import itertools
import json
import logging
import os
import shlex
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import overlap, posters
from .config import Fit
from .edits import check_edit
from .errors import DubError
from .files import write_atomic
from .schema import (Diarization, FittedLine, MediaInfo, Overlap, ProsodyLine, ProsodyReport, Record, RecordError, TimingReport,
                     Transcript, Translation)
from .workspace import Job, digest, file_digest

ASSETS = Path(__file__).with_name("review_assets")
log = logging.getLogger(__name__)

# what makes a line "need a look"
LOW_WORD_PROB = 0.6  # mean Whisper probability of the line's source words
LOW_LOGPROB = -1.0  # avg_logprob of a source segment under the line (Whisper's own fallback threshold)
LOW_BACK_MATCH = 0.5  # 1 - CER of the line's back-transcription against what was spoken
LOW_SYNC_R = 0.1  # Pearson r of mouth opening with voice energy over the line (when curves are stored)


# --- what the pipeline stored ---------------------------------------------------------------------


def _json(path: Path) -> dict:
    """A JSON object from `path`, or {} where it is absent or unreadable (the page shows what there is)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _record(cls: type[Record], path: Path):
    try:
        return cls.load(path)
    except RecordError:
        return None


@dataclass
class Source:
    """The shared part of a job: the input, its transcript and speakers."""

    job_dir: Path
    summary: dict  # job.json
    info: MediaInfo | None
    transcript: Transcript | None
    speakers: list[str]
    name: str  # the input's stem: outputs are <name>.<lang>.<ext>
    overlapped: list[tuple[float, float]] = field(default_factory=list)  # s where two voices sound at once
    unheard: list[tuple[float, float, str]] = field(default_factory=list)  # (start s, end s, speaker): see `unheard`

    @property
    def input(self) -> Path | None:
        """The input file, where it still is (media.json keeps the path as it was given)."""
        given = self.summary.get("input") or (self.info.path if self.info else "")
        if not given:
            return None
        p = Path(given)
        return p if p.is_absolute() or p.exists() else Path.cwd() / p

    @property
    def fps(self) -> float:
        return self.info.fps if self.info and self.info.fps > 0 else 25.0


def load_source(job_dir: Path) -> Source:
    summary = _json(job_dir / "job.json")
    info = _record(MediaInfo, job_dir / "source/media.json")
    dia = _record(Diarization, job_dir / "source/diarization.json")
    heard = _record(Overlap, job_dir / "source/overlap.json")
    given = summary.get("input") or (info.path if info else "") or job_dir.name
    transcript = _record(Transcript, job_dir / "source/transcript.json")
    return Source(job_dir=job_dir, summary=summary, info=info, transcript=transcript,
                  speakers=dia.speakers if dia else [], name=Path(given).stem,
                  overlapped=heard.spans if heard else [],
                  unheard=unheard(dia, transcript) if dia and transcript else [])


def unheard(dia: Diarization, transcript: Transcript) -> list[tuple[float, float, str]]:
    """(start s, end s, speaker) where a speaker's voice sounds for transcribe.MISSED_SECONDS or more with
    no transcribed word near it: what the dub does not say (a laugh, speech in a language the recognizer
    was not told, a word it could not make out). The page lists them, so none is lost unseen."""
    from .transcribe import missed

    out = [(round(a, 2), round(b, 2), spk) for spk in dia.speakers
           for a, b in missed([(t.start, t.end) for t in dia.turns if t.speaker == spk], transcript.segments)]
    return sorted(out)


def job_languages(job_dir: Path) -> list[str]:
    """Target languages of a job: job.json's order, then any other folder holding a translation."""
    codes = list(_json(job_dir / "job.json").get("languages", {}))
    codes += sorted(p.parent.name for p in job_dir.glob("*/translation.json")
                    if p.parent.name not in codes and p.parent.name != "source")
    return codes


def output_file(job_dir: Path, name: str, lang: str) -> Path | None:
    """The dubbed output <name>.<lang>.<ext> in the job folder (not its subtitles)."""
    stored = _json(job_dir / "job.json").get("languages", {}).get(lang, {}).get("output")
    if stored and (job_dir / Path(stored).name).is_file():
        return job_dir / Path(stored).name
    for p in sorted(job_dir.glob(f"{glob.escape(name)}.{lang}.*")):
        if p.suffix.lower() not in {".srt", ".vtt", ".part"} and p.is_file():
            return p
    return None


# --- lines -----------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line as the page shows it. Errors are signed seconds (output minus source slot)."""

    id: str
    speaker: str
    start: float  # source slot
    end: float
    source: str
    text: str  # the translation as stored (what the user edits)
    spoken: str = ""  # what was spoken, where it differs from `text` (a shortened line)
    out_start: float | None = None  # dubbed speech on the output timeline
    out_end: float | None = None
    stretch: float | None = None
    speed: float | None = None
    asr_prob: float | None = None  # mean probability of the source words
    asr_logprob: float | None = None  # lowest avg_logprob of the source segments under the line
    back: str | None = None  # what ASR heard in the dub over this line (normalized)
    back_match: float | None = None  # 1 - CER against what was spoken, 0..1
    sync_r: float | None = None
    prosody: str = ""  # how the dubbed line's level, pitch and ending follow the source line's
    talks_over: list[str] = field(default_factory=list)  # lines of other speakers said at the same time
    speaker_known: bool = True
    lips_skipped: list[str] = field(default_factory=list)  # why mouths were left as they were
    flags: list[str] = field(default_factory=list)  # the pipeline's, translation then timing
    concerns: list[str] = field(default_factory=list)  # why a person should look, in plain words

    @property
    def start_error(self) -> float | None:
        return None if self.out_start is None else self.out_start - self.start

    @property
    def end_error(self) -> float | None:
        return None if self.out_end is None else self.out_end - self.end


def concerns(row: Row, fit: Fit) -> list[str]:
    """Why `row` needs a human eye (empty: it does not), under the timing settings `fit`."""
    out = []
    lo, hi = fit.stretch_min, fit.stretch_max
    if not row.text.strip():
        out.append("no translation: the line is said in the speaker's own voice" if OWN_VOICE in row.flags
                   else "no translation: the line is not dubbed")
    if "untranslated" in row.flags:
        out.append("translation failed")
    out += [_FIRST_FLAGS[f.split(":")[0]].format(f.split(":", 1)[-1]) for f in row.flags
            if f.split(":")[0] in _FIRST_FLAGS]
    if row.stretch is not None and (row.stretch <= lo + 1e-3 or row.stretch >= hi - 1e-3):
        out.append(f"stretched to the bound (×{row.stretch:.2f})")
    if "overflow" in row.flags:
        out.append("too long for its slot")
    if "short" in row.flags:
        out.append("too short for its slot")
    errs = [abs(e) for e in (row.start_error, row.end_error) if e is not None]
    if errs and max(errs) > fit.tolerance + 1e-6:
        out.append(f"off its slot by {max(errs):.2f} s")
    if "shortened" in row.flags:
        out.append("shortened to fit")
    if "paused" in row.flags:
        out.append("pauses lengthened to fill its slot")
    if (row.asr_prob is not None and row.asr_prob < LOW_WORD_PROB) or (
            row.asr_logprob is not None and row.asr_logprob < LOW_LOGPROB):
        out.append("low ASR confidence: check the source text")
    if row.talks_over:  # the mix's back-transcription cannot follow two voices: not a sign of a bad line
        out.append(f"said over {', '.join(row.talks_over)}: both dubbed at once, listen")
    elif row.back_match is not None and row.back_match < LOW_BACK_MATCH:
        out.append(f"back-transcription differs ({row.back_match:.0%} match)")
    if row.sync_r is not None and row.sync_r < LOW_SYNC_R:
        out.append(f"low sync confidence (r={row.sync_r:.2f})")
    out += [f"lips not re-rendered: {r}" for r in row.lips_skipped]
    if not row.speaker_known:
        out.append("speaker not assigned")
    return out


# Flags of lines whose words may be wrong, not just badly timed: those rows are listed first (issue 13).
OWN_VOICE = "own voice"  # a row's flag: the dub says the line in the speaker's own voice (dubbing.kept_speech)
_FIRST_FLAGS = {"guard": "translation failed the check for {} (retried, then replaced or kept as the best effort)",
                "suspect": "every translation of it failed the checks: best effort kept",
                "asr": "the speech recognizer doubts the source ({}): check what was said",
                "overlap": "two voices at once for {} s: the dub speaks the one the recognizer heard; "
                           "the other's words are not in it"}


def first(row: Row) -> bool:
    """Whether the row's words may be wrong (a translation that failed the guard, a doubted source)."""
    return any(f.split(":")[0] in _FIRST_FLAGS for f in row.flags)


def spoken_texts(srt_path: Path, fitted: list[FittedLine], cjk: bool,
                 translated: dict[str, str] | None = None) -> dict[str, str]:
    """What was spoken per line id, read back from the dub's subtitles (one cue per line, at the
    dubbed times): it differs from the translation where a line was shortened. Lines that start together
    (two speakers at once) each take the cue closest to their translation (`translated`, by line id)."""
    import difflib

    from . import subtitles

    try:
        cues = subtitles.read(srt_path)
    except Exception as e:  # absent or unparsable: fall back to the translation
        log.info("subtitles %s not read (%s: %s): the page shows the translation", srt_path, type(e).__name__, e)
        return {}
    joiner = "" if cjk else " "
    at: dict[float, list[str]] = {}
    for c in cues:
        at.setdefault(round(c.start.total_seconds(), 2), []).append(joiner.join(c.content.split("\n")))
    out = {}
    for f in fitted:
        texts = at.get(round(max(f.start, 0.0), 2), [])
        if len(texts) > 1 and translated:
            want = translated.get(f.line_id, "")
            texts = sorted(texts, key=lambda t: -difflib.SequenceMatcher(None, t, want).ratio())
        if texts:
            out[f.line_id] = texts[0]
    return out


def split_back(scripts: list[str], back: str, cjk: bool) -> list[tuple[str, float]]:
    """Cut a track's back-transcription into the part heard over each line, by aligning it character
    by character with the concatenated script; returns (heard text, match 0..1) per script line.
    Both sides are normalized (case, punctuation) first."""
    import jiwer

    from .textnorm import normalize as norm

    sep = "" if cjk else " "
    parts = [norm(s).replace(" ", "") if cjk else norm(s) for s in scripts]
    hyp = norm(back).replace(" ", "") if cjk else norm(back)
    ref = sep.join(parts)
    if not ref:
        return [("", 0.0) for _ in scripts]
    if not hyp:
        return [("", 0.0 if p else 1.0) for p in parts]
    # hyp positions where each ref character starts and where it ends (inserted characters between two
    # ref characters thus fall after the end of one and before the start of the next)
    begin, after = np.zeros(len(ref) + 1, int), np.zeros(len(ref) + 1, int)
    begin[len(ref)] = len(hyp)
    for c in jiwer.process_characters(ref, hyp).alignments[0]:
        if c.type == "insert":
            continue
        k = np.arange(c.ref_start_idx, c.ref_end_idx)
        step = c.type != "delete"
        begin[k] = c.hyp_start_idx + (k - c.ref_start_idx) * step
        after[k] = begin[k] + step
    out, a = [], 0
    for p in parts:
        b = a + len(p)
        end = begin[b] if sep else (after[b - 1] if b else 0)  # without separators, what lies between goes to the next line
        heard = hyp[(after[a - 1] if a else 0):end].strip()
        out.append((heard, max(0.0, 1.0 - float(jiwer.cer(p, heard))) if p else 1.0))
        a = b + len(sep)
    return out


def heard_match(said: str, heard: str, language: str, match: float) -> float:
    """A line's back-transcription match (0..1): in a language with a reading (Japanese), that of the
    readings, so a name heard in katakana or 三 heard as 3 is no mismatch; else `match` (split_back's)."""
    import jiwer

    from .textnorm import reading

    want = reading(said, language) if heard else None
    if not want:
        return match
    return max(0.0, 1.0 - float(jiwer.cer(want, reading(heard, language) or "")))


def _source_confidence(transcript: Transcript | None, start: float, end: float) -> tuple[float | None, float | None, bool]:
    """(mean word probability, lowest segment avg_logprob, every word has a speaker) over [start, end] s."""
    if transcript is None:
        return None, None, True
    probs, logps, assigned = [], [], True
    for s in transcript.segments:
        if s.end <= start or s.start >= end:
            continue
        logps.append(s.avg_logprob)
        for w in s.words:
            if w.start >= start - 0.01 and w.end <= end + 0.01:
                probs.append(w.probability)
                assigned &= bool(w.speaker)
    return (float(np.mean(probs)) if probs else None), (min(logps) if logps else None), assigned


def _window_r(curves: dict, a: float, b: float) -> float | None:
    """Pearson r of stored mouth opening with voice energy over [a, b] s (None: too few frames)."""
    t = np.asarray(curves.get("times", []), float)
    o = np.asarray(curves.get("opening", []), float)
    v = np.asarray(curves.get("voice", []), float)
    if not (len(t) == len(o) == len(v)) or not len(t):
        return None
    sel = (t >= a) & (t <= b) & np.isfinite(o) & np.isfinite(v)
    if sel.sum() < 5 or o[sel].std() < 1e-9 or v[sel].std() < 1e-9:
        return None
    return float(np.corrcoef(o[sel], v[sel])[0, 1])


def prosody_text(p: ProsodyLine) -> str:
    """A line's prosody as the page shows it: the dub's level and pitch against its voice's usual, and its
    ending, each with the source line's against its speaker's in brackets."""
    def signed(x, unit):
        return "–" if x is None else f"{x:+.1f} {unit}"

    def end(x):
        return "–" if x is None else "↗" if x >= 1.0 else "↘" if x <= -1.0 else "→"

    return (f"level {signed(p.got['level'], 'dB')} ({signed(p.wanted['level'], 'dB')}) · "
            f"pitch {signed(p.got['pitch'], 'st')} ({signed(p.wanted['pitch'], 'st')}) · "
            f"end {end(p.got['final'])} ({end(p.wanted['final'])})")


def talking_over(lines: list) -> dict[str, list[str]]:
    """For each line (records with id, speaker, start, end), the other speakers' lines said at the same
    time, as "SPEAKER (Lnnnn)" (speakers recorded apart, dubbing.channels)."""
    from .lines import said_at_once

    speaker = {ln.id: ln.speaker for ln in lines}
    return {i: [f"{speaker[o]} ({o})" for o in others]
            for i, others in said_at_once([(ln.id, ln.speaker, ln.start, ln.end) for ln in lines]).items()}


def line_rows(translation: Translation, timing: TimingReport | None, src: Source, quality: dict, sync: dict,
              curves: dict | None, spoken: dict[str, str], cjk: bool, fit: Fit,
              carried: ProsodyReport | None = None) -> list[Row]:
    """Every line of a language: those whose words may be wrong first (see `first`), then those that need a
    look, then the rest (each group in time order)."""
    fitted = {f.line_id: f for f in (timing.lines if timing else [])}
    own = {k.line_id for k in (timing.own_voice if timing else [])}
    prosody = {p.line_id: p for p in (carried.lines if carried else [])}
    over = talking_over(translation.lines)
    rows: list[Row] = []
    for ln in overlap.flag_lines(translation.lines, src.overlapped):  # a translation kept from before has none
        f = fitted.get(ln.id)
        prob, logp, words_assigned = _source_confidence(src.transcript, ln.start, ln.end)
        row = Row(id=ln.id, speaker=ln.speaker, start=ln.start, end=ln.end, source=ln.source, text=ln.text,
                  asr_prob=prob, asr_logprob=logp, flags=list(ln.flags),
                  speaker_known=words_assigned and (not src.speakers or ln.speaker in src.speakers),
                  talks_over=over.get(ln.id, []))
        if ln.id in own:
            row.flags.append(OWN_VOICE)
        if f is not None:
            said = spoken.get(ln.id, ln.text)
            # subtitles of a language written without spaces lose the odd space at a line break
            same = ("".join(said.split()) == "".join(ln.text.split())) if cjk else said.strip() == ln.text.strip()
            row.spoken = "" if same else said
            row.out_start, row.out_end, row.stretch, row.speed = f.start, f.end, f.stretch, f.speed
            row.flags += [x for x in f.flags if x not in row.flags]
            if curves:
                row.sync_r = _window_r(curves, f.start, f.end)
            if ln.id in prosody:
                row.prosody = prosody_text(prosody[ln.id])
            row.lips_skipped = sorted({str(s[2]) for s in sync.get("skipped", []) or []
                                       if len(s) >= 3 and s[0] < f.end and s[1] > f.start})
        rows.append(row)
    back = quality.get("back_transcript")
    spoken_rows = [r for r in rows if r.out_start is not None]
    if isinstance(back, str) and spoken_rows:
        order = sorted(spoken_rows, key=lambda r: r.out_start)
        for r, (heard, match) in zip(order, split_back([r.spoken or r.text for r in order], back, cjk)):
            r.back, r.back_match = heard, round(heard_match(r.spoken or r.text, heard, translation.language, match), 3)
    for r in rows:
        r.concerns = concerns(r, fit)
    return sorted(rows, key=lambda r: (not first(r), not r.concerns, r.start))


# --- quality figures -------------------------------------------------------------------------------


@dataclass
class Figure:
    group: str
    label: str
    value: str
    grade: str  # "good" | "fair" | "poor" | "" (not graded)
    note: str  # what it means, in plain words


def _figure_specs() -> list[dict]:
    """The figures shown, from review_assets/figures.yaml (data: the page's rows are edited there)."""
    import yaml

    return yaml.safe_load((ASSETS / "figures.yaml").read_text(encoding="utf-8"))


def _grade(v: float, better: str, good: float, fair: float) -> str:
    """"low": |v| at most good/fair; "high": v at least; "one": v within good/fair of 1."""
    if better in ("low", "one"):
        v = abs(v - 1) if better == "one" else abs(v)
        return "good" if v <= good else "fair" if v <= fair else "poor"
    if better == "high":
        return "good" if v >= good else "fair" if v >= fair else "poor"
    return ""


def figures(quality: dict, sync: dict, fps: float, prosody: dict | None = None) -> list[Figure]:
    """The job's quality figures for one language, graded where a threshold makes sense. `prosody`: the
    summary of <lang>/prosody.json."""
    quality, sync = dict(quality), dict(sync)
    sources = {"quality": quality, "sync": sync, "prosody": dict(prosody or {})}
    if "cer_reading" in quality:  # Japanese: what was heard is its reading; はい heard as ハイ is no error
        quality["cer_spelling"], quality["cer"] = quality.get("cer"), quality["cer_reading"]
    if "stretch_min" in quality and "stretch_max" in quality:
        quality["stretch_range"] = f"×{quality['stretch_min']:.2f} – ×{quality['stretch_max']:.2f}"
    if sync.get("frames"):
        sync["frames_synced"] = f"{sync.get('synced_frames', 0)} of {sync['frames']}"
    if isinstance(sync.get("person"), dict):  # the check of the mouth as drawn: the person's model, or the generic one
        person = sync["person"]
        sync["person_r"] = person.get("r") if person.get("used") else person.get("r_generic")
    out = []
    for spec in _figure_specs():
        group, key, label, fmt, better = spec["group"], spec["key"], spec["label"], spec["format"], spec["better"]
        v = sources[spec["source"]].get(key)
        if v is None or isinstance(v, bool):
            continue
        try:
            text = fmt.format(v)
        except (ValueError, TypeError):
            text = str(v)
        if key == "av_offset_frames" and isinstance(v, (int, float)):
            text += f" ({1000 * v / fps:+.0f} ms)"
        graded = _grade(v, better, spec["good"], spec["fair"]) if better and isinstance(v, (int, float)) else ""
        if key == "detected_language" and quality.get("language"):
            graded = "good" if v == quality["language"] else "poor"
        out.append(Figure(group, label, text, graded, spec["note"]))
    return out


# --- plots -----------------------------------------------------------------------------------------


_DRAWING = threading.Lock()  # matplotlib is not thread-safe, and dub branches draw their plots as they end


def _drawn(path: Path, key: str, draw) -> Path | None:
    """`draw(path)` unless the plot at `path` was drawn from the same data (`key`, kept beside it)."""
    keep = Job(path.parent)
    if keep.fresh(path, key):
        return path
    with _DRAWING:
        out = draw(path)
    if out:
        keep.mark(path, key)
    return out


def _curves_digest(curves: dict) -> str:
    return digest({k: hashlib.sha256(np.ascontiguousarray(v, float).tobytes()).hexdigest() for k, v in curves.items()})


def _save_png(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96)
    return write_atomic(path, buf.getvalue())


def plot_timing(rows: list[Row], fit: Fit, path: Path) -> Path | None:
    """Per line: start and end error (s) against the tolerance band, and the stretch factor against its bounds."""
    from matplotlib.figure import Figure as MplFigure

    done = sorted((r for r in rows if r.out_start is not None), key=lambda r: r.start)
    if not done:
        return None
    x = np.arange(len(done))
    fig = MplFigure(figsize=(max(6.0, min(14.0, 0.32 * len(done) + 3)), 4.6), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.axhspan(-fit.tolerance, fit.tolerance, color="#2e7d3222", lw=0)
    ax1.bar(x - 0.2, [r.start_error for r in done], 0.4, label="start", color="#1f77b4")
    ax1.bar(x + 0.2, [r.end_error for r in done], 0.4, label="end", color="#ff7f0e")
    ax1.axhline(0, color="#444", lw=0.6)
    ax1.set_ylabel("error (s)\n+ = late")
    ax1.set_title(f"timing against the source slot (band: ±{fit.tolerance} s)", fontsize=10)
    ax1.legend(loc="upper right", fontsize=8, ncols=2)
    colors = ["#c62828" if r.concerns else "#455a64" for r in done]
    ax2.bar(x, [r.stretch for r in done], 0.6, color=colors, bottom=0)
    lo, hi = fit.stretch_min, fit.stretch_max
    for b in (lo, hi):
        ax2.axhline(b, color="#c62828", ls="--", lw=0.8)
    ax2.axhline(1.0, color="#444", lw=0.6)
    ax2.set_ylim(min(lo, min(r.stretch for r in done)) - 0.1, max(hi, max(r.stretch for r in done)) + 0.1)
    ax2.set_ylabel("stretch ×")
    ax2.set_title("time-stretch per line (dashed: bounds; red: line needs a look)", fontsize=10)
    step = max(1, len(done) // 30)
    ax2.set_xticks(x[::step], [r.id for r in done][::step], rotation=60, fontsize=7)
    return _save_png(fig, path)


def mouth_curves(job_dir: Path, lang: str, timing: TimingReport | None, duration: float, fps: float,
                 curves: dict | None) -> dict | None:
    """Curves over output time for the mouth plot: stored measured ones where lipsync kept them,
    else the target mouth opening from the aligned phones against the dubbed voice's loudness."""
    if curves and len(curves.get("times", [])):
        return curves
    voices = job_dir / lang / "voices.wav"
    if timing is None or not timing.phones or not voices.exists() or duration <= 0:
        return None
    from lipsync import coarticulation, visemes
    from lipsync.metrics import envelope

    t = np.arange(0.0, duration, 1.0 / fps)
    target = coarticulation.frame_curves(t, [(s, a, b) for s, a, b, _ in timing.phones])[:, visemes.JAW]
    return {"times": t, "target": target, "voice": envelope(voices, t)}


def plot_mouth(curves: dict, rows: list[Row], path: Path) -> Path:
    """Mouth opening (measured and/or wanted) against the dubbed voice's loudness over time, both scaled to 0..1."""
    from matplotlib.figure import Figure as MplFigure

    def unit(y) -> np.ndarray:
        y = np.asarray(y, float)
        lo, hi = np.nanpercentile(y, [2, 98]) if np.isfinite(y).any() else (0.0, 1.0)
        return np.clip((y - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(y)

    t = np.asarray(curves["times"], float)
    fig = MplFigure(figsize=(12, 3.0), layout="constrained")
    ax = fig.subplots()
    for r in rows:
        if r.out_start is not None:
            ax.axvspan(r.out_start, r.out_end, color="#c6282818" if r.concerns else "#90a4ae18", lw=0)
    ax.fill_between(t, 0, unit(curves["voice"]), color="#90caf9", lw=0, label="voice loudness")
    if "target" in curves:
        ax.plot(t, unit(curves["target"]), color="#e65100", lw=1.0, label="wanted mouth opening (from phones)")
    if "opening" in curves:
        ax.plot(t, unit(curves["opening"]), color="#1b5e20", lw=1.0, label="mouth opening on screen")
    ax.set_xlim(t[0] if len(t) else 0, t[-1] if len(t) else 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_yticks([])
    ax.set_title("mouth against voice over time (shaded: dubbed lines, red = needs a look)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8, ncols=3)
    return _save_png(fig, path)


# --- approval --------------------------------------------------------------------------------------


def _lang_dir(job_dir: Path, lang: str) -> Path:
    d = Path(job_dir) / lang
    if lang == "source" or not (d / "translation.json").is_file():
        have = ", ".join(job_languages(Path(job_dir))) or "none"
        raise DubError(f"no {lang!r} dub in {job_dir} (languages there: {have})")
    return d


def _digests(job_dir: Path, lang: str) -> dict[str, str]:
    job_dir = Path(job_dir)
    out = output_file(job_dir, load_source(job_dir).name, lang)
    return {"translation": file_digest(job_dir / lang / "translation.json"),
            "output": file_digest(out) if out else "", "output_file": out.name if out else ""}


def approve(job_dir: str | os.PathLike, lang: str) -> Path:
    """Mark `lang` reviewed: <lang>/approved.json keeps the digests of its translation and output now."""
    d = _lang_dir(Path(job_dir), lang)
    digests = _digests(Path(job_dir), lang)
    if not digests["output"]:
        raise DubError(f"no dubbed {lang} output in {job_dir} yet: run dub translate first, then approve")
    data = {"language": lang, "approved_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"), **digests}
    return write_atomic(d / "approved.json", json.dumps(data, indent=1).encode())


def approval(job_dir: str | os.PathLike, lang: str) -> tuple[str, str]:
    """("approved" | "changed since approval" | "not approved", detail in plain words)."""
    rec = _json(Path(job_dir) / lang / "approved.json")
    if not rec:
        return "not approved", ""
    now = _digests(Path(job_dir), lang)
    changed = [what for what in ("translation", "output") if rec.get(what) != now[what]]
    when = rec.get("approved_at", "")
    if changed:
        return "changed since approval", f"approved {when}; since then the {' and the '.join(changed)} changed"
    return "approved", f"approved {when}"


# --- the page --------------------------------------------------------------------------------------


@dataclass
class LanguageView:
    code: str
    name: str
    status: str
    status_detail: str
    output: str  # path relative to the page, "" if none
    subtitles: str  # .vtt relative to the page
    problems: list[str]  # the translation could not be read
    figures: list[Figure]
    rows: list[Row]
    plots: list[tuple[str, str, bool]]  # (file name beside the page, caption, full width)
    approve_cmd: str
    poster: str = ""  # the dubbed video's poster frame beside the page, "" if none

    @property
    def figure_groups(self) -> list[tuple[str, list[Figure]]]:
        return [(g, list(items)) for g, items in itertools.groupby(self.figures, key=lambda f: f.group)]

    @property
    def needs_look(self) -> int:
        return sum(bool(r.concerns) for r in self.rows)


def _link_source(src: Source, review_dir: Path) -> str:
    """A link to the input beside the page (so both file:// and the server reach it); "" if it is gone."""
    given = src.input
    if given is None or not given.is_file():
        return ""
    link = review_dir / f"source{given.suffix.lower()}"
    try:
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(given.resolve())
        return link.name
    except OSError:
        return Path(os.path.relpath(given.resolve(), review_dir)).as_posix()


def _language_view(src: Source, code: str, review_dir: Path, fit: Fit) -> LanguageView:
    import languages

    job_dir = src.job_dir
    try:
        lang = languages.get(code)
        name, cjk = lang.name, lang.subtitles.cjk
    except languages.UnknownLanguage:
        name, cjk = code, False
    out = output_file(job_dir, src.name, code)
    status, detail = approval(job_dir, code)
    quality, sync = _json(job_dir / code / "quality.json"), _json(job_dir / code / "sync.json")
    stored_curves = _json(job_dir / code / "sync_curves.json") or None
    problems = check_edit(job_dir, code)
    tr = _record(Translation, job_dir / code / "translation.json")
    timing = _record(TimingReport, job_dir / code / "timing.json")
    carried = _record(ProsodyReport, job_dir / code / "prosody.json")
    rows: list[Row] = []
    if tr is not None:
        spoken = spoken_texts(job_dir / f"{src.name}.{code}.srt", timing.lines if timing else [], cjk,
                              {ln.id: ln.text for ln in tr.lines})
        rows = line_rows(tr, timing, src, quality, sync, stored_curves, spoken, cjk, fit, carried)
    plots = []
    drawn_rows = [asdict(r) for r in rows]
    timing_key = digest(drawn_rows, fit.model_dump())
    if _drawn(review_dir / f"{code}-timing.png", timing_key, lambda p: plot_timing(rows, fit, p)):
        plots.append((f"{code}-timing.png", "Timing error and stretch per line", False))
    duration = src.info.duration if src.info else 0.0
    curves = mouth_curves(job_dir, code, timing, duration, src.fps, stored_curves)
    if curves is not None:
        _drawn(review_dir / f"{code}-mouth.png", digest(drawn_rows, _curves_digest(curves)),
               lambda p: plot_mouth(curves, rows, p))
        plots.append((f"{code}-mouth.png", "Mouth opening against the voice", True))
    vtt = job_dir / f"{src.name}.{code}.vtt"
    burned = (job_dir / code / "subtitles.ass").exists()  # drawn into the dub's picture: no second copy over it
    spoken_at = min((r.out_start for r in rows if r.out_start is not None), default=None)
    poster = posters.poster(out, review_dir / f"poster-{code}.jpg", posters.poster_time(duration, spoken_at)) \
        if out is not None and src.info is not None and src.info.has_video else ""
    return LanguageView(poster=poster, code=code, name=name, status=status, status_detail=detail,
                        output=f"../{out.name}" if out else "",
                        subtitles=f"../{vtt.name}" if vtt.exists() and not burned else "",
                        problems=problems, figures=figures(quality, sync, src.fps, carried.summary if carried else None), rows=rows, plots=plots,
                        approve_cmd=f"dub review {shlex.quote(str(job_dir))} --approve {code}")


def rerun_command(src: Source, codes: list[str]) -> str:
    """The `dub translate` command that made this job, to run again after edits."""
    given = src.summary.get("input") or (src.info.path if src.info else f"{src.name}.mp4")
    return f"dub translate {shlex.quote(str(given))} --to {','.join(codes)} --out {shlex.quote(str(src.job_dir.parent))}"


def draw_plots(job_dir: str | os.PathLike, code: str) -> None:
    """Draw one language's plots now, so that build() finds them drawn: a dub branch calls this as it ends,
    and the page at the end of the run then waits only for the plots of the languages still changing."""
    from .config import load as load_config

    job_dir = Path(job_dir)
    review_dir = job_dir / "review"
    review_dir.mkdir(exist_ok=True)
    _language_view(load_source(job_dir), code, review_dir, load_config().fit)


def build(job_dir: str | os.PathLike) -> Path:
    """Write job_dir/review/index.html (self-contained; videos and plots by relative path) and its plots
    (those drawn from the same data before are kept)."""
    import jinja2

    from .config import load as load_config

    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise DubError(f"no job folder at {job_dir}")
    src = load_source(job_dir)
    codes = job_languages(job_dir)
    if src.info is None and not codes:
        raise DubError(f"{job_dir} is not a dub job folder (no source/media.json and no translations)")
    review_dir = job_dir / "review"
    review_dir.mkdir(exist_ok=True)
    fit = load_config().fit
    views = [_language_view(src, c, review_dir, fit) for c in codes]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["secs"] = lambda v: "" if v is None else f"{v:.2f}"
    env.filters["signed"] = lambda v: "" if v is None else f"{v:+.2f}"
    source_poster = ""
    if src.info is not None and src.info.has_video:
        first = min((s.start for s in src.transcript.segments), default=None) if src.transcript else None
        source_poster = posters.poster(src.input, review_dir / "poster-source.jpg",
                                       posters.poster_time(src.info.duration, first))
    html = env.get_template("page.html.j2").render(
        title=src.name, src=src, source_media=_link_source(src, review_dir), views=views, source_poster=source_poster,
        has_video=bool(src.info and src.info.has_video), rerun=rerun_command(src, codes),
        job_dir=str(job_dir), built=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        css=(ASSETS / "review.css").read_text(), js=(ASSETS / "review.js").read_text(),
        fit=fit, thresholds={"word_prob": LOW_WORD_PROB, "logprob": LOW_LOGPROB, "back": LOW_BACK_MATCH,
                             "sync": LOW_SYNC_R})
    return write_atomic(review_dir / "index.html", html.encode())
