"""Who speaks when: speaker turns for a recording, and speakers for a transcript's words.

The embedded backend (runs offline on a CPU): Silero VAD finds speech; Resemblyzer d-vectors are
taken on overlapping windows inside it; a cosine affinity, each row pruned to its nearest
neighbours, gives the speaker count by the eigengap of its Laplacian (the pruning fraction chosen
by normalized maximum eigengap, Park et al. 2019) and the labels by spectral clustering; labels are
refined against the speaker centroids (resegmentation), a speaker whose two halves are two voices is
split (the eigengap reads a short conversation of two recordings as one), and labels are turned into
turns at 10 ms resolution. bench/diarize.py measures it.
The `pyannote` backend runs pyannote.audio's pretrained pipeline when it and its weights are here.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy.sparse.csgraph import laplacian
from sklearn.cluster import SpectralClustering

from .config import Diarization as DiarizationConfig
from .constants import CLOSERS, SENTENCE_END, SPEECH_RATE
from .errors import DubError, MissingModel
from .models import load_once
from .schema import Diarization, SpeakerTurn, Transcript, Word
from .vad import speech_regions

RATE = SPEECH_RATE  # Hz, the rate every model here expects
FRAME = 0.01  # seconds per mel frame and per turn-resolution step
PRUNE_FRACTIONS = (0.10, 0.125, 0.15, 0.175, 0.20)  # share of each affinity row kept
NEIGHBOUR_SECONDS = 5.0  # each affinity row keeps at least this much speech (in windows): fewer
# neighbours leave a short clip's graph in pieces, each read as a speaker
MIN_CLUSTER = 3  # windows; smaller clusters join the nearest speaker (no hint given)
MIN_TURN = 0.3  # seconds; shorter turns go to a neighbour
MAX_CLUSTERED = 2000  # windows clustered at most (the rest go to the nearest speaker): see cluster()
RESEGMENT_ROUNDS = 3
SPLIT_BELOW = 0.70  # cosine: a speaker whose two halves (2-means) have centroids less alike than this is two
# people. One person's speech halved by time measured 0.81-0.96 (8 clips), and none of them is split by
# it; the voices of different recordings 0.47-0.71 apart (0.73-0.80 in short overlapping exchanges, which
# stay one speaker); two people recorded together can be far closer (pa_sample: 0.89): the eigengap's case
SPLIT_LEAST = 2.0  # seconds of windows each half needs
TARGET_DBFS = -30.0  # Resemblyzer's training loudness

PYANNOTE_HOW = ("pip install pyannote.audio==3.x with a torchaudio that loads, and accept the model's "
                "terms on the hub / put it in the HF cache")


def diarize(audio: np.ndarray, cfg: DiarizationConfig, num_speakers: int | None = None,
            sample_rate: int = RATE) -> Diarization:
    """Speaker turns (seconds) of `audio` (samples at `sample_rate` Hz, mono or (samples, channels)).

    `num_speakers`, when given, overrides the estimated count (it cannot exceed the number of
    embedding windows). Speakers are named SPEAKER_00, SPEAKER_01, ... in order of first
    appearance. No speech gives empty turns (the caller decides what that means). One speaker per
    moment: overlapped speech goes to whichever voice dominates.
    """
    wav = _mono16k(audio, sample_rate)
    if cfg.backend == "embedded":
        turns, speakers, emb = _embedded(wav, cfg, num_speakers)
        method = f"embedded:silero+resemblyzer+spectral(window={cfg.window},hop={cfg.hop})"
    elif cfg.backend == "pyannote":
        turns = _pyannote(wav, cfg.pyannote_model, num_speakers)
        turns, speakers = _rename(turns)
        emb = _turn_embeddings(wav, turns, cfg)
        method = f"pyannote:{cfg.pyannote_model}"
    else:
        raise DubError(f"diarization: unknown backend {cfg.backend!r} (embedded or pyannote)")
    return Diarization(turns=turns, speakers=speakers, method=method,
                       embeddings={s: [round(float(x), 6) for x in v] for s, v in emb.items()})


def _mono16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    wav = np.asarray(audio, dtype=np.float32)
    if wav.ndim == 2:  # (samples, channels)
        wav = wav.mean(axis=1)
    if sample_rate != RATE:
        import soxr

        wav = soxr.resample(wav, sample_rate, RATE).astype(np.float32)
    return wav


# --- embeddings ----------------------------------------------------------------------------------


@load_once
def voice_encoder():
    """The Resemblyzer GE2E speaker encoder (256-d d-vectors), loaded once."""
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as e:
        raise MissingModel("diarization", "resemblyzer", f"pip install --no-deps Resemblyzer==0.1.4 ({e})") from None
    return VoiceEncoder("cpu", verbose=False)


def embed_spans(wav: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Unit d-vectors (n, 256) of the (start, end) second spans of 16 kHz `wav`."""
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    if not spans:
        return np.zeros((0, 256), dtype=np.float32)
    enc = voice_encoder()
    mel = wav_to_mel_spectrogram(_normalize(wav, spans))  # (frames, 40), one frame per 10 ms
    bounds = [(int(round(a / FRAME)), max(int(round(b / FRAME)), int(round(a / FRAME)) + 1)) for a, b in spans]
    out = np.zeros((len(spans), 256), dtype=np.float32)
    by_len: dict[int, list[int]] = {}
    for i, (a, b) in enumerate(bounds):
        by_len.setdefault(b - a, []).append(i)
    with torch.no_grad():
        for n, idx in by_len.items():
            batch = np.stack([_frames(mel, bounds[i][0], n) for i in idx])
            out[idx] = enc(torch.from_numpy(batch)).numpy()
    return out


