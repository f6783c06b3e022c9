"""The CLI's progress bars (rich), with a time left a person can plan with.

rich's own estimate is the rest of the work at the speed of the bar's last 30 s. Stages here move at
uneven speeds (a fast tracking pass, then a slow lip render), and that estimate swung with them: on a
1-minute input into es, fr and ja it showed 0.5-6.1 times the time really left. The bars here show the
rest of the work at the bar's mean speed since it appeared (bench/eta.py measures both).
"""

from __future__ import annotations

import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text


def time_left(elapsed: float | None, done: float, total: float | None) -> float | None:
    """Seconds left at the mean speed since the start: elapsed x (total - done) / done; None before any
    work is done (or without a total)."""
    if not elapsed or not total or done <= 0:
        return None
    return max(elapsed * (total - done) / done, 0.0)


class TimeLeft(ProgressColumn):
    """A task's time left (time_left), as h:mm:ss."""

    max_refresh = 0.5  # s: as rich's own column, so the figure does not jitter

    def render(self, task: Task) -> Text:
        left = 0.0 if task.finished else time_left(task.elapsed, task.completed, task.total)
        return Text("-:--:--" if left is None else str(datetime.timedelta(seconds=int(left))),
                    style="progress.remaining")


def progress_bar(console: Console) -> Progress:
    """Bars drawn on `console`: description, bar, percentage, time elapsed, time left."""
    return Progress(TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(), TextColumn("left"), TimeLeft(), console=console, transient=False)
