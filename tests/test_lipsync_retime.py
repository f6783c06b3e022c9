"""Same-words re-sync: the time map from a replacement voice to the source's, and the lips it picks."""

import numpy as np

from lipsync import retime as RT
from lipsync.analysis import _with_own_motion

RATE = 16000


def syllables(seed: int, n: int = 12, length: float = 0.22) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A voice-like test signal: n noisy harmonic 'syllables' of random pitch and formant with short gaps;
    and each syllable's (start s, end s)."""
    rng = np.random.default_rng(seed)
    out, spans, t = [], [], 0.0
    for _ in range(n):
        k = int(length * RATE)
        x = np.arange(k) / RATE
        f0, formant = rng.uniform(90, 220), rng.uniform(500, 2500)
        s = sum(np.sin(2 * np.pi * h * f0 * x) / h * np.exp(-((h * f0 - formant) / 600) ** 2) for h in range(1, 30))
        s = s * np.hanning(k) + 0.02 * rng.standard_normal(k)
        gap = np.zeros(int(rng.uniform(0.05, 0.12) * RATE))
        out += [s, gap]
        spans.append((t, t + length))
        t += length + len(gap) / RATE
    return np.concatenate(out).astype(np.float32), spans


def words(spans, names):
    return [(w, a, b) for w, (a, b) in zip(names, spans)]


NAMES = "my biggest weakness is asking for help when I need it now".split()


def test_identity_maps_every_moment_to_itself():
    y, spans = syllables(1)
    f = RT.features(y, RATE)
    tm = RT.time_map(words(spans, NAMES), words(spans, NAMES), f, f)
    t = np.linspace(0, len(y) / RATE - 0.05, 200)
    assert np.abs(tm.source_time(t) - t).max() < RT.HOP
    assert tm.matched == 1.0 and np.all(tm.weight(t[5:-5]) == 1.0)


def test_a_pause_inserted_in_the_new_take_is_found():
    y, spans = syllables(2)
    cut, pause = int(spans[5][1] * RATE) + 400, 0.5
    new = np.concatenate([y[:cut], np.zeros(int(pause * RATE), np.float32), y[cut:]])
    new_spans = [(a + pause * (a > cut / RATE), b + pause * (b > cut / RATE)) for a, b in spans]
    tm = RT.time_map(words(new_spans, NAMES), words(spans, NAMES), RT.features(new, RATE), RT.features(y, RATE))
    before = np.linspace(0.1, spans[5][0], 50)
    after = np.linspace(new_spans[6][0], new_spans[-1][1], 50)
    assert np.abs(tm.source_time(before) - before).max() < 0.05
    assert np.abs(tm.source_time(after) - (after - pause)).max() < 0.05
    # inside the inserted pause the source time barely moves (the mouth waits)
    inside = tm.source_time(np.array([cut / RATE + 0.1, cut / RATE + pause - 0.1]))
    assert inside[1] - inside[0] < 0.15


def test_other_words_give_no_map_and_partly_new_words_only_their_part():
    y, spans = syllables(3)
    f = RT.features(y, RATE)
    other = "completely different words said in another order over here by someone else".split()
    assert RT.time_map(words(spans, other), words(spans, NAMES), f, f) is None
    half = NAMES[:6] + other[6:12]
    tm = RT.time_map(words(spans, half), words(spans, NAMES), f, f)
    assert tm.matched == 0.5
    assert tm.weight(np.array([spans[2][0]]))[0] == 1.0
    assert tm.weight(np.array([spans[9][0]]))[0] == 0.0


def test_own_motion_replaces_the_visemes_by_its_weight():
    t = np.arange(10) / 25
    lips = np.random.default_rng(0).normal(size=(10, 4, 2))
    visemes = np.zeros_like(lips)
    same = _with_own_motion(visemes, lips, t, t, np.ones(10), 0.8)
    assert np.allclose(same, lips)  # the lips as they are, whatever the strength
    later = _with_own_motion(visemes, lips, t, t + 1 / 25, np.ones(10), 1.0)
    assert np.allclose(later[:-1], lips[1:])  # each frame shows the next frame's lips
    none = _with_own_motion(visemes, lips, t, t + 1 / 25, np.zeros(10), 1.0)
    assert np.allclose(none, visemes)
