"""Clone a source speaker's voice into a Kokoro style tensor, by search, in bounded time.

No cloning model's weights are on these machines, but Kokoro's voices are (510, 256) style tensors
(one 256-d row per input length; the first 128 numbers steer the decoder's timbre, the last 128 the
duration/pitch predictor) and Resemblyzer scores how alike two voices are. So (after KVoiceWalk's
idea, not its code):

1. start: each stock voice speaks the search sentences, in the TARGET language, at the pitch shift
   nearest the speaker's; a blend of the best ones, weighted by how alike they sound, is tried too;
2. search: a (1+1) evolution strategy with mirrored steps over ONE 256-d offset added to every row
   (so the voice stays the same voice at every sentence length; KVoiceWalk's per-element noise
   makes a different voice per length), each step scaled per dimension by the stock voices' spread,
   the step size adapted by success (grow on a win, shrink on a loss); each candidate's pitch shift
   is tuned too (post-synthesis shifts are cheap beside a synthesis);
3. constraint: a candidate that sounds closer is kept only if Whisper (the project's ASR) still hears
   the search sentences: its character error rate may not exceed the start's by more than CER_SLACK
   nor the language's limit, whichever is larger. Similarity cannot be bought with mumbling.

The search stops at its time budget (seconds of wall time). Every figure here is a cosine of unit
Resemblyzer embeddings (-1..1), every time in seconds, every pitch in semitones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import DubError

EMBED_RATE = 16000  # Hz, Resemblyzer's input rate
MIN_SPEECH = 10.0  # seconds of a speaker's speech below which the stock voice is kept (too little to match)
BUDGET = 60.0  # seconds of search per speaker
MAX_SHIFT = 4.0  # semitones of pitch shift a clone may use
PITCH_STEPS = (-1.0, 1.0)  # semitones tried around a candidate's pitch, beside the pitch itself
BLEND_TOP = 3  # stock voices in the starting blend
BLEND_TEMPERATURE = 0.03  # cosine units: softmax temperature of the blend weights
SIGMA0 = 0.35  # first step, in units of the stock voices' spread per dimension
SIGMA_RANGE = (0.05, 1.5)
GROW, SHRINK = 1.6, 0.8  # step-size factors on a kept / a rejected step (about the 1/5 rule)
MIN_GAIN = 0.002  # cosine a candidate must gain to count as better
CER_LIMIT = {"ja": 0.25}  # per language, else DEFAULT_CER_LIMIT
DEFAULT_CER_LIMIT = 0.15
CER_SLACK = 0.03

# The sentence the search speaks, per target language (never one bench/voices.py scores on).
SEARCH_TEXT = {  # one sentence of ~2-3 s: a synthesis costs about its length on 2 cores, and it bounds the steps
    "es": "¿Podrías decirme dónde está la estación de tren?",
    "fr": "Pourriez-vous me dire où se trouve la gare ?",
    "ja": "駅はどこにあるか教えていただけますか？",
    "de": "Können Sie mir sagen, wo der Bahnhof ist?",
    "it": "Potrebbe dirmi dove si trova la stazione?",
    "pt": "Você pode me dizer onde fica a estação de trem?",
    "en": "Could you tell me where the train station is?",
}


@dataclass
class Clone:
    """The outcome of a search: the style tensor and pitch shift it found, and what it scored."""

    style: np.ndarray  # (510, 256) float32
    pitch: float  # semitones
    start: str  # the stock voice or blend it started from
    similarity: float  # cosine to the speaker, search sentences
    start_similarity: float
    cer: float  # 0..1, search sentences
    seconds: float
    evaluations: int
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, best similarity) per kept step


# --- embeddings -------------------------------------------------------------------------------


def embed(wav16k: np.ndarray) -> np.ndarray:
    """Unit Resemblyzer embedding (256) of 16 kHz mono speech (its own VAD trim and loudness norm)."""
    from resemblyzer import preprocess_wav

    from .diarize import voice_encoder

    wav = preprocess_wav(np.asarray(wav16k, np.float32), source_sr=EMBED_RATE)
    if len(wav) < EMBED_RATE // 4:
        raise DubError("too little speech to embed (under 0.25 s after trimming silence)")
    e = voice_encoder().embed_utterance(wav)
    return e / (np.linalg.norm(e) + 1e-12)


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    import soxr

    return np.asarray(audio, np.float32) if rate == EMBED_RATE else soxr.resample(audio, rate, EMBED_RATE)


def speaker_audio(wav16k: np.ndarray, turns, speaker: str, part: int | None = None) -> np.ndarray:
    """The speaker's turns of 16 kHz `wav16k`, end to end. `part` 0 or 1 keeps the first or the second
    half of that speech (by time), so search and scoring can use speech held apart."""
    pieces = [wav16k[int(t.start * EMBED_RATE):int(t.end * EMBED_RATE)] for t in turns if t.speaker == speaker]
    speech = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    half = len(speech) // 2
    return speech if part is None else (speech[:half] if part == 0 else speech[half:])


# --- the search -------------------------------------------------------------------------------


def blend_weights(similarities: dict[str, float], top: int = BLEND_TOP,
                  temperature: float = BLEND_TEMPERATURE) -> dict[str, float]:
    """Softmax weights (summing to 1) over the `top` most similar voices."""
    best = sorted(similarities, key=lambda v: -similarities[v])[:top]
    peak = max(similarities[v] for v in best)
    raw = {v: math.exp((similarities[v] - peak) / temperature) for v in best}
    total = sum(raw.values())
    return {v: w / total for v, w in raw.items()}


def step_scale(stock: dict[str, np.ndarray]) -> np.ndarray:
    """Per-dimension spread (256) of the stock voices' style rows: the unit of a search step."""
    stacked = np.stack([s for s in stock.values()])  # (voices, 510, 256)
    return stacked.std(axis=0).mean(axis=0).astype(np.float32)


