"""eSpeak NG through its C library (ctypes): text to IPA, and a formant synthesizer with phone timings.

libespeak-ng keeps one global state and is not thread-safe, so every call holds one lock.
Voices are espeak voice names with an optional variant: "es", "fr-fr", "es+m3", "de+f4".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import models
from .errors import DubError
from .schema import Phone

# espeak_AUDIO_OUTPUT, espeak_EVENT_TYPE, option bits and flags from speak_lib.h (espeak-ng 1.51)
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_PHONEME_IPA = 0x0002
EVENT_SENTENCE, EVENT_END, EVENT_MSG_TERMINATED, EVENT_PHONEME = 2, 5, 6, 7
CHARS_UTF8 = 1
POS_CHARACTER = 1
PARAM_RATE = 1
PHONEMES_IPA = 0x02
PHONEMES_TIE = 0x80  # with a character in bits 8-23: a tie inside multi-letter phonemes

# Punctuation kept in the IPA string (espeak drops it); Kokoro reads it as prosody.
OPENING = "¡¿«“("
PUNCTUATION = OPENING + ".,;:!?—…»”)\""
_PIECES = re.compile("([" + re.escape(PUNCTUATION) + "])")

# language-switch flags "(en)" (with a tie inside when one is asked for: "(^e^n)"), syllable hyphens
_FLAGS = re.compile(r"\(\^?(?:[a-z]\^?){2,3}(?:-[a-z0-9^]+)?\)|-")

_LOCK = threading.RLock()


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _VoiceSpec(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds from the start of the message
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The loaded library, initialised once for synchronous synthesis with IPA phoneme events."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            raise DubError("espeak-ng library not found: install the Debian package libespeak-ng1") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_VoiceSpec)
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_InitializePath.argtypes = [ctypes.c_char_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        data = _steady_data(lib)
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 500, data,
                                     INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA)
        if rate <= 0:
            raise DubError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        self.lib, self.sample_rate = lib, rate
        self.data_path = os.fsdecode(data) if data else None  # the steady copy in use (None: the installed data)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str]] = []  # (type, audio_position ms, IPA name)
        self._where: list[int] = []  # per event: its word's character position in the text (1-based)
        self._libc = ctypes.CDLL(None)  # breathy variants ("f3") draw their noise from libc's rand()
        self._callback = _CALLBACK(self._collect)  # keep a reference: the library holds a raw pointer
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            e = events[i]
            name = e.id.string.decode("utf-8", "replace") if e.type == EVENT_PHONEME else ""
            self._events.append((e.type, e.audio_position, name))
            self._where.append(e.text_position)
            i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        """By voice name ("es+m3"), else by language code ("fr-fr+f3"), then the variant after "+".

        A language code is resolved to its voice file first: espeak-ng (and its CLI) ignores a
        variant given with a code that is not a voice name.
        """
        base, _, variant = voice.partition("+")
        ident = base.encode()
        if self.lib.espeak_SetVoiceByName(ident) != 0:
            spec = _VoiceSpec(languages=ident)
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != 0:
                raise DubError(f"espeak-ng has no voice {voice!r} (see `espeak-ng --voices`)")
            ident = self.lib.espeak_GetCurrentVoice().contents.identifier
        if variant and self.lib.espeak_SetVoiceByName(ident + b"+" + variant.encode()) != 0:
            raise DubError(f"espeak-ng has no voice variant {variant!r} (see `espeak-ng --voices=variant`)")

    def phonemize(self, clause: str, mode: int) -> str:
        buf = ctypes.create_string_buffer(clause.encode())  # espeak advances `ptr` through it
        ptr = ctypes.cast(buf, ctypes.c_char_p)
        out = []
        while ptr.value:
            res = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), CHARS_UTF8, mode)
            if res:
                out.append(_FLAGS.sub("", res.decode("utf-8", "replace")).strip())
        return " ".join(x for x in out if x)

    def synth(self, text: str) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
        self._chunks, self._events, self._where = [], [], []
        data = text.encode() + b"\0"
        self._libc.srand(1)  # the same breath noise for every rendition
        err = self.lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if err != 0:
            raise DubError(f"espeak-ng synthesis failed (error {err})")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio.astype(np.float32) / 32768.0, self._events


STEADY = b"\nflutter 0\nroughness 0\n"  # appended to every voice and variant file: a voice file's last word wins


def _steady_data(lib) -> bytes | None:
    """A copy of espeak-ng's data in which no voice or variant has pitch flutter or roughness.

    Flutter (a slow pitch wobble read from a table) and roughness (a sign flipped every few glottal
    cycles) run on counters that carry over from one utterance to the next, so with them the same text
    comes out different (and up to ~6 samples longer or shorter) depending on what the process said
    before, and alignments built on a rendition move with it. Without them a rendition depends on its
    text, voice and rate only. Voice and variant files are copied with STEADY appended; everything else
    is a symlink. The copy is made once per installed espeak-ng under the dub cache (a folder renamed
    into place, so processes starting together never see half of one). Returns its path, or None (the
    installed data, as it is) where it cannot be made.
    """
    lib.espeak_ng_InitializePath(None)  # resolves the installed data folder without loading anything
    where = ctypes.c_char_p()
    version = lib.espeak_Info(ctypes.byref(where)) or b""
    source = Path(os.fsdecode(where.value or b""))
    if not (source / "phontab").is_file():
        return None
    key = hashlib.sha1(b"|".join((version, os.fsencode(source), STEADY))).hexdigest()[:12]
    home = models.home() / "espeak-steady" / key
    if len(os.fsencode(home)) > 120:  # espeak-ng keeps its data path in a fixed buffer
        return None
    if not home.is_dir():
        try:
            home.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{key}."))
        except OSError:
            return None
        try:
            _copy_steady(source, tmp)
            os.rename(tmp, home)  # fails if another process renamed its copy into place first: theirs is used
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return os.fsencode(home) if home.is_dir() else None


def _copy_steady(source: Path, dest: Path) -> None:
    """espeak-ng data folder `source` into `dest`: voice and variant files with STEADY appended, the rest symlinked."""
    for entry in source.iterdir():
        if entry.name not in ("lang", "voices"):
            (dest / entry.name).symlink_to(entry)
    for tree in ("lang", "voices"):
        for path in sorted((source / tree).rglob("*")):
            rel = path.relative_to(source)
            if path.is_dir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
            elif rel.parts[:2] == ("voices", "mb"):
                (dest / rel).symlink_to(path)  # MBROLA voices: another synthesizer, left as they are
            else:
                (dest / rel).write_bytes(path.read_bytes().rstrip(b"\n") + STEADY)


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    """The library, loaded and initialised once per process, on the steady voices of `_steady_data`."""
    return _Engine()


def sample_rate() -> int:
    """Output sample rate of espeak-ng in Hz (22050 for the Debian build)."""
    with _LOCK:
        return _engine().sample_rate


def phonemes(text: str, voice: str, tie: str = "") -> str:
    """IPA for `text`, words separated by spaces, clause punctuation kept (for Kokoro).

    With `tie` (one character) multi-letter phonemes are joined by it ("t^ʃ"), so callers can
    tell the affricate /tʃ/ from /t/ + /ʃ/.
    """
    mode = PHONEMES_IPA | ((PHONEMES_TIE | (ord(tie) << 8)) if tie else 0)
    out = ""
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        for piece in _PIECES.split(text):
            if not piece:
                continue
            if piece in OPENING:
                out += " " + piece
            elif piece in PUNCTUATION:
                out = out.rstrip() + piece + " "
            elif piece.strip():
                out += eng.phonemize(piece, mode) + " "
    return re.sub(r"\s+", " ", out).strip()


def ipa(text: str, voice: str) -> str:
    """IPA for `text` as `espeak-ng -q --ipa -v VOICE` writes it, with clause punctuation kept and
    language-switch flags ("(en)") and hyphens removed."""
    return phonemes(text, voice)


def synthesize(text: str, voice: str, rate_wpm: int = 175) -> tuple[np.ndarray, int, list[Phone]]:
    """Speak `text`: (float32 mono audio, sample rate in Hz, IPA phones with start/end in seconds).

    A phone ends where the next phoneme event (pauses included) begins; pauses are not returned.
    """
    audio, sr, events, _ = _speak(text, voice, rate_wpm)
    return audio, sr, phones_from_events(events, len(audio) / sr)


def _speak(text: str, voice: str, rate_wpm: int) -> tuple[np.ndarray, int, list[tuple[int, int, str]], list[int]]:
    """Audio, sample rate (Hz), events and each event's word position (1-based character)."""
    if not text.strip():
        raise DubError("nothing to say: empty text")
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        eng.lib.espeak_SetParameter(PARAM_RATE, int(rate_wpm), 0)
        audio, events = eng.synth(text)
        return audio, eng.sample_rate, events, list(eng._where)