def _frames(mel: np.ndarray, start: int, n: int) -> np.ndarray:
    """n mel frames from `start`, zero-padded past the end."""
    part = mel[start:start + n]
    return np.pad(part, ((0, n - len(part)), (0, 0))) if len(part) < n else part


def _normalize(wav: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """`wav` raised (never lowered) so that its speech is at Resemblyzer's training loudness."""
    speech = np.concatenate([wav[int(a * RATE):int(b * RATE)] for a, b in spans]) if spans else wav
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) if speech.size else 0.0
    if rms <= 0:
        return wav
    gain = 10 ** (TARGET_DBFS / 20) / rms
    return wav * gain if gain > 1 else wav


def _windows(regions: list[tuple[float, float]], window: float, hop: float, duration: float
             ) -> list[tuple[float, float]]:
    """Embedding windows (start, end seconds) covering each speech region; a region shorter than
    `window` gets one window centred on it (clipped to the audio)."""
    spans = []
    for a, b in regions:
        if b - a <= window:
            c = (a + b) / 2
            spans.append((max(0.0, min(c - window / 2, duration - window)), min(duration, max(c + window / 2, window))))
            continue
        starts = list(np.arange(a, b - window + 1e-6, hop))
        if starts[-1] + window < b - 1e-6:
            starts.append(b - window)
        spans.extend((float(s), float(s) + window) for s in starts)
    return spans


# --- clustering ----------------------------------------------------------------------------------


def _pruned_affinity(emb: np.ndarray, fraction: float, min_neighbours: int) -> np.ndarray:
    """Cosine affinity with each row keeping only its top `fraction` (at least `min_neighbours`),
    symmetrized."""
    sim = np.clip(emb @ emb.T, 0.0, 1.0)
    n = len(sim)
    keep = min(n, max(min_neighbours, int(np.ceil(fraction * n))))
    order = np.argsort(-sim, axis=1)[:, :keep]
    pruned = np.zeros_like(sim)
    rows = np.arange(n)[:, None]
    pruned[rows, order] = sim[rows, order]
    return (pruned + pruned.T) / 2


