"""Typed records passed between stages and stored as JSON in the job folder.

Times are seconds from the start of the source unless a field says otherwise. Records are
pydantic models rather than plain dataclasses because people edit some of them by hand (the
translation, the transcript, speaker labels): loading an edited file must validate it and say
exactly what is wrong. Together with dubbing.media, dubbing.video and dubbing.files this is the shared
layer: `lipsync/` imports nothing else of `dubbing/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from .files import write_atomic

R = TypeVar("R", bound="Record")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def save(self, path: str | os.PathLike) -> Path:
        """Write as indented JSON, atomically (a crash never leaves half a file)."""
        return write_atomic(path, self.model_dump_json(indent=1).encode())

    @classmethod
    def load(cls: type[R], path: str | os.PathLike) -> R:
        """Read and validate; a malformed or invalid file raises RecordError naming the file."""
        p = Path(path)
        try:
            return cls.model_validate_json(p.read_bytes())
        except FileNotFoundError:
            raise RecordError(f"{p}: no such file") from None
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "(top)"
            raise RecordError(f"{p}: {where}: {first['msg']}") from None


class RecordError(ValueError):
    """A stored or user-edited record could not be read."""


def dump_json(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False)


# --- media -------------------------------------------------------------------------------------


class MediaInfo(Record):
    path: str
    duration: float  # seconds
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0  # average rate from frame timestamps (frames / second)
    frame_count: int = 0
    variable_frame_rate: bool = False
    video_codec: str = ""
    audio_rate: int = 0  # Hz
    audio_channels: int = 0
    audio_start: float = 0.0  # seconds: the timestamp of the first audio sample (sample 0 of load_audio)
    rotation: int = 0  # degrees, from the container's display matrix


class ReadCheck(Record):
    """Spans (start, end seconds) of the input that did not decode; dubbed from a readable copy."""

    unreadable: list[tuple[float, float]] = Field(default_factory=list)


class ChannelCheck(Record):
    """Whether the channels carry independent voices (dubbing.channels): their coherence, None where no
    stretch was loud enough on every channel to tell."""

    coherence: float | None = None


# --- speech recognition and speakers ------------------------------------------------------------


class Word(Record):
    start: float
    end: float
    text: str
    probability: float = 1.0
    speaker: str | None = None
    language: str | None = None  # Whisper code of the stretch it was heard in (None: the transcript's)


class Segment(Record):
    id: int
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    speaker: str | None = None
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    language: str | None = None  # Whisper code of the stretch it was heard in (None: the transcript's)
    compression_ratio: float = 0.0  # text bytes / zlib-compressed bytes (high: a repetition loop)


class Transcript(Record):
    language: str
    language_probability: float = 1.0
    duration: float  # seconds of audio transcribed
    model: str = ""
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


class SpeakerTurn(Record):
    start: float
    end: float
    speaker: str


class Diarization(Record):
    turns: list[SpeakerTurn]
    speakers: list[str]
    # mean speaker embedding (unit length) per speaker, for voice matching and checks
    embeddings: dict[str, list[float]] = Field(default_factory=dict)
    method: str = ""
    # what the faces seen talking changed, or proposed and the voice refused (dubbing.who.Decision)
    decisions: list[dict] = Field(default_factory=list)


class Overlap(Record):
    """Where two voices sound at once in one channel (dubbing.overlap), (start, end) seconds."""

    spans: list[tuple[float, float]]
    method: str = ""


class SpeakerProfile(Record):
    """What voice selection needs to know of a source speaker."""

    speaker: str
    median_f0: float  # Hz, 0 if unvoiced throughout
    f0_low: float  # Hz, 10th percentile
    f0_high: float  # Hz, 90th percentile
    gender: str  # "male" | "female" (estimated from pitch)
    speech_seconds: float


# --- translation and speech --------------------------------------------------------------------


class Line(Record):
    """One dubbing unit: a stretch of one speaker's speech, with its translation."""

    id: str  # stable: "L0001"; edits refer to it
    start: float
    end: float
    speaker: str
    source: str
    text: str = ""  # target-language text
    budget: float = 0.0  # seconds available (slot plus borrowable gap)
    flags: list[str] = Field(default_factory=list)
    language: str | None = None  # source language of this line (None: the transcript's)

    @property
    def duration(self) -> float:
        return self.end - self.start


class Translation(Record):
    source_language: str
    language: str
    backend: str
    lines: list[Line]


