"""Clone a source speaker's voice into a Kokoro style tensor, by search, in bounded time.

No cloning model's weights are on these machines, but Kokoro's voices are (510, 256) style tensors
(one 256-d row per input length; the first 128 numbers steer the decoder's timbre, the last 128 the
duration/pitch predictor) and Resemblyzer scores how alike two voices are. So (after KVoiceWalk's
idea, not its code):

1. start: each stock voice speaking the search sentence, in the TARGET language, at its best whole
   semitone of pitch shift (these embeddings do not depend on the speaker: cached once per machine),
   and a blend of the best ones weighted by how alike they sound;
2. search: a (1+1) evolution strategy with mirrored steps. A step is half a random combination of
   the stock voices' differences (moves between real voices: each style row moves as real voices'
   rows do) and half one 256-d offset added to every row, per dimension scaled by the stock voices'
   spread (so the voice stays one voice at every sentence length; KVoiceWalk's per-element noise
   makes a different voice per length and needs thousands of steps). The step size grows on a win
   and shrinks on a loss; each candidate's pitch shift is tuned too (a shift is cheap beside a
   synthesis);
3. constraint: a candidate that sounds closer is kept only if Whisper (the project's ASR) still hears
   the search sentences: its character error rate may not exceed the start's by more than CER_SLACK
   nor the language's limit, whichever is larger. Similarity cannot be bought with mumbling;
4. vocal tract: the found voice's formants are moved (dubbing.formant) by the ratio that sounds most
   like the speaker on another sentence (SELECT_TEXT, never searched on), if Whisper still hears the
   search sentence within the same bound.

The search stops at its time budget (seconds of wall time). Every figure here is a cosine of unit
Resemblyzer embeddings (-1..1), every time in seconds, every pitch in semitones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import formant as formants
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
# The sentence the formant ratio is chosen on: not the search's (the style was fitted to that one at ratio 1,
# which would favour 1), and not one bench/voices.py scores on.
SELECT_TEXT = {
    "es": "Mañana vamos a visitar a mis abuelos en el pueblo.",
    "fr": "Demain nous allons rendre visite à mes grands-parents.",
    "ja": "明日は祖父母の家に行く予定です。",
    "de": "Morgen besuchen wir meine Großeltern auf dem Land.",
    "it": "Domani andiamo a trovare i miei nonni in paese.",
    "pt": "Amanhã vamos visitar os meus avós na aldeia.",
    "en": "Tomorrow we are going to visit my grandparents in the village.",
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
    eq: list[float] = field(default_factory=list)  # dB per timbre.BANDS, put on the speech after synthesis
    formant: float = 1.0  # formant ratio put on the speech after the pitch shift, before the eq (dubbing.formant)


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


def step(rng: np.random.Generator, scale: np.ndarray, spread: np.ndarray, mix: float = 0.5) -> np.ndarray:
    """A random search direction (510, 256) of about unit size in stock-spread units: `mix` of it a
    random combination of the stock voices' differences (moves between real voices, lengths kept in
    step), the rest one 256-d offset, per-dimension scaled, shared by every row."""
    z = rng.standard_normal(len(spread)).astype(np.float32) / math.sqrt(len(spread))
    between = np.tensordot(z, spread, axes=1)
    offset = rng.standard_normal(scale.shape).astype(np.float32) * scale
    return (mix * between + (1.0 - mix) * offset[None, :]).astype(np.float32)


def adapt(sigma: float, kept: bool) -> float:
    """The step size after a kept or a rejected step, within SIGMA_RANGE."""
    return float(np.clip(sigma * (GROW if kept else SHRINK), *SIGMA_RANGE))


def cer_bound(language: str, start_cer: float) -> float:
    """The highest CER a candidate may have: the language's limit, or the start's plus CER_SLACK."""
    return max(CER_LIMIT.get(language, DEFAULT_CER_LIMIT), start_cer + CER_SLACK)


class Judge:
    """Scores a style tensor: speaks the search sentences with it, then Resemblyzer cosine to the target
    (best over a few pitch shifts) and Whisper's CER. Counts its syntheses."""

    def __init__(self, target: np.ndarray, language, asr_cfg, synth=None, reference: np.ndarray | None = None) -> None:
        """`reference`: the speaker's speech (16 kHz) whose long-term spectrum candidates are given
        (dubbing.timbre) before they are scored; None scores them as synthesized."""
        from .speak import Synthesizer

        self.target = np.asarray(target, np.float64)
        self.reference = reference
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

    def stock_embeddings(self, stock: dict[str, np.ndarray]) -> dict[str, dict[float, np.ndarray]]:
        """name -> {pitch: Resemblyzer embedding} of each stock voice speaking the search sentence at
        every whole semitone within ±MAX_SHIFT. They do not depend on the speaker: computed once per
        machine and language and kept beside the models (saves one synthesis per stock voice per clone)."""
        import hashlib

        from . import models

        pitches = np.arange(-MAX_SHIFT, MAX_SHIFT + 1)
        tag = hashlib.sha256(repr((self.phonemes, sorted(stock), pitches.tolist(), EMBED_RATE)).encode())
        path = models.models_dir() / f"clone-stock.{self.language.code}.{tag.hexdigest()[:12]}.npz"
        if path.exists():
            with np.load(path) as npz:
                return {n: {float(p): npz[n][i] for i, p in enumerate(pitches)} for n in stock}
        out = {}
        for name, style in stock.items():
            audio = self.speak(style)
            out[name] = {float(p): embed(self.shifted16k(audio, float(p))) for p in pitches}
        tmp = path.with_suffix(".part.npz")
        np.savez(tmp, **{n: np.stack([out[n][float(p)] for p in pitches]) for n in stock})
        tmp.replace(path)
        return out

    def shifted16k(self, audio: np.ndarray, pitch: float, formant: float = 1.0) -> np.ndarray:
        """`audio` (24 kHz) pitch-shifted, its formants moved by `formant`, at 16 kHz: as speak.shift does."""
        from .kokoro import SAMPLE_RATE
        from .speak import shift

        return to_16k(shift(audio, SAMPLE_RATE, pitch, formant), SAMPLE_RATE)

    def eq(self, audio: np.ndarray, pitch: float, formant: float = 1.0) -> list[float]:
        """The gain curve (dB per timbre.BANDS) giving `audio` at `pitch` (and `formant`) the reference's
        spectrum; [] without a reference."""
        from . import timbre

        return [] if self.reference is None else timbre.match(self.reference, self.shifted16k(audio, pitch, formant),
                                                              EMBED_RATE)

    def heard(self, audio: np.ndarray, pitch: float, formant: float = 1.0) -> np.ndarray:
        """`audio` (24 kHz) as the dub would carry it: pitch-shifted, formants moved, equalized, at 16 kHz."""
        from . import timbre

        x = self.shifted16k(audio, pitch, formant)
        return x if self.reference is None else timbre.apply(x, EMBED_RATE, timbre.match(self.reference, x, EMBED_RATE))

    def similarity(self, audio: np.ndarray, pitch: float, formant: float = 1.0) -> float:
        return float(embed(self.heard(audio, pitch, formant)) @ self.target)

    def best_pitch(self, audio: np.ndarray, around: float) -> tuple[float, float]:
        """(pitch, similarity) best among `around` and `around` + PITCH_STEPS, within ±MAX_SHIFT."""
        options = sorted({float(np.clip(around + d, -MAX_SHIFT, MAX_SHIFT)) for d in (0.0, *PITCH_STEPS)})
        return max(((p, self.similarity(audio, p)) for p in options), key=lambda ps: ps[1])

    def formant_similarities(self, style: np.ndarray, pitch: float,
                             ratios: tuple[float, ...] = formants.RATIOS) -> dict[float, float]:
        """ratio -> cosine to the speaker of SELECT_TEXT spoken in voice `style` at `pitch`, its formants
        moved by the ratio (a sentence the search never spoke: the style was fitted at ratio 1 to that one)."""
        text = SELECT_TEXT.get(self.language.code, SELECT_TEXT["en"])
        audio = self.synth.kokoro().speak(self.synth.kokoro_phonemes(text, self.language), style, 1.0).audio
        self.evaluations += 1
        return {r: round(self.similarity(audio, pitch, r), 4) for r in ratios}

    def cer(self, audio: np.ndarray, pitch: float, formant: float = 1.0) -> float:
        return heard_cer(self.heard(audio, pitch, formant), self.script, self.language, self.asr_cfg)


