"""How much of a run each progress step is, so that a bar over the whole run, and each language's bar
across its stages, advance with the time the work takes rather than with counts of unlike things (a
language's lines were all but one of its bar's units, and its lip sync, half of its time, was one).

The shares are seconds of work per minute of video on 2 cores, measured by bench/long.py on its
30-minute input into es, fr and ja (stop 23: the check in 5-s runs, the tracking beside the
transcription; a language's figures are the mean of the three). Only their ratios matter: the time
left is the rest of the work at the bar's mean speed so far (dub/bars.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

SOURCE = {"audio": 0.5, "faces": 28.3, "transcribe": 21.3, "diarize": 0.7, "separate": 10.7,
          "phones": 8.0}  # stop 29: the source's phones aligned, 6.9-9.1 s a minute (ls_demo2, bench/long.py's 1 min)
TRANSLATE = 15.0  # per language
BRANCH = {"speech": 26.4, "prosody": 3.7, "mix": 2.7, "lips": 29.9, "mux": 1.6, "quality": 15.9}  # per language
BESIDE = ("quality",)  # stages that run beside the others (the check beside the lips and the mux)


class Branch:
    """How far along a language's branch is (0-1), from what its stages report. The stages of BRANCH
    run in its order, so reaching one finishes those before it; a stage of BESIDE runs beside them and
    counts only what it reports itself (the check, run beside the lips, was credited only at its end:
    the bar stood at 76 % with a tenth of the run left). Thread-safe: `report` gets each new share in
    the order they were reached, so the bar never goes back."""

    def __init__(self, lips: bool, report: Callable[[float], None] = lambda _: None) -> None:
        self.stages = [s for s in BRANCH if lips or s != "lips"]
        self.done: dict[str, float] = {}
        self.report = report
        self._lock = threading.Lock()

    def at(self, stage: str, fraction: float = 1.0) -> float:
        """The branch's share done (0-1, also given to `report`) once `stage` (a key of BRANCH) is
        `fraction` (0-1) done."""
        with self._lock:
            if stage not in BESIDE:
                for s in self.stages[:self.stages.index(stage) if stage in self.stages else 0]:
                    if s not in BESIDE:
                        self.done[s] = 1.0
            self.done[stage] = max(self.done.get(stage, 0.0), min(max(fraction, 0.0), 1.0))
            share = sum(BRANCH[s] * self.done.get(s, 0.0) for s in self.stages) / sum(BRANCH[s] for s in self.stages)
            self.report(share)
            return share


def run_steps(targets: Sequence[str], lips: bool) -> dict[str, float]:
    """Each progress step of a run into `targets` (language codes) and its share of the run's work;
    `lips`: whether the video's lips are re-rendered (the faces are tracked only then)."""
    steps = {s: w for s, w in SOURCE.items() if lips or s not in ("faces", "phones")}  # both only for the lips
    branch = sum(w for s, w in BRANCH.items() if lips or s != "lips")
    for code in targets:
        steps[f"translate {code}"] = TRANSLATE
        steps[f"dub {code}"] = branch
    return steps