def adapt(sigma: float, kept: bool) -> float:
    """The step size after a kept or a rejected step, within SIGMA_RANGE."""
    return float(np.clip(sigma * (GROW if kept else SHRINK), *SIGMA_RANGE))


def cer_bound(language: str, start_cer: float) -> float:
    """The highest CER a candidate may have: the language's limit, or the start's plus CER_SLACK."""
    return max(CER_LIMIT.get(language, DEFAULT_CER_LIMIT), start_cer + CER_SLACK)


class Judge:
    """Scores a style tensor: speaks the search sentences with it, then Resemblyzer cosine to the target
    (best over a few pitch shifts) and Whisper's CER. Counts its syntheses."""

    def __init__(self, target: np.ndarray, language, asr_cfg, synth=None) -> None:
        from .speak import Synthesizer

        self.target = np.asarray(target, np.float64)
        self.language = language
        self.asr_cfg = asr_cfg
        self.synth = synth or Synthesizer()
        self.script = SEARCH_TEXT.get(language.code, SEARCH_TEXT["en"])
        self.phonemes = self.synth.kokoro_phonemes(self.script, language)
        self.evaluations = 0

    def speak(self, style: np.ndarray) -> np.ndarray:
        """The search sentence in voice `style`, 24 kHz, unshifted, its silent edges trimmed."""
        from .kokoro import SAMPLE_RATE
        from .speak import trim

        out = self.synth.kokoro().speak(self.phonemes, style, 1.0)
        self.evaluations += 1
        return trim(out.audio, SAMPLE_RATE, [])[0]

    def shifted16k(self, audio: np.ndarray, pitch: float) -> np.ndarray:
        from . import stretch
        from .kokoro import SAMPLE_RATE

        return to_16k(stretch.pitch_shift(audio, SAMPLE_RATE, pitch), SAMPLE_RATE)

    def similarity(self, audio: np.ndarray, pitch: float) -> float:
        return float(embed(self.shifted16k(audio, pitch)) @ self.target)

    def best_pitch(self, audio: np.ndarray, around: float) -> tuple[float, float]:
        """(pitch, similarity) best among `around` and `around` + PITCH_STEPS, within ±MAX_SHIFT."""
        options = sorted({float(np.clip(around + d, -MAX_SHIFT, MAX_SHIFT)) for d in (0.0, *PITCH_STEPS)})
        return max(((p, self.similarity(audio, p)) for p in options), key=lambda ps: ps[1])

    def cer(self, audio: np.ndarray, pitch: float) -> float:
        import jiwer

        from . import transcribe
        from .textnorm import normalize

        heard = transcribe.transcribe(self.shifted16k(audio, pitch), self.asr_cfg, language=self.language.whisper,
                                      check=True)
        return float(jiwer.cer(normalize(self.script), normalize(" ".join(s.text for s in heard.segments))))


