"""Sync and look metrics of a video against a voice track (and optionally the source video).

Usable on its own: `evaluate(video, audio, workdir)` measures any video with any audio (the
source with its own audio gives the ceiling, with a new voice the unsynced floor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import butter, savgol_filter, sosfiltfilt

from dubbing import media
from dubbing import video as vio
from dubbing.constants import SPEECH_RATE

from . import geometry as G
from . import track as T
from . import visemes as V
from .mouth_model import MOVE
from .report import SyncReport

MAX_LAG_S = 0.3  # seconds searched either side for the audio-visual offset
COMPARE_EVERY = 4  # frames: PSNR and SSIM outside the mouth are sampled on every 4th frame
SSIM_SHORT_SIDE = 720  # px: SSIM is taken on frames shrunk to at most this on their shorter side (ssim_scale)
MEASURE_WHOLE = 40.0  # s: an output up to this long is measured whole; a longer one in windows
MEASURE_WINDOWS = 3  # windows spread over a longer output (measuring re-tracks its faces: ~0.07 s a 720p frame)
MEASURE_WINDOW = 12.0  # s each
FIGURES = ("av_offset_frames", "av_confidence", "target_r", "closure_rate", "amp_ratio", "jitter_ratio",
           "flicker_ratio", "psnr_outside", "ssim_outside")
AUDIO_RATE = SPEECH_RATE  # Hz the loudness is measured at
SPEECH_BAND = (300.0, 3400.0)  # Hz: the telephone band, where the articulation-driven loudness is


@dataclass
class FaceCurve:
    """One face track measured: frames, landmarks (subset layout px), canonical MOVING points, (open, width)."""

    frames: np.ndarray
    lm: np.ndarray
    moving: np.ndarray
    q: np.ndarray

    @property
    def box(self) -> np.ndarray:
        return G.bbox(self.lm.reshape(-1, 2))


def curves(tracks: T.Tracks) -> dict[int, FaceCurve]:
    """Every track of a tracked video as a FaceCurve (canonical frame from its first frame)."""
    return {tid: curve(tracks, tid) for tid in tracks.ids}


def curve(tracks: T.Tracks, tid: int) -> FaceCurve:
    """One track as a FaceCurve (canonical frame from its first frame)."""
    f, lm = tracks.landmarks(tid)
    tpl = G.canonical_template(lm[0])
    canon = np.array([G.apply(G.to_canonical(x, tpl), x) for x in lm])
    return FaceCurve(f, lm, canon[:, MOVE], G.mouth_measures(canon)[:, :2])


def openings(tracks: T.Tracks) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every track's (frames, mouth opening per frame, box): the FaceCurves' few numbers, made one track
    at a time so that their landmarks, which grow with the video's length, are not all held at once."""
    out = {}
    for tid in tracks.ids:
        c = curve(tracks, tid)
        out[tid] = (c.frames, c.q[:, 0], c.box)
    return out


def pick(faces: dict[int, FaceCurve], box: np.ndarray | None = None) -> FaceCurve | None:
    """The face overlapping `box` most, else the one seen in most frames."""
    if not faces:
        return None
    if box is not None:
        return max(faces.values(), key=lambda c: (G.iou(c.box, box), len(c.frames)))
    return max(faces.values(), key=lambda c: len(c.frames))


def samples(audio: str | Path | np.ndarray) -> np.ndarray:
    """Mono samples at AUDIO_RATE Hz: a media file decoded, or samples already decoded at that rate
    (so a caller that needs a voice several times decodes it once); none for a file without audio."""
    if isinstance(audio, np.ndarray):
        return audio
    if not media.probe(audio).has_audio:
        return np.zeros(0, np.float32)
    return media.load_audio(audio, AUDIO_RATE)


