"""The translation guard (dubbing/guard.py, llm.problem) against ground truth it did not produce.

    .venv/bin/python bench/guard.py --norms   # length_ratio per language pair from the FLORES tune half (YAML)
    .venv/bin/python bench/guard.py           # false alarms on human translations, catches on broken ones

Data: ../shared/media/text/flores200_devtest_docs_500-1011.tsv (human translations of the same English
documents into es, fr, ja, de, it, pt), split by document: even documents tune (the length norms are
computed on them), odd documents report; and the Tatoeba sample (short everyday lines, en->es/fr/ja,
never used for tuning). A human translation should pass every check ("false alarm" if not); the same
translation broken the ways issue 13 saw (a loop, cut in half, doubled, left in English, its numbers
changed) should fail ("caught"). The replies kept in tests/fixtures/guard_replies.json are checked too.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import languages  # noqa: E402
from dubbing import guard, llm  # noqa: E402
from translation import flores_docs  # noqa: E402  (bench/translation.py)

MEDIA = ROOT.parent / "shared" / "media"
TATOEBA = MEDIA / "text" / "tatoeba_test_v2021-08-07_sample.tsv"
FIXTURES = ROOT / "tests" / "fixtures" / "guard_replies.json"
COLUMNS = {"en": "eng", "es": "spa", "fr": "fra", "ja": "jpn", "de": "deu", "it": "ita", "pt": "por"}


def halves() -> tuple[list[dict], list[dict]]:
    """(tune rows, report rows): even and odd documents."""
    docs = flores_docs()
    return [r for d in docs[0::2] for r in d], [r for d in docs[1::2] for r in d]


def norms(rows: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    """{target: {source: (1st, 99th percentile of target/source letters)}} over every pair of columns."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for t, tc in COLUMNS.items():
        for s, sc in COLUMNS.items():
            if s != t:
                r = [guard.letters(row[tc]) / max(1, guard.letters(row[sc])) for row in rows]
                out.setdefault(t, {})[s] = (round(float(np.percentile(r, 1)), 2), round(float(np.percentile(r, 99)), 2))
    return out


def broken(source_text: str, ref: str, cjk: bool) -> dict[str, str]:
    """The reference broken the ways a model breaks a line."""
    words = ref.split() if not cjk else list(ref)
    joiner = "" if cjk else " "
    head = joiner.join(words[:max(1, len(words) // 3)])
    digits = "".join(str((int(c) + 3) % 10) if c.isdigit() else c for c in ref)
    out = {"loop": head + (", " + words[0]) * 30 if not cjk else head + words[0] * 30,
           "cut": head,
           "untranslated": source_text,
           "doubled": ref + joiner + ref + joiner + ref}
    if digits != ref:
        out["numbers"] = digits
    return out


def tatoeba_rows() -> list[tuple[str, str, str]]:
    """(target code, English, human translation) of the Tatoeba sample."""
    code = {"eng-spa": "es", "eng-fra": "fr", "eng-jpn": "ja"}
    with open(TATOEBA, newline="", encoding="utf-8") as f:
        return [(code[r["pair"]], r["eng"], r["tgt"]) for r in csv.DictReader(f, delimiter="\t")]


def report() -> None:
    _, held = halves()
    print("false alarms on human translations (any check of llm.problem; reasons counted)")
    print(f"{'set':16} {'pair':6} {'lines':>5} {'alarms':>7}  reasons")
    sets = {"flores-report": [(t, r["eng"], r[COLUMNS[t]]) for r in held for t in ("es", "fr", "ja", "de", "it", "pt")],
            "tatoeba": tatoeba_rows()}
    for name, rows in sets.items():
        for t in sorted({t for t, _, _ in rows}):
            target = languages.get(t)
            why = [llm.problem(s, ref, target, "en") for tt, s, ref in rows if tt == t]
            bad = Counter(w for w in why if w)
            print(f"{name:16} en-{t:3} {len(why):5d} {100 * sum(bad.values()) / len(why):6.1f}%  {dict(bad)}")
    print("\ncaught: broken human translations (FLORES report half, en->es/fr/ja) that fail a check")
    caught: dict[str, list[bool]] = {}
    for row in held:
        for t in ("es", "fr", "ja"):
            target = languages.get(t)
            for kind, text in broken(row["eng"], row[COLUMNS[t]], target.subtitles.cjk).items():
                caught.setdefault(kind, []).append(llm.problem(row["eng"], text, target, "en") is not None)
    for kind, hits in caught.items():
        print(f"  {kind:13} {100 * np.mean(hits):5.1f}% of {len(hits)}")
    if FIXTURES.exists():
        kept = json.loads(FIXTURES.read_text())
        got = [llm.problem(c["source"], c["reply"], languages.get(c["target"]), "en") is not None for c in kept]
        print(f"  kept replies  {100 * np.mean(got):5.1f}% of {len(got)} (tests/fixtures/guard_replies.json)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--norms", action="store_true", help="print length_ratio for each languages/<code>.yaml")
    a = ap.parse_args()
    if not MEDIA.exists():
        sys.exit(f"{MEDIA} not present")
    if a.norms:
        for t, pairs in norms(halves()[0]).items():
            print(f"{t}: length_ratio: {{{', '.join(f'{s}: [{lo}, {hi}]' for s, (lo, hi) in pairs.items())}}}")
        return
    report()


if __name__ == "__main__":
    main()
