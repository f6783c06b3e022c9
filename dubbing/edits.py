"""Checks of a hand-edited translation: every problem a person must fix before it is dubbed, one line each."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import ValidationError

from .schema import Lines, RecordError, Translation


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