def envelope(audio: str | Path | np.ndarray, times: np.ndarray,
             band: tuple[float, float] | None = SPEECH_BAND) -> np.ndarray:
    """Voice loudness (RMS, linear) in `band` (Hz; None = full band) over each frame's interval
    centred on `times` (s); 0 past the audio's end. The speech band leaves out the low hum, breath
    noise and music bass that move independently of the lips. `audio`: see samples."""
    return loudness(samples(audio), times, band)


LOUDNESS_CHUNK = 60.0  # s of samples filtered at once by `loudness`
LOUDNESS_MARGIN = 1.0  # s of context on each side of a chunk for the zero-phase filter's edges


def loudness(y: np.ndarray, times: np.ndarray, band: tuple[float, float] | None = SPEECH_BAND) -> np.ndarray:
    """`envelope` of samples `y` at AUDIO_RATE. Filtered in chunks of LOUDNESS_CHUNK s with
    LOUDNESS_MARGIN s of context, so a long voice is never copied whole in float64."""
    sr = AUDIO_RATE
    y = np.asarray(y)
    sos = butter(4, band, "bandpass", fs=sr, output="sos") if band is not None and len(y) > 27 else None
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    half = max(1, int(sr * dt / 2))
    centre = (np.asarray(times, np.float64) * sr).astype(np.int64)
    out = np.zeros(len(times))
    chunk, margin = int(LOUDNESS_CHUNK * sr), max(int(LOUDNESS_MARGIN * sr), half)
    for a in range(0, len(y), chunk):
        lo, hi = max(0, a - margin), min(len(y), a + chunk + margin)
        seg = y[lo:hi].astype(np.float64)
        if sos is not None and len(seg) > 27:
            seg = sosfiltfilt(sos, seg)
        c = np.cumsum(np.r_[0.0, seg ** 2])
        i = np.flatnonzero((centre >= a) & (centre < a + chunk))
        start, stop = np.maximum(centre[i] - half, 0), np.minimum(centre[i] + half, len(y))
        ok = stop > start
        i, start, stop = i[ok], start[ok], stop[ok]
        out[i] = np.sqrt(np.maximum(c[stop - lo] - c[start - lo], 0.0) / (stop - start))
    return out


