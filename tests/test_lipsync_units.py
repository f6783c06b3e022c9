"""Unit tests of the lip-sync math: visemes, coarticulation, closures, smoothing, warping, geometry."""

import numpy as np
import pytest

from lipsync import coarticulation as C
from lipsync import geometry as G
from lipsync import smooth as S
from lipsync import visemes as V
from lipsync import warp as W
from lipsync.analysis import held, idle, own_expression, ramp
from lipsync.metrics import FaceCurve, amp_ratio, av_sync, closure_rate, envelope, measure_spans, pooled
from lipsync.mouth_model import Range, blend_measures


def test_visemes_cover_ipa_with_diacritics_and_overrides():
    assert V.viseme("p") == V.viseme("bʲ") == V.viseme("mː") == "PP"
    assert V.viseme("ˈa") == "aa" and V.viseme("u") == "U" and V.viseme("tʃ") == "CH"
    assert V.viseme("") == "sil"
    assert V.viseme("ɯ", {"ɯ": "U"}) == "U" and V.viseme("ɯ") == "I"


def test_bilabial_closes_even_when_shorter_than_a_frame():
    frames = np.arange(0, 1, 1 / 25)
    phones = [("a", 0.1, 0.4), ("p", 0.41, 0.425), ("a", 0.425, 0.7)]
    art = C.frame_curves(frames, phones)
    closed = art[:, V.CLOSURE] > 0.99
    assert closed.any()
    hit = np.flatnonzero(closed)
    assert np.all(np.abs(frames[hit] - 0.417) < 0.06)
    assert art[np.argmin(np.abs(frames - 0.25)), V.JAW] > 0.9 * V.CLASSES["aa"][V.JAW]  # the vowel opens the jaw


def test_silence_relaxes_to_rest_and_coarticulation_is_smooth():
    frames = np.arange(0, 3, 1 / 30)
    art = C.frame_curves(frames, [("a", 0.5, 0.8), ("a", 2.2, 2.5)])
    assert art[np.argmin(np.abs(frames - 1.5)), V.JAW] < 0.05
    assert art[0, V.JAW] < 0.05
    assert np.abs(np.diff(art[:, V.JAW])).max() < 0.6


def test_a_very_short_bilabial_still_closes_for_more_than_one_frame():
    frames = np.arange(0, 1, 1 / 30)
    art = C.frame_curves(frames, [("a", 0.1, 0.4), ("m", 0.41, 0.43), ("a", 0.43, 0.7)])
    closed = np.flatnonzero(art[:, V.CLOSURE] >= 1.0)
    assert len(closed) >= 2 and np.all(np.abs(frames[closed] - 0.42) <= 0.05)


def test_mouth_rests_before_the_first_and_after_the_last_phone():
    frames = np.arange(0, 2, 1 / 25)
    art = C.frame_curves(frames, [("a", 0.8, 1.1)])
    jaw = art[:, V.JAW]
    assert jaw[np.argmin(np.abs(frames - 0.95))] > 0.9 * V.CLASSES["aa"][V.JAW]
    # 0.2 s from the voice the mouth is nearly at rest (it held the vowel ~0.3 s before)
    assert jaw[np.argmin(np.abs(frames - 1.3))] < 0.15 and jaw[np.argmin(np.abs(frames - 0.6))] < 0.15


def _voice(tmp_path, spans, sr=16000, dur=2.0):
    import soundfile as sf

    t = np.arange(int(dur * sr)) / sr
    y = 1e-5 * np.random.default_rng(0).standard_normal(len(t))
    for a, b in spans:
        on = (t >= a) & (t < b)
        y[on] += 0.3 * np.sin(2 * np.pi * 220 * t[on]) * np.sin(2 * np.pi * 900 * t[on])
    sf.write(tmp_path / "v.wav", y.astype(np.float32), sr)
    return tmp_path / "v.wav"


