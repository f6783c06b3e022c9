"""Where a dub's memory goes: run `dub` in this process beside a sampler of its memory and its threads.

    .venv/bin/python bench/memtrace.py [--log mem.log] [--every 0.5] -- translate in.mp4 --to es --out OUT

Every `--every` s the sampler writes one line to the log: seconds since start, resident memory (GB: all,
anonymous, file-backed) and, for each thread busy in the project's code, its innermost project frames. At the end it prints the peak and
the places (a thread's three innermost project frames) where the memory was highest. bench/long.py runs
its dubs through it with `--trace DIR`. (How issue 14's 13 GB review curve, 2 GB mix and leaked tracking
memmap were found.)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_gb() -> tuple[float, float, float]:
    """This process's resident memory (GB) from /proc: all of it, its anonymous pages (the heap: what
    the process needs) and its file-backed pages (mapped files and libraries, which the kernel can drop
    and read again)."""
    kb = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "RssAnon", "RssFile")):
                kb[line.split(":")[0]] = int(line.split()[1])
    return kb.get("VmRSS", 0) / 1e6, kb.get("RssAnon", 0) / 1e6, kb.get("RssFile", 0) / 1e6


def places(depth: int = 3) -> list[str]:
    """Each other thread's innermost `depth` frames in the project's code, as 'file:line:function > ...'."""
    me, out = threading.get_ident(), []
    for tid, frame in sys._current_frames().items():
        ours = [s for s in traceback.extract_stack(frame) if s.filename.startswith(str(ROOT))
                and "/.venv/" not in s.filename and not s.filename.endswith("memtrace.py")]
        if tid != me and ours:
            out.append(" > ".join(f"{Path(s.filename).name}:{s.lineno}:{s.name}" for s in ours[-depth:]))
    return out


def sample(log, every: float, stop: threading.Event, highest: dict[str, float], peak: list) -> None:
    t0 = time.perf_counter()
    while not stop.wait(every):
        (gb, anon, mapped), where = rss_gb(), places()
        log.write(f"{time.perf_counter() - t0:8.1f} {gb:6.2f} {anon:6.2f} {mapped:6.2f}  {' || '.join(where)}\n")
        log.flush()
        for w in where:
            highest[w] = max(highest[w], gb)
        if gb > peak[0]:
            peak[:3] = [gb, time.perf_counter() - t0, where]
        peak[3] = max(peak[3], anon)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", type=Path, default=Path("mem.log"))
    ap.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    ap.add_argument("--top", type=int, default=12, help="places to print")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then the dub command's arguments")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    highest: dict[str, float] = defaultdict(float)
    peak: list = [0.0, 0.0, [], 0.0]
    stop = threading.Event()
    with open(a.log, "w") as log:
        threading.Thread(target=sample, args=(log, a.every, stop, highest, peak), daemon=True).start()
        sys.path.insert(0, str(ROOT))
        sys.argv = ["dub", *args]
        from dub.cli import main as dub

        code = 0
        try:
            dub()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            stop.set()
    print(f"peak {peak[0]:.2f} GB at {peak[1]:.0f} s in: {' || '.join(peak[2]) or '?'}", file=sys.stderr)
    print(f"peak of its anonymous pages {peak[3]:.2f} GB", file=sys.stderr)
    for w, gb in sorted(highest.items(), key=lambda kv: -kv[1])[:a.top]:
        print(f"  {gb:5.2f} GB  {w}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
