"""A source in more than one language: the language of each speech stretch, and its transcription.

Interviews quote clips, interpreters follow speakers, people switch mid-conversation. After the file's
language is settled (dubbing/langid.py), each speech stretch (a VAD region, seconds) long enough to
judge and in doubt is asked again; a stretch the detector hears in another language is decoded in both
and switches only if the other reading is the more likely one. Shorter stretches take their neighbours'
language. The doubt comes from a first transcription in the file's language: speech forced into the
wrong language comes out as few or improbable words, or as a fluent translation whose words are only
middling sure (Whisper base forced into English: Portuguese at a mean word probability of 0.61-0.69,
synthesized Spanish 0.50-0.83, English read as English mostly 0.8-0.99), so a stretch whose words are
clear costs no detector pass (each one encodes 30 s of audio, ~3.7 CPU-seconds with whisper base).
Consecutive stretches of one language form a run, transcribed in that language; every segment, word
and (later) line carries its language, and translation translates each line from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import Field

from . import langid
from .config import ASR, LanguageId
from .errors import DubError
from .schema import Line, Record, Segment, Transcript, Translation, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz


class Stretch(Record):
    """One speech region and the language it is in."""

    start: float  # seconds
    end: float
    language: str
    probability: float = 0.0  # the detector's, for `language`; 0 if not asked (too short, or clear)
    heard: float | None = None  # mean word probability of the first transcription, in the file's language
    words: int | None = None  # words that transcription found in the stretch
    checked: list[langid.Candidate] = Field(default_factory=list)  # the decode check, where one ran


class SourceLanguages(Record):
    """source/langid.json: the file's language decision and the language of each stretch."""

    decision: langid.LanguageDecision
    stretches: list[Stretch] = Field(default_factory=list)

    @property
    def languages(self) -> list[str]:
        return sorted({s.language for s in self.stretches} | {self.decision.language})


def doubtful(region: tuple[float, float], words: Sequence[Word], cfg: LanguageId) -> tuple[bool, float, int]:
    """Whether a first transcription in the file's language leaves `region` (seconds) in doubt: fewer than
    `cfg.doubt_words_per_second` words in it, or their mean probability under `cfg.doubt_word_prob`.
    Returns (doubt, mean word probability, word count)."""
    s, e = region
    inside = [w.probability for w in words if s - 0.2 <= (w.start + w.end) / 2 <= e + 0.2]
    mean = float(np.mean(inside)) if inside else 0.0
    return len(inside) < cfg.doubt_words_per_second * (e - s) or mean < cfg.doubt_word_prob, mean, len(inside)


def stretch_languages(audio: np.ndarray, regions: Sequence[tuple[float, float]], main: str,
                      detect: langid.Detector, decode: langid.Decoder, cfg: LanguageId,
                      first: Transcript | None = None, ask: Sequence[bool] | None = None) -> list[Stretch]:
    """The language of each speech region of 16 kHz `audio`, given the file's language `main`.
    `ask`: regions the detector is asked on however clear their first transcription (see `pieces`).

    The detector is asked on every region of `cfg.stretch_min` seconds or more that the `first`
    transcription (in `main`; None: every region) leaves in doubt; a clear region is evidence for `main`.
    A language the detector gives
    `cfg.switch_prob` somewhere becomes a candidate, and the regions are labelled by the most probable
    path (`label`). Whisper base on a 1-2 s region is often unsure (ls_demo2's Portuguese heard as
    Croatian at 0.64), and forced into the wrong language it translates fluently, so each run of another
    language is checked as a whole: decoded in it, in `main` and in the other candidates, it takes the
    language whose reading wins (`main` if none reads above `cfg.floor`). A piece of ls_demo2's
    Portuguese heard as Greek at 0.75 is read best in Portuguese."""
    clips = [audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in regions]
    words = [w for seg in first.segments for w in seg.words] if first is not None else []
    heard = [doubtful(r, words, cfg) if first is not None else (True, None, None) for r in regions]
    forced = list(ask) if ask is not None else [False] * len(regions)
    probs = [({main: 1.0} if not (doubt or must) else detect(c)) if e - s >= cfg.stretch_min else {}
             for c, (s, e), (doubt, _, _), must in zip(clips, regions, heard, forced)]
    others = sorted({l for p in probs for l, v in p.items() if l != main and v >= cfg.switch_prob})
    weights = [min(e - s, cfg.window) for s, e in regions]
    langs = label(probs, weights, [main, *others], cfg.switch_cost)
    out = [Stretch(start=round(s, 3), end=round(e, 3), language=l, probability=round(p.get(l, 0.0), 4),
                   heard=None if mean is None else round(mean, 3), words=n)
           for (s, e), l, p, (_, mean, n) in zip(regions, langs, probs, heard)]
    i = 0
    while i < len(out):  # each run of another language, checked whole
        j = i
        while j + 1 < len(out) and out[j + 1].language == out[i].language:
            j += 1
        if out[i].language != main:  # read in its language, the file's and the others found in the file
            tried = [main, out[i].language, *(o for o in others if o != out[i].language)]
            cands = langid.check_candidates(np.concatenate(clips[i:j + 1]), tried, decode, cfg)
            out[i].checked = cands
            best = main if cands[0].score < cfg.floor else cands[0].language
            for st in out[i:j + 1]:
                st.language = best
        i = j + 1
    return out


