"""The broadcast service: call-leg and broadcast state machines driven by the virtual clock.

Every transition of a leg goes through `_set_state`, which checks that it is allowed and emits the
matching event. Callee moves are timers, or triggers of a person playing the callee (`answer`,
`reject`, `press`, `callee_hangup`); the service never reads the wall clock.
"""

from __future__ import annotations

from typing import Any, Protocol

from emulator.domain.behaviour import (
    AttemptPlan,
    Behaviour,
    NextAttempts,
    Outcome,
    Timings,
    tts_seconds,
)
from emulator.domain.bridging import BridgeMoves
from emulator.domain.dialrate import DialBook
from emulator.domain.ids import IdFactory
from emulator.domain.models import (
    Bridge,
    Broadcast,
    BroadcastState,
    CallLeg,
    CreateCommand,
    LegState,
    Play,
    PlaySpec,
    Result,
    Target,
    recipient_numbers,
)
from emulator.domain.person import CalleeWaits, NoWaits, PersonMoves
from emulator.domain.store import Store
from emulator.errors import Conflict
from emulator.sim.clock import Timer, VirtualClock

__all__ = ["BroadcastService", "EventSink"]

_ALLOWED: dict[LegState, frozenset[LegState]] = {
    LegState.INITIATED: frozenset({LegState.RINGING, LegState.DISCONNECTED}),
    LegState.RINGING: frozenset({LegState.CONNECTED, LegState.DISCONNECTED}),
    LegState.CONNECTED: frozenset({LegState.DISCONNECTED}),
    LegState.DISCONNECTED: frozenset(),
}
_RETRIED = {Outcome.BUSY: "Busy", Outcome.NO_ANSWER: "NoAnswer", Outcome.MACHINE: "AMD"}
# a disconnect reason that says how an unanswered attempt failed, whatever its plan was
_REASON_OUTCOME = {
    "busy": Outcome.BUSY,
    "no-answer": Outcome.NO_ANSWER,
    "AMD": Outcome.MACHINE,
    "invalid": Outcome.INVALID,
}
SUCCESS = Result("success", "success")
STOPPED = Result("failed", "Stopped")
INVALID = Result("failed", "Invalid")


class EventSink(Protocol):
    """Where the service reports what happened (the webhook event builders)."""

    def broadcast_initiated(self, broadcast: Broadcast) -> None: ...
    def broadcast_finished(self, broadcast: Broadcast) -> None: ...
    def leg_state(self, leg: CallLeg, state: str, **extra: Any) -> None: ...
    def play_state(self, leg: CallLeg, play: Play, playstate: str, **extra: Any) -> None: ...
    def bridge_state(self, leg: CallLeg, bridge: Bridge, state: str, **extra: Any) -> None: ...


