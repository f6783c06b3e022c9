"""Translate transcript lines into a target language, aiming each line at its time budget.

Backends: "llm" (local GGUF through llama-cpp-python, see dubbing/llm.py), "apertium" (Debian's
rule-based pairs, chained through Spanish where needed), "seq2seq" (a Marian/NLLB/M2M100 model from a
local folder or the Hugging Face cache) and "file" (the user's own translations, JSON or SRT).
`translation.backend: auto` walks the target language's route and uses the first available backend;
a line the first backend fails on goes to the next one and is flagged "fallback:<name>".
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import languages
from languages import Language

from . import glossary as glossary_mod
from . import llm as llm_mod
from . import openai_chat
from .config import Translation as TranslationConfig
from .errors import DubError, MissingModel
from .llm import Result
from .schema import Line, Translation

# --- length budget (pure) -----------------------------------------------------------------------------

# Flag "long" when the estimated speech exceeds the budget by more than this factor: beyond the default
# fit.speed_max, the line cannot fit by faster synthesis alone.
LONG_RATIO = 1.3
_VOWEL_GROUPS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+", re.IGNORECASE)
# Written but silent word endings that would count as a syllable (make, asked; homme, tables).
_SILENT_ENDING = {
    "en": re.compile(r"(?<=[^aeiouy])e$|(?<=[^aeiouyl])es$|(?<=[^aeiouydt])ed$", re.IGNORECASE),
    "fr": re.compile(r"(?<=[^aeiouyéèêàâô])es?$", re.IGNORECASE),
}


def syllables(text: str, lang_code: str) -> int:
    """Approximate syllable count: vowel groups per word, less silent endings; a digit counts as one."""
    silent = _SILENT_ENDING.get(lang_code)
    n = sum(c.isdigit() for c in text)
    for word in re.findall(r"[^\W\d_]+", text):
        k = len(_VOWEL_GROUPS.findall(word))
        n += k - 1 if k > 1 and silent and silent.search(word) else k
    return n



def spoken_seconds(text: str, lang: Language) -> float:
    """Estimated seconds to say `text` at the language's normal rate (syllables, or characters for CJK)."""
    if lang.subtitles.cjk:
        units = sum(1 for c in text if c.isalnum())
        return units / lang.speech_rate.chars_per_second
    return syllables(text, lang.code) / lang.speech_rate.syllables_per_second


def budget(line: Line) -> float:
    """Seconds available to the line: its budget, or its own duration if no budget was set."""
    return line.budget if line.budget > 0 else max(line.duration, 0.0)


@lru_cache(maxsize=None)
def syllables_per_word(code: str) -> float:
    """Mean syllables per word, measured on the language's few-shot example lines (1.5 if it has none)."""
    lines = llm_mod.examples(code)
    if not lines:
        return 1.5
    return sum(syllables(t, code) for t in lines) / sum(len(re.findall(r"[^\W\d_]+", t)) for t in lines)


def length_hint(seconds: float, lang: Language) -> str:
    """How much text fits in `seconds`, said the way a model can follow: "at most 7 words"."""
    rate = lang.speech_rate
    if lang.subtitles.cjk:
        return f"at most {max(2, round(seconds * rate.chars_per_second))} characters"
    return f"at most {max(1, round(seconds * rate.syllables_per_second / syllables_per_word(lang.code)))} words"


def too_long(text: str, seconds: float, lang: Language) -> bool:
    return seconds > 0 and spoken_seconds(text, lang) > LONG_RATIO * seconds


def _add_flag(line: Line, flag: str) -> None:
    if flag not in line.flags:
        line.flags.append(flag)


# --- backends ----------------------------------------------------------------------------------------


class Backend:
    """A way to translate: `check` raises DubError (or MissingModel) saying why it cannot serve a pair,
    `run` translates the lines at indices `todo` and returns a Result (text, passed checks) for each."""

    name = ""

    def check(self, source: str, target: Language, cfg: TranslationConfig) -> None:
        raise NotImplementedError

    def run(self, lines: list[Line], todo: list[int], source: str, target: Language, cfg: TranslationConfig,
            glossary: dict[str, str] | None) -> dict[int, Result]:
        raise NotImplementedError


