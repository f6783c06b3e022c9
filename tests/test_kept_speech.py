"""Lines a dub leaves in the speaker's own voice (dubbing.kept_speech): which lines, over which span, and
the speech cut from the source's sound less its background."""

import numpy as np
import soundfile as sf

from dubbing import kept_speech
from dubbing.schema import Line


def line(i: int, start: float, end: float, text: str, flags: list[str], source: str = "olá") -> Line:
    return Line(id=f"L{i}", speaker="S0", start=start, end=end, source=source, text=text, flags=flags)


def test_failed_and_already_said_lines_are_kept_and_edited_or_translated_ones_are_not():
    lines = [line(0, 0, 1, "", ["guard:chatter", "untranslated"]),
             line(1, 1, 2, "", ["untranslated: no backend for xx->es"]),
             line(2, 2, 3, "olá", ["kept: in pt"]),
             line(3, 3, 4, "hola", []),                       # translated
             line(4, 4, 5, "hola", ["untranslated"]),         # a person typed a translation on the review page
             line(5, 5, 6, "oi, olá", ["kept: in pt"]),       # ... or changed the kept words
             line(6, 6, 7, "", []),                           # left empty on purpose: silent, not the source
             line(7, 7, 8, "", ["untranslated"], source=" ")]  # nothing was said
    assert [ln.id for ln in kept_speech.kept(lines)] == ["L0", "L1", "L2"]


def test_a_kept_span_is_padded_but_stops_half_way_to_its_neighbours():
    every = [line(0, 0.0, 1.0, "a", []), line(1, 1.1, 2.0, "", ["untranslated"]), line(2, 3.0, 4.0, "b", []),
             line(3, 2.05, 2.5, "c", [])]  # another speaker breaking in 50 ms after it
    assert kept_speech.spans([every[1]], every, pad=0.1) == [(1.05, 2.025)]
    alone = [line(0, 0.05, 1.0, "", ["untranslated"])]
    assert kept_speech.spans(alone, alone, pad=0.1) == [(0.0, 1.1)]


def test_the_clip_is_the_sound_less_its_background(tmp_path):
    rate = 48000
    t = np.arange(2 * rate) / rate
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.5)).astype(np.float32)
    music = 0.2 * np.sin(2 * np.pi * 50 * t)
    background = np.stack([music, 0.5 * music], 1).astype(np.float32)
    sf.write(tmp_path / "full.wav", background + voice[:, None], rate, subtype="FLOAT")
    sf.write(tmp_path / "bg.wav", background, rate, subtype="FLOAT")
    [(start, clip)] = kept_speech.clips(tmp_path / "full.wav", tmp_path / "bg.wav", [(0.5, 1.5)])
    assert start == 0.5 and len(clip) == rate
    assert np.abs(clip - voice[rate // 2:rate // 2 + rate]).max() < 1e-5
