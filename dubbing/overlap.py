"""Overlapped speech in one channel: where two people speak at once (issue 13).

Speakers recorded apart are told apart by their channels (dubbing.channels); in a mono mix, which is
most videos, a small network hears it: log-mel frames (10 ms) -> three conv blocks -> a bidirectional
GRU -> the probability, per frame, that two voices sound together. It was trained by
scripts/train_overlap.py on mixes of Kokoro voices only (no recorded speech), so every recorded voice
is held out; its weights ship beside this module (overlap_weights.npz, 0.4 MB).

On recorded speech (bench/overlap.py; nothing below was tuned on, the threshold was set beforehand):
  pa_sample (two people, reference RTTM, 1.9 s of overlap): the 4 reference stretches of >= 0.2 s all
    found, frame precision 0.71, recall 0.77, AUC 0.94; one false stretch (0.42 s);
  fw_stereo_diarization mixed to mono (2.2 s of overlap): precision 1.00, recall 0.88;
  8 monologues (89 s of speech): nothing flagged on 6; 0.26 s on ls_demo2; 2.3 s of 7.8 on fw_jfk (a
    reverberant 1961 recording with a crowd): the weak case;
  2 s pair mixes of 10 recorded voices at 0 / -6 dB: frame AUC 0.85, precision 0.92, recall 0.54 (the
    quieter voice at -6 dB is often missed);
  bench/long.py's 10-minute program (no overlap in it: cuts, music beds, silences): 5.9 s flagged in 23
    stretches of 0.2-0.35 s; 9 of 160 lines falsely flagged, all the same sentence of ls_demo2 where it
    recurs.
Cost: ~1 s of CPU per minute of audio (the 10-minute program: 9 s).

The detection marks, it does not decide: a line with overlapped speech gets the flag "overlap" (the
dub speaks the dominant voice's words, which is what the transcriber heard; the other voice's words
are missing from it), and the review page lists it first.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .constants import SPEECH_RATE
from .errors import MissingModel
from .lines import seconds_shared
from .schema import Diarization, Line, Overlap, SpeakerTurn

WEIGHTS = Path(__file__).with_name("overlap_weights.npz")
HOP = 160  # samples per frame at SPEECH_RATE: 10 ms
FFT = 400  # samples per analysis window: 25 ms
MELS = 64
FRAME = HOP / SPEECH_RATE  # s
WINDOW = 2.0  # s of audio the network reads at once (as in training)
THRESHOLD = 0.5  # probability above which a frame is overlapped
MIN_SPAN = 0.2  # s; shorter overlapped stretches are ignored (a word's tail, a breath)
BRIDGE = 0.2  # s; overlapped stretches closer than this are one
FLAG = "overlap"
LEAST = 0.1  # s a line must share with an overlapped stretch to be flagged (an overlap at a turn
# change is shared by the lines on both sides: both are flagged)


def _net():
    import torch

    class Net(torch.nn.Module):
        """log-mel (batch, frames, MELS) -> logits (batch, frames)."""

        def __init__(self) -> None:
            super().__init__()

            def block(i: int, o: int) -> torch.nn.Sequential:
                return torch.nn.Sequential(torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o),
                                           torch.nn.ReLU(), torch.nn.MaxPool2d((1, 2)))

            self.cnn = torch.nn.Sequential(block(1, 16), block(16, 32), block(32, 32))
            self.gru = torch.nn.GRU(32 * MELS // 8, 48, batch_first=True, bidirectional=True)
            self.out = torch.nn.Linear(96, 1)

        def forward(self, x):
            h = self.cnn(x[:, None]).permute(0, 2, 1, 3).flatten(2)
            return self.out(self.gru(h)[0])[..., 0]

    return Net()


def untrained():
    """The network with fresh weights, for scripts/train_overlap.py."""
    return _net()


def network(weights: Path | None = None):
    """The network in eval mode with `weights` loaded (None: the shipped WEIGHTS)."""
    import torch

    weights = Path(weights or WEIGHTS)
    if not weights.is_file():
        raise MissingModel("overlapped speech", str(weights), "It ships with dub: reinstall it, or set "
                                                              "diarization.overlap: false.")
    net = _net()
    with np.load(weights) as z:
        net.load_state_dict({k: torch.from_numpy(z[k]) for k in z.files})
    return net.eval()


def save(net, path: Path) -> None:
    """The network's weights as a .npz of arrays (no pickle)."""
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in net.state_dict().items()})


@functools.cache
def _mel_basis():
    import librosa
    import torch

    return torch.from_numpy(librosa.filters.mel(sr=SPEECH_RATE, n_fft=FFT, n_mels=MELS, fmin=50, fmax=7600))


def log_mel(batch):
    """(batch, samples) float tensor at SPEECH_RATE -> (batch, frames, MELS) log-mel, each band's mean
    over the window removed (a channel's colour does not count)."""
    import torch

    power = torch.stft(batch, FFT, HOP, window=torch.hann_window(FFT), return_complex=True).abs() ** 2
    m = torch.log(_mel_basis() @ power + 1e-6).transpose(1, 2)
    return m - m.mean(1, keepdim=True)


