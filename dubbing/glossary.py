"""A user's glossary: how terms must be translated, per target language, and which are kept as they are.

Two formats:
- CSV with a header row `term,<lang>,<lang>...` ("term,es,fr" then "help,auxilio,aide"); an empty cell
  means the term is kept untranslated in that language, and a column `keep` (yes/true/1/x) keeps it in
  every language (brand and product names).
- YAML `{term: {es: ..., fr: ...}}`; a term mapped to nothing (`Acme:` or `Acme: keep`) is kept in
  every language, a language missing from a term's mapping or mapped to "" keeps it there.

The translators name the terms of a line in their prompt (llm.glossary_note) and treat a reply missing
one as a bad reply (retried with the stricter prompt); a line that still misses one is flagged
"glossary".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import yaml

import languages
from languages import Language

from .config import Translation as TranslationConfig
from .errors import DubError, read_user_text
from .llm import Item, Result, Translator, glossary_terms, problem

Terms = dict[str, str]  # term -> its translation in one language (the term itself = keep it)
KEEP = "keep"
_TRUE = {"1", "x", "y", "yes", "true", "keep"}


class GlossaryError(DubError):
    """A glossary file that cannot be read: syntax, an unknown language, an empty term."""


def load(path: str | Path) -> dict[str, Terms]:
    """{language code: {term: translation}} of a CSV or YAML glossary (by suffix; .csv, .yaml, .yml).
    Terms the file keeps untranslated map to themselves in every language the file names."""
    return _load(str(Path(path).expanduser().resolve()))


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Terms]:
    p = Path(path)
    raw = read_user_text(p, "glossary", GlossaryError)
    if p.suffix.lower() == ".csv":
        return _from_csv(p, raw)
    if p.suffix.lower() in (".yaml", ".yml"):
        return _from_yaml(p, raw)
    raise GlossaryError(f"{p}: a glossary is a .csv or .yaml file")


def for_language(glossary: dict[str, Terms], code: str) -> Terms:
    """The terms for target `code`; terms kept in every language apply even to a language not named."""
    if code in glossary:
        return glossary[code]
    kept = [set(t for t, v in terms.items() if v == t) for terms in glossary.values()]
    return {t: t for t in set.intersection(*kept)} if kept else {}


def _language(p: Path, code: str, where: str) -> str:
    try:
        return languages.get(code.strip()).code
    except languages.UnknownLanguage:
        raise GlossaryError(f"{p}: {where}: unknown language {code.strip()!r} (supported: "
                            f"{', '.join(languages.supported())})") from None


def _from_csv(p: Path, raw: str) -> dict[str, Terms]:
    try:
        rows = list(csv.reader(io.StringIO(raw), strict=True))
    except csv.Error as e:
        raise GlossaryError(f"{p}: not valid CSV ({e})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise GlossaryError(f"{p}: the glossary is empty")
    head = [c.strip().lower() for c in rows[0]]
    if head[0] != "term":
        raise GlossaryError(f"{p}: line 1: the header must start with 'term' (e.g. term,es,fr), not {rows[0][0]!r}")
    keep_col = head.index(KEEP) if KEEP in head else None
    langs = {i: _language(p, c, f"header column {i + 1}") for i, c in enumerate(head) if i and i != keep_col}
    if not langs:
        raise GlossaryError(f"{p}: line 1: no language column (e.g. term,es,fr)")
    out: dict[str, Terms] = {code: {} for code in langs.values()}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) > len(head):
            raise GlossaryError(f"{p}: line {n}: {len(row)} cells for {len(head)} columns")
        term = row[0].strip()
        if not term:
            raise GlossaryError(f"{p}: line {n}: empty term")
        cells = row + [""] * (len(head) - len(row))
        keep = keep_col is not None and cells[keep_col].strip().lower() in _TRUE
        for i, code in langs.items():
            out[code][term] = term if keep or not cells[i].strip() else cells[i].strip()
    return out


def _from_yaml(p: Path, raw: str) -> dict[str, Terms]:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise GlossaryError(f"{p}: {at}not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(data, dict) or not data:
        raise GlossaryError(f"{p}: expected a mapping {{term: {{es: ..., fr: ...}}}}")
    per_term: dict[str, dict[str, str]] = {}
    for term, tr in data.items():
        if not str(term).strip():
            raise GlossaryError(f"{p}: empty term")
        if tr is None or (isinstance(tr, str) and tr.strip().lower() == KEEP):
            per_term[str(term)] = {}
        elif isinstance(tr, dict):
            per_term[str(term)] = {_language(p, str(k), f"term {term!r}"): "" if v is None else str(v).strip()
                                   for k, v in tr.items()}
        else:
            raise GlossaryError(f"{p}: term {term!r}: expected a mapping of languages (es: ...) or 'keep', "
                                f"not {tr!r}")
    codes = sorted({c for m in per_term.values() for c in m})
    if not codes:  # only kept terms: they apply to any language (for_language)
        return {"*": {t: t for t in per_term}}
    return {c: {t: m.get(c) or t for t, m in per_term.items()} for c in codes}


def missing(source_text: str, text: str, terms: Terms | None) -> list[str]:
    """The required renderings of the terms of `source_text` that `text` lacks (case-insensitive)."""
    folded = text.casefold()
    return [v for _, v in glossary_terms(source_text, terms) if v.casefold() not in folded]


def checker(terms: Terms | None) -> Callable[[str, str], str | None] | None:
    """A reply check for llm.Translator: why a reply misses a glossary term, or None."""
    if not terms:
        return None

    def check(source_text: str, out: str) -> str | None:
        lost = missing(source_text, out, terms)
        return f"glossary: {', '.join(lost)} missing" if lost else None

    return check


def for_config(cfg: TranslationConfig, code: str) -> Terms | None:
    """The terms of the glossary file `cfg.glossary` for target `code`; None without a glossary."""
    return for_language(load(cfg.glossary), code) if cfg.glossary else None


def replace_rendering(text: str, usual: str, wanted: str, cjk: bool = False) -> str:
    """`text` with every occurrence of `usual` (a term's ordinary translation; whole words unless `cjk`)
    replaced by `wanted`, capitalized where the occurrence was."""
    if not usual.strip():
        return text
    pattern = re.escape(usual) if cjk else rf"(?<!\w){re.escape(usual)}(?!\w)"

    def swap(m: re.Match) -> str:
        return wanted[:1].upper() + wanted[1:] if m.group(0)[:1].isupper() else wanted

    return re.sub(pattern, swap, text, flags=re.IGNORECASE)


def repair(translator: Translator, result: Result, source_text: str, source: str, target: Language,
           terms: Terms | None) -> Result:
    """A translation that failed only for lack of glossary terms, with the model's own rendering of each
    missing term (the term translated alone) replaced by the glossary's; `result` itself unless that makes
    it pass. (The embedded 1.5B model often keeps its usual word however the prompt names the term.)"""
    if result.ok or not result.text or not terms or problem(source_text, result.text, target):
        return result
    text, plain = result.text, Translator(translator.chat, translator.style)  # plain: no glossary check
    for term, wanted in glossary_terms(source_text, terms):
        if wanted.casefold() not in text.casefold():
            usual = plain.one(Item(term), source, target).text.strip(" .!?¡¿。！？「」\"'")
            if target.subtitles.cjk:  # a verb's ending differs ("助けて" alone, "助けを" in the line)
                usual = next((usual[:n] for n in range(len(usual), 1, -1) if usual[:n] in text), usual)
            text = replace_rendering(text, usual, wanted, target.subtitles.cjk)
    return Result(text, True) if not missing(source_text, text, terms) else result
