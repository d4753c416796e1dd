"""The virtual clock on its own: ordering, cancelling, jumping, pending, realtime reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.sim.clock import ClockMode, VirtualClock, format_iso, parse_iso

START = parse_iso("2026-01-01T09:00:00Z")


class Wall:
    """An injected wall clock (seconds) that tests move by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _recorder(clock: VirtualClock) -> tuple[list[tuple[str, int]], object]:
    fired: list[tuple[str, int]] = []

    def record(name: str) -> None:
        fired.append((name, clock.now_ms))

    return fired, record


def test_timers_fire_by_due_then_priority_then_sequence() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)
    clock.call_at(START + 2000, record, "late")
    clock.call_at(START + 1000, record, "b-seq1")
    clock.call_at(START + 1000, record, "a-prio-1", priority=-1)
    clock.call_at(START + 1000, record, "c-seq2")
    clock.call_at(START + 1000, record, "d-prio1", priority=1)
    clock.jump_to(START + 5000)
    assert [name for name, _ in fired] == ["a-prio-1", "b-seq1", "c-seq2", "d-prio1", "late"]


def test_now_is_the_due_instant_while_a_timer_fires() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)
    clock.call_later(1500, record, "x")
    clock.call_later(3000, record, "y")
    clock.jump_to(START + 10_000)
    assert fired == [("x", START + 1500), ("y", START + 3000)]
    assert clock.now_ms == START + 10_000


def test_timers_scheduled_while_firing_fire_in_the_same_jump_when_due() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)

    def chain() -> None:
        record("first")
        clock.call_later(1000, record, "second")
        clock.call_later(0, record, "now")

    clock.call_later(1000, chain)
    assert clock.jump_to(START + 2000) == 3
    assert fired == [("first", START + 1000), ("now", START + 1000), ("second", START + 2000)]


def test_cancel_makes_a_timer_a_no_op_and_pending_counts_only_live_timers() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)
    keep = clock.call_later(1000, record, "keep")
    drop = clock.call_later(500, record, "drop")
    assert clock.pending == 2
    clock.cancel(drop)
    clock.cancel(drop)  # twice is harmless
    clock.cancel(None)
    assert clock.pending == 1
    assert clock.next_due() == START + 1000
    clock.jump_to(START + 2000)
    assert fired == [("keep", START + 1000)]
    assert clock.pending == 0
    clock.cancel(keep)  # already fired: nothing to cancel
    assert clock.pending == 0


def test_timer_cancel_method_keeps_pending_right() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    timer = clock.call_later(1000, lambda: None)
    clock.call_later(2000, lambda: None)
    timer.cancel()
    assert clock.pending == 1
    clock.jump_to(START + 5000)
    assert clock.pending == 0


def test_cancelling_a_timer_from_before_a_reset_leaves_pending_alone() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    old = clock.call_later(1000, lambda: None)
    clock.reset()
    clock.call_later(1000, lambda: None)
    clock.cancel(old)
    assert clock.pending == 1
    assert clock.next_due() == START + 1000


def test_jump_never_goes_backwards_and_past_due_is_clamped_to_now() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    clock.jump_to(START + 5000)
    clock.jump_to(START + 1000)
    assert clock.now_ms == START + 5000
    fired, record = _recorder(clock)
    timer = clock.call_at(START, record, "past")
    assert timer.due == START + 5000
    clock.fire_due()
    assert fired == [("past", START + 5000)]


def test_fire_due_fires_only_what_is_due() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)
    clock.call_later(0, record, "now")
    clock.call_later(1, record, "later")
    assert clock.fire_due() == 1
    assert fired == [("now", START)]
    assert clock.pending == 1
    assert clock.fired == 1


def test_next_due_skips_cancelled_timers() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    first = clock.call_later(100, lambda: None)
    clock.call_later(200, lambda: None)
    clock.cancel(first)
    assert clock.next_due() == START + 200
    assert clock.pending == 1


def test_reset_forgets_timers_and_returns_to_start() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    clock.call_later(100, lambda: None)
    clock.jump_to(START + 50)
    clock.reset()
    assert (clock.now_ms, clock.pending, clock.next_due(), clock.fired) == (START, 0, None, 0)


def test_on_schedule_is_called_for_every_new_timer() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    calls: list[int] = []
    clock.on_schedule = lambda: calls.append(clock.pending)
    clock.call_later(10, lambda: None)
    clock.call_at(START, lambda: None)
    assert calls == [1, 2]


def test_realtime_now_follows_the_wall_times_speed() -> None:
    wall = Wall()
    clock = VirtualClock(START, ClockMode.REALTIME, speed=10.0, wall=wall)
    assert clock.now_ms == START
    wall.t += 1.5
    assert clock.now_ms == START + 15_000
    wall.t += 0.0004
    assert clock.now_ms == START + 15_004


