"""The person's mouth model (lipsync/person.py): learned from a person's own frames and phones, it
predicts their mouth on speech it was not fitted on, better than the generic visemes do."""

import numpy as np

from lipsync import analysis as A
from lipsync import person as P
from lipsync import visemes as V
from lipsync.mouth_model import Range

FPS = 25.0
# one symbol per viseme class that the synthetic speech uses (no /u/: see the prior test)
SYMBOLS = ["a", "e", "i", "o", "p", "f", "s", "t", "k", "ʃ"]
# this person's own openings (iod), unlike the generic targets: a wide /e/ and /t/, a nearly shut /o/ and /k/
OWN_OPEN = {"aa": 0.42, "E": 0.35, "I": 0.02, "O": 0.04, "PP": 0.0, "FF": 0.03, "SS": 0.02, "DD": 0.3,
            "kk": 0.03, "CH": 0.08, "sil": 0.01}
OWN_WIDTH = {"aa": 0.9, "E": 1.05, "I": 1.1, "O": 0.7, "PP": 0.92, "FF": 0.95, "SS": 1.05, "DD": 0.95,
             "kk": 0.95, "CH": 0.75, "sil": 0.92}


def speech(seconds: float, seed: int) -> list[tuple[str, float, float]]:
    """Random phones of 60-160 ms with a pause now and then."""
    rng = np.random.default_rng(seed)
    out, t = [], 0.3
    while t < seconds - 0.5:
        d = rng.uniform(0.06, 0.16)
        out.append((str(rng.choice(SYMBOLS)), round(t, 3), round(t + d, 3)))
        t += d + (rng.uniform(0.2, 0.4) if rng.random() < 0.06 else 0.0)
    return out


def person_mouth(t: np.ndarray, phones, lead: float, noise: float, seed: int) -> np.ndarray:
    """(open, width) of a synthetic person who realises each class their own way, `lead` s ahead."""
    w = P.class_weights(t, phones, lead=lead)
    tgt = np.array([[OWN_OPEN.get(c, 0.1), OWN_WIDTH.get(c, 0.95)] for c in P.CLASS_NAMES])
    q = w @ tgt
    return q + np.random.default_rng(seed).normal(0, noise, q.shape)


def ratio(q: np.ndarray) -> np.ndarray:
    return q[:, 0] / q[:, 1]


def test_the_model_learns_a_person_and_predicts_speech_it_never_saw():
    t = np.arange(0, 42, 1 / FPS)  # 21 s to learn from: enough to search the lead (person.GRID_FRAMES)
    phones = speech(42, 1)
    q = person_mouth(t, phones, lead=0.04, noise=0.01, seed=2)
    rng = Range.of(q)
    half = len(t) // 2
    train = [p for p in phones if p[2] <= t[half]]
    model = P.fit(t[:half], q[:half], train, None, rng)
    test = [p for p in phones if p[1] >= t[half]]
    pred = model.predict(t[half:], test, None)
    r = np.corrcoef(ratio(pred), ratio(q[half:]))[0, 1]
    amp = ratio(pred).std() / ratio(q[half:]).std()
    generic = rng.measures(A.articulation(t[half:], test))
    r_generic = np.corrcoef(ratio(generic), ratio(q[half:]))[0, 1]
    assert r > 0.9 and 0.85 <= amp <= 1.15, (r, amp)
    assert r > r_generic + 0.15, (r, r_generic)
    assert abs(model.lead - 0.04) <= 0.041  # the person's lead over the phone times is found on the grid


def test_a_viseme_the_footage_lacks_keeps_the_generic_target():
    t = np.arange(0, 12, 1 / FPS)
    phones = speech(12, 3)  # no /u/ in it
    q = person_mouth(t, phones, lead=0.0, noise=0.005, seed=4)
    rng = Range.of(q)
    model = P.fit(t, q, phones, None, rng)
    u, aa = P.CLASS_NAMES.index("U"), P.CLASS_NAMES.index("aa")
    assert "U" not in model.seen and "aa" in model.seen
    # /u/ keeps the generic target, only moved and scaled as this person's whole mouth is
    scaled = model.coef[0] + model.coef[1] * P.generic_targets(rng)
    assert np.allclose(model.targets()[u], scaled[u], atol=1e-3)
    # and a seen one is the person's, not the generic
    assert abs(model.targets()[aa, 0] - OWN_OPEN["aa"]) < abs(P.generic_targets(rng)[aa, 0] - OWN_OPEN["aa"])


def test_loud_syllables_open_wider_when_the_person_does_so():
    t = np.arange(0, 16, 1 / FPS)
    phones = speech(16, 5)
    loud = np.random.default_rng(6).uniform(0.0, 1.0, len(t))
    w = P.class_weights(t, phones)
    base = person_mouth(t, phones, 0.0, 0.0, 0)
    q = base.copy()
    q[:, 0] *= 0.1 + 1.2 * loud  # this person barely opens when quiet, wide when loud
    rng = Range.of(q)
    half = len(t) // 2
    with_loud = P.fit(t[:half], q[:half], phones, loud[:half], rng).predict(t[half:], phones, loud[half:])
    without = P.fit(t[:half], q[:half], phones, None, rng).predict(t[half:], phones, None)
    r = lambda x: np.corrcoef(ratio(x), ratio(q[half:]))[0, 1]
    assert r(with_loud) > r(without) + 0.1 and r(with_loud) > 0.85
    assert w.shape == (len(t), P.K) and np.allclose(w.sum(1), 1.0)


