"""The broadcast and call-leg state machines, driven by a manual clock and a recording sink."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain.behaviour import MagicNumbers, Timings, tts_seconds
from emulator.domain.dialrate import DialBook
from emulator.domain.ids import IdFactory
from emulator.domain.models import (
    Bridge,
    Broadcast,
    CallLeg,
    CreateCommand,
    Play,
    PlaySpec,
    Recipient,
)
from emulator.domain.service import BroadcastService
from emulator.domain.store import Store
from emulator.errors import Conflict, NotFound
from emulator.sim.clock import ClockMode, VirtualClock, parse_iso

START = parse_iso("2026-01-01T09:00:00Z")
HELLO = PlaySpec(text="Hello from the emulator", voice="female", language="en-US", prompt_ref="1")
FAR = 24 * 3600 * 1000


@dataclass
class Sink:
    """Records every event the service reports, with the virtual second it happened at."""

    clock: VirtualClock
    events: list[tuple[Any, ...]] = field(default_factory=list)
    finished: list[Broadcast] = field(default_factory=list)

    def _t(self) -> int:
        return (self.clock.now_ms - START) // 1000

    def broadcast_initiated(self, broadcast: Broadcast) -> None:
        self.events.append(("broadcast", "initiated", self._t()))

    def broadcast_finished(self, broadcast: Broadcast) -> None:
        self.finished.append(broadcast)
        self.events.append(("broadcast", broadcast.state.value, self._t()))

    def leg_state(self, leg: CallLeg, state: str, **extra: Any) -> None:
        self.events.append((leg.target.number, leg.attempt, state, self._t(), extra.get("reason")))

    def play_state(self, leg: CallLeg, play: Play, playstate: str, **extra: Any) -> None:
        digit = extra.get("digit")
        self.events.append((leg.target.number, leg.attempt, "play:" + playstate, self._t(), digit))

    def bridge_state(self, leg: CallLeg, bridge: Bridge, state: str, **extra: Any) -> None:
        self.events.append((leg.target.number, leg.attempt, "bridge:" + state, self._t(), None))

    def of(self, number: str) -> list[tuple[Any, ...]]:
        return [e[1:] for e in self.events if e[0] == number]


@dataclass
class World:
    clock: VirtualClock
    sink: Sink
    service: BroadcastService
    store: Store

    def run(self, ms: int = FAR) -> None:
        self.clock.jump_to(self.clock.now_ms + ms)

    def at(self, seconds: int) -> None:
        self.clock.jump_to(START + seconds * 1000)


def make_world(dial_rate: int = 0, seed: int = 0) -> World:
    clock = VirtualClock(START, ClockMode.MANUAL)
    sink = Sink(clock)
    store = Store()
    timings = Timings()
    service = BroadcastService(
        clock, store, IdFactory(seed), MagicNumbers(timings), sink, timings, dial_rate
    )
    return World(clock, sink, service, store)


def command(
    *numbers: str,
    play: PlaySpec | None = HELLO,
    interval_ms: int = 5000,
    attempts: int = 4,
) -> CreateCommand:
    return CreateCommand(
        name="test",
        owner_ref="xyz",
        from_number="919999999999",
        recipients=tuple(Recipient(n) for n in numbers),
        play=play,
        retry_interval_ms=interval_ms,
        max_attempts=attempts,
        event_url="http://127.0.0.1:1/event",
        call_handler_url=None,
        family="documented",
        completion_state=None,
    )


def live_leg(w: World, broadcast: Broadcast, seconds: int) -> CallLeg:
    """The first number's current call leg, with the clock moved to `seconds`."""
    w.at(seconds)
    leg = broadcast.targets[0].leg
    assert leg is not None
    return leg


def result(broadcast: Broadcast, index: int = 0) -> tuple[str, str] | None:
    r = broadcast.targets[index].result
    return None if r is None else (r.code, r.reason)


