"""Translation with a local instruction-tuned LLM (llama-cpp-python): model loading, prompts, output cleanup.

The model is loaded once per process. Decoding is greedy with a fixed seed. Prompts share a long fixed
prefix (system text, examples, the transcript page given as context) and end with the line to
translate; a RAM cache of earlier prompts' states means a shared prefix is read once. A restored state
is not bit-identical to one read afresh, so with language branches asking in parallel a line's text can
depend on the order of requests: the job folder keeps every translation, and a rerun reuses it.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import languages
from languages import Language

from . import guard, models
from .errors import MissingModel

if TYPE_CHECKING:  # llama_cpp is imported only when a model is loaded
    from llama_cpp import Llama

EMBEDDED = "embedded:qwen2.5-coder-1.5b"
SEED = 1234
N_CTX = 4096
PROMPT_CACHE_BYTES = 256 << 20  # KV states of earlier prompts kept for reuse
PAGE_CHARS = 3000  # transcript characters per context page (~800 tokens)

SHORTEN_TEMPERATURE = 0.7  # for the sampled shorter versions of a source line
RETRY_TEMPERATURE = 0.7  # the last try at a line whose greedy replies failed the checks
# more sampled tries (seeds of their own) at a line no reply to which was usable (guard.usable): on the 10 and
# 30-minute bench programs one Portuguese line got "¡Por supuesto! Aquí tienes la traducción al español:" three
# times and the dub said it (stop 36); a sample at another seed translates it
EXTRA_SAMPLES = 3


@dataclass(frozen=True)
class Style:
    """Prompt choices. The defaults won on 30 Tatoeba pairs per language (bench/translation.py): few-shot
    examples cost 1-1.7 chrF, transcript context 0.7-5, numbered batches of 8 cost 1.4-5.4 and were no faster
    (prompt caching makes a single line cheap); the length hint was neutral
    on chrF (-1.2..+1.1) and cut likely-too-long Japanese lines from 37 % to 27 %.

    `history` (the conversation so far as earlier chat turns, with the model's own translations) on FLORES
    documents (bench/translation.py --docs --n 40: tune = the even documents from line 503, 22 lines; report =
    the odd ones from line 508, 21 lines; each document one page; greedy), chrF line alone -> history=2:
        tune    es 50.4 -> 50.1   fr 56.7 -> 57.1   ja 19.8 -> 23.6
        report  es 48.8 -> 48.5   fr 57.1 -> 57.9   ja 24.2 -> 24.8
    (history=1, the line before only, tune / report: es 50.1 / 48.5, fr 57.1 / 56.8; ja not run, no time.) A document's first line is asked alike
    in both styles, so 5-7 lines of each 21-22 are the same. Paired bootstrap (1000 resamples), share where
    history=2 scores higher: ja tune 1.00, report 0.71; fr 0.58 / 0.76; es 0.40 / 0.35: a clear gain for ja
    on the tune half only, noise-sized either way for es and fr. Seconds per request (a shared, loaded 2-core
    machine): 8-40 for either style, set by the load more than by the style (each prompt extends the one
    before, so history reads only the new turn). Earlier, on 10-11
    lines (FLORES 503-527): ja 18.2 -> 22.7 / 28.1 -> 31.4, es 48.9 -> 48.8 / 48.0 -> 49.1. The finding in
    MODELS.md that context cost ja 3.5 chrF was for the previous lines pasted into the prompt, not for
    earlier turns with their translations."""

    examples: bool = False  # few-shot turns from the languages' example lines (languages/*.yaml)
    hint: bool = True  # tell the model how many words/characters fit the line's time budget
    context: bool = False  # give the transcript page around the line as context
    batch: int = 1  # lines per request; >1 = a numbered list in one request
    history: int = 0  # earlier lines of the page (up to 2x this many) as earlier turns, with their translations


# History stays off by default: it did not beat line alone on the report half for es (48.8 -> 48.5, see
# Style), and with it on two tests fail for a reason of decoding numerics, not of the style:
# - test_translate's rerun check: a rerun's prompt comes whole from the prompt cache and only its last token
#   is decoded again, alone, where the first run decoded it in a batch; the logits differ in their last bits
#   and flipped a greedy choice ("Gracias mucho" / "Gracias de mucho por su ayuda" after a history turn).
#   Decoding every prompt's last token alone made reruns identical, but changed first runs: vr_face1 into fr,
#   line 1 "... quand je le souhaite." became "... quand je le besoin." (in either style), shortened to
#   "Mon plus grand défaut est de demander de l'aide.", which Kokoro says so that Whisper hears "plus grand
#   de fort à la demande de la laire" (Chinese detected, CER 23.1 %; test_end_to_end's limit is 20 %).
# - The earlier French failure (CER 26.7 %) was the same shortened line. Speaker labels were not its cause:
#   with none on a one-speaker page (Translator.lines) it came out again; any change of the numerics can
#   tip line 1 to it. That phrase spoken badly is the weak point (TTS), not the history style.
DEFAULT = Style()


@dataclass(frozen=True)
class Item:
    """One line to translate: its source text, speaker label and length hint ("at most 7 words", or "")."""

    text: str
    speaker: str = ""
    hint: str = ""


def model_path(name: str) -> Path:
    """The GGUF file for a `translation.llm_model` setting ("embedded:..." or a file path)."""
    if name in ("", EMBEDDED):
        return models.qwen_gguf()
    p = Path(name).expanduser()
    if not p.is_file():
        raise MissingModel("translation", name, "Set translation.llm_model to a GGUF file on this machine, "
                                                f"or to {EMBEDDED!r}.")
    return p


def _llama_class() -> type["Llama"]:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise MissingModel("translation", "llama-cpp-python",
                           "Install llama-cpp-python (scripts/bootstrap.sh builds it).") from None
    return _lean_states(Llama)


@lru_cache(maxsize=None)
def _lean_states(base: type) -> type:
    """`base` (llama_cpp.Llama) whose prompt-cache states hold the KV cache only.

    llama-cpp-python copies the logit rows of every prompt token (n_batch x vocabulary at most, 311 MB
    for Qwen2.5) into each saved state, and on restore writes them back and scans the rest of the
    buffer: at 101 tokens 13 ms to save and 40 ms to restore (563 ms for the first restore), in each of
    the ~45 calls of a 3-language run, for logits nothing reads, since a restored state always reads its
    last token again (`_requires_eval`)."""
    import ctypes

    import llama_cpp
    import numpy as np

    class LeanStates(base):
        def save_state(self):
            size = llama_cpp.llama_state_get_size(self._ctx.ctx)
            buf = (ctypes.c_uint8 * int(size))()
            n = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buf, size))
            if n > int(size):
                raise RuntimeError("Failed to copy llama state data")
            return llama_cpp.LlamaState(scores=np.zeros((1, self._n_vocab), np.single),
                                        input_ids=self.input_ids.copy(), n_tokens=self.n_tokens,
                                        llama_state=ctypes.string_at(buf, n), llama_state_size=n, seed=self._seed)

        def load_state(self, state) -> None:
            self.input_ids = state.input_ids.copy()
            self.n_tokens = state.n_tokens
            self._requires_eval = True
            self._seed = state.seed
            data = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
            if llama_cpp.llama_state_set_data(self._ctx.ctx, data, state.llama_state_size) != \
                    state.llama_state_size:
                raise RuntimeError("Failed to set llama state data")

    return LeanStates


def require(name: str) -> Path:
    """The GGUF file for `name`, once llama-cpp-python is known to import; MissingModel otherwise."""
    path = model_path(name)
    _llama_class()
    return path


MODEL_LOCK = threading.RLock()  # the loaded model is shared by every thread of the process


def load(path: str, n_ctx: int = N_CTX) -> "Llama":
    """Load a GGUF model once per process (2 threads; how OpenMP threads wait: dubbing/__init__.py)."""
    with MODEL_LOCK:  # two language branches asking at once must not load it twice
        return _load(path, n_ctx)


def prompt_cache():
    """A RAM cache of prompt states (the KV cache alone, see _lean_states) of PROMPT_CACHE_BYTES at most."""
    from llama_cpp import LlamaRAMCache

    return LlamaRAMCache(capacity_bytes=PROMPT_CACHE_BYTES)


@lru_cache(maxsize=1)
def _load(path: str, n_ctx: int) -> "Llama":
    # read, not mapped: llama.cpp repacks the weights for the CPU into memory of its own, and a mapped
    # file keeps the pages it read from resident beside them (1.96 GB loaded, against 1.34 GB read; the
    # same replies; its load time, 0.7-2.1 s either way in four tries, was within the noise)
    model = _llama_class()(model_path=path, n_threads=2, n_ctx=n_ctx, seed=SEED, verbose=False, use_mmap=False)
    # Translation, shortening and condensing prompts (and, with branches in parallel, several languages)
    # take turns; the RAM cache restores the KV state of the longest already-read prefix instead of
    # reading the prompt again. A state is ~25 kB per token.
    model.set_cache(prompt_cache())
    _OPEN.add(model)
    return model


# Models still open at exit are closed before interpreter teardown, which would make __del__ fail; held
# weakly, so that a released model is freed as soon as no translator holds it.
_OPEN: "weakref.WeakSet[Llama]" = weakref.WeakSet()
atexit.register(lambda: [m.close() for m in list(_OPEN)])


def release() -> None:
    """Let the loaded model go: it is freed (1.3 GB: weights, KV cache, buffers) once no translator still
    holds it; the next load() reads it again."""
    import gc

    with MODEL_LOCK:
        _load.cache_clear()
    gc.collect()


class Users:
    """Counts who may still ask the model: `done()` once from each of the `n`, and the model is released
    after the last (a run's translation loop and each language's speech fitting, which shortens lines).

    A user asks inside `with asking():`. `wait_released()` holds a caller (a language about to start its
    lip sync) until the model is let go, so the two do not sit in memory together; but only while a
    user is asking: users not yet started may be waiting for the caller's own thread, and never come."""

    def __init__(self, n: int) -> None:
        self._left = n
        self._asking = 0
        self._released = False
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def asking(self, then_done: bool = False) -> Iterator[None]:
        """Around a use of the model; `then_done`: the user's last, counted done as it ends (at once, so a
        waiter never sees nobody asking before the release)."""
        with self._cond:
            self._asking += 1
        try:
            yield
        finally:
            self._end(1, int(then_done))

    def done(self) -> None:
        self._end(0, 1)

    def _end(self, asking: int, done: int) -> None:
        with self._cond:
            self._asking -= asking
            self._left -= done
            last = done and self._left == 0
            if not last:
                self._cond.notify_all()
        if last:
            release()
            with self._cond:
                self._released = True
                self._cond.notify_all()

    def wait_released(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._released or (self._asking == 0 and self._left > 0))


class OwnCopy:
    """Users for a worker process that loads its own model (a Dask worker): its one user's `done()` lets
    it go, and nobody else's use is waited for."""

    @contextlib.contextmanager
    def asking(self, then_done: bool = False) -> Iterator[None]:
        try:
            yield
        finally:
            if then_done:
                release()

    def done(self) -> None:
        release()

    def wait_released(self) -> None:
        pass


def fixed_prompts(source: str, target: Language) -> list[list[dict]]:
    """The fixed starts of the prompts for `source` -> `target`, each ending in an empty user turn: the
    translation's system text, the limited translation's system text and examples, and the condensing
    of a source line (the same for every target)."""
    empty = {"role": "user", "content": ""}
    return [line_messages(Item(""), source, target, DEFAULT)[:1] + [empty],
            shorten_messages("", source, target, "")[:-1] + [empty],
            condense_messages("", source, "")[:-1] + [empty]]


def state_path(path: Path, messages: list[dict]) -> Path:
    """Where the model state after reading `messages` is kept: per model file, llama-cpp-python version and
    prompt text."""
    import hashlib
    import json

    import llama_cpp

    key = json.dumps([path.name, path.stat().st_size, llama_cpp.__version__, messages], ensure_ascii=False)
    return models.models_dir() / "prompt-states" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pkl"


def prime(name: str, source: str, targets: list[Language]) -> None:
    """Put the states of the fixed prompt starts for `source` -> each target into the prompt cache: read
    from disk where an earlier run (or the install) kept them, else read by the model and kept. They are
    ~50-150 tokens each, and the model reads ~35 tokens/s on 2 cores: ~20 s of a 3-language run."""
    import pickle

    import numpy as np

    from .files import write_atomic

    path = require(name)
    model = load(str(path))
    seen: list[list[dict]] = []
    for msgs in (m for t in targets for m in fixed_prompts(source, t)):
        if msgs in seen:
            continue
        seen.append(msgs)
        kept = state_path(path, msgs)
        with MODEL_LOCK:
            try:
                state = pickle.loads(kept.read_bytes())
                model.cache[state.input_ids.tolist()] = state
                continue
            except (OSError, pickle.UnpicklingError, AttributeError, EOFError, ValueError):
                pass  # none yet, or unreadable: read it afresh
            model.create_chat_completion(messages=msgs, seed=SEED, max_tokens=1, temperature=0.0, top_k=1)
            state = model.save_state()
        state.scores = np.zeros((1, state.scores.shape[-1]), dtype=state.scores.dtype)  # as in the RAM cache
        kept.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(kept, pickle.dumps(state))


def language_name(code: str) -> str:
    """English name of a language code ("es" -> "Spanish"); the code itself if it has no data file."""
    try:
        return languages.get(code).name
    except languages.UnknownLanguage:
        return code


# --- prompts -----------------------------------------------------------------------------------------


def _script_note(target: Language) -> str:
    return f" {target.prompt_note}" if target.prompt_note else ""


def examples(code: str) -> list[str]:
    """The language's few-shot example lines (languages/<code>.yaml); none for a code with no data file."""
    try:
        return languages.get(code).examples
    except languages.UnknownLanguage:
        return []


def system_prompt(src: str, target: Language, strict: bool = False) -> str:
    if strict:
        return (f"Translate the user's {src} text into {target.name}. Output only the {target.name} "
                f"translation on one line, nothing else: no quotes, no notes, no original text."
                + _script_note(target))
    return (f"You translate film and video dialogue from {src} into {target.name} for dubbing. "
            f"Translate the meaning naturally, as people speak, keeping names and tone. Reply with the "
            f"{target.name} translation only: no quotes, no notes, no explanations." + _script_note(target))


def _ask(text: str, target: Language, hint: str, speaker: str = "") -> str:
    who = f"{speaker}'s line " if speaker else ""
    return f"Translate {who}into {target.name}{f' ({hint})' if hint else ''}:\n{text}"


def history_window(i: int, n: int) -> range:
    """Indices of the earlier lines of a page given as history to line `i`, for a window of `n`: the lines
    of the current block of `n` before `i` and the whole block before it (n to 2n-1 lines). Between
    block starts each prompt extends the one before, so the model reads only the new turn."""
    start = max(0, (i // n - 1) * n) if n > 0 else i
    return range(start, i)


def labelled(items: list[Item], page: range) -> dict[int, Item]:
    """The lines of a page as they are asked with history: with their speaker labels where two or more
    speakers speak on the page, else without (a label names who says a line only to tell the speakers
    apart; on a one-speaker video it only changed what the model wrote: vr_face1's shortened line into
    French, see Style)."""
    speakers = {items[i].speaker for i in page if items[i].text.strip() and items[i].speaker}
    return {i: items[i] if len(speakers) > 1 else replace(items[i], speaker="") for i in page}


def _example_turns(source: str, target: Language) -> list[dict]:
    src, tgt = examples(source), target.examples
    if not src or not tgt:
        return []
    turns: list[dict] = []
    for a, b in zip(src, tgt):
        turns += [{"role": "user", "content": _ask(a, target, "")}, {"role": "assistant", "content": b}]
    return turns


def context_block(items: list[Item]) -> str:
    lines = "\n".join(f"{f'[{it.speaker}] ' if it.speaker else ''}{it.text}" for it in items if it.text.strip())
    return f"The whole conversation, for context only (do not translate it):\n{lines}\n\n"


def line_messages(item: Item, source: str, target: Language, style: Style, context: str = "",
                  glossary: dict[str, str] | None = None, strict: bool = False,
                  history: list[tuple[Item, str]] | None = None) -> list[dict]:
    """Chat messages asking for one line. The fixed parts come first so the prompt cache can reuse them.
    `history`: earlier lines and their translations, given as earlier turns of the same chat, each asked
    as it was (so a prompt extends the one before it), so the model keeps its pronouns, register and
    terms. A line asked within the conversation (`history` given, if empty: the first line of a page) with
    `style.history` is asked with its speaker's label, where the item has one; a line asked on its own
    (history None: a shortened line translated again) never is. (Translator.lines leaves the labels out
    where only one speaker speaks on the page.)"""
    src = language_name(source)
    msgs = [{"role": "system", "content": system_prompt(src, target, strict)}]
    if style.examples and not strict:
        msgs += _example_turns(source, target)
    # who says it, where the model sees the conversation
    labels = style.history > 0 and not strict and history is not None
    for before, said in (history or []) if not strict else []:
        msgs += [{"role": "user", "content": _ask(before.text, target, before.hint if style.hint else "",
                                                  before.speaker if labels else "")},
                 {"role": "assistant", "content": said}]
    terms = glossary_note(item.text, glossary)
    ask = _ask(item.text, target, item.hint if style.hint else "", item.speaker if labels else "")
    msgs.append({"role": "user", "content": (context if style.context and not strict else "") + terms + ask})
    return msgs


def batch_messages(items: list[Item], source: str, target: Language, style: Style,
                   glossary: dict[str, str] | None = None) -> list[dict]:
    """Chat messages asking for a numbered list of lines, answered as the same numbered list."""
    src = language_name(source)
    numbered = "\n".join(f"{i + 1}. {it.text}" + (f"  ({it.hint})" if style.hint and it.hint else "")
                         for i, it in enumerate(items))
    terms = glossary_note(" ".join(it.text for it in items), glossary)
    return [
        {"role": "system", "content": system_prompt(src, target)},
        {"role": "user", "content": f"{terms}Translate each numbered line into {target.name}. Answer with the "
                                    f"same numbers, one translated line each, nothing else. A length limit in "
                                    f"parentheses applies to that line.\n{numbered}"},
    ]


def glossary_terms(text: str, glossary: dict[str, str] | None) -> list[tuple[str, str]]:
    """The (term, translation) pairs of `glossary` whose term occurs in `text` (case-insensitive, whole
    words); a translation equal to the term, or empty, means the term is kept as it is."""
    return [(k, v or k) for k, v in (glossary or {}).items()
            if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text, re.IGNORECASE)]


def glossary_note(text: str, glossary: dict[str, str] | None) -> str:
    """Prompt text naming the glossary terms that occur in `text`: their translations, and the terms to
    keep untranslated (names, brands)."""
    used = glossary_terms(text, glossary)
    given = [(k, v) for k, v in used if v.lower() != k.lower()]
    kept = [v for k, v in used if v.lower() == k.lower()]
    note = ("Use these translations of terms: " + "; ".join(f"{k} = {v}" for k, v in given) + ".\n") if given else ""
    return note + ("Keep these words exactly as written, untranslated: " + ", ".join(kept) + ".\n" if kept else "")


def pages(items: list[Item], max_chars: int = PAGE_CHARS) -> list[range]:
    """Split consecutive lines into pages of at most `max_chars` characters (a long line gets its own)."""
    out: list[range] = []
    start, size = 0, 0
    for i, it in enumerate(items):
        n = len(it.text) + len(it.speaker) + 4
        if i > start and size + n > max_chars:
            out.append(range(start, i))
            start, size = i, 0
        size += n
    if items:
        out.append(range(start, len(items)))
    return out


# --- output cleanup and checks -----------------------------------------------------------------------

_LABEL = re.compile(r"^\s*(?:[\w ]{0,30}?(?:translation|traducción|traduction|traduzione|übersetzung|tradução)"
                    r"|翻訳|訳)\s*[:：]\s*", re.IGNORECASE)
_NOTE = re.compile(r"\s*[(（\[](?:note|nota|remarque|hinweis|注|translation)[^)）\]]*[)）\]]\s*$", re.IGNORECASE)
_LATIN_PAREN = re.compile(r"\s*[(（][A-Za-z][^)）]*[)）]")
_HINT_ECHO = re.compile(r"\s*[(（]\s*at most \d+ \w+\s*[)）]", re.IGNORECASE)  # a length hint copied back
_QUOTES = {'"': '"', "“": "”", "«": "»", "「": "」", "『": "』", "'": "'", "„": "“"}
_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):]\s*(.*)$")
# Talk about translating, in a reply to a line that does not: the model's preamble, not a translation
# ('"Claro, aquí tienes la traducción al español', repeated until max_tokens, on pa_sample es L0007).
_META = re.compile(r"translat|traduc|traduz|übersetz|翻訳|翻译", re.IGNORECASE)


