"""How much of a run each progress step is, so that a bar over the whole run, and each language's bar
across its stages, advance with the time the work takes rather than with counts of unlike things (a
language's lines were all but one of its bar's units, and its lip sync, half of its time, was one).

The shares are seconds of work per minute of video on 2 cores, measured by bench/long.py on its
30-minute input into es, fr and ja (stop 23: the check in 5-s runs, the tracking beside the
transcription; a language's figures are the mean of the three). Only their ratios matter: the time
left is the rest of the work at the bar's mean speed so far (dub/bars.py).
"""

from __future__ import annotations

from collections.abc import Sequence

SOURCE = {"audio": 0.5, "faces": 28.3, "transcribe": 21.3, "diarize": 0.7, "separate": 10.7}
TRANSLATE = 15.0  # per language
BRANCH = {"speech": 26.4, "prosody": 3.7, "mix": 2.7, "lips": 29.9, "mux": 1.6, "quality": 15.9}  # per language


def branch_done(stage: str, fraction: float, lips: bool) -> float:
    """How far along a language's branch is (0-1) when `stage` (a key of BRANCH) is `fraction` done and
    the stages before it are finished; `lips`: whether the branch re-renders the lips."""
    stages = [s for s in BRANCH if lips or s != "lips"]
    before = sum(BRANCH[s] for s in stages[:stages.index(stage)])
    return (before + min(max(fraction, 0.0), 1.0) * BRANCH[stage]) / sum(BRANCH[s] for s in stages)


def run_steps(targets: Sequence[str], lips: bool) -> dict[str, float]:
    """Each progress step of a run into `targets` (language codes) and its share of the run's work;
    `lips`: whether the video's lips are re-rendered (the faces are tracked only then)."""
    steps = {s: w for s, w in SOURCE.items() if lips or s != "faces"}
    branch = sum(w for s, w in BRANCH.items() if lips or s != "lips")
    for code in targets:
        steps[f"translate {code}"] = TRANSLATE
        steps[f"dub {code}"] = branch
    return steps
