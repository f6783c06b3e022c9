import pytest

from dubbing import config, fit

CFG = config.load().fit


def test_speed_is_bounded_and_matches_slot():
    assert fit.choose_speed(2.2, 2.0, CFG) == pytest.approx(1.1)
    assert fit.choose_speed(10.0, 2.0, CFG) == CFG.speed_max
    assert fit.choose_speed(1.0, 2.0, CFG) == CFG.speed_min


def test_plan_fills_slot_with_a_stretch_inside_bounds():
    p = fit.plan(1.0, 3.0, 1.8, 1.0, CFG)
    assert p.start == pytest.approx(1.0) and p.end == pytest.approx(3.0)
    assert CFG.stretch_min <= p.stretch <= CFG.stretch_max
    assert not p.needs_shorter


def test_overflow_borrows_silence_then_asks_for_shorter_text():
    # 3 s of speech for a 2 s slot: stretch hits its floor (2.4 s), 0.4 s over
    p = fit.plan(1.0, 3.0, 3.0, 1.3, CFG, room_before=0.1, room_after=0.2)
    assert p.stretch == pytest.approx(CFG.stretch_min)
    assert "borrowed" in p.flags
    assert p.end - p.start == pytest.approx(3.0 * CFG.stretch_min, abs=1e-3)
    # 0.3 s borrowed (0.2 after, 0.1 before); the last 0.1 s runs past the room but within tolerance
    assert p.start == pytest.approx(0.9) and p.end == pytest.approx(3.3)
    assert not p.needs_shorter
    q = fit.plan(1.0, 3.0, 4.0, 1.3, CFG)
    assert q.needs_shorter and "overflow" in q.flags


def test_short_speech_is_centred_in_its_slot():
    p = fit.plan(0.0, 4.0, 2.0, 0.85, CFG)
    assert p.stretch == pytest.approx(CFG.stretch_max)
    assert p.start == pytest.approx((4.0 - 2.5) / 2)
    assert "short" in p.flags