def probabilities(audio: np.ndarray, net=None, batch: int = 32) -> np.ndarray:
    """Per 10 ms frame of mono `audio` (SPEECH_RATE), the probability that two voices sound at once.
    Read in WINDOW-long windows at half-window hops, the last one ending with the audio (a window padded
    with silence would shift its log-mel means), each frame averaged over the windows that hold it (the
    network was trained on windows of that length); memory is one batch of windows."""
    import torch

    net = net or _loaded()
    n = int(WINDOW * SPEECH_RATE)
    hop = n // 2
    frames = len(audio) // HOP + 1
    total, count = np.zeros(frames), np.zeros(frames)
    starts = list(range(0, max(len(audio) - n, 0) + 1, hop))
    if len(audio) > starts[-1] + n:
        starts.append(len(audio) - n)
    with torch.no_grad():
        for k in range(0, len(starts), batch):
            chunk = starts[k:k + batch]
            x = np.zeros((len(chunk), n), np.float32)
            for i, s in enumerate(chunk):
                piece = audio[s:s + n]
                x[i, :len(piece)] = piece
            p = torch.sigmoid(net(log_mel(torch.from_numpy(x)))).numpy()
            for i, s in enumerate(chunk):
                f0 = s // HOP
                m = min(p.shape[1], frames - f0, (len(audio) - s) // HOP + 1)
                total[f0:f0 + m] += p[i, :m]
                count[f0:f0 + m] += 1
    return total / np.maximum(count, 1)


@functools.cache
def _loaded():
    return network()


@functools.cache
def method() -> str:
    """What made a detection: the network's weights (by content) and the settings."""
    import hashlib

    weights = hashlib.sha256(WEIGHTS.read_bytes()).hexdigest()[:12] if WEIGHTS.is_file() else "missing"
    return f"embedded:overlap-crnn(weights={weights},threshold={THRESHOLD},min_span={MIN_SPAN},bridge={BRIDGE})"


def detect(audio: np.ndarray) -> Overlap:
    """The overlapped stretches of mono `audio` (SPEECH_RATE)."""
    return Overlap(spans=spans(probabilities(audio)), method=method())


def spans(prob: np.ndarray, threshold: float = THRESHOLD, min_span: float = MIN_SPAN,
          bridge: float = BRIDGE) -> list[tuple[float, float]]:
    """(start, end) seconds of the overlapped stretches in per-frame probabilities `prob`: frames over
    `threshold`, gaps under `bridge` s closed, stretches under `min_span` s dropped."""
    runs = list(_runs(prob > threshold))
    joined: list[list[int]] = []
    for a, b in runs:
        if joined and (a - joined[-1][1]) * FRAME < bridge:
            joined[-1][1] = b
        else:
            joined.append([a, b])
    return [(a * FRAME, b * FRAME) for a, b in joined if (b - a) * FRAME >= min_span]


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    yield from zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist())


def outside(turns: list[SpeakerTurn], spans: list[tuple[float, float]]) -> list[SpeakerTurn]:
    """The parts of `turns` outside the `spans` (seconds), in order."""
    out = []
    for t in turns:
        pieces = [(t.start, t.end)]
        for a, b in spans:
            pieces = [p for lo, hi in pieces for p in ((lo, min(hi, a)), (max(lo, b), hi)) if p[1] > p[0]]
        out += [t.model_copy(update={"start": lo, "end": hi}) for lo, hi in pieces]
    return out


def alone(diarization: Diarization, spans: list[tuple[float, float]]) -> Diarization:
    """`diarization` with the overlapped `spans` cut out of its turns: each voice where it sounds alone, for
    what is learned from a voice (its pitch, a clone of it)."""
    return diarization.model_copy(update={"turns": outside(diarization.turns, spans)}) if spans else diarization


def unflagged(lines: list[Line]) -> list[Line]:
    """`lines` without this module's flags: what a translation is keyed on, so that a translation the
    user edited is kept when a newer detector flags other lines (the review page reads the flags from
    source/overlap.json as well)."""
    return [ln.model_copy(update={"flags": [f for f in ln.flags if f.split(":")[0] != FLAG]}) for ln in lines]


def flag_lines(lines: list[Line], overlapped: list[tuple[float, float]], least: float = LEAST) -> list[Line]:
    """`lines` with "overlap:<seconds>" added to the flags of each line that shares at least `least` s with
    the `overlapped` stretches (seconds); lines are copied, not changed in place."""
    out = []
    for line in lines:
        shared = seconds_shared(line.start, line.end, overlapped)
        flagged = any(f.split(":")[0] == FLAG for f in line.flags)
        flags = line.flags + [f"{FLAG}:{shared:.1f}"] if shared >= least and not flagged else line.flags
        out.append(line.model_copy(update={"flags": list(flags)}))
    return out
