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
216/158/95/84 %.
"""

from __future__ import annotations

import numpy as np

from . import visemes as V

WEIGHT = 0.5  # default share of the jaw taken from the voice (configs/default.yaml lipsync.jaw_from_voice)
LOUD_PERCENTILE = 95.0  # the voice's loud level: this percentile of its frames' loudness
VOICED_DB = 40.0  # dB under the loud level below which a frame counts as silent (not used for the loud level)


def activation(level: np.ndarray) -> np.ndarray:
    """Per-frame jaw activation 0..1 from per-frame voice loudness (linear RMS, any scale): the
    loudness over the voice's loud level (LOUD_PERCENTILE of its voiced frames), clipped to 1, so
    quiet consonants barely open the jaw and stressed vowels open it fully. All zeros for a silent
    voice."""
    level = np.nan_to_num(np.asarray(level, np.float64), nan=0.0).clip(0)
    if not level.size or level.max() <= 0:
        return np.zeros(level.shape)
    voiced = level[level > level.max() * 10 ** (-VOICED_DB / 20)]
    loud = float(np.percentile(voiced, LOUD_PERCENTILE))
    return np.clip(level / loud, 0.0, 1.0)


def drive_jaw(art: np.ndarray, act: np.ndarray, weight: float) -> np.ndarray:
    """Articulatory parameters (T, len(PARAMS)) with the jaw blended towards the activation (T,)
    0..1 by `weight` 0..1: jaw = (1 - weight) * viseme jaw + weight * activation. The other
    parameters, closure included, are returned as they were."""
    out = np.array(art, np.float64, copy=True)
    w = float(np.clip(weight, 0.0, 1.0))
    if w > 0:
        out[:, V.JAW] = (1 - w) * out[:, V.JAW] + w * np.clip(act, 0.0, 1.0)
    return out
