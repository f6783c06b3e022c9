"""The dubbed soundtrack: voice clips placed on the timeline, the background ducked under them, the whole
normalised to a target integrated loudness (BS.1770, pyloudnorm) with a peak limiter at -1 dBFS.

Audio arrays are float32, shape (samples,) or (samples, channels).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyloudnorm
import soxr
from scipy.ndimage import binary_closing, minimum_filter1d, uniform_filter1d
from scipy.signal import sosfilt

from .config import Mix

FADE = 0.005  # seconds of raised-cosine fade at each clip edge
CONTROL_RATE = 200  # Hz of the ducking gain envelope before it is interpolated to samples
ACTIVE_DB = -45.0  # dB below the voices' loudest block that still counts as voice
SILENCE_DBFS = -70.0  # voice blocks quieter than this never count
ATTACK = 0.05  # seconds for the background to go down under a voice (finished as the voice starts)
RELEASE = 0.3  # seconds for it to come back up after the voice
GAP = 0.4  # seconds: pauses between voice blocks shorter than this stay ducked (no pumping)
PEAK_DBFS = -1.0  # ceiling for (4x oversampled) peaks
LIMIT_LOOKAHEAD = 0.002  # seconds: the limiter's gain ramps down over this before a peak
LIMIT_HOLD = 0.05  # seconds the limiter's gain stays down after a peak before ramping back
OVERSAMPLE = 4
PASSES = 5  # gain corrections at most when limiting lowers the loudness
BLOCK = 1 << 18  # samples per block when oversampling long signals


def _fade(clip: np.ndarray, sample_rate: int) -> np.ndarray:
    n = min(int(FADE * sample_rate), len(clip) // 2)
    if n == 0:
        return clip
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    out = clip.copy()
    out[:n] *= ramp
    out[len(out) - n:] *= ramp[::-1]
    return out


def place(clips: list[tuple[float, np.ndarray]], length: int, sample_rate: int) -> np.ndarray:
    """Mono track of `length` samples with each (start seconds, mono clip) added at its start.

    Clips that overlap add; each clip gets a 5 ms fade in and out; parts outside [0, length) are cut.
    """
    return place_span(clips, 0, length, sample_rate)


def place_span(clips: list[tuple[float, np.ndarray]], a: int, b: int, sample_rate: int) -> np.ndarray:
    """Samples a..b-1 of the track `place` makes (so a long track can be made a window at a time)."""
    out = np.zeros(max(0, b - a), np.float32)
    for start, clip in clips:  # a clip is read only where it meets the span (clips may be kept in a file)
        at = int(round(start * sample_rate))
        lo, hi = max(0, a - at), min(len(clip), b - at)
        if hi <= lo:
            continue
        clip = np.asarray(clip, dtype=np.float32)
        if clip.ndim != 1:
            raise ValueError(f"clips must be mono (samples,), got shape {clip.shape}")
        out[at + lo - a:at + hi - a] += _fade(clip, sample_rate)[lo:hi]
    return out


def duck_envelope(voices: np.ndarray, sample_rate: int, duck_db: float) -> np.ndarray:
    """Per-sample background gain in dB: `duck_db` where the mono `voices` track is active, else 0.

    Voice activity is measured in 1/CONTROL_RATE s blocks; pauses shorter than GAP count as voice.
    The gain reaches `duck_db` over ATTACK seconds ending at each voice onset (the mix is offline, so
    it can look ahead) and returns to 0 dB over RELEASE seconds after the voice ends, linearly in dB.
    """
    knots = duck_knots(block_levels(voices, sample_rate), sample_rate, duck_db)
    return duck_span(knots, sample_rate, 0, len(voices))


def block_levels(voices: np.ndarray, sample_rate: int) -> np.ndarray:
    """Level (dB) of each 1/CONTROL_RATE s block of mono `voices`, the last one padded with silence
    (a track fed in pieces of whole blocks gives the same levels piece by piece)."""
    hop = max(1, sample_rate // CONTROL_RATE)
    blocks = -(-len(voices) // hop)
    padded = np.zeros(blocks * hop, np.float32)
    padded[:len(voices)] = voices
    return 10 * np.log10(np.square(padded.reshape(blocks, hop)).mean(axis=1, dtype=np.float64) + 1e-20)


def duck_knots(level: np.ndarray, sample_rate: int, duck_db: float) -> np.ndarray:
    """The ducking gain (dB) at each block's start and at the end of the last, from the voices'
    block_levels: see duck_envelope."""
    hop = max(1, sample_rate // CONTROL_RATE)
    blocks = len(level)
    active = level > max(SILENCE_DBFS, level.max(initial=-200.0) + ACTIVE_DB)
    gap = int(round(GAP * sample_rate / hop))
    if gap and blocks:
        active = binary_closing(np.pad(active, gap, mode="edge"), np.ones(gap, bool))[gap:-gap]
    ahead = int(round(ATTACK * sample_rate / hop))
    if ahead and blocks:  # each active block also activates the `ahead` blocks before it
        active = np.flip(np.convolve(np.flip(active), np.ones(ahead + 1), mode="full")[:blocks] > 0)
    target = np.where(active, float(duck_db), 0.0)
    down = abs(duck_db) * hop / (ATTACK * sample_rate)
    up = abs(duck_db) * hop / (RELEASE * sample_rate)
    knots = np.empty(blocks + 1)  # gain at each block's start (and the end of the last)
    cur = 0.0
    for i, t in enumerate(target):
        cur = max(cur - down, t) if t < cur else min(cur + up, t)
        knots[i + 1] = cur
    knots[0] = knots[1] if blocks else 0.0
    return knots


def duck_span(knots: np.ndarray, sample_rate: int, a: int, b: int) -> np.ndarray:
    """Samples a..b-1 of the per-sample ducking curve (dB) through `knots` (linear within each block)."""
    hop = max(1, sample_rate // CONTROL_RATE)
    i = np.arange(a, b)
    k = np.minimum(i // hop, len(knots) - 2) if len(knots) > 1 else np.zeros(len(i), int)
    if len(knots) < 2:
        return np.zeros(len(i), np.float32)
    start, step = knots[:-1].astype(np.float32), np.diff(knots).astype(np.float32)
    return start[k] + step[k] * ((i - k * hop).astype(np.float32) / hop)


K_WEIGHTING = (("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0))  # BS.1770 (as pyloudnorm)
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)  # BS.1770 weights of L, R, C, Ls, Rs
GATE_ABSOLUTE = -70.0  # LUFS
GATE_RELATIVE = -10.0  # LU below the absolute-gated loudness


@lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> np.ndarray:
    """The K-weighting pre-filter as second-order sections, from pyloudnorm's filter design."""
    rows = []
    for kind, gain_db, q, fc in K_WEIGHTING:
        f = pyloudnorm.IIRfilter(gain_db, q, fc, sample_rate, kind)
        b, a = np.asarray(f.b, np.float64) * f.passband_gain, np.asarray(f.a, np.float64)
        rows.append(np.r_[b / a[0], a / a[0]])
    return np.array(rows)