def _eigengap(affinity: np.ndarray, max_k: int) -> tuple[int, float]:
    """Speaker count from the largest gap in the normalized Laplacian's spectrum, and that gap
    relative to the largest eigenvalue (the normalized maximum eigengap)."""
    lam = np.sort(np.linalg.eigvalsh(laplacian(affinity, normed=True)))
    m = min(max_k, len(lam) - 1)
    gaps = np.diff(lam[:m + 1])
    k = int(np.argmax(gaps)) + 1
    return k, float(gaps[k - 1] / (lam[-1] + 1e-10))


def cluster(emb: np.ndarray, max_speakers: int, num_speakers: int | None = None, hop: float = 0.5) -> np.ndarray:
    """Cluster labels (0..k-1) of unit embeddings (n, d) of windows `hop` seconds apart: spectral
    clustering on the pruned cosine affinity; k = `num_speakers` if given, else the eigengap
    estimate, clusters of fewer than MIN_CLUSTER windows then joining the nearest speaker, and a
    speaker whose halves are two voices split (_split_apart).

    The affinities are n x n and their spectrum costs n^3: past MAX_CLUSTERED windows (about 17
    minutes of speech) an evenly spread MAX_CLUSTERED of them are clustered, and every window then
    goes to its nearest speaker (and the re-segmentation runs over all): memory and time stay
    bounded at any length (an hour of speech held 5 affinities of 0.4 GB each)."""
    n = len(emb)
    if n < 3 or num_speakers == 1:
        return np.zeros(n, dtype=int)
    if n > MAX_CLUSTERED:
        pick = np.unique(np.linspace(0, n - 1, MAX_CLUSTERED).round().astype(int))
        sub = cluster(emb[pick], max_speakers, num_speakers, hop * n / len(pick))
        labels = _resegment(emb, np.argmax(emb @ _centroids(emb[pick], sub).T, axis=1))
        return _compact(labels) if num_speakers else _drop_small(emb, _compact(labels))
    min_neighbours = int(np.ceil(NEIGHBOUR_SECONDS / hop))
    affinities = {p: _pruned_affinity(emb, p, min_neighbours) for p in PRUNE_FRACTIONS}
    gaps = {p: _eigengap(a, max_speakers) for p, a in affinities.items()}
    best = min(PRUNE_FRACTIONS, key=lambda p: p / max(gaps[p][1], 1e-10))
    affinity = affinities[best]
    k = min(num_speakers, n) if num_speakers else gaps[best][0]
    if k <= 1:
        return np.zeros(n, dtype=int) if num_speakers else _split_apart(emb, np.zeros(n, dtype=int), max_speakers, hop)
    with warnings.catch_warnings():  # distinct speakers leave the pruned graph disconnected: fine
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        labels = SpectralClustering(n_clusters=k, affinity="precomputed", random_state=0,
                                    assign_labels="cluster_qr").fit_predict(affinity)
    labels = _resegment(emb, labels)
    return labels if num_speakers else _split_apart(emb, _drop_small(emb, labels), max_speakers, hop)


def _split_apart(emb: np.ndarray, labels: np.ndarray, max_speakers: int, hop: float) -> np.ndarray:
    """Labels with every speaker that is two voices split in two (see SPLIT_BELOW), until none is or
    there are `max_speakers`. The eigengap reads few windows poorly: a short conversation of two
    people from different recordings came out as one (bench/diarize.py)."""
    from sklearn.cluster import KMeans

    least = int(np.ceil(SPLIT_LEAST / hop))
    tried: set[bytes] = set()
    while labels.max() + 1 < max_speakers:
        for k in range(labels.max() + 1):
            idx = np.flatnonzero(labels == k)
            if len(idx) < 2 * least or idx.tobytes() in tried:
                continue
            tried.add(idx.tobytes())
            halves = KMeans(2, n_init=10, random_state=0).fit_predict(emb[idx])
            c = _centroids(emb[idx], halves)
            if np.bincount(halves, minlength=2).min() >= least and float(c[0] @ c[1]) < SPLIT_BELOW:
                labels = labels.copy()
                labels[idx[halves == 1]] = labels.max() + 1
                labels = _resegment(emb, labels)
                break
        else:
            return labels
    return labels


