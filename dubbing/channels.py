"""Recordings with one voice per channel: a podcast or an interview with a microphone per person, each on
its own channel. Mixed to mono, their overlapping speech reaches the transcriber and the diarizer as one
sound, so one of the two voices is lost or their words are interleaved. Heard channel by channel, each
voice is whole: every channel is transcribed and diarized alone, each word already knows its speaker,
and speech that overlaps in the mix is dubbed as two lines at once, as it was said.

A channel pair counts as independent when its waveforms do not correlate at any lag within MAX_LAG
(two microphones of one room, a panned or dual-mono mix all do), and each channel holds MIN_SPEECH
seconds of speech of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .config import ASR, Diarization as DiarizationConfig, LanguageId
from .schema import Diarization, Segment, SpeakerProfile, SpeakerTurn, Transcript

MAX_LAG = 0.02  # seconds: two microphones 7 m apart still correlate within this lag
MAX_COHERENCE = 0.2  # peak |normalised cross-correlation| below which two channels are independent
CHUNK = 5.0  # seconds per chunk the coherence is measured on
CHUNKS = 12  # chunks spread over the recording (a long one is not read whole)
MIN_SPEECH = 1.0  # seconds of speech each channel must hold
LOUD_DB = -50.0  # dBFS a chunk's both channels must exceed to be measured


def coherence(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Peak |normalised cross-correlation| of two equal-length signals over lags within ±`max_lag` samples."""
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if denom <= 0:
        return 0.0
    n = 1 << int(np.ceil(np.log2(2 * len(a))))
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    lags = np.concatenate([xc[:max_lag + 1], xc[-max_lag:]]) if max_lag else xc[:1]
    return float(np.max(np.abs(lags)) / denom)


def chunk_starts(duration: float, chunk: float = CHUNK, count: int = CHUNKS) -> list[float]:
    """Start times (seconds) of up to `count` chunks of `chunk` seconds spread evenly over `duration`, no
    more than it takes to cover it (a 6 s file: two, not twelve that overlap)."""
    if duration <= chunk:
        return [0.0]
    count = min(count, int(np.ceil(duration / chunk)))
    return sorted({round(float(s), 3) for s in np.linspace(0.0, duration - chunk, count)})


def channels_coherence(read: Callable[[float, float], np.ndarray], duration: float, sample_rate: int) -> float | None:
    """The median, over chunks where every channel is loud enough, of the least independent channel pair's
    coherence; None if no chunk was loud enough. `read(start, seconds)` gives (samples, channels)."""
    values = []
    for start in chunk_starts(duration):
        x = np.asarray(read(start, CHUNK), dtype=np.float64)
        if x.ndim != 2 or x.shape[1] < 2 or len(x) < sample_rate // 10:
            continue
        rms = np.sqrt(np.mean(x ** 2, axis=0))
        if np.any(20 * np.log10(rms + 1e-12) < LOUD_DB):
            continue
        lag = int(MAX_LAG * sample_rate)
        values.append(max(coherence(x[:, i], x[:, j], lag)
                          for i in range(x.shape[1]) for j in range(i + 1, x.shape[1])))
    return float(np.median(values)) if values else None


