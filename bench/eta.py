"""How well the time left that `dub translate` shows foretells the run's real end (issue 14: progress a
person can plan with).

    .venv/bin/python bench/eta.py VIDEO [--to es,fr,ja] [--out /tmp/etabench] [--every 2]

Runs the dub in this process with the CLI's own bars (dub.cli's whole-run bar, "all", over rich, drawn
to nowhere) and every `--every` s reads that bar: its share done and the time left it shows. At the end
each reading is held against the time the run really had left. Printed at 10, 25, 50, 75 and 90 % of
the run's wall time: the time left shown over the truth (1.00 is exact; 0.5 says half the real time),
beside two estimates from the same readings: at the mean speed since the start (elapsed x (1 - done) /
done; what the CLI shows, dub/bars.py, read from the bar's start rather than the run's) and at the speed
of the last 30 s (rich's default, which the CLI showed before stop 27).
The job folder is made afresh (a rerun from cache would finish at once).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHECKPOINTS = (0.10, 0.25, 0.50, 0.75, 0.90)  # shares of the run's wall time
WINDOW = 30.0  # s: rich's default speed estimate reads the bar's last 30 s


def record(video: Path, targets: list[str], out: Path, every: float) -> tuple[list[tuple[float, float, float | None]], float]:
    """Dub `video` and read the whole-run bar every `every` s: [(seconds since the start, share done,
    time left shown or None)], and the run's wall seconds."""
    from rich.console import Console

    import languages
    from dub.bars import progress_bar, time_left
    from dub.cli import _RichProgress
    from dubbing.pipeline import lips_on
    from dubbing.config import load
    from dubbing import media
    from dubbing.workload import run_steps
    from flows.dub_video import run

    info = media.probe(video)
    lips = lips_on(info, load(None), None)
    bars = progress_bar(Console(file=io.StringIO(), force_terminal=False))
    progress = _RichProgress(bars, run_steps([languages.get(t).code for t in targets], lips))
    task = bars.tasks[0]
    readings: list[tuple[float, float, float | None]] = []
    stop = threading.Event()
    t0 = time.perf_counter()

    def sample() -> None:
        while not stop.wait(every):
            readings.append((time.perf_counter() - t0, task.completed / task.total,
                             time_left(task.elapsed, task.completed, task.total)))

    reader = threading.Thread(target=sample, daemon=True)
    with bars:
        reader.start()
        try:
            run(str(video), targets, str(out), progress=progress)
        finally:
            stop.set()
            reader.join()
    return readings, time.perf_counter() - t0


def report(readings: list[tuple[float, float, float | None]], wall: float) -> list[dict]:
    """Per checkpoint: the reading nearest it, the time really left, and each estimate over it."""
    rows = []
    for share in CHECKPOINTS:
        t, done, shown = min(readings, key=lambda r: abs(r[0] - share * wall))
        left = wall - t
        mean = t * (1 - done) / done if done > 0 else None
        t30, done30, _ = min(readings, key=lambda r: abs(r[0] - (t - WINDOW)))
        last = (t - t30) * (1 - done) / (done - done30) if done > done30 else None
        rows.append({"share": share, "t": t, "done": done, "left": left,
                     "shown": shown, "mean": mean, "last": last})
    return rows


def _ratio(x: float | None, left: float) -> str:
    return f"{x / left:6.2f}" if x is not None and left > 0 else "     -"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--to", default="es,fr,ja")
    ap.add_argument("--out", type=Path, default=Path("/tmp/etabench"))
    ap.add_argument("--every", type=float, default=2.0, help="seconds between readings of the bar")
    args = ap.parse_args()
    shutil.rmtree(args.out / args.video.stem, ignore_errors=True)
    readings, wall = record(args.video, args.to.split(","), args.out, args.every)
    print(f"{args.video.name} -> {args.to}: {wall:.0f} s, {len(readings)} readings of the whole-run bar")
    print(f"{'at':>5} {'t s':>6} {'done':>6} {'left s':>7} {'shown s':>8} {'shown/left':>10} {'mean/left':>9} "
          f"{'last-30-s/left':>14}")
    for r in report(readings, wall):
        shown = f"{r['shown']:8.0f}" if r["shown"] is not None else "       -"
        print(f"{r['share']:5.0%} {r['t']:6.0f} {r['done']:6.1%} {r['left']:7.0f} {shown} "
              f"{_ratio(r['shown'], r['left']):>10} {_ratio(r['mean'], r['left']):>9} {_ratio(r['last'], r['left']):>14}")


if __name__ == "__main__":
    main()