# -- person ------------------------------------------------------------------------------
def test_person_hears_the_prompt_and_hangs_up_ten_seconds_after_it() -> None:
    w = make_world()
    b = w.service.create(command("15551234567"))
    w.run()
    # "Hello from the emulator": 4 words at 2.5 words/s = 1.6 s -> 2 whole seconds
    assert w.sink.of("15551234567") == [
        (1, "initiated", 0, None),
        (1, "ringing", 0, None),
        (1, "connected", 3, None),
        (1, "play:initiated", 3, None),
        (1, "play:playfinished", 5, None),
        (1, "disconnected", 15, "callee-hangup"),
    ]
    assert result(b) == ("success", "success")
    assert w.sink.events[0] == ("broadcast", "initiated", 0)
    assert w.sink.events[-1] == ("broadcast", "completed", 15)
    assert (b.successful, b.failed, b.finished, b.live_legs) == (1, 0, 1, 0)


def test_person_without_action_on_connect_hangs_up_ten_seconds_after_connected() -> None:
    w = make_world()
    w.service.create(command("15551234567", play=None))
    w.run()
    assert [e[1:3] for e in w.sink.of("15551234567")] == [
        ("initiated", 0),
        ("ringing", 0),
        ("connected", 3),
        ("disconnected", 13),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("Hi", 1), ("one two", 1), ("one two three", 2), ("a b c d e", 2), ("a b c d e f", 3)],
)
def test_tts_lasts_one_second_per_two_and_a_half_words(text: str, seconds: int) -> None:
    assert tts_seconds(text, Timings().words_per_minute) == seconds
    w = make_world()
    w.service.create(command("15551234567", play=PlaySpec(text=text)))
    w.run()
    plays = [e for e in w.sink.of("15551234567") if e[1].startswith("play:")]
    assert [e[2] for e in plays] == [3, 3 + seconds]


@pytest.mark.parametrize(
    "spec", [PlaySpec(prompt_name="welcome"), PlaySpec(prompt_ref="1")], ids=["name", "ref"]
)
def test_named_prompts_last_five_seconds(spec: PlaySpec) -> None:
    w = make_world()
    w.service.create(command("15551234567", play=spec))
    w.run()
    times = {e[1]: e[2] for e in w.sink.of("15551234567")}
    assert times["play:initiated"] == 3
    assert times["play:playfinished"] == 8
    assert times["disconnected"] == 18


# -- failures and retries ------------------------------------------------------------------
def test_busy_every_attempt_is_retried_interval_after_each_attempt_ended() -> None:
    w = make_world()
    b = w.service.create(command("15550000001"))
    w.run()
    events = w.sink.of("15550000001")
    assert [e[:2] for e in events] == [
        (a, s) for a in (1, 2, 3, 4) for s in ("initiated", "disconnected")
    ]
    starts = [e[2] for e in events if e[1] == "initiated"]
    ends = [e[2] for e in events if e[1] == "disconnected"]
    assert all(e[3] == "busy" for e in events if e[1] == "disconnected")
    assert [s - e for s, e in zip(starts[1:], ends, strict=False)] == [5, 5, 5]
    assert result(b) == ("failed", "Busy")
    voice_ids = {leg.voice_id for leg in w.store.legs.values()}
    assert len(voice_ids) == 4


def test_no_answer_rings_thirty_seconds_every_attempt() -> None:
    w = make_world()
    b = w.service.create(command("15550000002", attempts=2, interval_ms=7000))
    w.run()
    assert w.sink.of("15550000002") == [
        (1, "initiated", 0, None),
        (1, "ringing", 0, None),
        (1, "disconnected", 30, "no-answer"),
        (2, "initiated", 37, None),
        (2, "ringing", 37, None),
        (2, "disconnected", 67, "no-answer"),
    ]
    assert result(b) == ("failed", "NoAnswer")


def test_answering_machine_never_connects_and_is_retried() -> None:
    w = make_world()
    b = w.service.create(command("15550000003", attempts=2))
    w.run()
    events = w.sink.of("15550000003")
    assert [e[:2] for e in events] == [
        (1, "initiated"),
        (1, "ringing"),
        (1, "disconnected"),
        (2, "initiated"),
        (2, "ringing"),
        (2, "disconnected"),
    ]
    assert {e[3] for e in events if e[1] == "disconnected"} == {"AMD"}
    assert result(b) == ("failed", "AMD")