def search(judge: Judge, stock: dict[str, np.ndarray], start_pitch: dict[str, float], budget: float = BUDGET,
           seed: int = 0, log: Callable[[str], None] | None = None) -> Clone:
    """Find a style tensor whose speech sounds like `judge.target`, within `budget` seconds.

    `stock`: name -> (510, 256) style of each stock voice to start from; `start_pitch`: name -> the pitch
    shift (semitones) matching that voice to the speaker. Deterministic for a seed, up to timing."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    say = log or (lambda s: None)

    # 1. start: every stock voice at its matched pitch, then their blend
    scored: dict[str, tuple[float, float, np.ndarray]] = {}  # label -> (similarity, pitch, audio)
    for name, style in stock.items():
        audio = judge.speak(style)
        pitch, sim = judge.best_pitch(audio, start_pitch[name])
        scored[name] = (sim, pitch, audio)
    weights = blend_weights({n: s[0] for n, s in scored.items()})
    styles = dict(stock)
    if len(weights) > 1:
        label = "+".join(f"{n}:{w:.2f}" for n, w in weights.items())
        styles[label] = sum(w * stock[n] for n, w in weights.items()).astype(np.float32)
        audio = judge.speak(styles[label])
        around = sum(w * scored[n][1] for n, w in weights.items())
        pitch, sim = judge.best_pitch(audio, around)
        scored[label] = (sim, pitch, audio)
    start = max(scored, key=lambda n: scored[n][0])
    best_sim, best_pitch, audio = scored[start]
    x = styles[start].astype(np.float32)
    start_sim = best_sim
    best_cer = start_cer = judge.cer(audio, best_pitch)
    bound = cer_bound(judge.language.code, start_cer)
    say(f"start {start}: similarity {best_sim:.3f} at {best_pitch:+.1f} st, CER {start_cer:.2f} "
        f"({time.perf_counter() - t0:.1f} s)")
    trace = [(time.perf_counter() - t0, best_sim)]

    # 2. search: mirrored (1+1)-ES over one offset shared by all rows
    scale = step_scale(stock)
    sigma = SIGMA0
    per_eval = (time.perf_counter() - t0) / max(judge.evaluations, 1)
    while time.perf_counter() - t0 + 2 * per_eval < budget:
        d = (rng.standard_normal(scale.shape).astype(np.float32) * scale * sigma)[None, :]
        kept = False
        for sign in (1.0, -1.0):
            cand = x + sign * d
            audio = judge.speak(cand)
            pitch, sim = judge.best_pitch(audio, best_pitch)
            if sim < best_sim + MIN_GAIN:
                continue
            cer = judge.cer(audio, pitch)
            if cer > bound:
                say(f"  rejected: similarity {sim:.3f} but CER {cer:.2f} > {bound:.2f}")
                continue
            x, best_sim, best_pitch, best_cer, kept = cand, sim, pitch, cer, True
            trace.append((time.perf_counter() - t0, best_sim))
            say(f"  {time.perf_counter() - t0:5.1f} s: similarity {sim:.3f} at {pitch:+.1f} st, CER {cer:.2f}, "
                f"step {sigma:.2f}")
            break
        sigma = adapt(sigma, kept)
    return Clone(style=x, pitch=best_pitch, start=start, similarity=best_sim, start_similarity=start_sim,
                 cer=best_cer, seconds=time.perf_counter() - t0, evaluations=judge.evaluations, trace=trace)


def stock_styles(gender: str | None = None) -> dict[str, np.ndarray]:
    """The stock Kokoro voices' style tensors, of one gender ("male"/"female") or all."""
    from .kokoro import VOICES, engine

    k = engine()
    prefix = {"male": "jm_", "female": "jf_"}.get(gender or "", "")
    return {v: k.style(v).astype(np.float32) for v in VOICES if v.startswith(prefix)}


def matched_pitch(name: str, f0: float) -> float:
    """Semitones from stock voice `name`'s natural median F0 to `f0` (Hz; 0 = unknown), within ±MAX_SHIFT."""
    from .voices import semitones, voice_f0

    return float(np.clip(semitones(voice_f0("kokoro", name), f0), -MAX_SHIFT, MAX_SHIFT)) if f0 > 0 else 0.0


def clone_speaker(speech16k: np.ndarray, f0: float, language, asr_cfg, budget: float = BUDGET, seed: int = 0,
                  log: Callable[[str], None] | None = None, synth=None) -> tuple[Clone, np.ndarray]:
    """Clone the voice of `speech16k` (one speaker's speech, 16 kHz; median F0 `f0` Hz) for `language`.
    Starts from all stock voices (either gender: a low female voice may fit a high male one).
    Returns the clone and the speaker's embedding (the library key)."""
    target = embed(speech16k)
    stock = stock_styles()
    judge = Judge(target, language, asr_cfg, synth)
    result = search(judge, stock, {n: matched_pitch(n, f0) for n in stock}, budget, seed, log)
    return result, target