def test_check_scores_held_out_frames_only_and_needs_enough_of_them():
    t = np.arange(0, 20, 1 / FPS)
    phones = speech(20, 7)
    q = person_mouth(t, phones, 0.0, 0.01, 8)
    rng = Range.of(q)
    c = P.check(t, q, phones, None, rng)
    assert c is not None and c.frames == len(t) - int(round(len(t) * (1 - P.HOLDOUT)))
    assert c.fit_frames + c.frames == len(t) and c.r > 0.85 and 0.8 < c.amp < 1.2
    # a person whose held-out mouth does something else scores low: the check is not circular
    q2 = q.copy()
    q2[c.fit_frames:, 0] = q[c.fit_frames:, 0][::-1]
    assert P.check(t, q2, phones, None, rng).r < 0.3
    assert P.check(t[:30], q[:30], phones, None, rng) is None
    assert V.viseme("a") in P.CLASS_NAMES


def test_swing_widens_a_timid_prediction_to_the_persons_own_and_never_narrows_it():
    rng = np.random.default_rng(9)
    measured = np.c_[rng.normal(0.2, 0.06, 200), rng.normal(1.0, 0.03, 200)]
    timid = np.c_[rng.normal(0.15, 0.04, 200), rng.normal(0.95, 0.06, 200)]
    centre, k = P.swing(measured, timid)
    widened = centre + k * (timid - centre)
    assert np.isclose(widened[:, 0].std(), measured[:, 0].std())  # opening: widened to the person's
    assert k[1] == 1.0  # width already swings more than the person's: left as it is
    assert np.allclose(widened.mean(0), timid.mean(0))
    assert P.swing(measured, timid * 0.01)[1][0] == P.MAX_EXPAND


def test_as_wide_maps_generic_openings_onto_the_persons_own_learned_from_their_own_speech():
    rng = np.random.default_rng(4)
    generic = np.abs(rng.normal(0.05, 0.02, 400))  # what the generic targets say for the person's own speech
    own = 0.02 + 2.5 * generic + rng.normal(0, 0.01, 400)  # the person opens wider than that
    talk = np.ones(400, bool)
    talk[:50] = False
    own[:50] = 0.3  # mouth open in a pause: not speech, not learned from
    new = np.r_[np.zeros(60), np.abs(rng.normal(0.05, 0.02, 240))]  # generic openings of new speech, after a pause
    wide = P.as_wide(new, generic, own, talk)
    assert np.isclose(wide[60:].std(), 2.5 * new[60:].std(), rtol=0.1)  # as wide as the person opens
    assert np.isclose(np.median(wide[60:]), 0.02 + 2.5 * np.median(new[60:]), atol=0.01)
    assert (np.diff(wide[np.argsort(new, kind="stable")]) >= -1e-12).all()  # no rank changed
    assert wide[:60].max() <= own[talk].min() + 1e-9  # the pause stays as shut as the person's shut-most speech
    edited = new.copy()
    edited[250:] = 0.2  # another line later on: the earlier frames' openings do not move
    assert np.array_equal(P.as_wide(edited, generic, own, talk)[:250], wide[:250])
    assert P.as_wide(new, generic, own, np.arange(400) < P.MIN_TALK - 1) is None  # too little speech to learn from


def test_within_marks_the_frames_inside_any_span():
    t = np.arange(10) / 10.0
    assert P.within(t, [("a", 0.15, 0.35), ("b", 0.7, 0.8, "SPEAKER_00")]).nonzero()[0].tolist() == [2, 3, 7]


def test_through_blend_keeps_the_persons_swing_once_blended_with_other_words_motion():
    from lipsync.mouth_model import blend_measures

    rng = np.random.default_rng(5)
    own = np.abs(rng.normal(0.1, 0.05, 2000))  # the source's openings, its own words
    talk = np.ones(2000, bool)
    new = rng.permutation(own)  # new words, as wide as the person's, unrelated to the source's motion
    plain = blend_measures(np.c_[own, own], np.c_[new, new], np.zeros(2000), 0.8)[:, 0]
    kept = blend_measures(np.c_[own, own], np.c_[(w := P.through_blend(new, own, talk, 0.8)), w], np.zeros(2000), 0.8)[:, 0]
    assert 0.78 < plain.std() / own.std() < 0.87  # the blend alone narrows the swing
    assert np.isclose(kept.std(), own.std(), rtol=0.05)
    assert np.allclose(P.through_blend(new, own, talk, 1.0), new)  # nothing blended: nothing to make up
    assert np.isclose(np.mean(kept), np.mean(plain), rtol=0.05)  # about the person's own mean