def pieces(regions: Sequence[tuple[float, float]], words: Sequence[Word], least: float, jump: float,
           step: float = 0.1) -> list[tuple[float, float]]:
    """Speech `regions` (start s, end s) cut where the first transcription's clarity changes: its word
    probability at each `step` s (0 where it heard no word) averages at least `jump` more on one side
    of the cut than the other, both sides `least` s or longer; cut again within each side. A VAD region
    runs on through a hard cut between two shots that has no pause, and one region then holds two
    languages, one heard clearly in the file's language and one not (forced into English, Portuguese
    comes out at word probabilities of 0.3-0.6, or not at all)."""
    out: list[tuple[float, float]] = []
    for s, e in regions:
        t = np.arange(s, e, step) + step / 2
        clear = np.zeros(len(t))
        for w in words:
            if w.end > s and w.start < e:
                clear[(t >= w.start) & (t < w.end)] = w.probability
        out += [(round(float(t[a] - step / 2) if a else s, 3), round(float(t[b - 1] + step / 2) if b < len(t) else e, 3))
                for a, b in _cuts(clear, 0, len(t), int(round(least / step)), jump)]
    return out


def _cuts(x: np.ndarray, a: int, b: int, least: int, jump: float) -> list[tuple[int, int]]:
    """x[a:b] as index spans cut at the changes of mean `pieces` describes (binary segmentation)."""
    k = np.arange(a + least, b - least + 1)
    if len(k) == 0:
        return [(a, b)]
    total, csum = x[a:b].sum(), np.cumsum(x[a:b])
    left = csum[k - a - 1] / (k - a)
    right = (total - csum[k - a - 1]) / (b - k)
    gain = np.abs(left - right) * np.sqrt((k - a) * (b - k) / (b - a))
    i = int(np.argmax(gain))
    if abs(left[i] - right[i]) < jump:
        return [(a, b)]
    return _cuts(x, a, int(k[i]), least, jump) + _cuts(x, int(k[i]), b, least, jump)


