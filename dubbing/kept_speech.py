"""Lines a dub leaves in the speaker's own voice, with their own lips.

Two kinds of line are not spoken in a new voice:
- a line no backend translated usably (flag "untranslated": every reply was the model's talk about
  translating; "untranslated: no backend for <lang>-><target>": a stretch in a language no backend
  serves). Left silent, the dub lost what was said there (stop 36: a Portuguese line the LLM answered
  only with "¡Por supuesto! Aquí tienes la traducción…");
- a line already in the target language (flag "kept: in <lang>", its text the source's): spoken again
  by another voice, it lost the person's own voice for nothing.

Their speech is the source's sound less its background (source/audio48k.wav - source/background.wav:
the separated speech, with what the bleed filter took out of the background), cut at the line's source
times widened by PAD s, never past half the silence to another line. The lips (lipsync.analysis
`kept`) leave those faces as they are over these spans, so voice and mouth are the source's own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import media
from .schema import Line

PAD = 0.1  # s kept before and after a line's source times (word times clip soft onsets and endings)


def kept(lines: list[Line]) -> list[Line]:
    """The lines of a translation that the dub says in the speaker's own voice (see the module)."""
    def failed(line: Line) -> bool:
        return not line.text.strip() and any(f == "untranslated" or f.startswith("untranslated:") for f in line.flags)

    def same(line: Line) -> bool:
        return line.text == line.source and any(f.startswith("kept: in") for f in line.flags)

    return [ln for ln in lines if ln.source.strip() and (failed(ln) or same(ln))]


def spans(keep: list[Line], every: list[Line], pad: float = PAD) -> list[tuple[float, float]]:
    """Each line of `keep` as (start s, end s): its source times widened by `pad` s, but not past the
    middle of the silence to any other line of `every` (which it does not overlap)."""
    out = []
    for ln in keep:
        lo, hi = ln.start - pad, ln.end + pad
        for other in every:
            if other.id == ln.id:
                continue
            if other.end <= ln.start:
                lo = max(lo, (other.end + ln.start) / 2)
            elif other.start >= ln.end:
                hi = min(hi, (ln.end + other.start) / 2)
        out.append((max(0.0, lo), hi))
    return out


def clips(audio: Path, background: Path, spans: list[tuple[float, float]]) -> list[tuple[float, np.ndarray]]:
    """(start s, mono samples at the files' rate): the sound of WAV `audio` less WAV `background` (the
    same rate and timeline) over each span (start s, end s)."""
    import soundfile as sf

    out = []
    with sf.SoundFile(str(audio)) as full, sf.SoundFile(str(background)) as bg:
        if full.samplerate != bg.samplerate:
            raise ValueError(f"{audio} is at {full.samplerate} Hz and {background} at {bg.samplerate} Hz")
        rate = full.samplerate
        for a, b in spans:
            i, j = int(round(a * rate)), int(round(b * rate))
            if j <= i:
                continue
            speech = media.wav_span(full, i, j).mean(axis=1) - media.wav_span(bg, i, j).mean(axis=1)
            out.append((i / rate, speech.astype(np.float32)))
    return out