def test_phones_are_cut_back_to_where_the_voice_sounds(tmp_path):
    from lipsync import analysis as A

    voice = _voice(tmp_path, [(0.2, 0.8), (1.3, 1.8)])
    gaps = A.pauses(voice)
    assert [(round(a, 1), round(b, 1)) for a, b in gaps] == [(0.0, 0.2), (0.8, 1.3), (1.8, 2.0)]
    # a synthesizer put the pause at the comma into the vowel before it
    ph = [("o", 0.5, 1.2, "S"), ("m", 0.9, 1.0, "S"), ("s", 0.95, 1.05, "S"), ("a", 1.25, 1.6, "S")]
    out = A.outside_pauses(ph, gaps)
    assert out[0] == ("o", 0.5, 0.8, "S")  # cut at the pause
    assert out[1] == ("m", 0.9, 1.0, "S")  # a bilabial's closure is silent anyway
    assert out[2] == ("a", 1.3, 1.6, "S")  # the /s/ wholly inside the pause is gone


def test_one_euro_removes_jitter_but_follows_motion():
    t = np.arange(300) / 30
    rng = np.random.default_rng(0)
    still = 5 + rng.normal(0, 0.5, 300)
    out = S.one_euro(still, t, 1.0, 0.05)
    assert out[30:].std() < 0.5 * still[30:].std()
    step = np.r_[np.zeros(150), np.full(150, 50.0)]
    out = S.one_euro(step, t, 1.0, 0.5)
    assert out[160] > 40


def test_smoothing_keeps_closures():
    x = np.r_[np.ones(10), 0.0, np.ones(10)]
    y = S.smooth_keep_minima(x, x < 0.5, 1.5)
    assert y[10] == 0.0 and y[9] < 1.0


def test_crossfade_weights_sum_to_one_and_fade():
    w = S.crossfade_weights(np.array([0, 0, 1, 1, 1, 1]), 3)
    assert all(abs(sum(d.values()) - 1) < 1e-9 for d in w)
    assert 0 < w[2][1] < 1 and w[-1] == {1: 1.0}


def test_similarity_fit_recovers_transform():
    rng = np.random.default_rng(1)
    src = rng.normal(size=(12, 2))
    ang, sc, t = 0.3, 2.5, np.array([4.0, -1.0])
    r = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = G.fit_similarity(src, src @ r.T + t)
    assert np.allclose(m[:, :2], r, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)
    assert np.allclose(G.apply(G.invert(m), G.apply(m, src)), src)


def test_piecewise_affine_moves_vertices_and_keeps_ring_fixed():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :, 0] = np.arange(100)[None, :]  # x ramp
    img[:, :, 1] = np.arange(100)[:, None]  # y ramp
    ring = np.array([[10, 10], [90, 10], [90, 90], [10, 90]], float)
    src = np.vstack([[[50, 50]], ring])
    dst = np.vstack([[[60, 55]], ring])
    tris = W.triangulate(dst)
    out, mask = W.warp_roi(img, src, dst, tris, (0, 0, 100, 100))
    assert mask[55, 60] and abs(int(out[55, 60, 0]) - 50) <= 1 and abs(int(out[55, 60, 1]) - 50) <= 1
    assert np.array_equal(out[12, 12], img[12, 12])  # near the ring: unchanged
    aff = W.triangle_affines(src, dst, tris)
    assert aff.shape == (len(tris), 2, 3)


def test_strength_blends_and_closure_wins():
    src = np.array([[0.1, 0.6], [0.1, 0.6]])
    tgt = np.array([[0.2, 0.7], [0.2, 0.7]])
    out = blend_measures(src, tgt, np.array([0.0, 1.0]), 0.8)
    assert np.allclose(out[0], [0.18, 0.68]) and out[1, 0] == 0.0
    assert np.allclose(blend_measures(src, tgt, np.array([0.0, 1.0]), 0.0), src)


def test_range_maps_articulation_to_person_measures():
    q = np.c_[np.linspace(0.0, 0.15, 100), np.linspace(0.55, 0.65, 100)]
    r = Range.of(q)
    art = np.zeros((3, len(V.PARAMS)))
    art[1, V.JAW] = 1.0
    art[2, V.JAW], art[2, V.CLOSURE] = 1.0, 1.0
    m = r.measures(art)
    assert m[1, 0] > m[0, 0] > m[2, 0] == 0.0