def heard_cer(wav16k: np.ndarray, text: str, language, asr_cfg) -> float:
    """Whisper's character error rate (0..1) on 16 kHz speech that says `text` in `language`."""
    import jiwer

    from . import transcribe
    from .textnorm import normalize

    said = transcribe.transcribe(wav16k, asr_cfg, language=language.whisper, check=True)
    return float(jiwer.cer(normalize(text), normalize(" ".join(s.text for s in said.segments))))


def search(judge: Judge, stock: dict[str, np.ndarray], budget: float = BUDGET, seed: int = 0,
           log: Callable[[str], None] | None = None, clock: Callable[[], float] = time.perf_counter) -> Clone:
    """Find a style tensor whose speech sounds like `judge.target`, within `budget` seconds of `clock`
    (wall time by default; a benchmark on a shared machine may pass CPU seconds / cores).

    `stock`: name -> (510, 256) style of each stock voice to start from. Deterministic for a seed, up
    to where the budget cuts the search."""
    t0, cpu0 = clock(), time.process_time()
    rng = np.random.default_rng(seed)
    say = log or (lambda s: None)

    # 1. start: the stock voices ranked by their cached embeddings (best whole-semitone pitch each);
    # the best one and the blend of the best few are spoken and scored as every candidate is
    cached: dict[str, tuple[float, float]] = {}  # name -> (similarity, pitch), unequalized
    for name, by_pitch in judge.stock_embeddings(stock).items():
        pitch = max(by_pitch, key=lambda p: float(by_pitch[p] @ judge.target))
        cached[name] = (float(by_pitch[pitch] @ judge.target), pitch)
    weights = blend_weights({n: s[0] for n, s in cached.items()})
    first = max(cached, key=lambda n: cached[n][0])
    starts = {first: (stock[first], cached[first][1])}
    if len(weights) > 1:
        label = "+".join(f"{n}:{w:.2f}" for n, w in weights.items())
        starts[label] = (sum(w * stock[n] for n, w in weights.items()).astype(np.float32),
                         round(sum(w * cached[n][1] for n, w in weights.items())))
    scored = {}  # label -> (similarity, pitch, audio)
    for label, (style, around) in starts.items():
        if scored and clock() - t0 > budget / 2:  # a loaded machine: the best stock voice must do
            break
        audio = judge.speak(style)
        scored[label] = (*judge.best_pitch(audio, around)[::-1], audio)
    start = max(scored, key=lambda n: scored[n][0])
    best_sim, best_pitch, audio = scored[start]
    best_audio, x = audio, starts[start][0].astype(np.float32)
    start_sim = best_sim
    best_cer = start_cer = judge.cer(audio, best_pitch)
    bound = cer_bound(judge.language.code, start_cer)
    say(f"start {start}: similarity {best_sim:.3f} at {best_pitch:+.1f} st, CER {start_cer:.2f} "
        f"({clock() - t0:.1f} s, {time.process_time() - cpu0:.1f} CPU-s)")
    trace = [(clock() - t0, best_sim)]

    # 2. search: mirrored (1+1)-ES over one offset shared by all rows
    scale = step_scale(stock)
    spread = np.stack([s for s in stock.values()])
    spread = spread - spread.mean(axis=0)  # (voices, 510, 256): the directions from one real voice to another
    sigma = SIGMA0
    last = 2 * (clock() - t0) / max(judge.evaluations, 1)  # a step's cost: two candidates, at most
    while clock() - t0 + 2 * last < budget:  # a step, and the formant ratio's pick after the last one (about a step)
        began = clock()
        d = sigma * step(rng, scale, spread)
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
            x, best_sim, best_pitch, best_cer, best_audio, kept = cand, sim, pitch, cer, audio, True
            trace.append((clock() - t0, best_sim))
            say(f"  {clock() - t0:5.1f} s ({time.process_time() - cpu0:.0f} CPU-s): similarity {sim:.3f} "
                f"at {pitch:+.1f} st, CER {cer:.2f}, step {sigma:.2f}")
            break
        sigma = adapt(sigma, kept)
        last = clock() - began

    # 4. vocal tract: the formant ratio, on a sentence the search never spoke
    by_ratio = judge.formant_similarities(x, best_pitch)
    ratio = choose_ratio(by_ratio, lambda r: judge.cer(best_audio, best_pitch, r), bound)
    say(f"formant ratio {ratio:.2f}: " + ", ".join(f"{r:.2f} {c:.3f}" for r, c in by_ratio.items()))
    return Clone(style=x, pitch=best_pitch, start=start, similarity=best_sim, start_similarity=start_sim,
                 cer=best_cer, seconds=clock() - t0, evaluations=judge.evaluations, trace=trace,
                 eq=judge.eq(best_audio, best_pitch, ratio), formant=ratio)


