"""In-flight tokens and the clock driver: auto jumps only when idle, manual moves on request."""

from __future__ import annotations

import asyncio

import pytest
from conftest import until

from emulator.sim.activity import Activity
from emulator.sim.clock import ClockMode, VirtualClock, parse_iso
from emulator.sim.driver import ClockDriver, IdleLimitError

START = parse_iso("2026-01-01T09:00:00Z")


# -- Activity ----------------------------------------------------------------------------
def test_tokens_count_up_and_down_and_never_below_zero() -> None:
    activity = Activity()
    activity.acquire()
    activity.acquire(2)
    assert activity.held == 3
    activity.release(2)
    activity.release()
    assert activity.held == 0
    activity.release()
    assert activity.held == 0
    activity.acquire(0)
    activity.release(0)
    assert activity.held == 0


def test_every_change_bumps_the_generation_and_release_stamps_the_time() -> None:
    activity = Activity()
    before = activity.last_release
    g0 = activity.generation
    activity.acquire()
    activity.release()
    assert activity.generation == g0 + 2
    assert activity.last_release >= before


def test_token_context_releases_on_error() -> None:
    activity = Activity()
    with pytest.raises(RuntimeError), activity.token():
        assert activity.held == 1
        raise RuntimeError("boom")
    assert activity.held == 0


async def test_wait_idle_returns_once_every_token_is_released() -> None:
    activity = Activity()
    await asyncio.wait_for(activity.wait_idle(), 1)  # idle already
    activity.acquire(2)
    waiter = asyncio.create_task(activity.wait_idle())
    await asyncio.sleep(0)
    activity.release()
    await asyncio.sleep(0)
    assert not waiter.done()
    activity.release()
    await asyncio.wait_for(waiter, 1)


async def test_reset_wakes_waiters() -> None:
    activity = Activity()
    activity.acquire()
    waiter = asyncio.create_task(activity.wait_idle())
    await asyncio.sleep(0)
    activity.reset()
    await asyncio.wait_for(waiter, 1)
    assert activity.held == 0


# -- auto --------------------------------------------------------------------------------
async def test_auto_jumps_to_each_due_timer_when_idle() -> None:
    clock = VirtualClock(START, ClockMode.AUTO)
    fired: list[int] = []
    clock.call_later(30_000, lambda: fired.append(clock.now_ms))
    clock.call_later(5_000, lambda: fired.append(clock.now_ms))
    async with ClockDriver(clock, Activity(), settle_ms=0).running():
        await until(lambda: len(fired) == 2)
    assert fired == [START + 5_000, START + 30_000]
    assert clock.now_ms == START + 30_000


async def test_auto_holds_time_while_a_token_is_held() -> None:
    clock = VirtualClock(START, ClockMode.AUTO)
    activity = Activity()
    fired: list[int] = []
    activity.acquire()
    clock.call_later(1_000, lambda: fired.append(clock.now_ms))
    async with ClockDriver(clock, activity, settle_ms=0).running():
        for _ in range(50):
            await asyncio.sleep(0)
        assert fired == [] and clock.now_ms == START
        activity.release()
        await until(lambda: fired == [START + 1_000])


async def test_auto_waits_the_settle_window_after_the_last_release() -> None:
    clock = VirtualClock(START, ClockMode.AUTO)
    activity = Activity()
    fired: list[float] = []
    loop = asyncio.get_running_loop()
    async with ClockDriver(clock, activity, settle_ms=50).running():
        activity.acquire()
        clock.call_later(1_000, lambda: fired.append(loop.time()))
        activity.release()
        released = loop.time()
        await until(lambda: bool(fired))
    assert fired[0] - released >= 0.045


async def test_auto_timer_that_takes_a_token_holds_the_next_jump() -> None:
    """A fired timer that starts work (a webhook) keeps later timers waiting until it ends."""
    clock = VirtualClock(START, ClockMode.AUTO)
    activity = Activity()
    order: list[str] = []

    def start_work() -> None:
        order.append("work started")
        activity.acquire()

    clock.call_later(1_000, start_work)
    clock.call_later(2_000, lambda: order.append("next timer"))
    async with ClockDriver(clock, activity, settle_ms=0).running():
        await until(lambda: order == ["work started"])
        for _ in range(50):
            await asyncio.sleep(0)
        assert order == ["work started"] and clock.now_ms == START + 1_000
        order.append("work ended")
        activity.release()
        await until(lambda: len(order) == 3)
    assert order == ["work started", "work ended", "next timer"]


