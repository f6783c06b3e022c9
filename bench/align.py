"""Forced alignment (dubbing/align.py) against published word alignments: word-boundary error.

    PYTHONPATH=$PWD python bench/align.py [--baseline /work/main] [--split held-out] [--clips grid/bbaf2n]

The clips and their truth are tests/align_material.py's (sources and licenses: tests/fixtures/align/
README.md): GRID (English; word times from the corpus's .align files), 24 clips of speaker s1, the
shared grid_bbaf2n and swwp2s of another speaker; French spontaneous speech with SPPAS's published
word alignment (11 clips). The aligner's settings were chosen on the TUNE clips (GRID s1: bbir9a
brag1a bwbn5a lbwe6p lrarzn lwbz6p bgbn9s brwa4p lbaq5s lgif1s lrwl5s pbap1a pgby5s prwd4n sbaa7a
sgbj3a srin5s swwv6n; French: AC AG BX EB IM); the HELD_OUT ones (GRID s1: pbwdzp praj3a pwbq5s
sbit2n sgwx5a swbc3a, bbaf2n, swwp2s; French: MB MG ML NH SR YM) were only reported.

For every word the error of its start and of its end against the truth (leading and trailing
silence count: the first word's start and the last word's end). Printed per clip, per language and
split, and overall: median, max, share within 30 and 100 ms; for this tree's aligner and, with
--baseline (a checkout of main), for that one's, run in a child process on the same audio and text.
Speed: aligner seconds per second of audio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _emit(root: str, work: str) -> None:
    """Child mode: align every clip saved in `work` with the aligner of the tree at `root`."""
    sys.path.insert(0, root)
    import languages
    from dubbing.align import align

    out = {}
    for f in sorted(Path(work).glob("*.npz")):
        d = np.load(f)
        t0 = time.perf_counter()
        phones = align(d["audio"], 16000, str(d["text"]), languages.get(str(d["lang"])))
        out[f.stem] = {"phones": [[p.start, p.end] for p in phones], "seconds": time.perf_counter() - t0}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=str(ROOT.parent / "main"),
                    help="a checkout whose aligner is the 'before' figure ('' for none)")
    ap.add_argument("--split", choices=["tune", "held-out", "all"], default="all")
    ap.add_argument("--clips", default="", help="comma-separated clip names (default: all present)")
    ap.add_argument("--emit", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.emit:
        return _emit(*args.emit)
    sys.path.insert(0, str(ROOT))
    import languages
    from dubbing import espeak
    from dubbing.align import align
    from tests import align_material as M

    clips = [c for c in M.clips() if args.split in ("all", c.split)]
    if args.clips:
        clips = [c for c in clips if c.name in args.clips.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-align-") as work:
        for k, c in enumerate(clips):
            truth, text, owner = M.words_and_text(M.read_truth(c.truth))
            audio = M.load_audio(c)
            np.savez(Path(work) / f"{k:03d}.npz", audio=audio, text=text, lang=c.language)
            lang = languages.get(c.language)
            _, _, ref, phone_word = espeak.synthesize_words(text, lang.espeak)
            t0 = time.perf_counter()
            phones = align(audio, M.RATE, text, lang)
            secs = time.perf_counter() - t0
            assert len(phones) == len(ref), (c.name, len(phones), len(ref))
            got = M.word_times([(p.start, p.end) for p in phones], phone_word, owner, len(truth))
            rows.append({"clip": c, "truth": truth, "owner": owner, "phone_word": phone_word,
                         "new": M.boundary_errors(truth, got), "new_s": secs, "dur": len(audio) / M.RATE})
        base = {}
        if args.baseline and Path(args.baseline, "dubbing", "align.py").exists():
            env = dict(os.environ, PYTHONPATH=args.baseline)
            res = subprocess.run([sys.executable, __file__, "--emit", args.baseline, work], env=env,
                                 capture_output=True, text=True, cwd=args.baseline)
            if res.returncode != 0:
                sys.exit(f"baseline failed: {res.stderr.strip().splitlines()[-1:]}")
            base = json.loads(res.stdout)
            commit = subprocess.run(["git", "-C", args.baseline, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
            print(f"baseline: {args.baseline} at {commit}")
    for k, r in enumerate(rows):
        b = base.get(f"{k:03d}")
        if b:
            got = M.word_times([tuple(p) for p in b["phones"]], r["phone_word"], r["owner"], len(r["truth"]))
            r["old"], r["old_s"] = M.boundary_errors(r["truth"], got), b["seconds"]
    _report(rows, M)


def _fmt(s: dict) -> str:
    return (f"{s['median_ms']:6.0f} {s['max_ms']:6.0f} {100 * s['within30']:5.0f}% {100 * s['within100']:5.0f}%"
            if s["n"] else "     -")


def _report(rows: list[dict], M) -> None:
    have_old = any("old" in r for r in rows)
    head = f"{'clip':28} {'split':8} {'bounds':>6}  {'median':>6} {'max':>6} {'<=30':>6} {'<=100':>6}  (ms, this tree)"
    print(head + ("   |  before: median max <=30 <=100" if have_old else ""))
    for r in rows:
        line = f"{r['clip'].name:28} {r['clip'].split:8} {len(r['new']):6d}  {_fmt(M.summary(r['new']))}"
        if "old" in r:
            line += "   |  " + _fmt(M.summary(r["old"]))
        print(line)
    print()
    groups = {}
    for r in rows:
        for key in ((r["clip"].language, r["clip"].split), ("all", r["clip"].split), ("all", "all")):
            groups.setdefault(key, []).append(r)
    for (lang, split), rs in sorted(groups.items()):
        new = M.summary(np.concatenate([r["new"] for r in rs]))
        line = f"{lang + ' ' + split:28} {'':8} {new['n']:6d}  {_fmt(new)}"
        if have_old:
            line += "   |  " + _fmt(M.summary(np.concatenate([r["old"] for r in rs if "old" in r])))
        speed = sum(r["new_s"] for r in rs) / sum(r["dur"] for r in rs)
        line += f"   {speed:.3f} s/s"
        if have_old:
            line += f" (before {sum(r.get('old_s', 0) for r in rs) / sum(r['dur'] for r in rs):.3f})"
        print(line)


if __name__ == "__main__":
    main()
