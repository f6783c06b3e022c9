"""Japanese subtitle line breaks inside a word: the old cut every N characters against dubbing.linebreak.

Ground truth the line breaker does not use: Open JTalk's word segmentation (pyopenjtalk, a MeCab
dictionary), where dubbing.linebreak segments with SudachiPy. A break is "inside a word" when the
characters on both sides belong to one Open JTalk word. Nothing was tuned on this text (FLORES-200
devtest ja, lines 500-1011, in ../shared/media), so all of it is held out.

    python bench/linebreak.py [--width 16] [--limit 500]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FLORES = ROOT.parent / "shared/media/text/flores200_devtest_docs_500-1011.tsv"


def old_wrap(text: str, width: int, max_lines: int) -> list[str]:
    """subtitles.wrap for CJK before linebreak.py: cut every `width` characters (widened to fit the lines)."""
    if len(text) > width * max_lines:
        width = -(-len(text) // max_lines)
    return [text[i:i + width] for i in range(0, len(text), width)]


def word_boundaries(text: str) -> set[int]:
    """Character offsets where an Open JTalk word starts or ends."""
    import pyopenjtalk

    cuts, at = {0}, 0
    for node in pyopenjtalk.run_frontend(text):
        at += len(node["string"])
        cuts.add(at)
    return cuts


def inside(lines: list[str], bounds: set[int]) -> int:
    """Breaks between `lines` that fall inside a word."""
    at, bad = 0, 0
    for ln in lines[:-1]:
        at += len(ln)
        bad += at not in bounds
    return bad


def main() -> None:
    from dubbing import linebreak

    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--first", type=int, default=0, help="first sentence (0-based)")
    ap.add_argument("--limit", type=int, default=500)
    a = ap.parse_args()
    with open(FLORES, encoding="utf-8") as f:
        texts = [r["jpn"].strip() for r in csv.DictReader(f, delimiter="\t")][a.first:a.first + a.limit]
    totals = {"old": [0, 0, 0], "new": [0, 0, 0]}
    for text in texts:
        text = "".join(text.split())
        # sentences are split at 。 into cues as a dub's lines would be, each at most two lines
        for cue in [c + "。" for c in text.split("。") if c]:
            for name, lines in (("old", old_wrap(cue, a.width, 2)),
                                ("new", linebreak.wrap_lines(cue, a.width, 2, cjk=True))):
                assert "".join(lines) == cue
                totals[name][0] += len(lines) - 1
                totals[name][1] += inside(lines, word_boundaries(cue))
                totals[name][2] += len(cue) <= 2 * a.width and max(len(ln) for ln in lines) > a.width
    print(f"FLORES ja sentences {a.first}-{a.first + len(texts) - 1}, width {a.width}, at most 2 lines")
    for name, (breaks, bad, long) in totals.items():
        print(f"{name}: {breaks} breaks, {bad} inside an Open JTalk word ({bad / max(breaks, 1):.1%}); "
              f"{long} cues that fit two lines with a line over the width anyway")


if __name__ == "__main__":
    main()