def clean(output: str, target: Language, source_text: str = "") -> str:
    """The translation inside a model reply: first real line, without labels, quotes, notes or markup."""
    text = re.sub(r"```[\w-]*", "\n", output).replace("**", "")
    lines = [l.strip() for l in text.splitlines()]
    lines = [l for l in lines if _LABEL.sub("", l).strip()]
    while len(lines) > 1 and lines[0].endswith((":", "：")):  # "Claro, aquí tienes la traducción al español:"
        lines.pop(0)
    if not lines:
        return ""
    out = _LABEL.sub("", lines[0])
    if target.code and re.match(rf"^{re.escape(target.name)}\s*[:：]\s*", out, re.IGNORECASE):
        out = re.sub(rf"^{re.escape(target.name)}\s*[:：]\s*", "", out, flags=re.IGNORECASE)
    out = _NOTE.sub("", _HINT_ECHO.sub("", out))
    if target.subtitles.cjk:
        out = _LATIN_PAREN.sub("", out)
    if not _NUMBERED.match(source_text):
        m = _NUMBERED.match(out)
        out = m.group(2) if m else out
    out = out.strip()
    if len(out) >= 2 and _QUOTES.get(out[0]) == out[-1] and not (source_text.strip()[:1] in _QUOTES):
        out = out[1:-1].strip()
    return re.sub(r"\s+", " ", out)