def test_av_sync_finds_known_lag_and_closure_rate_counts():
    rng = np.random.default_rng(2)
    env = np.convolve(rng.random(200), np.ones(3) / 3, "same")
    opening = np.r_[np.zeros(2), env[:-2]]  # mouth 2 frames late
    lag, conf, r = av_sync(opening, env, 8)
    assert lag == 2 and r > 0.9 and conf > 0.3
    t = np.arange(10) / 10
    o = np.array([0.1, 0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert closure_rate(o, t, [(0.18, 0.22), (0.58, 0.62)], 0.02) == pytest.approx(0.5)
    # lips shut one frame after the bilabial still count (they finish closing after the sound stops); two do not
    assert closure_rate(o, t, [(0.08, 0.12)], 0.02) == 1.0 and closure_rate(o, t, [(0.28, 0.32)], 0.02) == 1.0
    assert closure_rate(o, t, [(-0.02, 0.02)], 0.02) == 0.0 and closure_rate(o, t, [(0.38, 0.42)], 0.02) == 0.0
    assert closure_rate(o, t, [(0.08, 0.12)], 0.02, slack=0) == 0.0


def _smooth_noise(seed: int, n: int) -> np.ndarray:
    return np.convolve(np.random.default_rng(seed).random(n + 4), np.ones(3) / 3, "valid")[:n]


@pytest.mark.parametrize("k", [-4, -1, 0, 1, 3])
def test_av_sync_finds_lags_either_side_through_tracking_noise(k):
    env = _smooth_noise(5, 150)
    opening = np.roll(env, k) + 0.05 * np.random.default_rng(6).standard_normal(150)
    lag, conf, _ = av_sync(opening, env, 8)
    assert lag == k and conf > 0.4


def test_av_sync_of_unrelated_curves_has_low_confidence():
    # 5 s at 25 fps: by chance the best of 17 lags still reaches ~0.24 (the bench's floor)
    confs = [av_sync(_smooth_noise(s, 125), _smooth_noise(100 + s, 125), 8)[1] for s in range(30)]
    noisy = _smooth_noise(7, 125) + 0.15 * np.random.default_rng(1).standard_normal(125)
    synced = av_sync(noisy, _smooth_noise(7, 125), 8)[1]
    assert np.median(confs) < 0.3 and max(confs) < 0.45 and synced > 0.6


def test_av_sync_ignores_a_slow_drift_shared_by_chance():
    # lips open and close at the syllable rate in time with the voice, while the voice also gets
    # louder over the clip: differencing keeps the drift from flattening the peak
    t = np.arange(150) / 25
    env = _smooth_noise(8, 150) + 3 * t / t[-1]
    opening = _smooth_noise(8, 150)
    lag, conf, _ = av_sync(opening, env, 8)
    assert lag == 0 and conf > 0.5


def test_envelope_follows_the_speech_band_not_a_loud_hum(tmp_path):
    import soundfile as sf

    sr = 16000
    t = np.arange(2 * sr) / sr
    bursts = (np.sin(2 * np.pi * 2 * t) > 0.5).astype(float)  # 2 "syllables" a second
    y = 0.5 * np.sin(2 * np.pi * 60 * t) * (1 + 0.8 * np.sin(2 * np.pi * 0.7 * t))  # hum, itself varying
    y += 0.1 * bursts * np.sin(2 * np.pi * 1000 * t)
    sf.write(tmp_path / "a.wav", y.astype(np.float32), sr)
    times = np.arange(0.02, 1.98, 0.04)
    env = envelope(tmp_path / "a.wav", times)
    want = (np.sin(2 * np.pi * 2 * times) > 0.5).astype(float)
    assert np.corrcoef(env, want)[0, 1] > 0.9
    full = envelope(tmp_path / "a.wav", times, band=None)
    assert np.corrcoef(full, want)[0, 1] < 0.5


def test_ramp_fades_at_skips():
    w = ramp(np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1], bool), 3)
    assert w[5] == 0 and 0 < w[4] < 1 and w[0] == 1