class LLMBackend(Backend):
    name = "llm"

    def check(self, source, target, cfg):
        llm_mod.require(cfg.llm_model)

    def run(self, lines, todo, source, target, cfg, glossary):
        translator = self.translator(cfg, glossary)
        items = [llm_mod.Item(l.source, l.speaker, length_hint(budget(l), target)) for l in lines]
        out = translator.lines(items, source, target, glossary, wanted=set(todo))
        return {i: glossary_mod.repair(translator, out[i], lines[i].source, source, target, glossary) for i in todo}

    def translator(self, cfg: TranslationConfig, glossary: dict[str, str] | None = None) -> llm_mod.Translator:
        """A Translator of the embedded model; a reply missing a glossary term counts as a bad reply."""
        return llm_mod.Translator(llm_mod.load(str(llm_mod.require(cfg.llm_model))),
                                  check=glossary_mod.checker(glossary))


class OpenAIBackend(LLMBackend):
    """The same prompts and checks as "llm", asked of a model on an OpenAI-compatible server."""

    name = "openai"

    def check(self, source, target, cfg):
        openai_chat.client(cfg.openai).check_model()

    def translator(self, cfg, glossary=None):
        style = dataclasses.replace(llm_mod.DEFAULT, batch=cfg.openai.batch)
        return llm_mod.Translator(openai_chat.client(cfg.openai), style, glossary_mod.checker(glossary),
                                  parallel=cfg.openai.parallel)


@lru_cache(maxsize=1)
def apertium_modes() -> frozenset[str]:
    """Installed apertium modes (e.g. {"eng-spa", "es-fr"}); empty if apertium is not installed."""
    if not shutil.which("apertium"):
        return frozenset()
    r = subprocess.run(["apertium", "-l"], capture_output=True, text=True)
    return frozenset(r.stdout.split()) if r.returncode == 0 else frozenset()


class ApertiumBackend(Backend):
    name = "apertium"

    def check(self, source, target, cfg):
        chain = target.translation.apertium.get(source)
        if not chain:
            raise DubError(f"apertium: no {source}->{target.code} pair in languages/{target.code}.yaml")
        missing = [m for m in chain.split("|") if m not in apertium_modes()]
        if missing:
            raise DubError(f"apertium: mode(s) {', '.join(missing)} not installed (Debian apertium-* packages)")

    def run(self, lines, todo, source, target, cfg, glossary):
        texts = [" ".join(lines[i].source.split()) for i in todo]
        out = apertium(texts, target.translation.apertium[source].split("|"))
        why = [llm_mod.problem(s, t, target, source) for s, t in zip(texts, out)]
        return {i: Result(t, w is None, w or "") for i, t, w in zip(todo, out, why)}