def choose_ratio(by_ratio: dict[float, float], cer_at: Callable[[float], float], bound: float) -> float:
    """The ratio of `by_ratio` (ratio -> cosine to the speaker) that sounds most like them, or 1.0 if
    `cer_at(ratio)` (the search sentence's CER at that ratio) exceeds `bound`: never bought with mumbling."""
    best = max(by_ratio, key=by_ratio.get)
    return best if best == 1.0 or cer_at(best) <= bound else 1.0


def heard_well(style: np.ndarray, pitch: float, stock_style: np.ndarray, stock_pitch: float, speech16k: np.ndarray,
               language, asr_cfg, synth=None, formant: float = 1.0) -> tuple[bool, float]:
    """Whether a clone (searched in another language; its formant ratio `formant`) is still understood in
    `language`: its CER on that language's search sentence within the language's limit, or within
    CER_SLACK of the stock voice's. Returns (understood, its CER)."""
    judge = Judge(np.zeros(256), language, asr_cfg, synth, reference=speech16k)
    cer = judge.cer(judge.speak(style), pitch, formant)
    if cer <= CER_LIMIT.get(language.code, DEFAULT_CER_LIMIT):
        return True, cer
    return cer <= cer_bound(language.code, judge.cer(judge.speak(stock_style), stock_pitch)), cer


def stock_styles() -> dict[str, np.ndarray]:
    """The stock Kokoro voices' style tensors."""
    from .kokoro import VOICES, engine

    return {v: engine().style(v).astype(np.float32) for v in VOICES}


def clone_speaker(speech16k: np.ndarray, language, asr_cfg, budget: float = BUDGET, seed: int = 0,
                  log: Callable[[str], None] | None = None, synth=None,
                  clock: Callable[[], float] = time.perf_counter, equalize: bool = True) -> tuple[Clone, np.ndarray]:
    """Clone the voice of `speech16k` (one speaker's speech, 16 kHz) for `language`, within `budget`
    seconds; `equalize` gives candidates the speaker's long-term spectrum (dubbing.timbre). Starts from all stock voices (either gender: a low female voice may fit a high male one).
    Returns the clone and the speaker's embedding (the library key)."""
    target = embed(speech16k)
    judge = Judge(target, language, asr_cfg, synth, reference=speech16k if equalize else None)
    return search(judge, stock_styles(), budget, seed, log, clock), target
