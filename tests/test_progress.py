"""Progress a person can plan with (issue 14): each language's bar and the whole run's bar advance with
the time the work takes (dubbing.workload), so their time left means something at any length."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.progress import Progress

from dubbing import workload


def _at(stage: str, fraction: float, lips: bool = True) -> float:
    return workload.Branch(lips).at(stage, fraction)


def test_a_language_bar_is_about_half_way_when_its_lips_start_not_nearly_done():
    """The lip sync is about as much work as all the lines' speech: a bar counting lines (the lips one
    unit after them) stood at 99 % for the second half of a 30-minute dub."""
    stages = [s for s in workload.BRANCH if s not in workload.BESIDE]
    points = [_at(s, f) for s in stages for f in (0.0, 0.5, 1.0)]
    assert points == sorted(points) and points[0] == 0.0
    lips_start = _at("lips", 0.0)
    assert 0.35 < lips_start < 0.6
    assert _at("lips", 0.5) == pytest.approx((lips_start + _at("lips", 1.0)) / 2)
    # without lips the other stages fill the bar
    assert _at("mix", 1.0, lips=False) > _at("mix", 1.0, lips=True)


def test_the_check_beside_the_lips_is_credited_as_it_goes_and_the_bar_never_goes_back():
    """The quality check runs beside the lips: its share counts as its lines are heard, not only at the
    end (the bar stood at 76 % with a tenth of the run left), and it finishes no stage but its own."""
    shown: list[float] = []
    b = workload.Branch(lips=True, report=shown.append)
    mixed = b.at("mix")
    beside = b.at("quality", 0.5)
    assert beside == pytest.approx(mixed + 0.5 * workload.BRANCH["quality"] / sum(workload.BRANCH.values()))
    assert b.done.get("lips", 0.0) == 0.0  # the check does not finish the lips
    half = b.at("lips", 0.5)
    assert half > beside
    assert b.at("quality", 0.2) == pytest.approx(half)  # an earlier report (another pass) takes nothing back
    assert b.at("mux") < 1.0  # the check still has half its lines to hear
    assert b.at("quality") == pytest.approx(1.0)
    assert shown == sorted(shown) and shown[-1] == pytest.approx(1.0)


def test_a_run_has_a_step_per_source_stage_and_two_per_language():
    steps = workload.run_steps(["es", "ja"], lips=True)
    assert {"audio", "faces", "transcribe", "diarize", "separate", "phones", "translate es", "dub es", "translate ja",
            "dub ja"} == set(steps)
    assert not {"faces", "phones"} & set(workload.run_steps(["es"], lips=False))  # only for the lips
    assert workload.run_steps(["es"], lips=False)["dub es"] < steps["dub es"]  # no lips to render


def test_the_whole_run_bar_sums_the_shares_of_the_steps_done():
    from dub.cli import _RichProgress

    steps = workload.run_steps(["es", "fr"], lips=True)
    with Progress(console=Console(file=io.StringIO())) as p:
        bars = _RichProgress(p, steps)
        whole = p.tasks[bars.tasks["all"]]
        assert whole.total == pytest.approx(sum(steps.values())) and whole.completed == 0
        bars("transcribe", 300.0, 600.0)  # seconds of audio
        bars("faces", 15000, 15000)  # frames
        bars("dub es", 0.25, 1.0)
        bars("unreadable 1.0-2.0 s", 1, 1)  # a notice, not work
        want = 0.5 * steps["transcribe"] + steps["faces"] + 0.25 * steps["dub es"]
        assert whole.completed == pytest.approx(want)
        bars("transcribe", 600.0, 600.0)  # a step moves the whole bar by what it did since
        assert whole.completed == pytest.approx(want + 0.5 * steps["transcribe"])
        bars.finish()
        assert whole.finished


def test_the_bars_take_reports_from_several_threads_at_once():
    """The faces are tracked in a thread while the sound is transcribed, and the languages dub in threads:
    summing the whole-run bar while another thread adds a step raised "dictionary changed size"."""
    import threading

    from dub.cli import _RichProgress

    steps = {f"step {i}": 1.0 for i in range(4000)}
    errors: list[str] = []
    with Progress(disable=True) as p:  # nothing drawn: 4,000 bars would take minutes
        bars = _RichProgress(p, steps)

        def report(k: int) -> None:
            try:
                for i in range(k, len(steps), 4):
                    bars(f"step {i}", 1, 1)
            except Exception as e:  # noqa: BLE001 (what a thread raised, for the assertion)
                errors.append(repr(e))

        threads = [threading.Thread(target=report, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and p.tasks[bars.tasks["all"]].completed == pytest.approx(len(steps))


def test_time_left_is_the_rest_of_the_work_at_the_mean_speed_since_the_start():
    from dub.bars import time_left

    assert time_left(40.0, 25, 100) == 120.0  # a quarter done in 40 s: 120 s more
    assert time_left(40.0, 0, 100) is None  # nothing done yet: no estimate
    assert time_left(40.0, 100, 100) == 0.0


def test_the_bar_shows_time_left_from_its_mean_speed_not_the_last_seconds():
    """rich's own column would say 0:00:13 here (the last 10 s moved 40 of 100); the mean speed says 0:00:40."""
    from dub.bars import TimeLeft

    now = [0.0]
    column = TimeLeft()
    bars = Progress(column, console=Console(file=io.StringIO()), get_time=lambda: now[0])
    task = bars.add_task("all", total=100)
    now[0] = 30.0
    bars.update(task, completed=10)
    now[0] = 40.0
    bars.update(task, completed=50)
    assert column.render(bars.tasks[0]).plain == "0:00:40"
    bars.update(task, completed=100)
    assert column.render(bars.tasks[0]).plain == "0:00:00"


def test_a_branch_reports_in_order_from_two_threads():
    """The check reports from its thread while the lips report from theirs: the bar gets the shares in the
    order they were reached, so it never steps back."""
    import threading
    import time

    shown: list[float] = []

    def show(share: float) -> None:  # a bar that takes a moment to draw: the other thread runs meanwhile
        time.sleep(1e-4)
        shown.append(share)

    b = workload.Branch(lips=True, report=show)
    b.at("mix")
    runs = [threading.Thread(target=lambda s=s: [b.at(s, i / 500) for i in range(501)]) for s in ("lips", "quality")]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert shown == sorted(shown) and len(shown) == 1 + 2 * 501
