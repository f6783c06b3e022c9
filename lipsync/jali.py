"""JALI-style jaw channel: the jaw follows the voice's loudness, the lips follow the visemes.

Edwards, Landreth, Fiume & Singh (2016), "JALI: an animator-centric viseme model for expressive
lip synchronization", separate the jaw (JA) from the lips (LI): the lip shapes come from the
phonemes, while how far the jaw opens follows how loud the voice is, since a louder vowel is spoken
with a more open jaw. Here that is done per frame: the viseme jaw parameter is blended with the
dubbed voice's own speech-band (300-3400 Hz) loudness over the frame's interval. Closures (/p b m/)
are a separate parameter and are not touched, and in the voice's pauses the loudness is near
zero, so the mouth still rests there.

This is an animation design, not a change of the measure. But the sync metric (lipsync.metrics)
correlates mouth opening with the same band's loudness, so part of what it reports for a dub is
now true by construction; read it with that in mind. On vr_face1/vr_face2 to es/ja the warp fix
alone gave 140/44/44/38 % of the source's confidence, this channel alone 141/89/65/88 %, both
216/158/95/84 %; with a loud level per utterance and the voices' new pitch shift, 221/180/112/111 %
(bench/sync.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import visemes as V

WEIGHT = 0.25  # default share of the jaw taken from the voice (configs/default.yaml lipsync.jaw_from_voice); at
# 0.5 the mouth predicted from phones followed real mouths less well (stop 32, bench/visemes_fit.py: tuning clips
# r 0.486 against 0.525 at 0.25, held out 0.315 against 0.346)
LOUD_PERCENTILE = 95.0  # the voice's loud level: this percentile of its frames' loudness
VOICED_DB = 40.0  # dB under the loud level below which a frame counts as silent (not used for the loud level)
QUIET_DB = 12.0  # an utterance's loud level is taken as at least this far under the whole track's


def activation(level: np.ndarray, times: np.ndarray | None = None,
               pauses: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """Per-frame jaw activation 0..1 from per-frame voice loudness (linear RMS, any scale) at frame
    `times` (s): the loudness over its utterance's loud level (LOUD_PERCENTILE of its voiced frames),
    clipped to 1, so quiet consonants barely open the jaw and stressed vowels open it fully.

    Utterances are the stretches between the voice's `pauses` (s, analysis.pauses); frames inside a
    pause get 0. Each utterance has its own loud level, so editing one line of a dub changes the jaw
    only where that line is spoken: with one level for the whole track, a new last line on vr_face1
    moved the jaw by up to 0.09 in the first 3 s and re-rendered 133 of 135 frames. An utterance far
    quieter than the track's loud level (a breath) is not raised to full opening: its level is at
    least QUIET_DB under the track's. All zeros for a silent voice."""
    level = np.nan_to_num(np.asarray(level, np.float64), nan=0.0).clip(0)
    out = np.zeros(level.shape)
    if not level.size or level.max() <= 0:
        return out
    track = _loud(level)
    group = np.zeros(level.shape, int)
    if times is not None and len(pauses):
        t = np.asarray(times, np.float64)
        for a, b in pauses:
            group[t >= b] += 1
            group[(t >= a) & (t < b)] = -1 - len(pauses)  # in a pause: stays 0
    for g in np.unique(group[group >= 0]):
        m = group == g
        if level[m].max() > 0:
            out[m] = level[m] / max(_loud(level[m]), track * 10 ** (-QUIET_DB / 20))
    return np.clip(out, 0.0, 1.0)


def _loud(level: np.ndarray) -> float:
    """The loud level of non-negative loudness values: LOUD_PERCENTILE of those within VOICED_DB of the max."""
    voiced = level[level > level.max() * 10 ** (-VOICED_DB / 20)]
    return float(np.percentile(voiced, LOUD_PERCENTILE))


def drive_jaw(art: np.ndarray, act: np.ndarray, weight: float) -> np.ndarray:
    """Articulatory parameters (T, len(PARAMS)) with the jaw blended towards the activation (T,)
    0..1 by `weight` 0..1: jaw = (1 - weight) * viseme jaw + weight * activation. The other
    parameters, closure included, are returned as they were."""
    out = np.array(art, np.float64, copy=True)
    w = float(np.clip(weight, 0.0, 1.0))
    if w > 0:
        out[:, V.JAW] = (1 - w) * out[:, V.JAW] + w * np.clip(act, 0.0, 1.0)
    return out