def synthesize_words(text: str, voice: str, rate_wpm: int = 175
                     ) -> tuple[np.ndarray, int, list[Phone], list[int]]:
    """`synthesize`, and for each phone the index of the word of `text` (split on whitespace) it
    belongs to, as espeak-ng reports it (a phone espeak places between words goes with the one before)."""
    audio, sr, events, where = _speak(text, voice, rate_wpm)
    phones = phones_from_events(events, len(audio) / sr)
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    # the text position of each phoneme event, in the order phones_from_events keeps them
    kept = [w for (typ, _, name), w in sorted(zip(events, where), key=lambda ew: ew[0][1])
            if typ == EVENT_PHONEME and _kept_symbol(name)]
    words = [max(0, int(np.searchsorted(starts, pos - 1, side="right")) - 1) for pos in kept]
    return audio, sr, phones, words


def _symbol(name: str) -> str:
    """The IPA of a phoneme event without flags and stress marks."""
    return _FLAGS.sub("", name).strip().replace("ˈ", "").replace("ˌ", "")


def _kept_symbol(name: str) -> bool:
    """Whether a phoneme event is a phone (not a pause, "_"-named, or only marks)."""
    symbol = _symbol(name)
    return bool(symbol) and not symbol.startswith("_")


def phones_from_events(events: list[tuple[int, int, str]], duration: float) -> list[Phone]:
    """Phones from espeak events (type, audio position in ms, IPA name): each ends at the next boundary."""
    marks = sorted((pos / 1000.0, i, typ, name) for i, (typ, pos, name) in enumerate(events)
                   if typ in (EVENT_PHONEME, EVENT_END, EVENT_SENTENCE, EVENT_MSG_TERMINATED))
    phones: list[Phone] = []
    for k, (t, _, typ, name) in enumerate(marks):
        if typ != EVENT_PHONEME or not _kept_symbol(name):
            continue
        symbol = _symbol(name)
        end = next((m[0] for m in marks[k + 1:] if m[0] > t), duration)
        phones.append(Phone(symbol=symbol, start=t, end=min(end, duration)))
    return phones


def japanese_kana(text: str) -> str:
    """Japanese text as katakana (Open JTalk readings): espeak-ng reads kana only."""
    from .textnorm import katakana

    return katakana(text)
