"""Word boundaries from pocketsphinx's forced alignment, with the en-US acoustic model and dictionary its
wheel carries: the times dubbing.align anchors its phones to, in a language whose data names this
aligner (languages/<code>.yaml: word_aligner).

A word the dictionary lacks (a name, a number written in digits) is added with the phones espeak-ng
gives it, mapped to the model's phone set by the language's table. Measured by bench/align.py (GRID)."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import numpy as np

from .constants import SPEECH_RATE

FRAME = 0.01  # seconds per pocketsphinx frame
_LOCK = threading.Lock()  # one decoder per process, one utterance at a time
_EDGE = re.compile(r"^[^\w']+|[^\w']+$")  # punctuation around a word (an apostrophe inside it stays)


@lru_cache(maxsize=1)
def _decoder():
    from pocketsphinx import Decoder

    return Decoder(lm=None, samprate=SPEECH_RATE, bestpath=False, loglevel="FATAL")


def spoken_form(word: str) -> str:
    """A text word as the dictionary spells it: lower case, no punctuation around it ("" if none left)."""
    return _EDGE.sub("", word.lower())


def word_spans(audio: np.ndarray, words: list[str], pronunciations: dict[int, list[str]],
               phone_map: dict[str, str]) -> list[tuple[float, float] | None] | None:
    """(start, end) s of each of `words` (a text split on whitespace) in 16 kHz mono `audio`; None for a
    word with nothing to say (punctuation only). `pronunciations`: espeak-ng's IPA phones of word i, used
    for a word the dictionary lacks, through `phone_map`. None when the alignment cannot be made (a
    missing word whose phones do not map, or no path through the audio): the caller keeps its own times."""
    said = [(i, spoken_form(w)) for i, w in enumerate(words)]
    said = [(i, w) for i, w in said if w]
    if not said:
        return None
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    with _LOCK:
        dec = _decoder()
        for i, w in said:
            if dec.lookup_word(w) is None:
                arpabet = [phone_map.get(p) for p in pronunciations.get(i, [])]
                if not arpabet or None in arpabet:
                    return None
                dec.add_word(w, " ".join(arpabet), True)
        try:
            dec.set_align_text(" ".join(w for _, w in said))
            for second_pass in (False, True):  # the words first, then their phones and times
                if second_pass:
                    dec.set_alignment()
                dec.start_utt()
                dec.process_raw(pcm, full_utt=True)
                dec.end_utt()
            found = [(w.name, w.start, w.duration) for w in dec.get_alignment() or []]
        except RuntimeError:
            return None
    found = [(name, start, dur) for name, start, dur in found if name not in ("<s>", "</s>", "<sil>")
             and not name.startswith(("+", "["))]
    if len(found) != len(said):
        return None
    out: list[tuple[float, float] | None] = [None] * len(words)
    for (i, _), (_, start, dur) in zip(said, found):
        out[i] = (start * FRAME, (start + dur) * FRAME)
    return out