def label(probs: Sequence[dict[str, float]], weights: Sequence[float], states: Sequence[str],
          switch_cost: float) -> list[str]:
    """The most probable language per region (Viterbi): each region's evidence is `weights[i]` (seconds)
    times the log of the detector's probability of the language (floored at 1e-4; an empty dict is no
    evidence), and every change of language costs `switch_cost`."""
    if not probs:
        return []
    k = len(states)

    def emit(i: int) -> np.ndarray:
        if not probs[i]:
            return np.zeros(k)
        return weights[i] * np.log(np.maximum([probs[i].get(s, 0.0) for s in states], 1e-4))

    # on a tie the language before a stretch without evidence lasts through it (the change comes late)
    order = [[i for i in range(k) if i != j] + [j] for j in range(k)]
    score = emit(0)
    back = []
    for i in range(1, len(probs)):
        stay = score[:, None] - switch_cost * (1 - np.eye(k))  # [from, to]
        back.append(np.array([order[j][int(np.argmax(stay[order[j], j]))] for j in range(k)]))
        score = stay.max(axis=0) + emit(i)
    path = [int(np.argmax(score))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return [states[j] for j in reversed(path)]


def runs(stretches: Sequence[Stretch], duration: float) -> list[tuple[float, float, str]]:
    """Consecutive stretches of one language joined into runs (start, end seconds, language) that cover
    [0, duration]: a boundary between two languages lies halfway through the pause between them."""
    if not stretches:
        return []
    out: list[list] = []
    for prev, s in zip([None, *stretches[:-1]], stretches):
        if out and s.language == out[-1][2]:
            continue
        cut = 0.0 if prev is None else round((prev.end + s.start) / 2, 3)
        if out:
            out[-1][1] = cut
        out.append([cut, duration, s.language])
    return [tuple(r) for r in out]


def shift(seg: Segment, offset: float, id: int, language: str) -> Segment:
    """`seg` (times from a clip starting at `offset` seconds) on the source's timeline, in `language`."""
    return seg.model_copy(update={
        "id": id, "start": round(seg.start + offset, 3), "end": round(seg.end + offset, 3), "language": language,
        "words": [w.model_copy(update={"start": round(w.start + offset, 3), "end": round(w.end + offset, 3),
                                       "language": language}) for w in seg.words]})


def transcribe_source(audio: np.ndarray, asr: ASR, cfg: LanguageId, language: str | None = None,
                      progress: Callable[[float], None] | None = None,
                      record: Path | None = None, run_parts: Callable[[Callable, list], list] | None = None
                      ) -> Transcript:
    """Transcribe 16 kHz mono source audio, each stretch in its language (`cfg.mode` "stretch"), in one
    identified language ("file"), or as Whisper alone decides ("whisper"). `language` given: that one,
    unchecked. The language evidence is saved to `record` (source/langid.json) when given. `run_parts`:
    how the pieces of a transcription in a known language run (transcribe.transcribe)."""
    from . import transcribe, vad

    if cfg.mode not in ("file", "stretch", "whisper"):
        raise DubError(f"language_id.mode must be stretch, file or whisper, not {cfg.mode!r}")
    regions = [] if language or cfg.mode == "whisper" else vad.speech_regions(audio)
    if not regions:  # told, or the old single call, or no speech (which transcription then reports)
        t = transcribe.transcribe(audio, asr, language, progress, run_parts=run_parts)
        return t.model_copy(update={"segments": [shift(s, 0.0, s.id, t.language) for s in t.segments]})
    model = transcribe.load(asr.model, asr.compute_type)
    detect, decode = langid.whisper_detector(model), langid.whisper_decoder(model)
    decision = langid.identify(audio, regions, detect, decode, cfg)
    duration = len(audio) / SAMPLE_RATE
    # in stretch mode the first pass's gaps are evidence (a language forced on another's speech often gives
    # no words), so speech it skipped is decoded again only once it stands as the transcript
    first = transcribe.transcribe(audio, asr, decision.language, progress, run_parts=run_parts,
                                  fill=cfg.mode != "stretch")
    cut = pieces(regions, [w for seg in first.segments for w in seg.words], cfg.stretch_min, cfg.clarity_jump)
    # both sides of a cut are asked: the clear one may be a fluent translation. That is not enough to turn
    # the cut on by default: on bench/long.py's program a 2.7 s piece cut from ls_demo2's Portuguese ("after
    # the first week I did the visto"), asked alone, was heard as English (config: clarity_jump)
    whole = {(round(a, 3), round(b, 3)) for a, b in regions}
    stretches = (stretch_languages(audio, cut, decision.language, detect, decode, cfg, first,
                                   ask=[(round(a, 3), round(b, 3)) not in whole for a, b in cut])
                 if cfg.mode == "stretch" else [])
    if record is not None:
        SourceLanguages(decision=decision, stretches=stretches).save(record)
    parts = runs(stretches, duration)
    if len(parts) <= 1:  # one language: the first transcription stands
        stands = transcribe.fill(audio, first, asr) if cfg.mode == "stretch" else first
        parts, segments = [], [shift(s, 0.0, s.id, decision.language) for s in stands.segments]
    else:  # the whole file again, each run in its language (speech after a wrongly forced stretch is often lost)
        log.info("the source switches language %d times: transcribing each run in its own", len(parts) - 1)
        segments = []
    for start, end, lang in parts:
        clip = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        # speech a run of the file's language left without words is decoded again (transcribe.fill); in a run
        # of another language it may be the file's language the run check could not cut out, and decoded
        # again in the run's language it came out as a translation (pa_sample + fleurs_fr cut hard, stop 37)
        part = transcribe.transcribe(clip, asr, lang, fill=lang == decision.language)
        segments += [shift(s, start, len(segments) + i, lang) for i, s in enumerate(part.segments)]
    return Transcript(language=decision.language, language_probability=decision.probability,
                      duration=round(duration, 3), model=asr.model, segments=segments)


def translate_by_language(lines: list[Line], main: str, target, cfg, translate: Callable) -> Translation:
    """Translate each line from its own language (`line.language`, else `main`) with
    `translate(lines, source, target, cfg) -> Translation`. Lines already in the target language keep
    their words (flag "kept: in <lang>"); a non-main language no backend serves is left untranslated
    and flagged "untranslated: no backend for <lang>-><target>", while the main language's stops the run."""
    groups: dict[str, list[int]] = {}
    for i, l in enumerate(lines):
        groups.setdefault(l.language or main, []).append(i)
    out = [l.model_copy(deep=True) for l in lines]
    used: list[str] = []
    for lang, idx in sorted(groups.items(), key=lambda kv: kv[0] != main):
        if lang == target.code:
            for i in idx:
                out[i].text = out[i].source
                out[i].flags.append(f"kept: in {lang}")
            continue
        try:
            tr = translate([lines[i] for i in idx], lang, target, cfg)
        except DubError:
            if lang == main:
                raise
            for i in idx:
                out[i].text = ""
                out[i].flags.append(f"untranslated: no backend for {lang}->{target.code}")
            continue
        for i, l in zip(idx, tr.lines):
            out[i] = l
        used += [b for b in tr.backend.split("+") if b not in used]
    return Translation(source_language=main, language=target.code, backend="+".join(used) or "none", lines=out)
