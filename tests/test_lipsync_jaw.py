"""The jaw follows the voice's loudness (JALI-style, lipsync/jali.py); closures and rests stay."""

import numpy as np

from lipsync import analysis as A
from lipsync import jali as J
from lipsync import visemes as V
from lipsync.mouth_model import Range

FPS = 25.0


def _frames(seconds: float) -> np.ndarray:
    return np.arange(0, seconds, 1 / FPS)


def test_activation_is_relative_to_the_voice_loud_level_and_zero_in_silence():
    level = np.r_[np.zeros(10), np.full(20, 0.01), np.full(20, 0.1), np.zeros(10)]
    act = J.activation(level)
    assert np.all(act[:10] == 0) and np.all(act[-10:] == 0)
    assert np.allclose(act[30:50], 1.0) and np.allclose(act[10:30], 0.1)
    assert np.allclose(J.activation(level * 1000), act)  # scale free
    assert np.all(J.activation(np.zeros(5)) == 0)


def test_jaw_opens_at_the_frames_where_the_voice_is_loud():
    t = _frames(2.0)
    phones = [("e", 0.2, 1.8)]  # one long mid vowel: the visemes alone hold the jaw still
    loud = [12, 30]
    act = np.full(len(t), 0.2)
    act[loud] = 1.0
    still = A.articulation(t, phones)[:, V.JAW]
    jaw = A.articulation(t, phones, jaw_activation=act, jaw_weight=0.5)[:, V.JAW]
    for k in loud:
        assert jaw[k] == jaw[k - 3: k + 4].max()  # the peaks are where the voice is loud, not shifted
        assert jaw[k] > jaw[k - 4] + 0.1 and jaw[k] > jaw[k + 4] + 0.1
    assert np.ptp(still[9:35]) < 0.02
    assert jaw[21] < still[21]  # quieter than the loud level between them: less open than the viseme alone


def test_closures_and_rests_survive_a_loud_voice():
    t = _frames(2.0)
    phones = [("a", 0.2, 0.6), ("m", 0.6, 0.68), ("a", 0.68, 1.0)]
    act = np.ones(len(t))
    act[t > 1.2] = 0.0  # the voice stops
    art = A.articulation(t, phones, jaw_activation=act, jaw_weight=1.0)
    opening = Range(0.05, 0.3, 0.9, 1.0, 1.1).measures(art)[:, 0]
    shut = np.flatnonzero(art[:, V.CLOSURE] >= 1.0)
    assert len(shut) >= 2 and np.all(np.abs(t[shut] - 0.64) < 0.06)
    assert np.all(opening[shut] == 0)
    assert np.all(art[t > 1.5, V.JAW] < 0.05)  # rests in the pause


def test_jaw_weight_zero_is_the_visemes_alone():
    t = _frames(1.0)
    phones = [("a", 0.1, 0.4), ("p", 0.4, 0.45), ("o", 0.45, 0.8)]
    act = np.random.default_rng(0).random(len(t))
    assert np.allclose(A.articulation(t, phones, jaw_activation=act, jaw_weight=0.0), A.articulation(t, phones))
    assert np.allclose(J.drive_jaw(A.articulation(t, phones), act, 0.0), A.articulation(t, phones))


def test_an_edit_moves_the_jaw_only_in_its_own_utterance():
    """Each stretch of speech between pauses has its own loud level: a louder new last line (and the
    dub's loudness normalization, a gain on the whole track) leave the jaw of the first line as it was,
    so the render cache keeps its frames."""
    t = np.arange(0, 4, 1 / 30)
    rng = np.random.default_rng(1)
    level = np.where((t > 0.2) & (t < 1.5) | (t > 2.0) & (t < 3.6), rng.uniform(0.2, 1.0, len(t)), 0.0)
    pauses = [(0.0, 0.2), (1.5, 2.0), (3.6, 4.0)]
    before = J.activation(level, t, pauses)
    edited = level.copy()
    edited[t > 2.0] *= 3.0  # the new last line is louder
    after = J.activation(0.9 * edited, t, pauses)
    first = t < 1.5
    assert np.allclose(after[first], before[first], atol=1e-12)
    assert np.all(before[(t >= 1.5) & (t < 2.0)] == 0)  # pauses rest
    assert before[first].max() == 1.0 and before[t > 2.0].max() == 1.0
    # one global level instead would have moved the first line's jaw
    assert not np.allclose(J.activation(0.9 * edited)[first], J.activation(level)[first], atol=1e-3)