def _centroids(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit mean embedding of each label 0..max(labels)."""
    c = np.stack([emb[labels == k].mean(0) if np.any(labels == k) else np.zeros(emb.shape[1])
                  for k in range(labels.max() + 1)])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-10)


def _compact(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1]


def _resegment(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Reassign each embedding to its nearest centroid until stable (never emptying a cluster)."""
    for _ in range(RESEGMENT_ROUNDS):
        new = np.argmax(emb @ _centroids(emb, labels).T, axis=1)
        if np.array_equal(new, labels) or len(np.unique(new)) < len(np.unique(labels)):
            break
        labels = new
    return labels


def _drop_small(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Move the windows of clusters smaller than MIN_CLUSTER to the nearest remaining centroid."""
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= MIN_CLUSTER)
    if len(big) == 0 or len(big) == len(sizes):
        return labels
    nearest = big[np.argmax(emb @ _centroids(emb, labels)[big].T, axis=1)]
    return _compact(np.where(np.isin(labels, big), labels, nearest))


# --- turns ---------------------------------------------------------------------------------------


def _embedded(wav: np.ndarray, cfg: DiarizationConfig, num_speakers: int | None
              ) -> tuple[list[SpeakerTurn], list[str], dict[str, np.ndarray]]:
    duration = len(wav) / RATE
    regions = speech_regions(wav, RATE)
    if not regions:
        return [], [], {}
    spans = _windows(regions, cfg.window, cfg.hop, duration)
    emb = embed_spans(wav, spans)
    labels = cluster(emb, cfg.max_speakers, num_speakers, cfg.hop)
    turns = _turns(regions, spans, emb, labels)
    turns, speakers = _rename(turns)
    return turns, speakers, _turn_embeddings(wav, turns, cfg, spans, emb)


def _turns(regions: list[tuple[float, float]], spans: list[tuple[float, float]], emb: np.ndarray,
           labels: np.ndarray) -> list[SpeakerTurn]:
    """Turns at FRAME resolution: each speech frame goes to the centroid that the windows covering
    it match best on average; turns shorter than MIN_TURN join a neighbour."""
    scores = emb @ _centroids(emb, labels).T  # (windows, speakers)
    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    turns: list[SpeakerTurn] = []
    for a, b in regions:
        near = np.flatnonzero((ends > a) & (starts < b))  # a region's own windows (at least one)
        s, e = starts[near], ends[near]
        t = np.arange(a, b, FRAME) + FRAME / 2
        cover = (s[None, :] <= t[:, None]) & (e[None, :] > t[:, None])
        # frames no window covers take the nearest window
        nearest = np.argmin(np.abs((s + e)[None, :] / 2 - t[:, None]), axis=1)
        cover[np.arange(len(t)), nearest] |= ~cover.any(axis=1)
        frame_label = np.argmax(cover.astype(np.float32) @ scores[near], axis=1)
        turns.extend(_runs(frame_label, a, b))
    return _absorb_short(turns)


def _runs(frame_label: np.ndarray, a: float, b: float) -> list[SpeakerTurn]:
    """Turns from per-frame labels starting at `a`, ending at `b`."""
    cuts = np.flatnonzero(np.diff(frame_label)) + 1
    edges = [0, *cuts.tolist(), len(frame_label)]
    return [SpeakerTurn(start=round(a + i * FRAME, 3), end=round(min(b, a + j * FRAME), 3),
                        speaker=str(frame_label[i])) for i, j in zip(edges[:-1], edges[1:])]


def _absorb_short(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    """Give turns shorter than MIN_TURN to the longer adjacent turn they touch, then merge
    touching turns of one speaker."""
    turns = [t.model_copy() for t in turns]
    for i in sorted(range(len(turns)), key=lambda i: turns[i].end - turns[i].start):
        t = turns[i]
        if t.end - t.start >= MIN_TURN:
            break
        near = []
        if i > 0 and _touching(turns[i - 1], t):
            near.append(turns[i - 1])
        if i + 1 < len(turns) and _touching(t, turns[i + 1]):
            near.append(turns[i + 1])
        if near:
            t.speaker = max(near, key=lambda n: n.end - n.start).speaker
    merged: list[SpeakerTurn] = []
    for t in turns:
        if merged and merged[-1].speaker == t.speaker and _touching(merged[-1], t):
            merged[-1].end = t.end
        else:
            merged.append(t)
    return merged


def _touching(a: SpeakerTurn, b: SpeakerTurn) -> bool:
    return abs(b.start - a.end) < 1e-6


def _rename(turns: list[SpeakerTurn]) -> tuple[list[SpeakerTurn], list[str]]:
    """Turns relabelled SPEAKER_00, SPEAKER_01, ... by first appearance, and those names."""
    names: dict[str, str] = {}
    out = []
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        names.setdefault(t.speaker, f"SPEAKER_{len(names):02d}")
        out.append(SpeakerTurn(start=t.start, end=t.end, speaker=names[t.speaker]))
    return out, list(names.values())


def _turn_embeddings(wav: np.ndarray, turns: list[SpeakerTurn], cfg: DiarizationConfig,
                     spans: list[tuple[float, float]] | None = None, emb: np.ndarray | None = None
                     ) -> dict[str, np.ndarray]:
    """Unit mean d-vector per speaker over the windows that lie mostly inside that speaker's turns
    (windows are computed when not given)."""
    if not turns:
        return {}
    if spans is None or emb is None:
        spans = _windows([(t.start, t.end) for t in turns], cfg.window, cfg.hop, len(wav) / RATE)
        emb = embed_spans(wav, spans)
    win = np.array(spans).reshape(-1, 2)
    speakers = sorted({t.speaker for t in turns})
    inside = _overlaps(win, turns, speakers)  # (windows, speakers) seconds
    best = np.argmax(inside, axis=1)
    mostly = inside.max(axis=1) >= (win[:, 1] - win[:, 0]) / 2
    out = {}
    for k, spk in enumerate(speakers):
        v = emb[mostly & (best == k)].sum(axis=0)
        if np.any(v):
            out[spk] = v / np.linalg.norm(v)
    return out


def _overlaps(spans: np.ndarray, turns: list[SpeakerTurn], speakers: list[str]) -> np.ndarray:
    """Seconds each (start, end) row of `spans` overlaps each speaker's (non-empty) turns:
    (spans, speakers)."""
    ts = np.array([t.start for t in turns])
    te = np.array([t.end for t in turns])
    who = np.array([speakers.index(t.speaker) for t in turns], dtype=int)
    per_turn = np.clip(np.minimum(spans[:, 1:2], te[None, :]) - np.maximum(spans[:, 0:1], ts[None, :]), 0, None)
    return per_turn @ np.eye(len(speakers))[who]


# --- pyannote ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _pyannote_pipeline(name: str):
    try:
        from pyannote.audio import Pipeline
    except Exception as e:  # ImportError, or torchaudio's OSError when its .so cannot load
        raise MissingModel("diarization", name, f"{PYANNOTE_HOW} ({type(e).__name__}: {e})") from None
    try:
        pipeline = Pipeline.from_pretrained(name)
    except Exception as e:  # gated, not cached, offline
        raise MissingModel("diarization", name, f"{PYANNOTE_HOW} ({type(e).__name__}: {e})") from None
    if pipeline is None:  # pyannote 3.x returns None for a gated model without a token
        raise MissingModel("diarization", name, PYANNOTE_HOW)
    return pipeline


def _pyannote(wav: np.ndarray, name: str, num_speakers: int | None) -> list[SpeakerTurn]:
    pipeline = _pyannote_pipeline(name)
    import torch

    kwargs = {"num_speakers": num_speakers} if num_speakers else {}
    out = pipeline({"waveform": torch.from_numpy(wav[None, :]), "sample_rate": RATE}, **kwargs)
    annotation = getattr(out, "speaker_diarization", out)  # 4.x wraps the Annotation
    return [SpeakerTurn(start=float(seg.start), end=float(seg.end), speaker=str(label))
            for seg, _, label in annotation.itertracks(yield_label=True)]


# --- words to speakers ---------------------------------------------------------------------------


def _speakers_of(spans: np.ndarray, turns: list[SpeakerTurn], speakers: list[str]) -> list[str | None]:
    """For each (start, end) row of `spans`: the speaker overlapping it most, else the one whose
    turn is nearest in time."""
    if not turns or not len(spans):
        return [None] * len(spans)
    overlap = _overlaps(spans, turns, speakers)
    ts = np.array([t.start for t in turns])
    te = np.array([t.end for t in turns])
    gap = np.maximum(ts[None, :] - spans[:, 1:2], spans[:, 0:1] - te[None, :])  # (spans, turns) seconds apart
    nearest = [speakers.index(turns[j].speaker) for j in np.argmin(gap, axis=1)]
    pick = np.where(overlap.max(axis=1) > 0, np.argmax(overlap, axis=1), nearest)
    return [speakers[k] for k in pick]


ATTACHED = 0.05  # s: a segment's first word this close to its second is said with it


def assign_speakers(transcript: Transcript, diarization: Diarization) -> Transcript:
    """A copy of `transcript` with each word given the speaker it overlaps most (nearest turn if
    none), except a segment's first word that a turn change cuts through: it goes with the word it is
    said with (see `_first_word`); each segment gets the speaker of most of its words (of its own
    span if it has none)."""
    turns = diarization.turns
    speakers = sorted({t.speaker for t in turns})
    segments = []
    for seg in transcript.segments:
        spans = np.array([(w.start, w.end) for w in seg.words], dtype=float).reshape(-1, 2)
        picked = _first_word(spans, [w.text for w in seg.words], _speakers_of(spans, turns, speakers),
                             _overlaps(spans, turns, speakers), speakers)
        words = [w.model_copy(update={"speaker": spk}) for w, spk in zip(seg.words, picked)]
        speaker = _majority(words) if words else _speakers_of(np.array([[seg.start, seg.end]]), turns, speakers)[0]
        segments.append(seg.model_copy(update={"words": words, "speaker": speaker}))
    return transcript.model_copy(update={"segments": segments})


def _first_word(spans: np.ndarray, texts: list[str], picked: list[str | None], overlap: np.ndarray,
                speakers: list[str], attached: float = ATTACHED) -> list[str | None]:
    """`picked` (each word's speaker by overlap) with a segment's first word moved to the speaker of the
    second, where the two are said as one (`attached` s apart or less, the first not ending a sentence)
    and a turn of that speaker covers part of the first word too. Whisper starts a segment's first word
    early, over the pause or unheard speech before it: at a hard cut between two people, vr_face1's "My"
    (13.71-14.11 s, the cut at 14.0) went to the person before the cut, and was dubbed alone in their
    voice over their face. A segment's last word is left as it is: on bench/conversation.py's panel, a
    segment running on over a cut ended "own dreams | my biggest", and its last word's neighbour was
    the wrong one."""
    out = list(picked)
    if len(out) >= 2 and out[1] is not None and out[0] != out[1] and not texts[0].rstrip(CLOSERS).endswith(
            SENTENCE_END) and spans[1, 0] - spans[0, 1] <= attached and overlap[0, speakers.index(out[1])] > 0:
        out[0] = out[1]
    return out


def _majority(words: list[Word]) -> str | None:
    """The speaker of most words; ties go to the one with more speaking time."""
    votes: dict[str | None, list[float]] = {}
    for w in words:
        v = votes.setdefault(w.speaker, [0, 0.0])
        v[0] += 1
        v[1] += w.end - w.start
    return max(votes.items(), key=lambda kv: (kv[1][0], kv[1][1]))[0]