def test_invalid_number_fails_at_once_and_is_not_retried() -> None:
    w = make_world()
    b = w.service.create(command("15550000004"))
    w.run()
    assert w.sink.of("15550000004") == [
        (1, "initiated", 0, None),
        (1, "disconnected", 0, "invalid"),
    ]
    assert result(b) == ("failed", "Invalid")
    assert b.targets[0].attempts == 1


def test_busy_then_person_succeeds_on_the_second_attempt() -> None:
    w = make_world()
    b = w.service.create(command("15550000005"))
    w.run()
    assert [e[:3] for e in w.sink.of("15550000005")][:6] == [
        (1, "initiated", 0),
        (1, "disconnected", 1),
        (2, "initiated", 6),
        (2, "ringing", 6),
        (2, "connected", 9),
        (2, "play:initiated", 9),
    ]
    assert result(b) == ("success", "success")
    assert b.targets[0].attempts == 2


def test_zero_retries_means_one_attempt() -> None:
    w = make_world()
    b = w.service.create(command("15550000001", attempts=1))
    w.run()
    assert [e[1] for e in w.sink.of("15550000001")] == ["initiated", "disconnected"]
    assert result(b) == ("failed", "Busy")


def test_menu_caller_presses_one_a_second_after_the_menu_prompt() -> None:
    w = make_world()
    w.service.create(command("15550000006", play=PlaySpec(text="Press one", dtmf=True)))
    w.run()
    assert w.sink.of("15550000006")[2:] == [
        (1, "connected", 3, None),
        (1, "play:initiated", 3, None),
        (1, "play:digitcollected", 5, "1"),  # prompt 1 s, press 1 s later
        (1, "disconnected", 15, "callee-hangup"),
    ]


def test_menu_times_out_ten_seconds_after_the_prompt_for_a_person() -> None:
    w = make_world()
    w.service.create(command("15551234567", play=PlaySpec(text="Press one", dtmf=True)))
    w.run()
    assert w.sink.of("15551234567")[3:] == [
        (1, "play:initiated", 3, None),
        (1, "play:menutimeout", 14, None),
        (1, "disconnected", 24, "callee-hangup"),
    ]


def test_numbers_are_dialled_in_parallel_and_the_broadcast_completes_once() -> None:
    w = make_world()
    numbers = [f"1555000000{i}" for i in range(1, 7)] + ["15551234567"]
    b = w.service.create(command(*numbers))
    w.at(0)
    assert [e[0] for e in w.sink.events if e[2:3] == ("initiated",)] == numbers
    w.run()
    assert len(w.sink.finished) == 1
    assert (b.successful, b.failed) == (3, 4)
    assert b.state.value == "completed"
    assert b.ended_ms == START + 135_000  # the last no-answer attempt: 3 x (30 + 5) + 30
    assert w.clock.pending == 0


# -- stop --------------------------------------------------------------------------------
def test_stop_ends_live_legs_dials_nothing_more_and_completes() -> None:
    w = make_world()
    b = w.service.create(command("15551234567", "15550000001", "15550000002"))
    w.at(4)  # person connected; busy number waiting for its retry at 6; no-answer ringing
    assert [t.state for t in b.targets] == ["connected", "retrying", "ringing"]
    assert w.service.stop(b) is True
    assert w.sink.of("15551234567")[-1] == (1, "disconnected", 4, "stopped")
    assert w.sink.of("15550000002")[-1] == (1, "disconnected", 4, "stopped")
    assert b.state.value == "stopped"
    assert w.sink.events[-1] == ("broadcast", "stopped", 4)
    assert result(b, 0) == ("success", "success")
    assert result(b, 1) == ("failed", "Stopped")
    assert result(b, 2) == ("failed", "Stopped")
    count = len(w.sink.events)
    w.run()
    assert len(w.sink.events) == count  # nothing dialled, nothing ended later
    assert w.clock.pending == 0
    assert w.service.stop(b) is False
    assert len(w.sink.events) == count and len(w.sink.finished) == 1