class LoudnessMeter:
    """Integrated loudness (ITU-R BS.1770-4 gating) of a signal of `length` samples at `sample_rate` Hz
    fed in pieces, in order (`add`), so a long file is measured block by block from disk.

    The K-weighting filter carries its state from piece to piece and each 400 ms gating block (75 %
    overlap) sums its squares as they arrive: memory is the blocks' sums, not the signal (pyloudnorm's
    meter copies the whole signal in float64 several times: 2 GB for a 10-minute stereo mix). Same
    figure as pyloudnorm.Meter (tests/test_mix.py). A signal shorter than 400 ms is one block.
    """

    def __init__(self, sample_rate: int, channels: int, length: int, block: float = 0.4):
        self.rate, self.channels = sample_rate, channels
        self.size = min(block, length / sample_rate) if length else block  # s per gating block
        count = int(np.round((length / sample_rate - self.size) / (self.size * 0.25))) + 1 if length else 0
        j = np.arange(count)  # sample bounds of each gating block, as the standard's eq. 3
        self.bounds = np.stack([(self.size * (j * 0.25) * sample_rate).astype(np.int64),
                                (self.size * (j * 0.25 + 1) * sample_rate).astype(np.int64)], 1)
        self.sos = _k_weighting(sample_rate)
        self.zi = np.zeros((self.sos.shape[0], 2, channels))
        self.power = np.zeros((count, channels))  # sum of squares per gating block and channel
        self.pos = 0  # samples fed so far

    def add(self, audio: np.ndarray) -> "LoudnessMeter":
        """Feed the next samples, (samples,) or (samples, channels)."""
        audio = np.asarray(audio)
        x = audio[:, None] if audio.ndim == 1 else audio
        for lo in range(0, len(x), BLOCK):
            y, self.zi = sosfilt(self.sos, x[lo:lo + BLOCK].astype(np.float64), axis=0, zi=self.zi)
            start, stop = self.pos, self.pos + len(y)
            first = int(np.searchsorted(self.bounds[:, 1], start, side="right"))
            last = int(np.searchsorted(self.bounds[:, 0], stop, side="left"))
            if last > first:
                c = np.r_[np.zeros((1, self.channels)), np.cumsum(y * y, axis=0)]
                a = np.clip(self.bounds[first:last, 0], start, stop) - start
                b = np.clip(self.bounds[first:last, 1], start, stop) - start
                self.power[first:last] += c[b] - c[a]
            self.pos = stop
        return self

    @property
    def lufs(self) -> float:
        """The integrated loudness of what was fed, LUFS; -inf for silence."""
        weighted = self.power / (self.size * self.rate) @ np.asarray(CHANNEL_GAINS[:self.channels])
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10 * np.log10(weighted)
        gated = block_lufs >= GATE_ABSOLUTE
        if not gated.any():
            return float("-inf")
        relative = -0.691 + 10 * np.log10(weighted[gated].mean()) + GATE_RELATIVE
        keep = (block_lufs > relative) & (block_lufs > GATE_ABSOLUTE)
        if not keep.any():
            return float("-inf")
        return float(-0.691 + 10 * np.log10(weighted[keep].mean()))


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 gating) of (samples,) or (samples, channels)
    `audio`; -inf for silence. See LoudnessMeter."""
    audio = np.asarray(audio)
    return LoudnessMeter(sample_rate, 1 if audio.ndim == 1 else audio.shape[1], len(audio)).add(audio).lufs


def _abs_max(x: np.ndarray, step: int = 1) -> np.ndarray:
    """max |x| over the channels of (samples, channels) `x` and over each run of `step` samples."""
    out = np.abs(x[0::step, 0])
    for c in range(x.shape[1]):
        for k in range(step):
            np.maximum(out, np.abs(x[k::step, c]), out=out)
    return out


def _peak_envelope(audio: np.ndarray) -> np.ndarray:
    """Per-sample estimate of the true peak: max over channels of the 4x oversampled |signal|."""
    x = np.ascontiguousarray(audio if audio.ndim == 2 else audio[:, None], dtype=np.float32)
    n = len(x)
    env = _abs_max(x)
    margin = 64  # samples of context each side of a block for the interpolation filter
    for start in range(0, n, BLOCK):
        lo, hi = max(0, start - margin), min(n, start + BLOCK + margin)
        up = soxr.resample(x[lo:hi], 1, OVERSAMPLE)
        up = np.pad(up, [(0, max(0, (hi - lo) * OVERSAMPLE - len(up))), (0, 0)])[:(hi - lo) * OVERSAMPLE]
        stop = min(n, start + BLOCK)
        np.maximum(env[start:stop], _abs_max(up, OVERSAMPLE)[start - lo:stop - lo], out=env[start:stop])
    return env


def _limiter_gain(peaks: np.ndarray, sample_rate: int, ceiling: float) -> np.ndarray | None:
    """Per-sample gain bringing `peaks` (linear) to at most `ceiling`; None if none is needed.

    The gain ramps down over LIMIT_LOOKAHEAD before a peak, holds LIMIT_HOLD after it, then ramps back
    up; a ramp of width w is the moving average of a running minimum at least w wide, so the gain never
    exceeds what any sample needs.
    """
    need = np.minimum(np.float32(1.0), np.float32(ceiling) / np.maximum(peaks, np.float32(1e-12)))
    if need.min() >= 1.0:
        return None
    ramp = max(1, int(LIMIT_LOOKAHEAD * sample_rate)) | 1  # odd
    hold = int(LIMIT_HOLD * sample_rate)
    # running minimum over [n - ramp//2 - hold, n + ramp//2]: covers the moving average's window
    low = minimum_filter1d(need, size=ramp + hold, origin=(hold + 1) // 2, mode="nearest")
    return np.minimum(uniform_filter1d(low, size=ramp, mode="nearest"), need)


def _scaled(audio: np.ndarray, gain: np.ndarray | float) -> np.ndarray:
    gain = np.asarray(gain, dtype=np.float32)
    return audio * (gain[:, None] if audio.ndim == 2 and gain.ndim == 1 else gain)


def limit(audio: np.ndarray, sample_rate: int, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """`audio` with its (4x oversampled) peaks brought down to `peak_dbfs`, channels linked."""
    gain = _limiter_gain(_peak_envelope(audio), sample_rate, 10 ** (peak_dbfs / 20))
    return audio if gain is None else _scaled(audio, gain)


def normalize(audio: np.ndarray, sample_rate: int, lufs: float, peak_dbfs: float = PEAK_DBFS) -> np.ndarray:
    """`audio` at `lufs` integrated loudness with peaks at most `peak_dbfs`; silence stays silence.

    Limiting lowers the loudness a little, so where the limiter acts the gain is corrected and the
    limiter re-run (PASSES at most, stopping within 0.1 LU). The ceiling wins: a target too loud for
    the material's crest factor is missed (speech at -9 LUFS landed at -9.3, at -6 LUFS at -8.1).
    """
    audio = np.asarray(audio, dtype=np.float32)
    return _scaled(audio, normalize_gain(audio, sample_rate, lufs, peak_dbfs))


# --- the same, a window at a time: a long soundtrack is never held whole (dubbing.mix_file) ---

Read = Callable[[int, int], np.ndarray]  # samples a..b-1 of a signal, (samples,) or (samples, channels)
WINDOW_BLOCKS = 4000  # ducking blocks per window (20 s at any rate)
MARGIN = 1 << 13  # samples of context on each side of a window for its peaks and limiter (>> hold + ramp)


def spans(n: int, sample_rate: int) -> list[tuple[int, int]]:
    """The windows (first, stop) a signal of `n` samples is worked in, each a whole number of ducking blocks."""
    size = max(1, sample_rate // CONTROL_RATE) * WINDOW_BLOCKS
    return [(a, min(n, a + size)) for a in range(0, n, size)]


class Gain:
    """The gain normalize() applies, window by window: `gain` (linear), times the limiter's per-sample
    gain in the windows whose peaks (with MARGIN either side) would pass `ceiling` under it."""

    def __init__(self, gain: float, read: Read | None = None, n: int = 0, sample_rate: int = 0,
                 ceiling: float = 1.0, tops: dict[tuple[int, int], float] | None = None):
        self.gain, self.read, self.n, self.rate, self.ceiling = gain, read, n, sample_rate, ceiling
        self.tops = tops or {}  # (first, stop) of each window -> its highest peak

    def __call__(self, a: int, b: int) -> np.ndarray | float:
        """The gain over samples a..b-1 (a window of `spans`): one number, or one per sample."""
        near = [t for (lo, hi), t in self.tops.items() if lo < b + MARGIN and hi > a - MARGIN]
        if self.read is None or max(near, default=np.inf) * self.gain <= self.ceiling:
            return self.gain
        lo, hi = max(0, a - MARGIN), min(self.n, b + MARGIN)
        limiter = _limiter_gain(_peak_envelope(self.read(lo, hi)) * np.float32(self.gain), self.rate, self.ceiling)
        return self.gain if limiter is None else limiter[a - lo:b - lo] * np.float32(self.gain)


def normalize_gain_of(read: Read, n: int, channels: int, sample_rate: int, lufs: float,
                      peak_dbfs: float = PEAK_DBFS) -> Gain:
    """normalize_gain of a signal of `n` samples read a window at a time (`read`): one pass measures its
    loudness and its peaks per window, then a pass per gain correction where the limiter acts."""
    meter = LoudnessMeter(sample_rate, channels, n)
    tops: dict[tuple[int, int], float] = {}
    for a, b in spans(n, sample_rate):
        x = read(a, b)
        meter.add(x)
        tops[a, b] = float(_peak_envelope(x).max(initial=0.0))
    if not np.isfinite(meter.lufs):
        return Gain(1.0)
    ceiling = 10 ** (peak_dbfs / 20)
    gain_db, top = lufs - meter.lufs, max(tops.values(), default=0.0)
    for _ in range(PASSES):
        g = 10 ** (gain_db / 20)
        if top * g <= ceiling:  # a plain gain moves the loudness by exactly gain_db
            return Gain(g)
        gain = Gain(g, read, n, sample_rate, ceiling, tops)
        limited = LoudnessMeter(sample_rate, channels, n)
        for a, b in spans(n, sample_rate):
            limited.add(_scaled(read(a, b), gain(a, b)))
        err = lufs - limited.lufs
        if abs(err) <= 0.1:
            break
        gain_db += err
    return gain


def normalize_gain(audio: np.ndarray, sample_rate: int, lufs: float,
                   peak_dbfs: float = PEAK_DBFS) -> np.ndarray | float:
    """The linear gain normalize() applies: one number, or one per sample where the limiter acts, so
    that parts of a sum (stems) can be given the gain of the whole."""
    audio = np.asarray(audio, dtype=np.float32)
    gain = normalize_gain_of(lambda a, b: audio[a:b], len(audio), 1 if audio.ndim == 1 else audio.shape[1],
                             sample_rate, lufs, peak_dbfs)
    return _whole(gain, len(audio), sample_rate)


def _whole(gain: Gain, n: int, sample_rate: int) -> np.ndarray | float:
    if gain.read is None:
        return gain.gain
    return np.concatenate([np.broadcast_to(np.float32(gain(a, b)), (b - a,)) for a, b in spans(n, sample_rate)])


def mix_of(voices: Read, background: Read, n: int, channels: int, sample_rate: int, cfg: Mix
           ) -> tuple[Callable[[int, int], tuple[np.ndarray, np.ndarray]], Gain]:
    """mix_parts of a mono voices track and a background of `channels` channels (0 = mono), both of
    `n` samples and read a window at a time: (parts(a, b) -> (voices on the background's channels,
    background scaled and ducked) over samples a..b-1, the Gain that makes their sum the mix)."""
    knots = duck_knots(np.concatenate([block_levels(voices(a, b), sample_rate) for a, b in spans(n, sample_rate)])
                       if n else np.zeros(0), sample_rate, cfg.duck_db)

    def parts(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        v, bg = np.asarray(voices(a, b), np.float32), np.asarray(background(a, b), np.float32)
        ducked = _scaled(bg, 10 ** ((cfg.background_db + duck_span(knots, sample_rate, a, b)) / 20))
        return (v[:, None] * np.ones((1, channels), np.float32) if channels else v), ducked

    gain = normalize_gain_of(lambda a, b: sum(parts(a, b)), n, max(channels, 1), sample_rate, cfg.loudness_lufs)
    return parts, gain


def mix(voices: np.ndarray, background: np.ndarray, sample_rate: int, cfg: Mix) -> np.ndarray:
    """Voices over the ducked background, normalised to `cfg.loudness_lufs` with peaks <= -1 dBFS.

    voices: mono (samples,); background: (samples,) or (samples, channels), both at `sample_rate` Hz.
    The background is scaled by `cfg.background_db` and lowered by `cfg.duck_db` under the voices;
    the voices go to every channel equally (centred). The output has the background's channels and
    the longer of the two lengths.
    """
    voices, background, gain = mix_parts(voices, background, sample_rate, cfg)
    return _scaled(voices + background, gain)


def mix_parts(voices: np.ndarray, background: np.ndarray, sample_rate: int,
              cfg: Mix) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    """What mix() sums, before its gain: (the voices on the background's channels, the background scaled and
    ducked), both of the longer length, and the gain (see normalize_gain) that makes their sum the mix."""
    voices = np.asarray(voices, dtype=np.float32)
    background = np.asarray(background, dtype=np.float32)
    if voices.ndim != 1:
        raise ValueError(f"voices must be mono (samples,), got shape {voices.shape}")
    n = max(len(voices), len(background))
    voices = np.pad(voices, (0, n - len(voices)))
    background = np.pad(background, [(0, n - len(background))] + [(0, 0)] * (background.ndim - 1))
    parts, gain = mix_of(lambda a, b: voices[a:b], lambda a, b: background[a:b], n,
                         background.shape[1] if background.ndim == 2 else 0, sample_rate, cfg)
    placed, ducked = parts(0, n)
    return placed, ducked, _whole(gain, n, sample_rate)