class BroadcastService(PersonMoves, BridgeMoves):
    """Owns every broadcast's and call's state machine; `PersonMoves` adds a person's moves,
    `BridgeMoves` a call's bridges."""

    def __init__(
        self,
        clock: VirtualClock,
        store: Store,
        ids: IdFactory,
        behaviour: Behaviour,
        events: EventSink,
        timings: Timings,
        dial_rate: int = 0,
        waits: CalleeWaits | None = None,
    ) -> None:
        self.clock = clock
        self.store = store
        self.ids = ids
        self.behaviour = behaviour
        self.events = events
        self.timings = timings
        self.waits: CalleeWaits = waits or NoWaits()
        self._dials = DialBook(dial_rate)  # the one owner of the rate
        self.next_attempts = NextAttempts()
        self.live: dict[str, CallLeg] = {}  # calls not disconnected yet, by voice_id
        self.waiting: dict[str, str] = {}  # interactive calls waiting for a person: what for
        self.last_created: Broadcast | None = None  # for the journal to link its create request
        # bound once: a timer per leg holding a bound method of its own was 64 bytes more
        self._make_id = ids.make
        self._dial_cb = self._dial
        self._answer_cb = self._answer
        self._disconnect_cb = self._disconnect
        self._play_ended_cb = self._play_ended
        self._menu_ended_cb = self._menu_ended

    # ---------------------------------------------------------------- broadcasts -------
    def create(self, command: CreateCommand) -> Broadcast:
        now = self.clock.now_ms
        broadcast = Broadcast(self.ids.broadcast(), command, now)
        broadcast.targets = [
            Target(broadcast, index, number)
            for index, number in enumerate(recipient_numbers(command.recipients))
        ]
        broadcast.queued = len(broadcast.targets)
        self.store.add(broadcast)
        self.last_created = broadcast
        self.events.broadcast_initiated(broadcast)
        for target in broadcast.targets:
            target.retry = self._schedule_dial(target, now)
        return broadcast

    def stop(self, broadcast: Broadcast) -> bool:
        """Stop a running broadcast: end live legs, dial nothing more. False if already over."""
        if broadcast.state is not BroadcastState.RUNNING:
            return False
        broadcast.state = BroadcastState.STOPPING
        for target in broadcast.targets:
            if target.result is not None:
                continue
            self.clock.cancel(target.retry)
            leg = target.leg
            if leg is not None and leg.live:
                self._disconnect(leg, "stopped")
            else:
                self._finish(target, STOPPED)
        return True

    def _complete(self, broadcast: Broadcast) -> None:
        stopping = broadcast.state is BroadcastState.STOPPING
        broadcast.state = BroadcastState.STOPPED if stopping else BroadcastState.COMPLETED
        broadcast.ended_ms = self.clock.now_ms
        self.events.broadcast_finished(broadcast)

    # ---------------------------------------------------------------- dialling ---------
    def _schedule_dial(self, target: Target, at_ms: int) -> Timer:
        at_ms = self._dials.book(at_ms, self.clock.now_ms)
        return self.clock.call_at(at_ms, self._dial_cb, target)

    def _dial(self, target: Target) -> None:
        target.retry = None
        broadcast = target.broadcast
        if broadcast.state is not BroadcastState.RUNNING:
            return
        attempt = target.attempts + 1  # counted once its leg is made, below
        if attempt == 1:
            broadcast.queued -= 1
        broadcast.attempts += 1
        broadcast.live_legs += 1
        voice_id = self.voice_id(target, attempt)
        plan = self.behaviour.plan(broadcast.broadcast_id, target.index, target.number, attempt)
        if self.next_attempts:
            plan = self.next_attempts.take(target.number, plan)
        leg = CallLeg(voice_id, target, attempt, plan=plan, started_ms=self.clock.now_ms)
        self.store.legs[voice_id] = leg
        self.live[voice_id] = leg
        target.leg = leg
        broadcast.legs_by_state[LegState.INITIATED] += 1
        self.events.leg_state(leg, LegState.INITIATED.value)
        self._callee_first_move(leg, plan)

    def voice_id(self, target: Target, attempt: int) -> str:
        """The voice_id of `target`'s `attempt`-th call (known before it is dialled)."""
        return self.ids.make("voice", target.broadcast.broadcast_id, target.index, attempt)

    def _callee_first_move(self, leg: CallLeg, plan: AttemptPlan) -> None:
        t = self.timings
        outcome = plan.outcome
        if outcome is Outcome.INVALID:
            self._disconnect(leg, "invalid")
            return
        if outcome is Outcome.BUSY:
            leg.progress = self.clock.call_later(t.busy_s * 1000, self._disconnect_cb, leg, "busy")
            return
        self._set_state(leg, LegState.RINGING)
        if outcome is Outcome.INTERACTIVE:  # rings until a person answers or rejects it
            delay = t.no_answer_s * 1000
            leg.progress = self.clock.call_later(delay, self._disconnect_cb, leg, "no-answer")
            self._wait(leg, "answer")
        elif outcome is Outcome.HUMAN:
            leg.progress = self.clock.call_later(plan.ring_s * 1000, self._answer_cb, leg)
        elif outcome is Outcome.MACHINE:
            delay = (plan.ring_s + t.amd_s) * 1000
            leg.progress = self.clock.call_later(delay, self._disconnect_cb, leg, "AMD")
        else:
            delay = t.no_answer_s * 1000
            leg.progress = self.clock.call_later(delay, self._disconnect_cb, leg, "no-answer")

    def _answer(self, leg: CallLeg) -> None:
        leg.progress = None
        leg.answered = True
        leg.answered_ms = self.clock.now_ms
        self._set_state(leg, LegState.CONNECTED)
        plan = leg.plan
        if plan is not None and plan.hangup_after_s is not None:
            delay = plan.hangup_after_s * 1000
            leg.deadline = self.clock.call_later(delay, self._disconnect_cb, leg, "callee-hangup")
        own = leg.target.own
        spec = (own.play if own is not None else None) or leg.broadcast.command.play
        if spec is not None:
            self._start_play(leg, spec)
        else:
            self._await_callee(leg)

    def _await_callee(self, leg: CallLeg) -> None:
        """Nothing is happening on the call: the callee hangs up after their patience."""
        self.clock.cancel(leg.progress)
        patience = leg.plan.patience_s if leg.plan else self.timings.patience_s
        leg.progress = self.clock.call_later(
            patience * 1000, self._disconnect_cb, leg, "callee-hangup"
        )

    # ---------------------------------------------------------------- leg states -------
    def _set_state(self, leg: CallLeg, state: LegState, **extra: Any) -> None:
        if state not in _ALLOWED[leg.state]:
            raise Conflict(
                f"call is {leg.state.value}; cannot become {state.value}", voice_id=leg.voice_id
            )
        if self.waiting:  # ringing ends by answer or hang-up, a menu by hang-up
            self._unwait(leg)
        counts = leg.target.broadcast.legs_by_state
        counts[leg.state] -= 1
        counts[state] += 1
        leg.state = state
        self.events.leg_state(leg, state.value, **extra)

    def _wait(self, leg: CallLeg, what: str) -> None:
        """An interactive call now waits for a person to `answer` or `press`."""
        self.waiting[leg.voice_id] = what
        self.waits.begin(leg, what)

    def _unwait(self, leg: CallLeg) -> None:
        if self.waiting.pop(leg.voice_id, None) is not None:
            self.waits.end(leg)

    def _disconnect(self, leg: CallLeg, reason: str) -> None:
        if not leg.live:
            return
        for timer in (leg.progress, leg.deadline):
            self.clock.cancel(timer)
        leg.progress = leg.deadline = None
        self._cancel_play(leg)
        bridge = leg.bridge
        if bridge is not None:
            self.clock.cancel(bridge.timer)
            if bridge.state == "bridged":
                bridge.state = "bridge_disconnected"
                self.events.bridge_state(leg, bridge, "bridge_disconnected", reason=reason)
            leg.bridge = None
        leg.reason = reason
        leg.ended_ms = self.clock.now_ms
        self._set_state(leg, LegState.DISCONNECTED, reason=reason, disconnect_reason=reason)
        live = self.live
        live.pop(leg.voice_id, None)
        if not live:
            self.live = {}  # a dict never shrinks: let the peak's table go
        leg.broadcast.live_legs -= 1
        self._after_attempt(leg)

    def _after_attempt(self, leg: CallLeg) -> None:
        target = leg.target
        if leg.answered:
            self._finish(target, SUCCESS)
            return
        if target.result is not None:
            return
        planned = leg.plan.outcome if leg.plan else Outcome.INVALID
        outcome = _REASON_OUTCOME.get(leg.reason, planned)  # a person's reject says how
        if leg.reason != "stopped" and outcome in _RETRIED:
            self._retry_or_fail(target, Result("failed", _RETRIED[outcome]))
        else:
            self._finish(target, INVALID if outcome is Outcome.INVALID else STOPPED)

    def _retry_or_fail(self, target: Target, failure: Result) -> None:
        command = target.broadcast.command
        running = target.broadcast.state is BroadcastState.RUNNING
        if running and target.attempts < command.max_attempts:
            at = self.clock.now_ms + command.retry_interval_ms
            target.retry = self._schedule_dial(target, at)
        else:
            self._finish(target, failure)

    def _finish(self, target: Target, result: Result) -> None:
        target.result = result
        broadcast = target.broadcast
        if target.attempts == 0:
            broadcast.queued -= 1
        broadcast.tally(result)
        if broadcast.all_finished:
            self._complete(broadcast)

    # ---------------------------------------------------------------- app control ------
    def leg(self, voice_id: str) -> CallLeg:
        return self.store.leg(voice_id)

    def _require_connected(self, leg: CallLeg, action: str) -> None:
        if leg.state is not LegState.CONNECTED:
            raise Conflict(
                f"cannot {action}: call is {leg.state.value}",
                voice_id=leg.voice_id,
                app_instance=leg.broadcast.broadcast_id,
            )

    def play(self, leg: CallLeg, spec: PlaySpec) -> Play:
        self._require_connected(leg, "play")
        if leg.bridge is not None:
            raise Conflict("cannot play: call is bridged", voice_id=leg.voice_id)
        return self._start_play(leg, spec)

    def _start_play(self, leg: CallLeg, spec: PlaySpec) -> Play:
        self._cancel_play(leg)
        self.clock.cancel(leg.progress)
        leg.progress = None
        leg.plays += 1
        seconds = self._prompt_seconds(spec)
        play = Play(self._make_id, leg, leg.plays, spec)
        leg.play = play
        self.events.play_state(leg, play, "initiated")
        if seconds is None:
            leg.play = None
            name = spec.prompt_name or spec.prompt_ref
            self.events.play_state(leg, play, "failederror", description=f"unknown prompt {name}")
            self._await_callee(leg)
        else:
            play.timer = self.clock.call_later(seconds * 1000, self._play_ended_cb, play)
        return play

    def _prompt_seconds(self, spec: PlaySpec) -> int | None:
        if spec.text is not None and spec.prompt_name is None:
            return tts_seconds(spec.text, self.timings.words_per_minute)
        name = spec.prompt_name or spec.prompt_ref or ""
        return self.behaviour.prompt_seconds(name)

    def _cancel_play(self, leg: CallLeg) -> None:
        if leg.play is not None:
            self.clock.cancel(leg.play.timer)
            leg.play = None
            if self.waiting:
                self._unwait(leg)

    def _play_ended(self, play: Play) -> None:
        leg = play.leg  # one timer argument, not two: 16 bytes a call while its prompt plays
        play.timer = None
        if not play.spec.dtmf:
            leg.play = None
            self.events.play_state(leg, play, "playfinished")
            self._await_callee(leg)
            return
        plan = leg.plan
        interactive = plan is not None and plan.outcome is Outcome.INTERACTIVE
        digits = plan.digits_at(leg.menus) if plan is not None and not interactive else None
        leg.menus += 1
        leg.menu_ms = self.clock.now_ms
        play.waiting_digits = True
        if digits:
            delay = (leg.plan.press_after_s if leg.plan else 1) * 1000
            play.timer = self.clock.call_later(delay, self._menu_ended_cb, leg, play, digits)
        else:
            delay = self.timings.menu_timeout_s * 1000
            play.timer = self.clock.call_later(delay, self._menu_ended_cb, leg, play, None)
            if interactive:
                self._wait(leg, "press")

    def _menu_ended(self, leg: CallLeg, play: Play, digits: str | None) -> None:
        leg.play = None
        play.waiting_digits = False
        if self.waiting:
            self._unwait(leg)
        if digits:
            self.events.play_state(leg, play, "digitcollected", digit=digits, digits=digits)
        else:
            self.events.play_state(leg, play, "menutimeout")
        self._await_callee(leg)

    def hangup(self, leg: CallLeg) -> None:
        if not leg.live:
            raise Conflict(
                "call has already ended",
                voice_id=leg.voice_id,
                app_instance=leg.broadcast.broadcast_id,
            )
        self._disconnect(leg, "app-hangup")

    # ---------------------------------------------------------------- reset ------------
    def reset(self) -> None:
        self.store.clear()
        self.ids.reset()
        self._dials.clear()
        self.next_attempts.clear()
        self.live.clear()
        self.waiting.clear()
        self.last_created = None