def test_a_face_is_idle_only_well_away_from_speech_and_with_its_lips_at_rest():
    t = np.arange(0, 10, 0.04)  # 25 f/s
    parted = (t >= 6.0) & (t < 6.2)  # the source's lips part once, with no turn of this face's (a laugh)
    busy = [(2.0, 3.0), (3.5, 4.0)]  # new speech, then a 0.5 s gap
    out = idle(t, busy, parted, margin=0.3, min_idle=1.0)
    at = lambda x: out[int(round(x / 0.04))]
    assert at(0.5) and not at(1.8) and not at(2.5)  # before the speech, not within 0.3 s of it
    assert not at(3.25)  # a gap of 0.5 s between two busy spans is drawn through
    assert at(5.0) and not at(5.8) and not at(6.1) and not at(6.4) and at(7.5)  # parted lips keep their margin
    assert at(9.96)
    short = idle(t, [(1.0, 2.0)], np.zeros_like(t, bool), margin=0.3, min_idle=1.0)
    assert short[int(2.5 / 0.04)] and not idle(t[:70], [(1.0, 2.0)], np.zeros(70, bool), 0.3, 1.0).any()  # 0.76 s idle


def test_the_lips_keep_their_own_shape_only_where_neither_the_new_nor_the_own_speech_is():
    t = np.arange(0, 10, 0.04)  # 25 f/s
    phones = [("a", 1.0, 1.5), ("m", 1.5, 1.6), ("a", 1.6, 2.0), ("o", 6.0, 6.5)]  # new speech
    own = [(3.0, 4.0)]  # the face's own phones in the source, in the new speech's pause
    turns = [(3.0, 5.5)]  # its voice's turn runs on past them (a laugh)
    still = (t >= 4.8) & (t < 5.6)  # its lips held still (a grin) from 4.8 s
    keep = own_expression(t, phones, own, turns, still, margin=0.3)
    at = lambda x: keep[int(round(x / 0.04))]
    assert 0 <= keep.min() and keep.max() <= 1
    assert at(1.3) < 0.01 and at(1.55) < 0.01 and at(6.2) < 0.01  # the new speech draws its own shapes
    assert at(3.5) == 0 and at(2.75) == 0 and at(4.25) == 0  # over the own phones and their margin: the rest stays
    assert at(4.6) == 0 and at(5.3) > 0.99  # in the turn, lips moving: rest; lips held: their own
    assert at(8.5) > 0.99 and at(0.3) > 0.99  # elsewhere, the source's own lips
    assert 0.01 < at(2.15) < at(2.3) < 1  # eased out of the last phone, not switched
    assert np.array_equal(own_expression(t, phones, own, turns, None, margin=0.3) > 0, keep * ~still > 0)


def test_a_mouth_held_still_is_told_from_one_speaking():
    t = np.arange(0, 4, 0.04)
    speaking = 0.1 + 0.05 * np.sin(2 * np.pi * 5 * t)  # iod, syllables at 5 Hz
    grin = np.full(len(t), 0.15) + 0.002 * np.random.default_rng(0).standard_normal(len(t))
    assert not held(speaking, t).any() and held(grin, t).all()


def test_a_long_output_is_measured_on_a_few_windows_where_the_face_is_drawn():
    t = np.arange(0, 30, 0.04)
    assert measure_spans(t, np.zeros(len(t), bool), whole=40.0) == [(0, len(t))]  # short: all of it
    t = np.arange(0, 600, 0.04)  # 10 minutes
    drawn = np.zeros(len(t), bool)
    drawn[(t > 100) & (t < 150)] = drawn[(t > 430) & (t < 436)] = True
    spans = measure_spans(t, drawn, whole=40.0, count=3, window=12.0)
    assert len(spans) == 3 and all(b - a == 300 for a, b in spans)  # 12 s each
    assert all(lo <= a and b <= hi for (a, b), lo, hi in zip(spans, [0, 5000, 10000], [5000, 10000, 15000]))
    assert drawn[spans[0][0]:spans[0][1]].all()  # inside the drawn stretch of its third
    assert drawn[spans[2][0]:spans[2][1]].sum() == drawn[(t > 430) & (t < 436)].sum()  # all 6 s of it