async def test_auto_wakes_for_a_timer_scheduled_while_idle() -> None:
    clock = VirtualClock(START, ClockMode.AUTO)
    fired: list[int] = []
    async with ClockDriver(clock, Activity(), settle_ms=0).running():
        await asyncio.sleep(0.01)
        clock.call_later(60_000, lambda: fired.append(clock.now_ms))
        await until(lambda: bool(fired))
    assert fired == [START + 60_000]


async def test_manual_clock_never_moves_by_itself() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    fired: list[int] = []
    clock.call_later(0, lambda: fired.append(clock.now_ms))
    async with ClockDriver(clock, Activity(), settle_ms=0).running():
        await asyncio.sleep(0.02)
    assert fired == [] and clock.now_ms == START


# -- manual ------------------------------------------------------------------------------
async def test_advance_fires_each_timer_at_its_instant_and_lands_on_the_target() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    driver = ClockDriver(clock, Activity(), settle_ms=0)
    fired: list[int] = []

    def chain() -> None:
        fired.append(clock.now_ms)
        clock.call_later(2_000, lambda: fired.append(clock.now_ms))

    clock.call_later(1_000, chain)
    clock.call_later(10_000, lambda: fired.append(clock.now_ms))
    await driver.advance(5_000)
    assert fired == [START + 1_000, START + 3_000]
    assert clock.now_ms == START + 5_000
    assert clock.pending == 1
    await driver.advance(5_000)
    assert fired[-1] == START + 10_000


async def test_advance_waits_for_work_started_by_a_timer_before_the_next_instant() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    activity = Activity()
    driver = ClockDriver(clock, activity, settle_ms=0)
    order: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        order.append("work done")
        activity.release()

    def start_work() -> None:
        activity.acquire()
        order.append("t1")
        asyncio.get_running_loop().create_task(work())

    clock.call_later(1_000, start_work)
    clock.call_later(2_000, lambda: order.append("t2"))
    await driver.advance(3_000)
    assert order == ["t1", "work done", "t2"]


async def test_run_until_idle_fires_everything_and_counts() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    driver = ClockDriver(clock, Activity(), settle_ms=0)
    for seconds in (1, 5, 3600):
        clock.call_later(seconds * 1000, lambda: None)
    assert await driver.run_until_idle() == 3
    assert clock.now_ms == START + 3_600_000
    assert clock.pending == 0


async def test_run_until_idle_is_guarded_against_endless_timers() -> None:
    clock = VirtualClock(START, ClockMode.MANUAL)
    driver = ClockDriver(clock, Activity(), settle_ms=0)

    def again() -> None:
        clock.call_later(1_000, again)

    clock.call_later(1_000, again)
    with pytest.raises(IdleLimitError):
        await driver.run_until_idle(max_timers=100)


# -- realtime ----------------------------------------------------------------------------
async def test_realtime_fires_timers_as_the_wall_reaches_them() -> None:
    clock = VirtualClock(START, ClockMode.REALTIME, speed=1000.0)
    fired: list[int] = []

    def chain() -> None:
        fired.append(clock.now_ms)
        clock.call_later(5_000, lambda: fired.append(clock.now_ms))

    clock.call_at(START + 2_000, chain)
    async with ClockDriver(clock, Activity(), settle_ms=0).running():
        await until(lambda: len(fired) == 2)
    assert fired == [START + 2_000, START + 7_000]
    assert clock.now_ms >= START + 7_000


async def test_a_failing_timer_is_logged_and_time_keeps_moving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = VirtualClock(START, ClockMode.AUTO)
    fired: list[int] = []

    def broken() -> None:
        raise RuntimeError("a broken callee rule")

    clock.call_later(1_000, broken)
    clock.call_later(1_000, lambda: fired.append(clock.now_ms))
    clock.call_later(2_000, lambda: fired.append(clock.now_ms))
    async with ClockDriver(clock, Activity(), settle_ms=0).running():
        await until(lambda: len(fired) == 2)
    assert fired == [START + 1_000, START + 2_000]
    assert clock.errors == 1
    assert "a broken callee rule" in caplog.text