def _kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\uff66" <= ch <= "\uff9f"


def _cjk(ch: str) -> bool:
    return _kana(ch) or "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uac00" <= ch <= "\ud7af"


def _japanese_kanji(ch: str) -> bool:
    """Whether an ideograph is one Japanese is written with (JIS X 0208): 帮 (Chinese for 助け) is not. None of
    the 659 human ja lines of FLORES and Tatoeba here, nor 776 of the model's, has one outside it; a shortened
    line did ("弱さ: 帮助を求める")."""
    try:
        ch.encode("shift_jis")
    except UnicodeEncodeError:
        return False
    return True


def script_ok(text: str, target: Language) -> bool:
    """True if the letters of `text` are mostly in the target's script (kana required for Japanese, and
    its kanji Japanese ones)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return True
    cjk = sum(map(_cjk, letters))
    if target.subtitles.cjk:
        if target.code == "ja" and cjk >= 6 and not any(map(_kana, letters)):
            return False  # Chinese, not Japanese
        if target.code == "ja" and not all(map(_japanese_kanji, filter(_cjk, letters))):
            return False  # a Chinese character in Japanese
        return cjk >= 0.5 * len(letters)
    return cjk == 0 and sum(c.isascii() or "\u00c0" <= c <= "\u024f" for c in letters) >= 0.9 * len(letters)


def _norm_words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def problem(source_text: str, out: str, target: Language, source: str = "", shortened: bool = False) -> str | None:
    """Why a translation looks wrong ("empty", "untranslated", "chatter", "wrong script", "runaway", or one
    of the guard's: "loop", "length", "numbers", "names"; see dubbing/guard.py), or None. `source`: the
    source language code, for the length norm; `shortened`: asked to be short, so short is no fault."""
    if not out.strip():
        return "empty"
    src_words, out_words = _norm_words(source_text), _norm_words(out)
    if len(src_words) >= 2 and out_words == src_words and any(len(w) > 3 for w in src_words):
        return "untranslated"  # (not "No, no, no.": the same in Spanish)
    long_src = {w for w in src_words if len(w) > 3}
    long_out = [w for w in out_words if len(w) > 3]
    if len(long_out) >= 3 and sum(w in long_src for w in long_out) >= 0.7 * len(long_out):
        return "untranslated"
    if out.rstrip().endswith((":", "：")) and not source_text.rstrip().endswith(":"):
        return "chatter"  # a preamble ("Voici la traduction :") with the answer cut off
    if _META.search(out) and not _META.search(source_text):
        return "chatter"
    if not script_ok(out, target):
        return "wrong script"
    kept_names = {w.lower() for w in guard.names(source_text)}  # "EighmeyとMcCord（1998）" is right
    if target.subtitles.cjk and {w.lower() for w in re.findall(r"[A-Za-z]{4,}", out)} & long_src - kept_names:
        return "untranslated"  # English words left inside Japanese
    if len(out) > 3 * len(source_text) + 30 and not guard.loop(source_text, out):
        return "runaway"
    found = guard.issues(source_text, out, target, source, shortened)
    return found[0] if found else None


def answered(reply: str, max_lines: int = 3) -> bool:
    """Whether a reply being generated holds a finished line of content (not a preamble ending in ":" nor
    a code fence), or `max_lines` finished lines of anything."""
    done = [l.strip() for l in reply.split("\n")[:-1] if l.strip()]
    return len(done) >= max_lines or any(not l.endswith((":", "：")) and not l.startswith("```") for l in done)


def parse_numbered(reply: str, n: int, target: Language, sources: list[str]) -> list[str | None]:
    """Lines 1..n of a numbered reply, cleaned; None where a number is missing."""
    found: dict[int, str] = {}
    for line in reply.splitlines():
        m = _NUMBERED.match(line)
        if m and 1 <= int(m.group(1)) <= n and int(m.group(1)) not in found:
            found[int(m.group(1))] = m.group(2)
    return [clean(found[i + 1], target, sources[i]) if i + 1 in found else None for i in range(n)]


# --- running the model -------------------------------------------------------------------------------


class Result(NamedTuple):
    """A line's translation and whether it passed the checks (a failed one is kept as a best effort, with
    `why` it failed: the first attempt's problem)."""

    text: str
    ok: bool
    why: str = ""


class ChatModel(Protocol):
    """What the Translator needs of a chat model: the embedded LLM (LlamaChat) or a server
    (dubbing/openai_chat.py). Both get the same prompts and their replies go through the same checks."""

    def reply(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, seed: int = SEED,
              one_line: bool = True) -> str:
        """The model's reply to `messages`; with `one_line`, it may stop once the reply holds a finished
        line of content (see answered)."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's vocabulary (an estimate where the model's tokenizer is remote)."""


class LlamaChat:
    """ChatModel of a loaded llama_cpp.Llama (shared by every thread of the process, under MODEL_LOCK)."""

    def __init__(self, llm: "Llama"):
        self.llm = llm

    def reply(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, seed: int = SEED,
              one_line: bool = True) -> str:
        """Streamed, so generation stops once the reply holds a finished line of content: a single line is
        all the caller reads, and a model stuck repeating its preamble would otherwise run to `max_tokens`."""
        sampling = {"temperature": 0.0, "top_k": 1} if temperature <= 0 else \
            {"temperature": temperature, "top_k": 40, "top_p": 0.95}
        text = ""
        with MODEL_LOCK:  # one llama.cpp context: concurrent calls from language branches crash it
            chunks = self.llm.create_chat_completion(messages=messages, seed=seed, max_tokens=max_tokens,
                                                     stream=True, **sampling)
            try:
                for chunk in chunks:
                    text += chunk["choices"][0]["delta"].get("content") or ""
                    if one_line and answered(text):
                        break
            finally:
                chunks.close()
        return text

    def count_tokens(self, text: str) -> int:
        with MODEL_LOCK:
            return len(self.llm.tokenize(text.encode(), add_bos=False))


class Translator:
    """Translates lines with one chat model (or a loaded llama_cpp.Llama) and one prompt style; counts
    retries and failures. `check` adds a test of a reply beyond `problem` (the glossary's: a term missing
    is retried like a bad reply)."""

    def __init__(self, llm: "Llama | ChatModel", style: Style = DEFAULT,
                 check: Callable[[str, str], str | None] | None = None, parallel: int = 1):
        self.chat: ChatModel = llm if hasattr(llm, "reply") else LlamaChat(llm)
        self.style, self.check, self.parallel = style, check, parallel  # parallel: requests at once (a server)
        self.retries = self.failures = 0
        self.rejected: list[dict[str, str]] = []  # replies that failed the checks: source, reply, target, why

    def _reply(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, seed: int = SEED,
               one_line: bool = True) -> str:
        return self.chat.reply(messages, max_tokens, temperature, seed, one_line)

    def _max_tokens(self, text: str) -> int:
        return 2 * self.chat.count_tokens(text) + 40

    def _problem(self, source_text: str, out: str, target: Language, source: str | None = None,
                 shortened: bool = False) -> str | None:
        return (problem(source_text, out, target, source, shortened=shortened)
                or (self.check(source_text, out) if self.check else None))

    def one(self, item: Item, source: str, target: Language, context: str = "",
            glossary: dict[str, str] | None = None, history: list[tuple[Item, str]] | None = None) -> Result:
        """One line, checked by `problem` (with the guard's checks) and `check`. A bad reply is retried with a
        stricter prompt, then sampled (RETRY_TEMPERATURE, its own seed), and while no reply is usable
        (guard.usable) EXTRA_SAMPLES more times; if all fail, the least bad of the replies and of their loops
        cut short (guard.least_bad: never the model's own talk), with why the first reply failed."""
        tried: list[tuple[str, list[str]]] = []
        first = ""
        first_tries = ((False, 0.0), (True, 0.0), (False, RETRY_TEMPERATURE))  # (strict, temperature)
        for attempt, (strict, temperature) in enumerate(first_tries + first_tries[-1:] * EXTRA_SAMPLES):
            if attempt >= len(first_tries) and guard.usable(tried):
                break
            msgs = line_messages(item, source, target, self.style, context, glossary, strict, history)
            out = clean(self._reply(msgs, self._max_tokens(item.text), temperature,
                                    SEED + attempt if temperature else SEED), target, item.text)
            why = self._problem(item.text, out, target, source)
            if why is None:
                return Result(out, True)
            first = first or why
            tried.append((out, [why]))
            self.rejected.append({"source": item.text, "reply": out, "target": target.code, "why": why})
            if why == "loop":
                cut = guard.collapse_loop(out)
                tried.append((cut, [problem(item.text, cut, target, source) or "collapsed"]))
            self.retries += attempt < 2
        self.failures += 1
        return Result(guard.least_bad(tried), False, first)

    def lines(self, items: list[Item], source: str, target: Language, glossary: dict[str, str] | None = None,
              wanted: set[int] | None = None) -> list[Result]:
        """Translate the lines at indices `wanted` (all if None), with their transcript page as context if the
        style asks; an empty line, or one not wanted, gives Result("", True)."""
        out = [Result("", True)] * len(items)
        for page in pages(items):
            context = context_block([items[i] for i in page]) if self.style.context else ""
            first = page.start
            todo = [i for i in page if items[i].text.strip() and (wanted is None or i in wanted)]
            done: set[int] = set()
            for k in range(0, len(todo) if self.style.batch > 1 else 0, self.style.batch):
                chunk = todo[k:k + self.style.batch]
                for i, text in zip(chunk, self._batch([items[i] for i in chunk], source, target, glossary)):
                    if text is not None:
                        out[i] = Result(text, True)
                        done.add(i)
            rest = [i for i in todo if i not in done]
            if self.style.history and self.parallel <= 1:  # each line reads the ones before it: in order
                asked = labelled(items, page)
                for i in rest:
                    window = history_window(i - first, self.style.history)
                    history = [(asked[first + k], out[first + k].text) for k in window
                               if out[first + k].ok and out[first + k].text]
                    out[i] = self.one(asked[i], source, target, context, glossary, history)
            else:  # requests at once (a server, translation.openai.parallel > 1): no history
                for i, res in zip(rest, self._map(lambda i: self.one(items[i], source, target, context, glossary),
                                                  rest)):
                    out[i] = res
        return out

    def _map(self, fn: Callable[[int], Result], todo: list[int]) -> list[Result]:
        """fn over `todo`, `parallel` calls at a time (in order)."""
        if self.parallel <= 1 or len(todo) <= 1:
            return [fn(i) for i in todo]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(self.parallel, len(todo))) as pool:
            return list(pool.map(fn, todo))

    def _batch(self, items: list[Item], source: str, target: Language,
               glossary: dict[str, str] | None) -> list[str | None]:
        """A numbered request; None for the lines whose answer is missing or fails the checks."""
        msgs = batch_messages(items, source, target, self.style, glossary)
        reply = self._reply(msgs, sum(self._max_tokens(it.text) for it in items), one_line=False)
        got = parse_numbered(reply, len(items), target, [it.text for it in items])
        return [g if g is not None and self._problem(it.text, g, target, source) is None else None
                for g, it in zip(got, items)]

    def shorten(self, source_text: str, text: str, source: str, target: Language, hint: str,
                glossary: dict[str, str] | None = None) -> str | None:
        """A shorter rendering of `source_text` (now translated as `text`) within `hint`, translated afresh from
        the source with the limit stated after short examples; None if the reply fails the checks. (Asked to
        rewrite its own line shorter, the model echoes it.)"""
        msgs = shorten_messages(source_text, source, target, hint, glossary)
        out = clean(self._reply(msgs, self._max_tokens(text)), target, source_text)
        return None if self._problem(source_text, out, target, source, shortened=True) else out

    def condense(self, source_text: str, source: str, hint: str, samples: int = 1) -> Iterator[str]:
        """Shorter versions of a source line in its own language ("My weakness: asking for help."), greedy
        then `samples` times sampled with fixed seeds, each made only when the caller asks for the next.
        The model shortens its strongest language far more readily than it shortens a translation; the
        caller translates them."""
        msgs = condense_messages(source_text, source, hint)
        seen: set[str] = set()
        for k in range(samples + 1):
            got = clean(self._reply(msgs, self._max_tokens(source_text), SHORTEN_TEMPERATURE if k else 0.0,
                                    SEED + k), languages.get(source if _known(source) else "en"), source_text)
            if got and got not in seen:
                seen.add(got)
                yield got