def test_figures_of_windows_pool_by_their_frames():
    from lipsync.report import SyncReport

    a = SyncReport(frames=300, target_r=0.8, av_offset_frames=1, psnr_outside=float("nan"), closure_rate=None)
    b = SyncReport(frames=100, target_r=0.4, av_offset_frames=-1, psnr_outside=40.0, closure_rate=None)
    p = pooled([a, b])
    assert p["target_r"] == 0.7 and p["av_offset_frames"] == 0 and p["psnr_outside"] == 40.0
    assert p["closure_rate"] is None


def test_amp_ratio_compares_the_openings_swing_on_the_frames_both_faces_show():
    rng = np.random.default_rng(2)
    face = lambda frames, opening: FaceCurve(np.asarray(frames), np.zeros((len(frames), 1, 2)),
                                             np.zeros((len(frames), 1, 2)), np.c_[opening, np.full(len(frames), 0.5)])
    src = rng.normal(0.1, 0.04, 100)
    out = 0.1 + 0.6 * (rng.normal(0.1, 0.04, 100) - 0.1)
    out[90:] = 5.0  # frames the source does not show: left out
    ratio = amp_ratio(face(np.arange(100), out), face(np.arange(90), src[:90]))
    assert ratio == pytest.approx(out[:90].std() / src[:90].std(), rel=1e-3) and 0.4 < ratio < 0.8
    assert amp_ratio(face([1, 2], out[:2]), face([1, 2], src[:2])) is None  # too few frames
    assert amp_ratio(face(np.arange(5), out[:5]), face(np.arange(5), np.full(5, 0.1))) is None  # a still source


def _dense_trajectory(t, centres, halves, targets, alphas, rest, theta):
    """The coarticulation formula over all times and phones at once (the reference)."""
    dist = np.maximum(np.abs(t[:, None] - centres[None, :]) - halves[None, :], 0.0)
    dom = alphas[None, :] * np.exp(-theta * dist)
    return (dom @ targets + 1e-3 * rest) / (dom.sum(1, keepdims=True) + 1e-3)


def test_trajectory_in_blocks_equals_the_whole_formula_and_stays_small_on_long_speech():
    import tracemalloc

    rng = np.random.default_rng(0)
    starts = np.cumsum(rng.uniform(0.03, 0.5, 900))  # ~4 min of phones with pauses
    ends = starts + rng.uniform(0.02, 0.2, len(starts))
    targets, alphas = rng.uniform(0, 1, (len(starts), 4)), rng.uniform(0.2, 1, len(starts))
    rest = np.array([0.1, 0.0, 0.2, 0.0])
    t = np.sort(rng.uniform(-1, ends[-1] + 2, 3 * C.BLOCK + 17))  # several blocks and a ragged one
    for theta in (C.THETA, 8.0):
        got = C.trajectory(t, (starts + ends) / 2, (ends - starts) / 2, targets, alphas, rest, theta)
        want = _dense_trajectory(t, (starts + ends) / 2, (ends - starts) / 2, targets, alphas, rest, theta)
        assert np.abs(got - want).max() < 1e-9
    # an hour of speech at 25 frames/s: all times against all phones would need ~100 GB
    starts = np.arange(0, 3600, 0.1)
    phones = [("a" if k % 3 else "m", a, a + 0.08) for k, a in enumerate(starts)]
    tracemalloc.start()
    art = C.frame_curves(np.arange(0, 3600, 0.04), phones)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert art.shape == (90000, len(V.PARAMS)) and np.isfinite(art).all()
    assert peak < 400e6, f"{peak / 1e6:.0f} MB traced for an hour of phones"


