"""Language-independent forced alignment: DTW between the audio and an espeak-ng rendition of the
same text whose phone times are known, mapping those times through the warping path.

Silence is handled before the DTW: the speech of the audio is found first (Silero VAD, its edges
refined on the frame energy), so leading and trailing silence never go to a phone, and espeak-ng
speaks at the rate that makes its speech as long as the audio's, so the path's slope can be
bounded (no phone squeezed into a frame); a pause inside the speech goes between the two words
nearest it instead of into a phone. A sound the text does not hold (a laugh, a breath, a long "euh")
is passed over at the end of a word (gapped_dtw) rather than smeared over the words after it (a
hesitation before it, the language's `hesitations`, lasts over it instead): on SPPAS's held-out French
clips 90 % of word boundaries within 100 ms instead of 83 %, the worst 0.63 s instead of 0.89 s, the
median 26 ms instead of 23; 92 % with speech the VAD missed at a clip's start kept (LOUD_DB).

Where the language's data names a word aligner (English: pocketsphinx, dubbing/sphinx.py), each word's
phones are then moved into the word's span as that model aligns it; the DTW keeps the phones' order and
shares within the word. On GRID's held-out clips the word boundaries' median error fell from 39 to 20 ms.

Measured by bench/align.py against published word alignments (GRID, SPPAS French)."""

from __future__ import annotations

import numpy as np

from dubbing.errors import DubError
from dubbing.schema import Phone

from .constants import SPEECH_RATE

SR = SPEECH_RATE  # Hz, analysis rate
HOP = 160  # samples (10 ms)
FRAME = HOP / SR  # seconds per analysis frame

VOICE_WEIGHT = 4.0  # weight of the speech/silence feature against the log-mel ones
BASE_WPM = 175  # espeak-ng's rate for the first rendition (words per minute)
WPM_RANGE = (80, 450)  # what espeak-ng is asked for when matching the audio's rate
EDGE_DB = 10.0  # a speech edge extends over frames this many dB above the noise floor ...
EDGE_REACH = 0.15  # ... up to this many seconds beyond where the VAD put it
# ... and as far as the frames stay this many dB above it: speech the VAD missed (Silero heard a clip's
# first 0.6 s of speech, 23-35 dB above the floor, as none; GRID's leading silence is 2-10 dB above it)
LOUD_DB = 20.0
PAUSE = 0.08  # seconds: a shorter silence inside speech is not a pause
PAUSE_REACH = 0.2  # seconds: how far a pause may be from the word boundary it goes to
STEPS = np.array([[1, 1], [1, 2], [2, 1]])  # DTW steps (reference, audio): slope within [1/2, 2]
# a frame of sound the text does not hold (a laugh, a breath, a long filler) is passed over between two words
# at this quantile of the utterance's frame-to-frame costs (gapped_dtw)
GAP_QUANTILE = 0.25  # chosen on the TUNE clips of bench/align.py (0.1-0.5 tried; a cost to open a gap did not help)
MIN_GAP = 0.1  # seconds: a shorter gap is not opened between its words (tune clips: 0-0.2 tried)
# seconds: a word aligner's first word starting this much before the speech's detected onset has taken
# leading silence (pocketsphinx did, by 0.2-0.5 s, on 2 of GRID's 18 tuning clips): the onset is kept
ONSET_GUARD = 0.15


