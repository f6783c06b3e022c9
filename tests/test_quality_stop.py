"""The quality check runs beside the lips (dubbing.pipeline.dub_language): when they fail, or the user
presses Ctrl-C, it stops at its next segment instead of back-transcribing the rest of the dub; as it
goes, it says how far it is."""

import threading

import numpy as np
import pytest

import languages
from dubbing import espeak, media, pipeline
from dubbing.config import load
from dubbing.schema import FittedLine, Line


def _dub(tmp_path):
    y, sr, _ = espeak.synthesize("Hola, me llamo Ana y vivo en Madrid. Mañana vamos a la playa con mis amigos.",
                                 "es", rate_wpm=150)
    path = tmp_path / "dub.wav"
    media.write_wav(path, y.astype(np.float32), sr)
    end = len(y) / sr
    line = Line(id="L0", speaker="SPEAKER_00", start=0.0, end=end, text="x", source="x", language="es")
    fitted = FittedLine(line_id="L0", speaker="SPEAKER_00", slot_start=0.0, slot_end=end, start=0.0, end=end,
                        speed=1.0, stretch=1.0)
    return path, [line], [fitted], {"L0": "Hola, me llamo Ana y vivo en Madrid. Mañana vamos a la playa con mis amigos."}


def test_the_check_back_transcribes_the_dub_and_says_how_far_it_is(tmp_path):
    """Its share of the language's bar is credited as its segments are heard, not only at its end."""
    path, lines, fitted, text = _dub(tmp_path)
    heard: list[float] = []
    q = pipeline.check_quality(path, lines, fitted, text, languages.get("es"), load(None), stop=threading.Event(),
                               progress=heard.append)
    assert q["cer"] < 0.5
    assert heard and heard == sorted(heard) and 0.8 <= heard[-1] <= 1.0


def test_the_check_stops_at_its_next_segment_once_asked(tmp_path):
    path, lines, fitted, text = _dub(tmp_path)
    stop = threading.Event()
    stop.set()
    with pytest.raises(pipeline._Stopped):
        pipeline.check_quality(path, lines, fitted, text, languages.get("es"), load(None), stop=stop)
