"""Translation quality and speed on the Tatoeba sample, or on FLORES documents (chrF with sacrebleu, seconds
per sentence).

    .venv/bin/python bench/translation.py                      # default prompt + apertium, 30 per pair (~5 min)
    .venv/bin/python bench/translation.py --variants all --n 30 # compare the LLM prompt styles
    .venv/bin/python bench/translation.py --demo               # vr_face1 transcript into es/fr/ja
    .venv/bin/python bench/translation.py --model F.gguf --no-apertium  # another GGUF file, same sample
    .venv/bin/python bench/translation.py --docs --n 40 --variants alone,history2 --replies /tmp/r.json  # FLORES docs

Each sentence's time budget is the time an English speaker takes to say the source (the slot a dub has),
so "long" counts translations the pipeline would flag as likely too long for their slot.
With --docs, whole FLORES documents (consecutive lines of one source article) are translated into es, fr
and ja, each document as one page, so a style that reads the lines around a line has them; even documents
form the tune half, odd ones the report half (--n lines per language, half each). s/req is seconds per
request the model answered (a line is one request, more when retried); with --replies, a request asked
again (a document's first line is asked alike with and without history; a rerun) reuses its kept reply.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import sacrebleu

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import languages  # noqa: E402
from dubbing import config, llm, translate  # noqa: E402
from dubbing.schema import Line  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
TSV = MEDIA / "text" / "tatoeba_test_v2021-08-07_sample.tsv"
FLORES = MEDIA / "text" / "flores200_devtest_docs_500-1011.tsv"
FLORES_COLUMNS = {"es": "spa", "fr": "fra", "ja": "jpn"}
PAIRS = {"eng-spa": "es", "eng-fra": "fr", "eng-jpn": "ja"}
ALONE = replace(llm.DEFAULT, history=0)  # each line alone (the default: see llm.Style for the FLORES figures)
VARIANTS = {
    "default": llm.DEFAULT,  # length hint, one line per request, each line alone
    "alone": ALONE,  # the same, each line alone
    "plain": replace(ALONE, hint=False),
    "shots": replace(ALONE, examples=True),
    "context": replace(ALONE, context=True),
    "batch8": replace(ALONE, batch=8),
    "history": replace(ALONE, history=4),  # earlier lines of the page as earlier chat turns
    "history2": replace(ALONE, history=2),  # the same, 2-3 earlier lines
    "history1": replace(ALONE, history=1),  # the same, the line before only
}


def flores_docs() -> list[list[dict]]:
    """FLORES rows grouped by document (consecutive rows with the same `doc`), in file order."""
    docs: list[list[dict]] = []
    with open(FLORES, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not docs or docs[-1][0]["doc"] != row["doc"]:
                docs.append([])
            docs[-1].append(row)
    return docs


def doc_halves(n: int) -> dict[str, list[list[dict]]]:
    """{"tune": documents, "report": documents}: even and odd documents of the file, in order, each half
    cut after the document that reaches n/2 lines."""
    docs = flores_docs()
    out: dict[str, list[list[dict]]] = {}
    for half, part in (("tune", docs[0::2]), ("report", docs[1::2])):
        out[half] = []
        while part and sum(map(len, out[half])) < n / 2:
            out[half].append(part.pop(0))
    return out


class KeptReplies:
    """A ChatModel (llm.LlamaChat) that keeps its replies in a JSON file, keyed by the whole request: a
    request asked again (the first line of a document is asked alike with and without history; a rerun)
    gets the reply it had, as greedy decoding would give it again. The file belongs to one model file and
    one version of the prompts: start a new one when either changes."""

    def __init__(self, model, path: Path | None):
        self.chat, self.path = llm.LlamaChat(model), path
        self.kept: dict[str, str] = json.loads(path.read_text()) if path and path.exists() else {}
        self.asked = self.reused = 0  # requests the model answered, and answered from the file

    def reply(self, messages, max_tokens, temperature=0.0, seed=llm.SEED, one_line=True) -> str:
        key = json.dumps([messages, max_tokens, temperature, seed, one_line], ensure_ascii=False)
        self.reused += key in self.kept
        if key not in self.kept:
            self.asked += 1
            self.kept[key] = self.chat.reply(messages, max_tokens, temperature, seed, one_line)
            if self.path:
                self.path.write_text(json.dumps(self.kept, ensure_ascii=False))
        return self.kept[key]

    def count_tokens(self, text: str) -> int:
        return self.chat.count_tokens(text)


def bench_docs(n: int, variants: list[str], model_file: str = llm.EMBEDDED, keep: Path | None = None,
               codes: tuple[str, ...] = tuple(FLORES_COLUMNS), keep_out: Path | None = None,
               replies: Path | None = None, halves_wanted: tuple[str, ...] = ("tune", "report")) -> None:
    """chrF per target language, prompt style and half on FLORES documents: each document is translated
    as one page (so a style with history or context sees the document's earlier lines). `keep_out`: a JSON
    file for every translation, by "lang/half/style", with the FLORES line numbers and references; `replies`:
    a JSON file of the model's replies, reused for a request asked again (see KeptReplies)."""
    en = languages.get("en")
    model = KeptReplies(llm.load(str(llm.model_path(model_file))), replies)
    halves = {h: docs for h, docs in doc_halves(n).items() if h in halves_wanted}
    rejected: list[dict] = []
    kept: dict[str, list[dict]] = {}
    print(f"{'lang':4} {'style':10} {'half':7} {'lines':>5} {'chrF':>6} {'s/req':>7} {'asked':>5} {'reused':>6} "
          f"{'failed':>6}")
    for code in codes:
        target, column = languages.get(code), FLORES_COLUMNS[code]
        for half, docs in halves.items():
            for v in variants:
                hyps, refs, failed, t0 = [], [], 0, time.perf_counter()
                asked, reused = model.asked, model.reused
                for doc in docs:
                    texts = [r["eng"] for r in doc]
                    items = [llm.Item(t, hint=translate.length_hint(translate.spoken_seconds(t, en), target))
                             for t in texts]
                    tr = llm.Translator(model, VARIANTS[v])
                    hyps += [g.text for g in tr.lines(items, "en", target)]
                    refs += [r[column] for r in doc]
                    failed += tr.failures
                    rejected += [dict(r, style=v) for r in tr.rejected]
                    if keep is not None:
                        keep.write_text(json.dumps(rejected, ensure_ascii=False, indent=1))
                asked, reused = model.asked - asked, model.reused - reused
                per = (time.perf_counter() - t0) / max(1, asked)  # seconds per request the model answered
                chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
                if keep_out is not None:
                    rows = [r for doc in docs for r in doc]
                    kept[f"{code}/{half}/{v}"] = [{"line": r["line"], "src": r["eng"], "ref": ref, "hyp": h}
                                                  for r, ref, h in zip(rows, refs, hyps)]
                    keep_out.write_text(json.dumps(kept, ensure_ascii=False, indent=1))
                print(f"{code:4} {v:10} {half:7} {len(hyps):5d} {chrf:6.1f} {per:7.2f} {asked:5d} {reused:6d} "
                      f"{failed:6d}", flush=True)


def load_pairs(n: int) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    with open(TSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["pair"], []).append((row["eng"], row["tgt"]))
    return {p: rows[:n] for p, rows in out.items()}


def run_llm(style: llm.Style, texts: list[str], budgets: list[float], target,
            model_file: str = llm.EMBEDDED) -> tuple[list[str], int]:
    model = llm.load(str(llm.model_path(model_file)))
    items = [llm.Item(t, hint=translate.length_hint(b, target)) for t, b in zip(texts, budgets)]
    tr = llm.Translator(model, style)
    got = tr.lines(items, "en", target)
    return [g.text for g in got], tr.failures


def run_apertium(texts: list[str], target) -> tuple[list[str], int]:
    return translate.apertium(texts, target.translation.apertium["en"].split("|")), 0


def bench(n: int, variants: list[str], apertium: bool, model_file: str = llm.EMBEDDED) -> None:
    en = languages.get("en")
    print(f"{'pair':8} {'system':16} {'chrF':>6} {'s/sent':>7} {'long%':>6} {'failed':>6}")
    for pair, rows in load_pairs(n).items():
        target = languages.get(PAIRS[pair])
        texts, refs = [r[0] for r in rows], [r[1] for r in rows]
        budgets = [translate.spoken_seconds(t, en) for t in texts]
        systems = [(f"llm:{v}", lambda v=v: run_llm(VARIANTS[v], texts, budgets, target, model_file)) for v in variants]
        if apertium and "en" in target.translation.apertium:
            systems.append(("apertium", lambda: run_apertium(texts, target)))
        for name, fn in systems:
            t0 = time.perf_counter()
            hyps, failed = fn()
            per = (time.perf_counter() - t0) / len(texts)
            chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
            long_ = 100 * sum(translate.too_long(h, b, target) for h, b in zip(hyps, budgets)) / len(hyps)
            print(f"{pair:8} {name:16} {chrf:6.1f} {per:7.2f} {long_:6.0f} {failed:6d}", flush=True)


def demo() -> None:
    """Transcribe vr_face1 with Whisper base and translate it into es, fr and ja with the default route."""
    from faster_whisper import WhisperModel

    from dubbing import models

    asr = WhisperModel(str(models.whisper_base()), device="cpu", compute_type="int8", cpu_threads=2)
    segs, _ = asr.transcribe(str(MEDIA / "video" / "vr_face1.mp4"), language="en", beam_size=5)
    src = [Line(id=f"L{i + 1:04d}", start=s.start, end=s.end, speaker="S0", source=s.text.strip())
           for i, s in enumerate(segs)]
    for l in src:
        print(f"en {l.id} {l.start:5.2f}-{l.end:5.2f}  {l.source}")
    cfg = config.load().translation
    for code in ("es", "fr", "ja"):
        target = languages.get(code)
        t0 = time.perf_counter()
        tr = translate.translate(src, "en", target, cfg)
        print(f"-- {code} ({tr.backend}, {time.perf_counter() - t0:.1f} s)")
        for l in tr.lines:
            est = translate.spoken_seconds(l.text, target)
            print(f"{code} {l.id} budget {translate.budget(l):4.2f} s est {est:4.2f} s {l.flags}  {l.text}")
            goal = translate.budget(l) if "long" in l.flags else 0.6 * est  # show shortening either way
            print(f"   shortened to {goal:4.2f} s: {translate.shorten(l, 'en', target, cfg, goal)}")
        if "en" in target.translation.apertium:
            print(f"   apertium: {' | '.join(run_apertium([l.source for l in src], target)[0])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="sentences per language pair (max 150)")
    ap.add_argument("--variants", default="default", help=f"comma list of {', '.join(VARIANTS)}, or 'all'")
    ap.add_argument("--no-apertium", action="store_true")
    ap.add_argument("--model", default=llm.EMBEDDED, help="a GGUF file to compare with the embedded model")
    ap.add_argument("--demo", action="store_true", help="translate the vr_face1 transcript instead")
    ap.add_argument("--docs", action="store_true", help="FLORES documents into es, fr, ja, tune and report halves")
    ap.add_argument("--keep-failures", type=Path, help="with --docs: write the replies that failed the checks here")
    ap.add_argument("--replies", type=Path, help="with --docs: keep the model's replies in this JSON file and "
                                                 "reuse them for a request asked again")
    ap.add_argument("--halves", default="tune,report", help="with --docs: tune, report or both")
    ap.add_argument("--keep-translations", type=Path, help="with --docs: write every translation here (JSON)")
    ap.add_argument("--langs", default=",".join(FLORES_COLUMNS), help="with --docs: target languages, in order")
    a = ap.parse_args()
    if not MEDIA.exists():
        sys.exit(f"{MEDIA} not present")
    if a.demo:
        return demo()
    variants = list(VARIANTS) if a.variants == "all" else [v for v in a.variants.split(",") if v]
    if a.docs:
        return bench_docs(a.n, variants, a.model, a.keep_failures, tuple(c for c in a.langs.split(",") if c),
                          a.keep_translations, a.replies, tuple(a.halves.split(",")))
    bench(a.n, variants, not a.no_apertium, a.model)


if __name__ == "__main__":
    main()