def _features(y: np.ndarray) -> np.ndarray:
    """Log-mel energies (40 bands, 60-7600 Hz) with deltas, mean/variance normalized per utterance,
    and a heavily weighted speech/silence flag, so pauses align with pauses across speakers:
    (81, frames)."""
    import librosa

    m = np.log(_mel(y) + 1e-8)
    f = np.vstack([m, librosa.feature.delta(m, width=5)])
    f = (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
    rms = librosa.feature.rms(y=y, frame_length=400, hop_length=HOP)[0]
    db = 20 * np.log10(rms + 1e-6)
    voice = np.where(db > db.max() - 30, 1.0, -1.0)
    return np.vstack([f, VOICE_WEIGHT * voice[None, : f.shape[1]]])


def _mel(y: np.ndarray) -> np.ndarray:
    """Mel power spectrogram of 16 kHz `y`: 40 bands over 60-7600 Hz, 25 ms windows every 10 ms."""
    import librosa

    return librosa.feature.melspectrogram(y=y, sr=SR, n_fft=400, hop_length=HOP, n_mels=40, fmin=60, fmax=7600)


def frame_db(y: np.ndarray) -> np.ndarray:
    """Energy per 10 ms frame (25 ms window, 60-7600 Hz mel bands) in dB."""
    return 10 * np.log10(_mel(y).sum(0) + 1e-10)


def widen_edges(db: np.ndarray, start: int, end: int, floor: float, above: float, reach: int) -> tuple[int, int]:
    """Frames [start, end) grown outward over contiguous frames louder than floor + above dB, by at
    most `reach` frames each side (a VAD's edges are late on soft onsets and early on soft endings)."""
    s, e = start, end
    while s > 0 and start - s < reach and db[s - 1] > floor + above:
        s -= 1
    while e < len(db) and e - end < reach and db[e] > floor + above:
        e += 1
    return s, e


def speech_regions(y: np.ndarray) -> list[tuple[float, float]]:
    """Speech of 16 kHz `y` as (start, end) seconds: voice-active regions (Silero VAD) with their edges
    widened on the frame energy (a little over frames EDGE_DB above the noise floor, without limit over
    frames LOUD_DB above it); the pauses between them are real silences. [(0, duration)] if no voice is
    found."""
    from . import vad

    regions = vad.speech_regions(y, SR, min_silence=PAUSE, threshold=0.5, min_speech=0.05, pad=0.0)
    if not regions:
        return [(0.0, len(y) / SR)]
    db = frame_db(y)
    floor, reach = float(np.percentile(db, 5)), int(EDGE_REACH / FRAME)
    out: list[tuple[float, float]] = []
    for a, b in regions:
        s, e = widen_edges(db, int(a / FRAME), int(np.ceil(b / FRAME)), floor, EDGE_DB, reach)
        s, e = widen_edges(db, s, e, floor, LOUD_DB, len(db))
        s, e = s * FRAME, min(e * FRAME, len(y) / SR)
        if out and s <= out[-1][1] + PAUSE / 2:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def fit_pauses(times: np.ndarray, word: list[int], pauses: list[tuple[float, float]],
               reach: float) -> np.ndarray:
    """Phone (start, end) times (seconds, shape (n, 2)) with each pause of the audio put between two
    words: the word boundary nearest the pause's middle (within `reach` s) moves so the word before
    ends where the pause starts and the word after starts where it ends; both words' phones are
    rescaled into their new spans. `word` gives each phone's word index."""
    t = np.array(times, float)
    word = np.asarray(word)
    for ps, pe in pauses:
        mid = (ps + pe) / 2
        # boundaries between consecutive words: (time, index of the first phone of the next word)
        cut = [k for k in range(1, len(t)) if word[k] != word[k - 1]]
        if not cut:
            break
        k = min(cut, key=lambda k: abs(t[k, 0] - mid))
        if abs(t[k, 0] - mid) > reach:
            continue
        t = open_gap(t, word, word[k - 1], ps, pe)
    return t


def open_gap(times: np.ndarray, word: list[int] | np.ndarray, w: int, start: float, end: float) -> np.ndarray:
    """Phone (start, end) times (seconds, (n, 2)) with word `w` ending at `start` and the next word that has
    phones starting at `end` (`word`: each phone's word index), both words' phones rescaled into their new
    spans; unchanged when the gap does not fall inside the two words' span."""
    t = np.array(times, float)
    word = np.asarray(word)
    later = word[word > w]
    if not np.any(word == w) or not len(later):
        return t
    before, after = np.flatnonzero(word == w), np.flatnonzero(word == later.min())
    b0, a1 = t[before, 0].min(), t[after, 1].max()
    if not (b0 < start and end < a1):
        return t
    t[before] = _rescale(t[before], b0, start)
    t[after] = _rescale(t[after], end, a1)
    return t


def anchor_words(times: np.ndarray, word: list[int], spans: list[tuple[float, float] | None],
                 onset: float, guard: float = ONSET_GUARD) -> np.ndarray:
    """Phone (start, end) times (seconds, (n, 2)) with the phones of word i (`word`: each phone's word
    index) rescaled into spans[i] (None: left where they are); the first word's start stays at `onset`
    (the speech's start) when spans gives it more than `guard` s earlier."""
    t = np.array(times, float)
    word = np.asarray(word)
    anchored = [i for i, s in enumerate(spans) if s is not None and np.any(word == i)]
    for k, i in enumerate(anchored):
        start, end = spans[i]
        if k == 0 and start < onset - guard:
            start = min(onset, end)
        mine = word == i
        t[mine] = _rescale(t[mine], start, end)
    return t


def _rescale(t: np.ndarray, start: float, end: float) -> np.ndarray:
    """Times t (n, 2) moved linearly so their span becomes [start, end]."""
    lo, hi = t.min(), t.max()
    if hi - lo < 1e-9:
        return np.full_like(t, start)
    return start + (t - lo) * (end - start) / (hi - lo)


def _reference_span(y: np.ndarray, top_db: float = 35.0) -> tuple[int, int]:
    """Speech of an espeak-ng rendition (noise-free: its silence is digital zero), in samples."""
    import librosa

    _, (a, b) = librosa.effects.trim(y, top_db=top_db, frame_length=400, hop_length=HOP)
    return int(a), int(b)


def gapped_dtw(cost: np.ndarray, gap_rows: np.ndarray, gap_cost: float) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The cheapest path through `cost` (reference frames x audio frames) from its first cell to its last
    by the STEPS (slope within [1/2, 2]; each audio frame's cost paid once), where at the reference rows
    `gap_rows` (the ends of words) the audio may also advance alone, each frame passed over at `gap_cost`
    instead of matched: a sound the text does not hold. Returns the matched (row, column) pairs in order
    and the gaps as (row, first column, stop column); (no pairs, []) if the last cell cannot be reached.
    librosa's DTW takes one set of steps for every cell, so this one is written here (with no gap rows
    it gives librosa's path for these steps, weighted by the audio frames each covers)."""
    n, m = cost.shape
    rows = np.unique(np.asarray(gap_rows, int))
    total = np.full((n, m), np.inf)
    came = np.zeros((n, m), np.int8)  # the STEP into a cell; len(STEPS): its audio frame passed over
    total[0, 0] = cost[0, 0]
    weight = STEPS[:, 1, None].astype(float)
    for j in range(1, m):
        before, before2 = total[:, j - 1], total[:, j - 2] if j >= 2 else np.full(n, np.inf)
        options = np.stack([np.r_[np.inf, before[:-1]],  # (1, 1)
                            np.r_[np.inf, before2[:-1]],  # (1, 2)
                            np.r_[np.inf, np.inf, before[:-2]]])  # (2, 1)
        options += cost[:, j] * weight
        k = options.argmin(0)
        total[:, j], came[:, j] = options[k, np.arange(n)], k
        passed = before[rows] + gap_cost
        over = passed < total[rows, j]
        total[rows[over], j], came[rows[over], j] = passed[over], len(STEPS)
    if not np.isfinite(total[-1, -1]):
        return np.zeros((0, 2), int), []
    path, gaps, stop = [], [], None
    i, j = n - 1, m - 1
    while (i, j) != (0, 0):
        if came[i, j] == len(STEPS):
            stop = j + 1 if stop is None else stop
            j -= 1
            continue
        if stop is not None:
            gaps.append((i, j + 1, stop))
            stop = None
        path.append((i, j))
        di, dj = STEPS[came[i, j]]
        i, j = i - di, j - dj
    if stop is not None:
        gaps.append((0, 1, stop))
    path.append((0, 0))
    return np.array(path[::-1]), gaps[::-1]


def warp_times(times: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Map reference frame times to audio frame times through a DTW path ((i_ref, j_audio) pairs,
    any order): each reference frame goes to the mean audio frame it is matched with; in frames."""
    path = np.asarray(path)
    order = np.argsort(path[:, 0], kind="stable")
    i, j = path[order, 0], path[order, 1]
    ui = np.unique(i)
    mean_j = np.array([j[i == k].mean() for k in ui])
    return np.interp(times, ui, mean_j)


def matched_rate(ref_seconds: float, audio_seconds: float, wpm: float = BASE_WPM) -> int:
    """The espeak-ng rate (words per minute) that makes a rendition lasting `ref_seconds` at `wpm`
    last `audio_seconds`, within WPM_RANGE."""
    if audio_seconds <= 0 or ref_seconds <= 0:
        return int(wpm)
    return int(np.clip(round(wpm * ref_seconds / audio_seconds), *WPM_RANGE))


def _reference(text: str, voice: str, wpm: int) -> tuple[np.ndarray, list[Phone], list[int]]:
    """espeak-ng's rendition (`voice`) at SR Hz, its phones (seconds) and each phone's word index."""
    import soxr

    from dubbing import espeak

    ref, rsr, phones, words = espeak.synthesize_words(text, voice, rate_wpm=wpm)
    ref = ref.astype(np.float32)
    return (soxr.resample(ref, rsr, SR) if rsr != SR else ref), phones, words


def _mapped(fa: np.ndarray, text: str, voice: str, seconds: float
            ) -> tuple[np.ndarray, list[Phone], list[int], list[tuple[int, float, float]]]:
    """Phone (start, end) of one espeak-ng rendition mapped onto the audio's speech (features `fa`
    lasting `seconds`), in seconds from the speech's start; its phones, their word indices, and the
    sounds between words the text does not hold (gapped_dtw) as (word they follow, start s, end s)."""
    from librosa.sequence import dtw

    ref, phones, words = _reference(text, voice, BASE_WPM)
    if not phones:
        return np.zeros((0, 2)), phones, words, []
    r0, r1 = _reference_span(ref)
    wpm = matched_rate((r1 - r0) / SR, seconds)
    if wpm != BASE_WPM:
        ref, phones, words = _reference(text, voice, wpm)
        r0, r1 = _reference_span(ref)
    fr = _features(ref[r0:r1])
    edges = np.array([[p.start, p.end] for p in phones]) - r0 / SR
    wp, gaps = np.zeros((0, 2), int), []
    bounded = 0.5 < fa.shape[1] / max(fr.shape[1], 1) < 2  # the STEPS' slope can join the two
    if bounded:
        from scipy.spatial.distance import cdist

        cost = cdist(fr.T, fa.T)
        ends = {w: int(round(min(e, (fr.shape[1] - 1) * FRAME) / FRAME)) for (_, e), w in zip(edges, words)}
        wp, at_rows = gapped_dtw(cost, np.array([ends[w] for w in sorted(ends)[:-1]], int),
                                 float(np.quantile(cost, GAP_QUANTILE)))
        after = {row: w for w, row in sorted(ends.items(), reverse=True)}  # a row two words end at: the first
        gaps = [(after[row], a * FRAME, b * FRAME) for row, a, b in at_rows if row in after and (b - a) * FRAME >= MIN_GAP]
    if not len(wp):
        steps = STEPS if bounded else np.array([[1, 1], [0, 1], [1, 0]])
        _, wp = dtw(X=fr, Y=fa, metric="euclidean", step_sizes_sigma=steps)
    mapped = warp_times(np.clip(edges / FRAME, 0, fr.shape[1] - 1).ravel(), wp).reshape(-1, 2)
    # a reference time at its speech's last frame maps to the audio's last speech frame's end
    mapped = np.where(edges / FRAME >= fr.shape[1] - 1, fa.shape[1], mapped)
    return mapped * FRAME, phones, words, gaps


def _anchored(y: np.ndarray, text: str, phones: list[Phone], words: list[int], mapped: np.ndarray, onset: float,
              spec) -> np.ndarray:
    """`mapped` anchored to the word aligner's spans (anchor_words), or as it was where that aligner
    cannot align the text (logged)."""
    import logging

    from . import sphinx

    said: dict[int, list[str]] = {}
    for p, w in zip(phones, words):
        said.setdefault(w, []).append(p.symbol)
    spans = sphinx.word_spans(y, text.split(), said, spec.phones)
    if spans is None:
        logging.getLogger(__name__).info("word aligner could not align %r: phone times from the DTW alone", text[:60])
        return mapped
    return anchor_words(mapped, words, spans, onset)


def align(audio: np.ndarray, sample_rate: int, text: str, language) -> list[Phone]:
    """Phones (IPA, start/end s from the start of `audio`) of `text` spoken in `audio` (mono float).

    The speech of the audio is found (speech_regions); the text is synthesized with espeak-ng
    (`language.espeak` voice) at the rate that makes it as long; the speech of both is turned into
    log-mel features and aligned by slope-bounded DTW (librosa), espeak's phone times are mapped
    through the path, and the audio's pauses put between words (fit_pauses); then, where the language
    has a word aligner, each word's phones are moved into its span (anchor_words).
    """
    import soxr

    if not text.strip():
        raise DubError("nothing to align: empty text")
    y = np.asarray(audio, np.float32)
    if y.ndim > 1:
        y = y.mean(1) if y.shape[1] < y.shape[0] else y.mean(0)
    y = soxr.resample(y, sample_rate, SR) if sample_rate != SR else y
    if len(y) < 2 * HOP:
        return []
    if language.g2p == "openjtalk":  # espeak-ng reads kana only
        from .espeak import japanese_kana

        text = japanese_kana(text)
    regions = speech_regions(y)
    a0, a1 = regions[0][0], regions[-1][1]
    fa = _features(y[int(round(a0 * SR)):int(round(a1 * SR))])
    mapped, phones, words, gaps = _mapped(fa, text, language.espeak, a1 - a0)
    if not phones:
        return []
    mapped = np.clip(mapped + a0, a0, a1)
    said = [w.strip(".,;:!?…\"'«»()¿¡").lower() for w in text.split()]
    for w, gs, ge in gaps:  # a hesitation ("euh") lasts as long as it is said: it takes the gap after it
        if w < len(said) and said[w] in language.hesitations:
            gs = ge
        mapped = open_gap(mapped, words, w, a0 + gs, a0 + ge)
    pauses = [(b, c) for (_, b), (c, _) in zip(regions, regions[1:])]
    mapped = fit_pauses(mapped, words, pauses, PAUSE_REACH)
    if language.word_aligner is not None:
        mapped = _anchored(y, text, phones, words, mapped, a0, language.word_aligner)
    out = []
    for p, (s, e) in zip(phones, mapped):
        e = max(e, s + 0.01)
        out.append(Phone(symbol=p.symbol, start=round(float(s), 4), end=round(float(min(e, len(y) / SR)), 4)))
    return out
