"""Each speaker's XTTS voice: a reference clip of that speaker's own speech from the source, written as
a 16 kHz WAV for coqui's tts-server to clone from (dubbing/xtts.py), or the user's own reference WAV
(--voice SPEAKER=ref.wav). The clip's path is the Voice's name; the server reads it from that path, so
the job folder (or the cache) must be visible to the server's host at the same path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from . import media, models
from .errors import DubError
from .schema import Diarization, SpeakerProfile, SpeakerTurn, Voice, VoiceCast

SR = 16000  # Hz, the source audio's and the reference clip's rate
REF_MIN = 3.0  # seconds of reference XTTS needs to clone a voice
REF_MAX = 15.0  # seconds of reference used at most (XTTS conditions on up to about this much)
GAP = 0.15  # seconds of silence put between two turns in the clip


def reference_speech(wav16k: np.ndarray, turns: list[SpeakerTurn], speaker: str,
                     max_seconds: float = REF_MAX) -> np.ndarray:
    """Up to `max_seconds` of `speaker`'s clearest speech in 16 kHz `wav16k`: their turns that no other
    speaker's turn overlaps (all their turns if every one is overlapped), longest first (a long turn is
    seldom a fragment or cross-talk), put back in time order with GAP seconds of silence between them."""
    own = [t for t in turns if t.speaker == speaker]
    others = [t for t in turns if t.speaker != speaker]
    clean = [t for t in own if not any(o.start < t.end and o.end > t.start for o in others)] or own
    chosen, total = [], 0.0
    for t in sorted(clean, key=lambda t: (-(t.end - t.start), t.start)):
        if total >= max_seconds:
            break
        chosen.append(t)
        total += t.end - t.start
    gap = np.zeros(int(GAP * SR), np.float32)
    pieces = []
    for t in sorted(chosen, key=lambda t: t.start):
        pieces += [np.asarray(wav16k[int(t.start * SR):int(t.end * SR)], np.float32), gap]
    speech = np.concatenate(pieces[:-1]) if pieces else np.zeros(0, np.float32)
    return speech[:int(max_seconds * SR)]


def reference_wav(ref: str) -> Path:
    """The user's reference recording for --voice SPEAKER=ref.wav, resolved; DubError in one line if it
    is not an existing .wav file."""
    path = Path(ref).expanduser().resolve()
    if path.suffix.lower() != ".wav":
        raise DubError(f"voice {ref!r}: the xtts backend clones from a reference recording: give a .wav file "
                       f"of the speaker (3-15 s of clear speech)")
    if not path.is_file():
        raise DubError(f"reference voice file not found: {path}")
    return path


def cast(profiles: list[SpeakerProfile], diarization: Diarization, wav16k: np.ndarray | None, language,
         pins: dict[str, str], folder: Path | None = None) -> VoiceCast:
    """One xtts Voice per speaker: the pinned reference WAV, else a clip of their own speech written to
    `folder` (None: the cache, <DUB_HOME>/xtts). `wav16k` is the source audio at 16 kHz."""
    out = {}
    for p in sorted(profiles, key=lambda p: p.speaker):
        stock = Voice(speaker=p.speaker, backend="xtts", name="")
        if p.speaker in pins:
            out[p.speaker] = stock.model_copy(update={"name": str(reference_wav(pins[p.speaker])), "origin": "pinned",
                                                      "note": f"--voice {p.speaker}={pins[p.speaker]}"})
        elif wav16k is None:
            raise DubError(f"xtts: no source audio to take {p.speaker}'s reference clip from")
        else:
            out[p.speaker] = own(stock, diarization, wav16k, folder)
    return VoiceCast(language=language.code, voices=out)


def own(stock: Voice, diarization: Diarization, wav16k: np.ndarray, folder: Path | None) -> Voice:
    """`stock` speaking with a reference clip of its speaker's own speech, written once (named by a digest
    of the audio); the note says how long it is, and when it is shorter than XTTS needs."""
    speech = reference_speech(wav16k, diarization.turns, stock.speaker)
    seconds = len(speech) / SR
    if seconds < 0.5:
        raise DubError(f"xtts: speaker {stock.speaker} has {seconds:.1f} s of speech in the source, nothing to "
                       f"clone from: give a reference with --voice {stock.speaker}=ref.wav")
    digest = hashlib.sha256(speech.tobytes()).hexdigest()[:12]
    path = (folder / f"{stock.speaker}-{digest}.wav") if folder else models.home() / "xtts" / f"{digest}.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        media.write_wav(path, speech, SR)
    note = f"cloned by XTTS from {seconds:.1f} s of the speaker's own speech"
    if seconds < REF_MIN:
        note = (f"only {seconds:.1f} s of speech, XTTS needs about {REF_MIN:.0f} s: the clone may not sound like "
                f"the speaker (a longer reference: --voice {stock.speaker}=ref.wav)")
    return stock.model_copy(update={"name": str(path.resolve()), "origin": "cloned", "note": note})