def merge(parts: list[tuple[Transcript, Diarization]]) -> tuple[Transcript, Diarization]:
    """One transcript and one diarization from each channel's own: speakers renamed SPEAKER_00, ... in
    channel order, words keeping their channel's speaker, segments and turns in time order. The language
    is the one heard longest."""
    segments: list[Segment] = []
    turns: list[SpeakerTurn] = []
    speakers: list[str] = []
    embeddings: dict[str, list[float]] = {}
    spoken: dict[str, float] = {}
    for tr, dia in parts:
        names = {s: f"SPEAKER_{len(speakers) + k:02d}" for k, s in enumerate(dia.speakers)}
        speakers += list(names.values())
        embeddings.update({names[s]: v for s, v in dia.embeddings.items() if s in names})
        turns += [t.model_copy(update={"speaker": names[t.speaker]}) for t in dia.turns]
        for seg in tr.segments:
            words = [w.model_copy(update={"speaker": names.get(w.speaker or "", w.speaker)}) for w in seg.words]
            segments.append(seg.model_copy(update={"words": words, "speaker": names.get(seg.speaker or "", seg.speaker)}))
            lang = seg.language or tr.language
            spoken[lang] = spoken.get(lang, 0.0) + seg.end - seg.start
    segments.sort(key=lambda s: (s.start, s.end))
    segments = [s.model_copy(update={"id": i}) for i, s in enumerate(segments)]
    first = parts[0][0]
    language = max(spoken, key=spoken.get) if spoken else first.language
    transcript = Transcript(language=language, language_probability=min(t.language_probability for t, _ in parts),
                            duration=max(t.duration for t, _ in parts), model=first.model, segments=segments)
    method = "one voice per channel: " + "; ".join(d.method for _, d in parts)
    return transcript, Diarization(turns=sorted(turns, key=lambda t: (t.start, t.end)), speakers=speakers,
                                   embeddings=embeddings, method=method)


def same_speech(channels: list[np.ndarray], regions: list[list[tuple[float, float]]], sample_rate: int) -> bool:
    """True if the speech of some channel is heard in another too: over each channel's longest speech
    regions (up to CHUNKS, CHUNK seconds at most each), the median coherence with every other channel
    reaches MAX_COHERENCE. A film's dialogue in the centre under wide stereo music reads incoherent where
    the music is loud; where someone speaks it does not."""
    lag = int(MAX_LAG * sample_rate)
    for k, (x, spans) in enumerate(zip(channels, regions)):
        longest = sorted(spans, key=lambda r: r[0] - r[1])[:CHUNKS]
        for j, y in enumerate(channels):
            if j == k:
                continue
            values = [coherence(x[int(a * sample_rate):int(min(b, a + CHUNK) * sample_rate)],
                                y[int(a * sample_rate):int(min(b, a + CHUNK) * sample_rate)], lag)
                      for a, b in longest if b - a >= 0.5]
            if values and float(np.median(values)) >= MAX_COHERENCE:
                return True
    return False


def transcribe_channels(channels: list[np.ndarray], sample_rate: int, asr: ASR, language_id: LanguageId,
                        diarization: DiarizationConfig, language: str | None = None,
                        progress: Callable[[float], None] | None = None
                        ) -> tuple[Transcript, Diarization, list[SpeakerProfile]] | None:
    """Each channel (mono float at `sample_rate` Hz, 16 kHz) transcribed, diarized and its speakers' voices
    profiled alone, merged; None if a channel holds less than MIN_SPEECH seconds of speech (then the
    channels are not one voice each). `progress` gets seconds of audio done over all channels."""
    from . import diarize, profiles, stretches, vad

    regions = [vad.speech_regions(x, sample_rate) for x in channels]
    if any(sum(b - a for a, b in r) < MIN_SPEECH for r in regions) or same_speech(channels, regions, sample_rate):
        return None
    parts, voices, done = [], [], 0.0
    for x in channels:
        tr = stretches.transcribe_source(x, asr, language_id, language,
                                         progress and (lambda s, d=done: progress(d + s)))
        dia = diarize.diarize(x, diarization, None, sample_rate)
        if not dia.turns:
            dia = Diarization(turns=[SpeakerTurn(start=s.start, end=s.end, speaker="SPEAKER_00") for s in tr.segments],
                              speakers=["SPEAKER_00"], method="fallback: one speaker")
        parts.append((diarize.assign_speakers(tr, dia), dia))
        voices.append(profiles.speaker_profiles(x, dia, sample_rate))  # no other voice over theirs here
        done += len(x) / sample_rate
    transcript, dia = merge(parts)
    names = iter(dia.speakers)  # merge renames in channel order, as the profiles come
    return transcript, dia, [p.model_copy(update={"speaker": next(names)}) for ps in voices for p in ps]