def apertium(texts: list[str], chain: list[str]) -> list[str]:
    """Translate texts through a chain of apertium modes, one process per mode (texts are paragraphs)."""
    data = "\n\n".join(t.replace("\n", " ") for t in texts) + "\n"
    for mode in chain:
        r = subprocess.run(["apertium", "-u", mode], input=data, capture_output=True, text=True)
        if r.returncode != 0:
            raise DubError(f"apertium {mode} failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
        data = r.stdout
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", data.strip())]
    paras = [re.sub(r"(?<!\w)[#@*~](?=\w)", "", p) for p in paras]  # generation/unknown-word marks
    if len(paras) != len(texts):
        raise DubError(f"apertium returned {len(paras)} paragraphs for {len(texts)} lines")
    return paras


# NLLB (FLORES-200) codes; M2M100 uses the ISO 639-1 code, multilingual Marian models ">>iso639-3<<".
FLORES = {"en": "eng_Latn", "es": "spa_Latn", "fr": "fra_Latn", "ja": "jpn_Jpan", "de": "deu_Latn",
          "it": "ita_Latn", "pt": "por_Latn"}


def seq2seq_codes(kind: str, source: str, target: str) -> tuple[str, str]:
    """Language codes a seq2seq model family expects: ("eng_Latn", "spa_Latn") for "nllb", ("en", "es")
    for "m2m", ("", ">>spa<<") for a multilingual "marian" model."""
    if kind == "nllb":
        try:
            return FLORES[source], FLORES[target]
        except KeyError as e:
            raise DubError(f"seq2seq: no NLLB code known for {e.args[0]!r}") from None
    if kind == "m2m":
        return source, target
    return "", f">>{FLORES[target][:3]}<<" if target in FLORES else ""


@lru_cache(maxsize=2)
def load_seq2seq(name: str):
    """(tokenizer, model, family) for a local folder or a hub id already in the cache; MissingModel if absent."""
    how = (f"download it once with `huggingface-cli download {name}` on a machine with network, "
           f"or set translation.seq2seq_model to a local folder")
    if not name:
        raise MissingModel("translation", "(none)", "Set translation.seq2seq_model to a local folder, or to a hub "
                                                    "id downloaded once with `huggingface-cli download NAME`.")
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(name, local_files_only=True)
    except OSError:
        raise MissingModel("translation", name, how) from None
    cls = type(tok).__name__.lower()
    family = "nllb" if "nllb" in cls else "m2m" if "m2m" in cls else "marian"
    return tok, model.eval(), family


class Seq2SeqBackend(Backend):
    name = "seq2seq"
    batch_size = 16

    def check(self, source, target, cfg):
        load_seq2seq(cfg.seq2seq_model)

    def run(self, lines, todo, source, target, cfg, glossary):
        texts = [lines[i].source.strip() for i in todo]
        out = seq2seq(texts, source, target.code, cfg.seq2seq_model, self.batch_size)
        return {i: Result(t, bool(t)) for i, t in zip(todo, out)}


def seq2seq(texts: list[str], source: str, target: str, name: str, batch_size: int = 16) -> list[str]:
    """Translate texts with a cached seq2seq model, `batch_size` at a time, greedy decoding."""
    import torch

    tok, model, family = load_seq2seq(name)
    src_code, tgt_code = seq2seq_codes(family, source, target)
    extra: dict = {}
    if family in ("nllb", "m2m"):
        tok.src_lang = src_code
        extra["forced_bos_token_id"] = (tok.convert_tokens_to_ids(tgt_code) if family == "nllb"
                                        else tok.get_lang_id(tgt_code))
    prefix = f"{tgt_code} " if family == "marian" and tgt_code in tok.get_vocab() else ""
    limit = min(256, getattr(model.config, "max_position_embeddings", 256))  # tokens in and out
    out: list[str] = []
    for k in range(0, len(texts), batch_size):
        enc = tok([prefix + t for t in texts[k:k + batch_size]], return_tensors="pt", padding=True,
                  truncation=True, max_length=limit)
        with torch.inference_mode():
            gen = model.generate(**enc, num_beams=1, do_sample=False, max_new_tokens=limit - 1, **extra)
        out += [t.strip() for t in tok.batch_decode(gen, skip_special_tokens=True)]
    return out


class FileBackend(Backend):
    name = "file"

    def check(self, source, target, cfg):
        if not cfg.file and target.code not in cfg.files:
            raise DubError(f"translation.backend is 'file' but neither translation.file nor a file for "
                           f"{target.code} (--translation {target.code}=FILE) is set")

    def run(self, lines, todo, source, target, cfg, glossary):
        path = cfg.files.get(target.code) or cfg.file.replace("{lang}", target.code)
        texts = read_translations(Path(path), lines)
        return {i: Result(texts[lines[i].id], True) for i in todo}


BACKENDS: dict[str, Backend] = {b.name: b for b in (LLMBackend(), ApertiumBackend(), Seq2SeqBackend(),
                                                     FileBackend(), OpenAIBackend())}


# --- the user's own translations ---------------------------------------------------------------------


def read_translations(path: Path, lines: list[Line]) -> dict[str, str]:
    """{line id: text} from a JSON object or an SRT file; DubError naming the file and place of a problem."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DubError(f"{path}: translation file not found") from None
    texts = _read_srt(path, raw, lines) if path.suffix.lower() == ".srt" else _read_json(path, raw)
    ids = [l.id for l in lines]
    unknown = [k for k in texts if k not in set(ids)]
    if unknown:
        where = raw.find(f'"{unknown[0]}"')
        at = f" (line {raw.count(chr(10), 0, where) + 1})" if where >= 0 else ""
        raise DubError(f"{path}{at}: unknown line id {unknown[0]!r}; the transcript has {ids[0]}..{ids[-1]}")
    missing = [i for i in ids if i not in texts]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DubError(f"{path}: no translation for line {missing[0]}{more}")
    return texts


def _read_json(path: Path, raw: str) -> dict[str, str]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DubError(f"{path}: line {e.lineno} column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise DubError(f"{path}: expected a JSON object {{line_id: text}}")
    bad = next((k for k, v in data.items() if not isinstance(v, str)), None)
    if bad is not None:
        raise DubError(f"{path}: the translation of {bad!r} is not a string")
    return data


def _read_srt(path: Path, raw: str, lines: list[Line]) -> dict[str, str]:
    """Match SRT cues to lines: by time overlap, or by order when the counts agree and times do not."""
    import srt

    try:
        cues = list(srt.parse(raw))
    except srt.SRTParseError as e:
        raise DubError(f"{path}: line {raw.count(chr(10), 0, e.expected_start) + 1}: not valid SRT") from None
    spans = [(c.start.total_seconds(), c.end.total_seconds()) for c in cues]
    texts = [" ".join(c.content.split()) for c in cues]
    owner = [max(range(len(lines)), key=lambda j: _overlap(s, lines[j]), default=None) for s in spans]
    by_time = all(o is not None and _overlap(s, lines[o]) > 0 for s, o in zip(spans, owner)) and \
        len(set(owner)) == len(lines)
    if by_time:
        joined: dict[str, list[str]] = {}
        for o, t in zip(owner, texts):
            joined.setdefault(lines[o].id, []).append(t)
        return {k: " ".join(v) for k, v in joined.items()}
    if len(cues) == len(lines):
        return {l.id: t for l, t in zip(lines, texts)}
    orphan = next((c for c, s, o in zip(cues, spans, owner) if o is None or _overlap(s, lines[o]) <= 0), None)
    if orphan is not None:
        raise DubError(f"{path}: cue {orphan.index} ({orphan.start}) overlaps no transcript line")
    first = next(l for l in lines if l.id not in {lines[o].id for o in owner})
    raise DubError(f"{path}: no cue covers line {first.id} ({first.start:.2f}-{first.end:.2f} s); "
                   f"{len(cues)} cues for {len(lines)} lines")


def _overlap(span: tuple[float, float], line: Line) -> float:
    return min(span[1], line.end) - max(span[0], line.start)


# --- the stage ---------------------------------------------------------------------------------------


def _route(target: Language, cfg: TranslationConfig) -> list[str]:
    """Backend names in order of use: the language's route, or the configured backend then the route."""
    if cfg.backend != "auto" and cfg.backend not in BACKENDS:
        raise DubError(f"translation.backend {cfg.backend!r} is not one of auto, {', '.join(BACKENDS)}")
    route = [n for n in target.translation.route if n in BACKENDS]
    if target.code in cfg.files:  # the user's own translation of this language
        return ["file"]
    return route if cfg.backend == "auto" else [cfg.backend] + [n for n in route if n != cfg.backend]


def translator_flag(flag: str) -> bool:
    """Whether `flag` is one the translation stage sets (see translate and stretches.translate_by_language):
    it judged the translated text."""
    return flag in ("long", "suspect", "untranslated", "glossary") or flag.startswith(
        ("fallback:", "guard:", "kept:", "untranslated:"))


def translate(lines: list[Line], source: str, target: Language, cfg: TranslationConfig,
              glossary: dict[str, str] | None = None) -> Translation:
    """Fill `text` of every line (ids, times, speakers kept). Flags: "long" (likely too long for its budget),
    "guard:<why>" (the first backend's output failed a check, see llm.problem and dubbing/guard.py),
    "fallback:<backend>" (an earlier backend failed on it), "suspect" (every backend's output failed the
    checks; the first backend's best effort is kept), "untranslated" (no usable output: none, or only the
    model's talk about translating; the line is not dubbed), "glossary" (a term of `glossary` missing from
    the text, after a retry). A configured backend that cannot serve raises
    DubError (MissingModel for absent weights); fallbacks are checked only when needed."""
    if source == target.code:
        raise DubError(f"the source is already in {target.name} ({source}); choose another target language")
    out = [l.model_copy(deep=True) for l in lines]
    for l in out:
        l.flags = [f for f in l.flags if not translator_flag(f)]
        l.text = l.text if l.source.strip() else ""
    todo = [i for i, l in enumerate(out) if l.source.strip()]
    used: list[str] = []
    ran, why = False, []
    best: dict[int, str] = {}  # first failed-but-non-empty output per line
    for name in _route(target, cfg):
        if not todo:
            break
        backend = BACKENDS[name]
        try:
            backend.check(source, target, cfg)
        except DubError as e:
            if name == cfg.backend:
                raise
            why.append(str(e))
            continue
        got = backend.run(out, todo, source, target, cfg, glossary)
        for i in todo:
            if got[i].ok:
                out[i].text = got[i].text
                if ran:
                    _add_flag(out[i], f"fallback:{name}")
            else:
                if not ran and got[i].why:
                    _add_flag(out[i], f"guard:{got[i].why}")
                if got[i].text:
                    best.setdefault(i, got[i].text)
        if any(got[i].ok for i in todo):
            used.append(name)
        ran, todo = True, [i for i in todo if not got[i].ok]
    if todo and not ran:
        raise DubError(f"no translation backend for {source}->{target.code}: " + "; ".join(why))
    for i in todo:
        out[i].text = best.get(i, "")
        _add_flag(out[i], "suspect" if out[i].text else "untranslated")
    for l in out:
        if l.text and too_long(l.text, budget(l), target):
            _add_flag(l, "long")
        if l.text and glossary_mod.missing(l.source, l.text, glossary):
            _add_flag(l, "glossary")
    return Translation(source_language=source, language=target.code, backend="+".join(used) or "none", lines=out)


def page_parts(lines: list[Line], seconds: float) -> list[list[Line]]:
    """`lines` in consecutive parts of whole pages (llm.pages: the LLM's context and history never cross
    one), each part ending at the first page end at least `seconds` s of video after its first line's
    start: parts translated apart give what the whole gives."""
    items = [llm_mod.Item(l.source, l.speaker, "") for l in lines]
    parts: list[list[Line]] = []
    for page in llm_mod.pages(items):
        chunk = lines[page.start:page.stop]
        if parts and parts[-1][-1].end - parts[-1][0].start < seconds:
            parts[-1] += chunk
        else:
            parts.append(list(chunk))
    return parts


def join_parts(parts: list[Translation]) -> Translation:
    """One translation of consecutive parts' lines; the backends each used, in order."""
    used: list[str] = []
    for t in parts:
        used += [b for b in t.backend.split("+") if b != "none" and b not in used]
    return parts[0].model_copy(update={"backend": "+".join(used) or "none",
                                       "lines": [l for t in parts for l in t.lines]})


def drop_fillers(text: str, lang: Language) -> str:
    """`text` without parentheticals and without fillers opening a sentence ("Oh, bonjour." -> "Bonjour.");
    a sentence that is nothing but a filler goes too, unless it is all there is."""
    out = re.sub(r"\s*[(（][^)）]*[)）]", "", text)
    words = "|".join(map(re.escape, lang.fillers))
    if words:
        lead = re.compile(rf"^(?:(?:{words})(?:\s*[,、，]\s*|\s+))+", re.IGNORECASE)
        sentences = [x for x in re.split(r"(?<=[.!?。！？…])\s*", out) if x.strip()]
        kept = []
        for sent in sentences:
            rest = lead.sub("", sent.strip())
            if not re.search(r"\w", rest) or re.fullmatch(rf"(?:{words})\W*", rest, re.IGNORECASE):
                continue
            kept.append(rest[:1].upper() + rest[1:])
        out = (" " if not lang.subtitles.cjk else "").join(kept) if kept else out
    return re.sub(r"\s+", " ", out).strip()


def drop_last_clause(text: str) -> str:
    """`text` without the clause after the last comma of its last sentence ("..., donc je peux être sûr." ->
    "...."): where a line trails off, the tail says least. `text` itself if there is no such comma, or if
    the clause is half the line or more."""
    body = text.rstrip()
    end = re.search(r"[.!?。！？…]+$", body)
    mark = end.group(0) if end else ""
    body = body[:len(body) - len(mark)]
    last_sentence = re.split(r"(?<=[.!?。！？…])\s*", body)[-1]
    cut = max(last_sentence.rfind(","), last_sentence.rfind("、"), last_sentence.rfind("，"))
    if cut <= 0 or not re.search(r"\w", last_sentence[cut:]):
        return text
    head = body[:len(body) - len(last_sentence) + cut].rstrip()
    if len(head) < len(body) / 2:
        return text
    if not mark or re.search(r"[¿¡]", last_sentence[cut:]):
        mark = "。" if last_sentence[cut] == "、" else "."
    return head + mark


def _norm(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def keeps_content(candidate: str, text: str, source_text: str, lang: Language, goal: float) -> bool:
    """Whether a shorter `candidate` can replace `text` (a translation of `source_text`): not a cut-off start
    of `text`, every name of the source that `text` kept is still there, and not so short (under 40 % of the
    time `goal`) that it can only have dropped most of the line."""
    cw, tw = _norm(candidate), _norm(text)
    if not cw or cw == tw:
        return False
    if len(cw) < len(tw) and tw[:len(cw)] == cw and not re.search(r"[.!?。！？…]\s*$", candidate):
        return False  # a prefix fragment
    names = {w for w in re.findall(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]+", source_text) if w.lower() in tw}
    if any(n.lower() not in cw for n in names):
        return False
    return spoken_seconds(candidate, lang) >= 0.4 * goal


# Long function words that say little of what a line is about (English: the usual source language).
_FUNCTION_WORDS = set("there their they them then than that this these those were what when where which with "
                      "would could should have been from into your just like will about some very also".split())


def _stems(text: str) -> set[str]:
    """Content words of a line, cut to four letters so that "weakness" matches "weaknesses"."""
    return {w[:4] for w in _norm(text) if len(w) > 3 and w not in _FUNCTION_WORDS}


def expand_initials(text: str, source_text: str) -> str:
    """`text` with the initials of a multi-word name of `source_text` written out ("Diane in NJ" ->
    "Diane in New Jersey"): asked for a shorter line, the model abbreviates names, even when told not to,
    and a name lost that way costs the line (keeps_content)."""
    for name in re.findall(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)+", source_text):
        words = name.split()
        if words[0] in ("I", "I'm", "I've", "I'll", "I'd"):  # a sentence's "I" is no part of a name
            words = words[1:]
        if len(words) > 1:
            initials = "".join(w[0] for w in words)
            text = re.sub(rf"\b{initials}\b", " ".join(words), text)
    return text


# A shorter candidate must cut at least 10 % of the spoken time: one that cut 4 % (pa_sample es L0004)
# solved nothing and sent the line through the whole chain again, ~20 s of LLM for no change.
MIN_CUT = 0.9


def shorten(line: Line, source: str, target: Language, cfg: TranslationConfig, max_seconds: float,
            glossary: dict[str, str] | None = None) -> str:
    """A shorter rendering of `line.text` that should be spoken within `max_seconds` (the caller flags the line
    "shortened"); the original text if no shorter valid rendering was found.

    Candidates, cheapest first, until one fits: `line.text` without fillers, and without its trailing
    clause; the LLM's translation of the source under a stated length limit; the source line made shorter
    in its own language, greedy then one seeded sample (a version keeping under 60 % of the source's
    content words is dropped), each translated as it comes. (Without the sample, pa_sample es lost a line.
    Asking for the condensed source first saved 16 % of the LLM calls on 30 lines of pa_sample and
    vr_face1, but twice gave a worse line: "Faltas: pidiendo ayuda." for "La principal debilidad es pedir
    ayuda.") Of the candidates that keep the content (keeps_content) and are shorter, the longest that
    fits the goal wins (the most meaning that fits), else the shortest. A candidate losing a term of
    `glossary` that `line.text` has is not used."""
    if not line.text.strip():
        return line.text
    now = spoken_seconds(line.text, target)
    # the caller measured real speech; our estimate may disagree, so always ask for less than we have now
    goal = min(max_seconds, 0.85 * now)
    candidates: list[str] = []
    lost_already = glossary_mod.missing(line.source, line.text, glossary)

    def usable() -> list[str]:
        return [c for c in dict.fromkeys(candidates) if spoken_seconds(c, target) < MIN_CUT * now
                and keeps_content(c, line.text, line.source, target, goal)
                and not (line.source.strip() and llm_mod.problem(line.source, c, target, source, shortened=True))
                and len(glossary_mod.missing(line.source, c, glossary)) <= len(lost_already)]

    def fits() -> bool:
        return any(spoken_seconds(c, target) <= goal for c in usable())

    candidates += [drop_fillers(line.text, target), drop_last_clause(drop_fillers(line.text, target))]
    translator = None
    if line.source.strip() and not fits():
        try:
            translator = BACKENDS["openai" if cfg.backend == "openai" else "llm"].translator(cfg, glossary)
        except MissingModel:
            pass
    if translator is not None:
        hint = length_hint(goal, target)
        got = translator.shorten(line.source, line.text, source, target, hint, glossary)
        candidates += [got] if got else []
        src_lang = languages.get(source) if source in languages.supported() else target
        content = _stems(line.source)
        for short in [] if fits() else translator.condense(line.source, source, length_hint(goal, src_lang)):
            short = expand_initials(short, line.source)
            if content and len(_stems(short) & content) < 0.6 * len(content):
                continue
            res = translator.one(llm_mod.Item(short, line.speaker, hint), source, target, glossary=glossary)
            candidates += [res.text] if res.ok else []
            if fits():
                break
    ok = usable()
    if not ok:
        return line.text
    fitting = [c for c in ok if spoken_seconds(c, target) <= goal]
    return max(fitting, key=lambda c: spoken_seconds(c, target)) if fitting else \
        min(ok, key=lambda c: spoken_seconds(c, target))