def test_stop_after_completion_changes_nothing() -> None:
    w = make_world()
    b = w.service.create(command("15550000004"))
    w.run()
    assert w.service.stop(b) is False
    assert b.state.value == "completed"


# -- app control -------------------------------------------------------------------------
def test_app_hangup_ends_a_connected_call_and_a_second_hangup_conflicts() -> None:
    w = make_world()
    b = w.service.create(command("15551234567"))
    leg = live_leg(w, b, 4)
    w.service.hangup(leg)
    assert w.sink.of("15551234567")[-1] == (1, "disconnected", 4, "app-hangup")
    with pytest.raises(Conflict):
        w.service.hangup(leg)
    w.run()
    assert result(b) == ("success", "success")


def test_play_replaces_the_current_prompt_and_resets_patience() -> None:
    w = make_world()
    b = w.service.create(command("15551234567"))
    leg = live_leg(w, b, 4)  # the 2 s greeting plays from 3 to 5
    w.service.play(leg, PlaySpec(prompt_name="offer"))
    w.run()
    assert w.sink.of("15551234567")[3:] == [
        (1, "play:initiated", 3, None),
        (1, "play:initiated", 4, None),
        (1, "play:playfinished", 9, None),
        (1, "disconnected", 19, "callee-hangup"),
    ]


def test_play_on_a_call_that_is_not_connected_conflicts() -> None:
    w = make_world()
    b = w.service.create(command("15550000002"))
    leg = live_leg(w, b, 1)
    with pytest.raises(Conflict):
        w.service.play(leg, HELLO)


def test_bridge_to_a_person_then_the_target_hangs_up_after_sixty_seconds() -> None:
    w = make_world()
    b = w.service.create(command("15551234567", play=None))
    leg = live_leg(w, b, 5)
    w.service.bridge(leg, "919999999999", "15557654321")
    w.run()
    assert w.sink.of("15551234567")[3:] == [
        (1, "bridge:bridging", 5, None),
        (1, "bridge:bridged", 8, None),
        (1, "bridge:bridge_disconnected", 68, None),
        (1, "disconnected", 78, "callee-hangup"),
    ]


def test_bridge_to_a_busy_target_fails() -> None:
    w = make_world()
    b = w.service.create(command("15551234567", play=None))
    leg = live_leg(w, b, 5)
    w.service.bridge(leg, "919999999999", "15550000001")
    w.run()
    assert [e[1] for e in w.sink.of("15551234567")][3:] == [
        "bridge:bridging",
        "bridge:bridge_failed",
        "disconnected",
    ]


def test_unknown_calls_are_not_found() -> None:
    w = make_world()
    with pytest.raises(NotFound):
        w.service.leg("no-such-call")
    with pytest.raises(NotFound):
        w.store.broadcast("no-such-broadcast")


# -- dial rate ---------------------------------------------------------------------------
def test_dial_rate_spreads_new_attempts_over_virtual_seconds() -> None:
    w = make_world(dial_rate=2)
    numbers = [f"155512345{i:02d}" for i in range(5)]
    w.service.create(command(*numbers, play=None))
    w.run()
    dialled = [e[2] for e in w.sink.events if len(e) == 5 and e[2] == "initiated"]
    times = [e[3] for e in w.sink.events if len(e) == 5 and e[2] == "initiated"]
    assert len(dialled) == 5
    assert times == [0, 0, 1, 1, 2]


def test_dial_rate_counts_per_second_and_a_late_retry_blocks_nothing_earlier() -> None:
    w = make_world(dial_rate=1)
    w.service.create(command("15550000001", attempts=2, interval_ms=30_000))
    w.at(2)  # the busy attempt ended at 1 and booked its retry at 31
    w.service.create(command("15551234567"))
    w.run()
    assert w.sink.of("15551234567")[0] == (1, "initiated", 2, None)
    assert w.sink.of("15550000001")[2] == (2, "initiated", 31, None)