def test_voice_loudness_in_chunks_equals_the_whole_signal_filtered_at_once():
    from scipy.signal import butter, sosfiltfilt

    from lipsync import metrics as M

    sr = M.AUDIO_RATE
    rng = np.random.default_rng(4)
    y = (rng.standard_normal(int(150.3 * sr)) * np.repeat(rng.uniform(0, 1, 1504), sr // 10)[: int(150.3 * sr)])
    y = y.astype(np.float32)  # 150 s of noise bursts: three chunks and a ragged end
    times = np.arange(0.02, 151.0, 0.04)  # frames past the voice's end too
    f = sosfiltfilt(butter(4, M.SPEECH_BAND, "bandpass", fs=sr, output="sos"), y.astype(np.float64))
    half = int(sr * float(np.median(np.diff(times))) / 2)
    c = np.cumsum(np.r_[0.0, f ** 2])
    want = np.zeros(len(times))
    for i, t in enumerate(times):
        a, b = max(int(t * sr) - half, 0), min(int(t * sr) + half, len(y))
        if b > a:
            want[i] = np.sqrt((c[b] - c[a]) / (b - a))
    got = M.loudness(y, times)
    assert np.abs(got - want).max() < 1e-6 * want.max() and got[-5:].max() == 0.0


def test_the_target_shape_opens_as_asked_where_the_shape_model_answers_short():
    from lipsync import landmarks as L
    from lipsync.analysis import shaped

    up = [L.index_in_moving(k) for k in L.UPPER_INNER_MID]
    lo = [L.index_in_moving(k) for k in L.LOWER_INNER_MID]
    a, b = (L.index_in_moving(k) for k in L.MOUTH_CORNERS)

    class Timid:  # a ridge fit: gives 90 % of the opening and width asked of it
        def predict(self, q):
            pts = np.zeros((len(q), len(L.MOVING), 2))
            pts[:, lo, 1] = 0.9 * q[:, :1]
            pts[:, a, 0], pts[:, b, 0] = -0.45 * q[:, 1], 0.45 * q[:, 1]
            return pts

    rng = np.random.default_rng(1)
    q = np.c_[np.full(50, 0.05), np.full(50, 0.6)]
    mov = Timid().predict(q)
    mov[:, up, 1] = 0.0
    asked = np.c_[rng.uniform(0, 0.3, 50), rng.uniform(0.5, 0.7, 50)]
    got = G.mouth_measures_moving(shaped(mov, q, asked, Timid()))
    assert np.allclose(got, asked, rtol=0.015, atol=1e-3)
    once = G.mouth_measures_moving(mov + Timid().predict(asked) - Timid().predict(q))  # asked only once
    assert not np.allclose(once[:, 0], asked[:, 0], rtol=0.015, atol=1e-3)


def test_the_interior_comes_from_the_bank_when_the_target_opens_wider_or_shuts_an_open_mouth():
    from lipsync import landmarks as L
    from lipsync.mouth_model import PAIRS
    from lipsync.render import fill_weight

    def mouth(gap_px):  # MOVING points whose inner lips stand gap_px apart
        pts = np.zeros((len(L.MOVING), 2))
        pts[PAIRS[:, 1], 1] = gap_px
        return pts

    assert fill_weight(mouth(10), mouth(10)) == 0.0  # as open as the source: its own interior
    assert fill_weight(mouth(4), mouth(12)) == 1.0  # opened wider: the bank's
    assert fill_weight(mouth(2), mouth(0)) == 0.0  # a nearly shut mouth shut: nothing squeezed
    assert fill_weight(mouth(15), mouth(0.5)) == 1.0  # an open mouth shut: its teeth would make a line
    assert 0.0 < fill_weight(mouth(7), mouth(0)) < 1.0


def test_a_shut_mouth_is_filled_from_the_same_bank_pixels_whatever_a_hundredth_of_a_pixel_does(monkeypatch):
    import cv2

    from lipsync import landmarks as L
    from lipsync import render as R
    from lipsync.mouth_model import BankEntry

    x = np.linspace(20, 80, L.N_INNER // 2 + 1)
    top = np.column_stack([x, np.full(len(x), 50.0)])
    shut = np.vstack([top, top[1:-1][::-1] + [0, 0.01]])  # the lower lip 0.01 px under the upper
    lifted = R.opened(shut)
    n = L.N_INNER
    assert all(lifted[n - k, 1] - lifted[k, 1] >= R.MIN_WARP_GAP - 1e-9 for k in range(1, n // 2))
    assert np.array_equal(lifted[: n // 2 + 1], shut[: n // 2 + 1])  # the upper lip stays
    rng = np.random.default_rng(0)
    crop = cv2.GaussianBlur(rng.integers(0, 255, (100, 100, 3)).astype(np.uint8), (0, 0), 2)  # neighbours ~3 apart
    pts = np.zeros((len(L.MOVING), 2))
    pts[L.SLICE_INNER] = np.vstack([top, top[1:-1][::-1] + [0, 20]])
    entry = BankEntry(crop, pts, np.array([0.2, 0.6]), 0.5, 1.0)
    frame = np.full((100, 100, 3), 128, np.uint8)
    near = R.polygon_mask(frame.shape, R._fan(shut)[1:]) > 0

    def worst():
        a = R.interior([(entry, 1.0)], shut, frame, (0, 0, 100, 100))
        return max(np.abs(a - R.interior([(entry, 1.0)], shut + np.random.default_rng(s).normal(0, 0.01, shut.shape),
                                          frame, (0, 0, 100, 100)))[near].max() for s in range(5))

    assert worst() < 6
    monkeypatch.setattr(R, "opened", lambda p: p)  # warped onto the shut polygon itself
    assert worst() > 15


def test_ssim_is_taken_at_a_viewing_scale_and_never_on_blocks_that_touch_the_mouth():
    from lipsync.metrics import ssim_scale

    small = np.zeros((720, 1280), np.uint8)
    assert ssim_scale(small) is small  # 720p and smaller: as they are
    tall = np.zeros((1920, 1080), np.float32)
    assert ssim_scale(tall).shape == (960, 540)
    keep = np.ones((1920, 1080), np.float32)
    keep[101, 101] = 0  # one mouth pixel
    kept = ssim_scale(keep) > 0.999
    assert not kept[50, 50] and kept[49, 50] and kept[50, 51]


def test_a_blurred_bank_crop_is_drawn_only_where_nothing_else_comes_near():
    from lipsync.mouth_model import Bank, BankEntry, Range

    crop = np.zeros((8, 8, 3), np.uint8)
    pts = np.zeros((4, 2))
    bank = Bank()
    for k, (o, sharp) in enumerate([(0.05, 50.0), (0.12, 45.0), (0.2, 55.0), (0.26, 18.0)]):
        bank.entries[(k, 0)] = BankEntry(crop, pts, np.array([o, 0.6]), 0.2, sharp)
    rng = Range(0.0, 0.3, 0.5, 0.6, 0.7)
    assert bank.choose(np.array([0.26, 0.6]), 0.2, rng) == 2  # the sharp 0.2 one, not the blurred 0.26 one
    assert bank.choose(np.array([0.12, 0.6]), 0.2, rng) == 1
    bank.entries[(3, 0)] = BankEntry(crop, pts, np.array([0.26, 0.6]), 0.2, 40.0)  # the same bin seen sharp
    assert bank.choose(np.array([0.26, 0.6]), 0.2, rng) == 3


def test_a_mouth_opening_fast_is_not_filled_from_a_nearly_shut_crop_stretched_wide():
    from lipsync.mouth_model import Bank, BankEntry

    crop = np.zeros((8, 8, 3), np.uint8)
    bank = Bank()
    for k, o in enumerate([0.11, 0.30]):
        bank.entries[(k, 0)] = BankEntry(crop, np.zeros((4, 2)), np.array([o, 0.6]), 0.3, 50.0)
    fades = S.crossfade_weights(np.array([0, 0, 1, 1, 1]), 3)
    assert set(fades[2]) == {0, 1}  # the fade alone keeps two thirds of the 0.11 crop as the mouth opens to 0.30
    assert bank.unstretched(fades[2], 0.30, 1) == {1: 1.0}
    both = bank.unstretched(fades[2], 0.15, 1)  # a target the 0.11 crop fits: the fade stays
    assert both == pytest.approx(fades[2])
    assert bank.unstretched({0: 1.0}, 0.30, 0) == {0: 1.0}  # the frame's own choice stays, the only crop near