class Voice(Record):
    speaker: str
    backend: str  # "kokoro" | "espeak"
    name: str  # backend voice id
    speed: float = 1.0  # synthesis rate multiplier
    pitch: float = 0.0  # semitones of pitch shift applied after synthesis (formants move with it)
    formant: float = 1.0  # then the formants alone moved by this ratio (dubbing.formant; a clone's vocal tract)
    origin: str = "stock"  # "stock" | "cloned" | "library" (a kept clone reused) | "pinned" (--voice)
    note: str = ""  # why this voice: a clone's scores, or why cloning fell back to the stock voice
    eq: list[float] = []  # dB per timbre.BANDS put on the voice's lines last, after the fit and the prosody pass
    # (pipeline.coloured): a stock voice given the speaker's long-term spectrum (own_voice.colour)

    @model_serializer(mode="wrap")
    def _unmoved_formants_unsaid(self, handler):
        """A voice whose formants are not moved, or with no eq of its own, is written (and keyed:
        workspace.digest) as before those fields existed, so a job made earlier does not speak every line
        again after an upgrade."""
        out = handler(self)
        if self.formant == 1.0:
            out.pop("formant", None)
        if not self.eq:
            out.pop("eq", None)
        return out


class VoiceCast(Record):
    language: str
    voices: dict[str, Voice]


class Phone(Record):
    symbol: str  # IPA
    start: float  # seconds from the start of the line's audio (or the track, in a track record)
    end: float


class SpokenLine(Record):
    line_id: str
    audio: str  # wav path relative to the job folder
    sample_rate: int  # Hz
    duration: float  # seconds
    speed: float  # synthesis rate used
    phones: list[Phone] = Field(default_factory=list)


class FittedLine(Record):
    """Where a spoken line landed on the output timeline and what it took to get there."""

    line_id: str
    speaker: str
    slot_start: float  # source line
    slot_end: float
    start: float  # dubbed speech on the output timeline
    end: float
    speed: float  # synthesis rate
    stretch: float  # time-stretch factor applied after synthesis (>1 = longer)
    shortened: bool = False
    flags: list[str] = Field(default_factory=list)

    @property
    def start_error(self) -> float:
        return abs(self.start - self.slot_start)

    @property
    def end_error(self) -> float:
        return abs(self.end - self.slot_end)


class KeptLine(Record):
    """A line the dub says in the speaker's own voice from the source (dubbing.kept_speech), over start..end s."""
    line_id: str
    speaker: str
    start: float
    end: float


class TimingReport(Record):
    language: str
    lines: list[FittedLine]
    phones: list[tuple[str, float, float, str]] = Field(default_factory=list)  # (ipa, start, end, speaker) on the output timeline
    own_voice: list[KeptLine] = Field(default_factory=list)  # lines not re-spoken: the source's own voice and lips


class Profiles(Record):
    speakers: list[SpeakerProfile]


class Lines(Record):
    language: str
    lines: list[Line]


class Levels(Record):
    """Integrated loudness (LUFS) of the separated source speech and background."""

    speech_lufs: float
    background_lufs: float


# --- prosody -----------------------------------------------------------------------------------


class Shape(Record):
    """A line's prosody: loudness of its voiced frames (dB), median pitch and its 10-90 % range
    (semitones re 100 Hz), the pitch movement over its last voiced stretch (semitones, > 0 rises) and its
    seconds of voicing. Pitch figures are None where too little is voiced (a whisper, a cough)."""

    level_db: float
    median_st: float | None = None
    range_st: float | None = None
    final_st: float | None = None
    voiced: float = 0.0


class SourceProsody(Record):
    """The shape of every source line, by line id (measured once, shared by the languages)."""

    lines: dict[str, Shape]


class ProsodyMove(Record):
    """What was done to a dubbed line: gain (dB), pitch shift (semitones), range scale about its median and
    a final movement added over its last voiced stretch (semitones)."""

    gain_db: float = 0.0
    shift_st: float = 0.0
    range_scale: float = 1.0
    final_st: float = 0.0


class ProsodyLine(Record):
    """One dubbed line: the source's shape, the synthesized line's before and after the move, and the move.
    `wanted` and `got` are the line's level and pitch relative to its speaker's (source) and its voice's
    (dub) usual, and its range and final movement: how closely the dub followed the source."""

    line_id: str
    speaker: str
    question: bool  # the source line ends in a question mark
    source: Shape
    before: Shape
    after: Shape
    move: ProsodyMove
    wanted: dict[str, float | None]
    got_before: dict[str, float | None]
    got: dict[str, float | None]


class ProsodyReport(Record):
    language: str
    lines: list[ProsodyLine]
    summary: dict[str, float | int | None]