def _known(code: str) -> bool:
    try:
        languages.get(code)
        return True
    except languages.UnknownLanguage:
        return False


def _short_examples(source: str, code: str) -> list[tuple[str, str]]:
    """(an example line in `source`, a short dubbing version of it in language `code`) pairs."""
    lines = examples(source)
    try:
        short = languages.get(code).short_examples
    except languages.UnknownLanguage:
        return []
    return [(lines[i], short[i]) for i in sorted(short) if i < len(lines)]


def condense_messages(source_text: str, source: str, hint: str) -> list[dict]:
    """Chat messages asking for `source_text` made shorter, within `hint`, in its own language."""
    src = language_name(source)
    msgs = [{"role": "system", "content": f"You make {src} film dialogue lines shorter for dubbing. Keep the "
                                          f"main point and who does what, and keep names; drop fillers, "
                                          f"repetitions and details. Reply with the shorter {src} line only."}]
    for line, short in _short_examples(source, source):
        msgs += [{"role": "user", "content": f"Shorten to at most {len(short.split())} words:\n{line}"},
                 {"role": "assistant", "content": short}]
    msgs.append({"role": "user", "content": f"Shorten to {hint}:\n{source_text}"})
    return msgs


def shorten_messages(source_text: str, source: str, target: Language, hint: str,
                     glossary: dict[str, str] | None = None) -> list[dict]:
    """Chat messages asking for a short dubbing translation of `source_text` within `hint`."""
    src = language_name(source)
    msgs = [{"role": "system", "content": (
        f"You translate film dialogue from {src} into {target.name} for dubbing. The {target.name} line must be "
        f"short enough to say in the time the actor speaks: keep the core meaning and any names, drop fillers, "
        f"repetitions and details. Reply with the {target.name} line only." + _script_note(target))}]
    for line, short in _short_examples(source, target.code):
        n = (f"at most {sum(map(str.isalnum, short))} characters" if target.subtitles.cjk
             else f"at most {len(short.split())} words")
        msgs += [{"role": "user", "content": _ask(line, target, n)}, {"role": "assistant", "content": short}]
    msgs.append({"role": "user", "content": glossary_note(source_text, glossary) + _ask(source_text, target, hint)})
    return msgs
