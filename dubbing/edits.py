"""Hand edits of a translation: the checks a person's file must pass before it is dubbed (one line
each), and the edits carried over when the translation must be made again."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from .schema import Line, Lines, RecordError, Translation
from .translate import translator_flag

MACHINE = "translation.machine.json"  # beside translation.json: what the translator wrote, before any hand edit
EDITED = "edited"  # flag of a line whose text is a person's, carried over from an earlier translation.json
PERSONS_FLAGS = ("long-ok",)  # flags a person adds to a line of translation.json (see the review page)


def _lines(path: Path) -> Lines | None:
    try:
        return Lines.load(path)
    except RecordError:
        return None


def check_edit(job_dir: str | os.PathLike, lang: str) -> list[str]:
    """Problems in a hand-edited <lang>/translation.json, one line each (empty: it can be used)."""
    job_dir = Path(job_dir)
    p = job_dir / lang / "translation.json"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [f"{p}: no such file"]
    except (OSError, UnicodeDecodeError) as e:
        return [f"{p}: cannot read ({e})"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"{p}: line {e.lineno}, column {e.colno}: JSON syntax error: {e.msg}"]
    try:
        tr = Translation.model_validate(data)
    except ValidationError as e:
        return [f"{p}: {_where(data, err['loc'])}: {err['msg']}" for err in e.errors()]
    problems = []
    if tr.language != lang:
        problems.append(f"{p}: \"language\" is {tr.language!r} but the file is in the {lang}/ folder")
    ids = [ln.id for ln in tr.lines]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"{p}: line id {dup} appears {ids.count(dup)} times")
    known = _lines(job_dir / "source/lines.json")
    if known is not None:
        expected = [ln.id for ln in known.lines]
        problems += [f"{p}: unknown line id {i} (source/lines.json has {_span(expected)})"
                     for i in ids if i not in expected]
        problems += [f"{p}: line {i} is missing (to leave it undubbed keep it with \"text\": \"\")"
                     for i in expected if i not in ids]
    return problems


def _span(ids: list[str]) -> str:
    return f"{ids[0]}…{ids[-1]}" if len(ids) > 1 else (ids[0] if ids else "no lines")


def _where(data, loc: tuple) -> str:
    """A pydantic error location in words a user finds in the file: lines[3] (L0004).text."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" ({node['id']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top)"


@dataclass
class Carried:
    """What `carry` did: `kept` new line ids that hold a person's text; `lost` ids of the earlier file's
    edited lines whose source words are gone or changed (their text is not in the new translation)."""

    translation: Translation
    kept: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def edited(old: Translation, machine: Translation | None) -> list[str]:
    """Ids of `old`'s lines a person changed: their text differs from what the translator wrote for
    the same line and source words. Without `machine` (a job made before it was kept) every line
    counts, since no one can tell."""
    if machine is None:
        return [ln.id for ln in old.lines]
    made = {(ln.id, _words(ln.source)): ln.text for ln in machine.lines}
    return [ln.id for ln in old.lines if made.get((ln.id, _words(ln.source))) != ln.text]


def same_lines(old: list[Line], new: list[Line], by_language: bool = True) -> list[tuple[int, int]]:
    """(index in `old`, index in `new`) of the lines with the same source words (and language, if
    `by_language`), matched in order (difflib): what stays the same when lines are added, removed, split
    or joined elsewhere."""
    def key(ln: Line) -> tuple[str, str | None]:
        return _words(ln.source), ln.language if by_language else None

    blocks = difflib.SequenceMatcher(None, [key(ln) for ln in old], [key(ln) for ln in new],
                                     autojunk=False).get_matching_blocks()
    return [(b.a + k, b.b + k) for b in blocks for k in range(b.size)]


def reuse(before: Translation, lines: list[Line]) -> tuple[list[Line | None], list[Line]]:
    """What the translator wrote `before` (under the same settings) for the `lines` whose source is
    unchanged: per line, its translated copy (text and the translator's flags from `before`, the rest
    from the line) or None, and the lines still to translate."""
    done: list[Line | None] = [None] * len(lines)
    for i, j in same_lines(before.lines, lines):
        was = before.lines[i]
        done[j] = lines[j].model_copy(update={"text": was.text, "flags": [
            *(f for f in lines[j].flags if not translator_flag(f)), *(f for f in was.flags if translator_flag(f))]})
    return done, [ln for ln, d in zip(lines, done) if d is None]


def carry(old: Translation, machine: Translation | None, new: Translation) -> Carried:
    """`new` with the person's text of each edited line of `old` (see `edited`) whose source words are
    still a line of the new source, in the same order (the line ids and times may have moved: a line
    split or joined elsewhere, a speaker renamed). Kept lines are flagged EDITED and keep the flags a
    person adds (PERSONS_FLAGS), without the translator's flags."""
    changed = set(edited(old, machine))
    if not changed:
        return Carried(new)
    lines = [ln.model_copy(deep=True) for ln in new.lines]
    kept: list[str] = []
    matched: set[str] = set()
    for i, j in same_lines(old.lines, lines, by_language=False):  # a person's words hold either way
        was, now = old.lines[i], lines[j]
        matched.add(was.id)
        if was.id in changed and was.text != now.text:
            _take(now, was)
            kept.append(now.id)
    lost = [ln.id for ln in old.lines if ln.id in changed and ln.id not in matched and ln.text.strip()]
    return Carried(new.model_copy(update={"lines": lines}), kept, lost)


def _take(line: Line, edited_line: Line) -> None:
    """The person's text and flags on `line`; the translator's flags judged the text it replaces."""
    line.text = edited_line.text
    mine = [f for f in edited_line.flags if f in PERSONS_FLAGS and f not in line.flags]
    line.flags = [f for f in line.flags if not translator_flag(f)] + mine + [EDITED]


def _words(text: str) -> str:
    """Source words compared case- and spacing-blind."""
    return " ".join(text.split()).casefold()