def _r(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def av_sync(opening: np.ndarray, env: np.ndarray, max_lag: int) -> tuple[int, float, float]:
    """(best lag in frames, confidence, r at that lag): Pearson r of the frame-to-frame change of
    the opening at t with that of the loudness at t - lag, over lags in [-max_lag, max_lag];
    confidence = peak r minus the median r over lags (SyncNet-style). A positive lag means the
    mouth moves after the voice.

    Changes, not levels: opening and loudness both swing at the syllable rate (~4 Hz), so the
    correlation of the levels has side peaks one syllable (~0.25 s) either side of the true lag,
    and on a clip of a few seconds a side peak can win (vr_face2 with its own audio peaked at
    -9 frames). Differencing whitens both curves (the usual pre-whitening of time-delay
    estimation), which leaves one peak about a frame wide."""
    if len(opening) < 3:
        return 0, 0.0, 0.0
    opening, env = np.gradient(np.asarray(opening, float)), np.gradient(np.asarray(env, float))
    rs = []
    n = len(opening)
    for lag in range(-max_lag, max_lag + 1):
        a = opening[max(lag, 0): n + min(lag, 0)]
        b = env[max(-lag, 0): n - max(lag, 0)]
        rs.append(_r(a, b))
    rs = np.array(rs)
    k = int(np.argmax(rs))
    return k - max_lag, float(rs[k] - np.median(rs)), float(rs[k])


def closure_rate(opening: np.ndarray, times: np.ndarray, intervals: Sequence[tuple[float, float]],
                 threshold: float, slack: int = 1) -> float | None:
    """Fraction of bilabial intervals (s) during which the measured opening drops to `threshold`
    or below in some frame overlapping the interval widened by `slack` frames either side (the frame
    nearest the middle if none overlaps).

    One frame of slack because lips finish closing about a frame after the sound stops: on vr_face1's
    own footage "help" has its /p/ silence at 1.80-1.89 s, where the aligner puts the /p/, and the lips
    shut at the 1.90 s frame; without slack the person's real mouth scores 2 of 3. An offset of one
    frame (33-40 ms) is below what viewers notice (~45 ms of sound leading, ITU-R BT.1359)."""
    if not len(intervals) or not len(times):
        return None
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    hits = 0
    for a, b in intervals:
        sel = (times + dt / 2 + slack * dt > a) & (times - dt / 2 - slack * dt < b)
        idx = np.flatnonzero(sel) if sel.any() else [int(np.argmin(np.abs(times - (a + b) / 2)))]
        hits += bool(np.min(opening[idx]) <= threshold)
    return hits / len(intervals)


def closed_threshold(q_open: np.ndarray) -> float:
    """Opening (iod) below which lips count as closed for this face: 20 % of its way from the
    5th to the 95th percentile."""
    lo, hi = np.percentile(q_open, [5, 95])
    return float(lo + 0.2 * (hi - lo))


def jitter(moving: np.ndarray) -> float:
    """High-frequency landmark noise: RMS of canonical lip points minus their 5-frame quadratic
    Savitzky-Golay fit (iod units)."""
    if len(moving) < 7:
        return 0.0
    sm = savgol_filter(moving, 5, 2, axis=0)
    return float(np.sqrt(np.mean((moving - sm) ** 2)))


def mouth_mask(shape: tuple[int, int], lms: Sequence[np.ndarray], grow: float = 1.45, pad: int = 6) -> np.ndarray:
    """bool mask of the mouth regions (hull of the moving points grown about its centre) of faces
    given as subset-layout landmarks (px)."""
    m = np.zeros(shape[:2], np.uint8)
    for lm in lms:
        mv = lm[MOVE]
        c = mv.mean(0)
        hull = cv2.convexHull((c + grow * (mv - c)).astype(np.float32)).astype(np.int32)
        cv2.fillConvexPoly(m, hull, 255)
    if pad:
        m = cv2.dilate(m, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
    return m > 0


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two grey images (Gaussian window, sigma 1.5). In float32: twice as fast as
    float64 (OpenCV's SIMD blur), and within 1e-5 of it on 720p frames."""
    a, b = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma ** 2, blur(b * b) - mb ** 2, blur(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))


def ssim_scale(img: np.ndarray, short: int = SSIM_SHORT_SIDE) -> np.ndarray:
    """`img` shrunk (area average) by the whole factor that brings its shorter side to at most `short` px;
    as it is if already that small. SSIM is a judgement at a viewing scale (Wang et al. 2004 shrink by
    round(shorter side / 256)). On ls_demo2 (1080x1920, 20 s) compare_frames took 22.2 s at full size and
    15.5 s so (stop 30, one run each with a test suite beside them; SSIM 0.9931 -> 0.9953, PSNR unchanged); 720p and smaller frames are as before."""
    k = int(np.ceil(min(img.shape[:2]) / short))
    if k <= 1:
        return img
    return cv2.resize(img, (img.shape[1] // k, img.shape[0] // k), interpolation=cv2.INTER_AREA)


def compare_frames(video: str | Path, source: str | Path, source_tracks: T.Tracks,
                   every: int = COMPARE_EVERY, span: tuple[int, int] | None = None,
                   pts: tuple[np.ndarray | None, np.ndarray | None] = (None, None)) -> tuple[float, float, float]:
    """(PSNR dB, SSIM) outside the mouth regions of the source's faces, and the flicker ratio
    (mean absolute frame-to-frame change inside the mouth box, output over source). `span` (first,
    stop): those frames only, `source_tracks` being theirs (Tracks.window); `pts`: the two files'
    frame pts when known (video.frames).

    PSNR and SSIM are taken on every `every`-th frame (full-frame SSIM cost twice the face tracking): a
    sample of the whole video's mean. The flicker sees every frame, in the mouth box only."""
    se, n, ssum, nssim, fl_o, fl_s = 0.0, 0, 0.0, 0, 0.0, 0.0
    prev = None
    first = 0 if span is None else span[0]
    for fo, fs in zip(vio.frames(video, span=span, pts=pts[0]), vio.frames(source, span=span, pts=pts[1])):
        i = fs.index - first
        a, b = fo.rgb, fs.rgb[: fo.rgb.shape[0], : fo.rgb.shape[1]]
        lms = [source_tracks.lm[i, k] for k in np.flatnonzero(source_tracks.track[i] >= 0)] \
            if i < len(source_tracks.track) else []
        if i % every == 0:
            keep = ~mouth_mask(a.shape, lms)
            se += cv2.norm(a, b, cv2.NORM_L2SQR, mask=keep.view(np.uint8))  # squared error outside the mouths
            n += int(keep.sum()) * 3
            ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
            ga, gb, small = ssim_scale(ga), ssim_scale(gb), ssim_scale(keep.astype(np.float32)) > 0.999
            ssum += float(ssim_map(ga, gb)[small].mean()) if small.any() else 1.0
            nssim += 1
        if lms:
            x0, y0, x1, y1 = G.bbox(np.vstack([lm[MOVE] for lm in lms])).astype(int)
            x0, y0 = max(x0, 0), max(y0, 0)
            ro = cv2.cvtColor(a[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32) if y1 > y0 and x1 > x0 else None
            rs = cv2.cvtColor(b[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32) if ro is not None else None
            if ro is not None and prev is not None and prev[0].shape == ro.shape:
                fl_o += float(np.abs(ro - prev[0]).mean())
                fl_s += float(np.abs(rs - prev[1]).mean())
            prev = (ro, rs) if ro is not None else None
        else:
            prev = None
    if not n:
        return float("nan"), float("nan"), float("nan")
    mse = se / n
    psnr = 10 * np.log10(255.0 ** 2 / mse) if mse > 0 else 99.0
    return float(psnr), ssum / max(nssim, 1), (fl_o / fl_s if fl_s > 0 else 1.0)


def evaluate(video: str | Path, audio: str | Path | np.ndarray, workdir: str | Path,
             phones: Sequence[tuple[str, float, float, str]] | None = None, speaker: str | None = None,
             target_open: np.ndarray | None = None, source: str | Path | None = None,
             source_tracks: T.Tracks | None = None, face_box: np.ndarray | None = None,
             overrides: dict[str, str] | None = None, tracks: T.Tracks | None = None,
             span: tuple[int, int] | None = None) -> SyncReport:
    """Measure `video` against `audio` (and `source`, if given). target_open: the wanted opening
    per frame of the whole video (NaN where none); phones restricted to `speaker` when given;
    tracks: `video`'s face tracks if already made (else it is tracked here). `span` (first, stop):
    measure those frames only (`source_tracks` and `target_open` still of the whole video).

    `audio` should be the voice alone (a dub's voices, a source's separated speech): music and
    effects under the voice add loudness the lips do not make."""
    workdir = Path(workdir)
    first = 0 if span is None else span[0]
    pts = vio.frame_times(video)[1] if span is not None and tracks is None else None  # demuxed once, sought twice
    tr = tracks if tracks is not None else T.track_file(video, workdir / "measure_out", span=span, pts=pts)
    times = tr.times
    if target_open is not None:
        target_open = np.asarray(target_open)[first:first + len(times)]
    src_pts = None if source_tracks is None else source_tracks.pts  # the source's, as tracked
    if source_tracks is not None and span is not None:
        source_tracks = source_tracks.window(*span)
    face = pick(curves(tr), face_box)
    rep = SyncReport(frames=len(times), tracks=len(tr.ids))
    if face is None:
        return rep
    f, o = face.frames, face.q[:, 0]
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    env = envelope(audio, times)[f]
    lag, conf, _ = av_sync(o, env, max(1, int(round(MAX_LAG_S / dt))))
    rep.av_offset_frames, rep.av_confidence = lag, round(conf, 4)
    if target_open is not None:
        tgt = np.asarray(target_open)[f]
        ok = np.isfinite(tgt)
        rep.target_r = round(_r(o[ok], tgt[ok]), 4)
    ph = [p for p in (phones or []) if speaker is None or p[3] == speaker]
    bil = [(a, b) for s, a, b, _ in ph if V.is_bilabial(s, overrides) and a < times[-1] and b > times[0]]
    src_face = None
    if source is not None:
        if source_tracks is None:
            source_tracks = T.track_file(source, workdir / "measure_src", span=span)
        src_face = pick(curves(source_tracks), face.box)
    thr = closed_threshold(src_face.q[:, 0] if src_face is not None else o)
    cr = closure_rate(o, times[f], bil, thr)
    rep.closure_rate = None if cr is None else round(cr, 4)
    if src_face is not None:
        rep.amp_ratio = amp_ratio(face, src_face)
        js = jitter(src_face.moving)
        rep.jitter_ratio = round(jitter(face.moving) / js, 4) if js > 0 else None
        psnr, ssim, flick = compare_frames(video, source, source_tracks, span=span, pts=(pts, src_pts))
        rep.psnr_outside, rep.ssim_outside, rep.flicker_ratio = round(psnr, 2), round(ssim, 4), round(flick, 4)
    return rep


def amp_ratio(out: FaceCurve, src: FaceCurve) -> float | None:
    """How wide `out`'s mouth swings against `src`'s: std of the opening (inner-lip gap over mouth width)
    over the frames both curves have, out's over src's (1 = as wide as the source; None = too few frames
    or a still source mouth)."""
    _, i, j = np.intersect1d(out.frames, src.frames, return_indices=True)
    if len(i) < 3:
        return None
    ratio = lambda q: q[:, 0] / np.maximum(q[:, 1], 1e-6)
    s = float(ratio(src.q[j]).std())
    return round(float(ratio(out.q[i]).std()) / s, 4) if s > 1e-9 else None


def measure_spans(times: np.ndarray, drawn: np.ndarray, whole: float = MEASURE_WHOLE, count: int = MEASURE_WINDOWS,
                  window: float = MEASURE_WINDOW) -> list[tuple[int, int]]:
    """The frame spans (first, stop) an output is measured on: all of it up to `whole` s; beyond, `count`
    windows of `window` s, one in each of `count` equal parts of the video, each where most frames
    are `drawn` (bool per frame). The cost of measuring stays bounded at any length."""
    n = len(times)
    if n == 0:
        return []
    if times[-1] - times[0] <= whole:
        return [(0, n)]
    dt = float(np.median(np.diff(times)))
    w = max(1, int(round(window / dt)))
    done = np.r_[0, np.cumsum(np.asarray(drawn, int))]
    out = []
    bounds = np.linspace(0, n, count + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo <= w:
            out.append((int(lo), int(hi)))
            continue
        starts = np.arange(lo, hi - w + 1)
        best = int(starts[np.argmax(done[starts + w] - done[starts])])
        out.append((best, best + w))
    return out


def pooled(parts: Sequence[SyncReport]) -> dict[str, float | int | None]:
    """The FIGURES of reports measured on separate spans as one: each a mean weighted by the span's
    frames, over the spans where it could be measured (None where none could)."""
    out: dict[str, float | int | None] = {}
    for k in FIGURES:
        got = [(float(getattr(p, k)), p.frames) for p in parts
               if getattr(p, k) is not None and np.isfinite(getattr(p, k)) and p.frames]
        if not got:
            out[k] = None
            continue
        v = float(np.average([x for x, _ in got], weights=[w for _, w in got]))
        out[k] = int(round(v)) if k == "av_offset_frames" else round(v, 4)
    return out