def test_dial_rate_dials_mid_second_when_that_second_has_room() -> None:
    w = make_world(dial_rate=1)
    w.clock.jump_to(START + 1500)
    w.service.create(command("15551234567", "15551234568"))
    w.run()
    times_ms = sorted(leg.started_ms - START for leg in w.store.legs.values())
    assert times_ms == [1500, 2000]


# -- ids ---------------------------------------------------------------------------------
def test_ids_come_from_the_seed() -> None:
    def ids(seed: int) -> list[str]:
        w = make_world(seed=seed)
        b = w.service.create(command("15550000005", "15551234567"))
        w.run()
        return [b.broadcast_id, *sorted(w.store.legs)]

    assert ids(7) == ids(7)
    assert set(ids(7)).isdisjoint(ids(8))


def test_reset_forgets_everything_and_restarts_ids() -> None:
    w = make_world()
    first = w.service.create(command("15551234567")).broadcast_id
    w.service.reset()
    assert not w.store.broadcasts and not w.store.legs
    w.clock.reset()
    assert w.service.create(command("15551234567")).broadcast_id == first


def test_a_scenario_timing_change_reaches_the_legs() -> None:
    timings = replace(Timings(), ring_s=7)
    clock = VirtualClock(START, ClockMode.MANUAL)
    sink = Sink(clock)
    service = BroadcastService(clock, Store(), IdFactory(0), MagicNumbers(timings), sink, timings)
    service.create(command("15551234567", play=None))
    clock.jump_to(START + FAR)
    assert sink.of("15551234567")[2] == (1, "connected", 7, None)


def test_dial_book_handles_a_million_numbers_in_order() -> None:
    book = DialBook(10)
    slots = [book.book(START, START) for _ in range(100_000)]
    assert slots[:11] == [START] * 10 + [START + 1000]
    assert slots[-1] == START + 9_999_000
    assert slots == sorted(slots)
    assert DialBook(0).book(START + 1, START) == START + 1


_TAILS = ["0001", "0002", "0003", "0004", "0005", "0006", "4567"]
_STARTS = {"initiated"}
_NEXT = {
    "initiated": {"ringing", "disconnected"},
    "ringing": {"connected", "disconnected"},
    "connected": {"disconnected"},
}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(_TAILS), min_size=1, max_size=8),
    st.integers(0, 4),
    st.integers(0, 40),
    st.integers(0, 3),
    st.one_of(st.none(), st.integers(0, 200)),
    st.booleans(),
)
def test_any_broadcast_ends_once_with_consistent_counts(
    tails: list[str],
    retries: int,
    interval_s: int,
    dial_rate: int,
    stop_at: int | None,
    with_play: bool,
) -> None:
    w = make_world(dial_rate=dial_rate)
    numbers = [f"1555{i:03d}{tail}" for i, tail in enumerate(tails)]
    b = w.service.create(
        command(
            *numbers,
            play=HELLO if with_play else None,
            interval_ms=interval_s * 1000,
            attempts=retries + 1,
        )
    )
    if stop_at is not None:
        w.at(stop_at)
        w.service.stop(b)
    w.run()
    assert len(w.sink.finished) == 1
    assert b.successful + b.failed == b.finished == len(numbers)
    assert b.live_legs == 0 and w.clock.pending == 0
    for target in b.targets:
        assert target.result is not None
        assert 0 <= target.attempts <= retries + 1
    for number in set(numbers):
        state: dict[int, str] = {}
        for attempt, event, *_ in w.sink.of(number):
            if event.startswith("play:") or event.startswith("bridge:"):
                assert state[attempt] == "connected"
                continue
            previous = state.get(attempt)
            assert event in (_NEXT[previous] if previous else _STARTS), (number, attempt, event)
            state[attempt] = event
        assert set(state.values()) <= {"disconnected"}
    assert w.sink.events[-1] == ("broadcast", b.state.value, (b.ended_ms - START) // 1000)
