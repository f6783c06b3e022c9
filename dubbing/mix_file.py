"""The dubbed soundtrack written a window at a time: the voices' track and the mix, never held whole.

dubbing.mix does the sums on windows it reads (place_span, mix.mix_of, Gain); this module gives it the
fitted clips and the background file, and writes voices.wav and dub.wav window by window (16-bit
WAV, each appearing whole when done). Memory stays flat in the video's length: the whole-array mix
of a 10-minute dub held about 2 GB at its peak, growing with length.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import soundfile as sf

from . import media, mix, stems as stems_mod
from .config import Mix


def write(clips: list[tuple[float, np.ndarray]], background_wav: Path, n: int, sample_rate: int, speech_lufs: float,
          cfg: Mix, voices_out: Path, dub_out: Path, stems: tuple[Path, list[str]] | None = None) -> Path:
    """voices.wav (the clips (start s, mono samples at `sample_rate`) placed and brought to `speech_lufs`)
    and dub.wav (those voices over the ducked background, mixed to `cfg`), both `n` samples long at
    `sample_rate` Hz, the background being cut or padded with silence to that length. Returns dub_out.
    `stems`: (folder, each clip's speaker) to write the stems there too (dubbing.stems)."""
    placed = lambda a, b: mix.place_span(clips, a, b, sample_rate)  # noqa: E731
    voice_gain = mix.normalize_gain_of(placed, n, 1, sample_rate, speech_lufs)
    with contextlib.ExitStack() as stack:
        out = media.wav_writer(stack, voices_out, sample_rate, 1)
        for a, b in mix.spans(n, sample_rate):
            out.write(np.clip(mix._scaled(placed(a, b), voice_gain(a, b)), -1, 1))
    with sf.SoundFile(str(voices_out)) as voices, sf.SoundFile(str(background_wav)) as background, \
            contextlib.ExitStack() as stack:
        if background.samplerate != sample_rate:
            raise ValueError(f"{background_wav} is at {background.samplerate} Hz, not {sample_rate}")
        channels = background.channels if background.channels > 1 else 0  # 0: a mono background, as read_wav gives
        parts, gain = mix.mix_of(lambda a, b: media.wav_span(voices, a, b, mono=True),
                                 lambda a, b: media.wav_span(background, a, b, mono=not channels),
                                 n, channels, sample_rate, cfg)
        out = media.wav_writer(stack, dub_out, sample_rate, max(channels, 1))
        stem_out = stems_mod.Writer(stack, stems[0], clips, stems[1], voice_gain, channels, sample_rate) \
            if stems else None
        for a, b in mix.spans(n, sample_rate):
            v, d = parts(a, b)
            g = gain(a, b)
            mixed = np.clip(mix._scaled(v + d, g), -1, 1)
            out.write(mixed)
            if stem_out:
                stem_out.write(a, b, v, d, g, mixed)
    return dub_out
