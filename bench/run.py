"""Whole-run benchmark: wall time per stage and peak memory of `dub translate`, as a table.

    python bench/run.py [--only NAME] [--out DIR] [--no-lipsync]

Inputs: vr_face1.mp4 into es,fr,ja, and pa_sample.wav (30 s, two speakers) into es,fr,ja — from
../shared/media. Goal (issue 2): the whole run under 5x the input's duration for inputs of 30 s or
more, peak memory under 6 GB, on 2 cores. Each run starts from an empty job folder (a cold run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CASES = {
    "vr_face1": (MEDIA / "video/vr_face1.mp4", "es,fr,ja"),
    "pa_sample": (MEDIA / "audio/pa_sample.wav", "es,fr,ja"),
}


def machine_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far, all cores, from /proc/stat ((0, 0) elsewhere)."""
    try:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    except (OSError, ValueError):
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


# The machine's own speed varies from hour to hour (the same run took 153-174 s); this fixed LLM workload,
# timed just before each run, says how fast the machine was then. On a quiet machine: ~40 / ~15.5 tok/s.
REFERENCE = """
import time
from dubbing import llm
m = llm.load(str(llm.require("")))
m.set_cache(None)
toks = m.tokenize(b"The quick brown fox jumps over the lazy dog. " * 20)[:160]
assert len(toks) == 160
t = time.perf_counter(); m.eval(toks[:128]); prompt = 128 / (time.perf_counter() - t)
t = time.perf_counter()
for tok in toks[128:160]:
    m.eval([tok])
print(f"{prompt:.1f} {32 / (time.perf_counter() - t):.1f}")
"""


def reference() -> tuple[float, float]:
    """(prompt, generation) tokens/s of the embedded LLM on 2 threads, right now."""
    r = subprocess.run([sys.executable, "-c", REFERENCE], capture_output=True, text=True, cwd=ROOT)
    try:
        prompt, gen = map(float, r.stdout.split()[-2:])
    except ValueError:
        return 0.0, 0.0
    return prompt, gen


def run(name: str, path: Path, to: str, out: Path, extra: tuple[str, ...] = (), trace: Path | None = None) -> dict:
    """One cold `dub translate` of `path`; with `trace`, through bench/memtrace.py logging to that file."""
    job = out / path.stem
    shutil.rmtree(job, ignore_errors=True)
    busy0, steal0 = machine_seconds()
    t0 = time.perf_counter()
    launcher = [sys.executable, "-m", "dub"] if trace is None else \
        [sys.executable, str(ROOT / "bench" / "memtrace.py"), "--log", str(trace), "--"]
    proc = subprocess.Popen([*launcher, "translate", str(path), "--to", to, "--out", str(out), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        return {"name": name, "error": err.strip().splitlines()[-1:]}
    busy1, steal1 = machine_seconds()
    peak = usage.ru_maxrss / 1024 / 1024  # kB -> GB
    summary = json.loads((job / "job.json").read_text())
    # CPU seconds as well: on a shared machine the wall time says as much about the neighbours as about us
    cpu = usage.ru_utime + usage.ru_stime
    return {"name": name, "wall": wall, "cpu": cpu, "peak_gb": peak, "summary": summary,
            "others": max(busy1 - busy0 - cpu, 0.0), "steal": steal1 - steal0, "stderr": err}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=list(CASES))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--no-lipsync", action="store_true", help="time the dub without lip-sync (bench/lipsync.py times that)")
    a = ap.parse_args()
    if not MEDIA.exists():
        sys.exit("../shared/media not present: nothing to benchmark")
    for name, (path, to) in CASES.items():
        if a.only and a.only != name:
            continue
        speed = reference()
        res = run(name, path, to, a.out, ("--no-lipsync",) if a.no_lipsync else ())
        if "error" in res:
            print(f"{name}: FAILED {res['error']}")
            continue
        s = res["summary"]
        dur = s["source"]["duration"]
        print(f"\n## {name}: {dur:.1f} s of {s['source']['language']}, {len(s['source']['speakers'])} speaker(s) -> {to}")
        print(f"{'stage':<28}{'seconds':>9}")
        for k, v in s["stage_seconds"].items():
            print(f"{k:<28}{v:>9.1f}")
        for code, lang in s["languages"].items():
            for k, v in lang["stage_seconds"].items():
                print(f"{code + ' ' + k:<28}{v:>9.1f}")
        print(f"{'total (wall, incl. start-up)':<28}{res['wall']:>9.1f}   = {res['wall'] / dur:.2f} x input duration")
        print(f"{'CPU (user+sys, both cores)':<28}{res['cpu']:>9.1f}   = {res['cpu'] / 2 / dur:.2f} x input duration "
              f"if spread over 2 cores")
        print(f"{'peak memory (GB, max RSS)':<28}{res['peak_gb']:>9.2f}")
        print(f"{'other processes CPU (s)':<28}{res['others']:>9.1f}   (the machine was not quiet if this is large)")
        print(f"{'stolen by the hypervisor (s)':<28}{res['steal']:>9.1f}")
        print(f"{'machine: LLM tokens/s':<28}{speed[0]:>9.1f} prompt, {speed[1]:.1f} generation, just before the run")
        for code, lang in s["languages"].items():
            q = lang["quality"]
            print(f"{code}: CER {q['cer']:.1%}, heard as {q['detected_language']}, timing within 0.3 s {q['within_0.3s']:.0%}, "
                  f"stretch {q['stretch_min']:.2f}-{q['stretch_max']:.2f}")


if __name__ == "__main__":
    main()