def test_realtime_jump_rebases_the_wall() -> None:
    wall = Wall()
    clock = VirtualClock(START, ClockMode.REALTIME, speed=2.0, wall=wall)
    clock.jump_to(START + 60_000)
    assert clock.now_ms == START + 60_000
    wall.t += 1.0
    assert clock.now_ms == START + 62_000


def test_realtime_timer_sees_its_due_instant_even_when_fired_late() -> None:
    wall = Wall()
    clock = VirtualClock(START, ClockMode.REALTIME, speed=1000.0, wall=wall)
    seen: list[int] = []

    def chain() -> None:
        seen.append(clock.now_ms)
        clock.call_later(3000, lambda: seen.append(clock.now_ms))

    clock.call_later(1000, chain)
    wall.t += 0.0015  # 1.5 virtual seconds: the 1 s timer is half a second late
    clock.fire_due()
    assert seen == [START + 1000]
    assert clock.next_due() == START + 4000  # durations count from the due instant
    assert clock.now_ms == START + 1500  # outside a timer, reads follow the wall again
    wall.t += 0.003
    clock.fire_due()
    assert seen == [START + 1000, START + 4000]


def test_realtime_reset_restarts_from_start() -> None:
    wall = Wall()
    clock = VirtualClock(START, ClockMode.REALTIME, speed=1.0, wall=wall)
    wall.t += 10
    clock.reset()
    assert clock.now_ms == START


def test_iso_formatting_matches_javascript_to_iso_string() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    assert clock.now_iso() == "2026-01-01T09:00:00.000Z"
    assert clock.iso(START + 1) == "2026-01-01T09:00:00.001Z"
    assert clock.iso(START + 61_250) == "2026-01-01T09:01:01.250Z"
    assert clock.iso(START) == format_iso(START)
    assert parse_iso("2026-01-01T09:00:00+00:00") == START
    assert parse_iso("2026-01-01T10:00:00+01:00") == START
    assert parse_iso("2026-01-01T09:00:00") == START
    assert parse_iso(format_iso(START + 999)) == START + 999


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(-2, 2), st.booleans()), min_size=1, max_size=40
    ),
    st.lists(st.integers(0, 60), min_size=1, max_size=5),
)
def test_any_schedule_fires_in_order_and_counts_pending(
    plan: list[tuple[int, int, bool]], jumps: list[int]
) -> None:
    """Random timers (due, priority, cancelled?) and jumps: order and pending always agree with
    a plain sort of what was scheduled."""
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired: list[int] = []
    timers = [
        clock.call_at(START + due, fired.append, i, priority=prio)
        for i, (due, prio, _) in enumerate(plan)
    ]
    for timer, (_, _, cancel) in zip(timers, plan, strict=True):
        if cancel:
            clock.cancel(timer)
    live = sorted((due, prio, i) for i, (due, prio, cancel) in enumerate(plan) if not cancel)
    assert clock.pending == len(live)
    for target in sorted(jumps):
        clock.jump_to(START + target)
        expected = [i for due, _, i in live if due <= target]
        assert fired == expected
        assert clock.pending == len(live) - len(expected)


def test_a_timer_of_the_same_instant_and_a_lower_priority_scheduled_while_firing_goes_next() -> (
    None
):
    """Timers of one instant are kept together: one scheduled meanwhile with a lower priority
    still fires before the rest of that instant's timers of a higher one, as a heap of single
    timers would fire it."""
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)

    def first() -> None:
        record("first")
        clock.call_at(START + 1000, record, "urgent", priority=-1)
        clock.call_at(START + 1000, record, "last")

    clock.call_at(START + 1000, first)
    clock.call_at(START + 1000, record, "second")
    clock.call_at(START + 1000, record, "third")
    clock.jump_to(START + 1000)
    assert [name for name, _ in fired] == ["first", "urgent", "second", "third", "last"]
    assert clock.pending == 0


def test_cancelled_timers_of_an_instant_leave_it_free_for_new_ones() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired, record = _recorder(clock)
    clock.cancel(clock.call_at(START + 1000, record, "gone"))
    assert clock.next_due() is None and clock.pending == 0
    clock.call_at(START + 1000, record, "kept")
    clock.jump_to(START + 2000)
    clock.cancel(clock.call_at(START + 3000, record, "gone too"))
    clock.jump_to(START + 3000)  # passes the instant without asking what is due first
    clock.call_at(START + 3000, record, "kept too")
    clock.jump_to(START + 4000)
    assert [name for name, _ in fired] == ["kept", "kept too"]
