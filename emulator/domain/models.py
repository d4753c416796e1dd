"""Plain domain objects: broadcasts, the numbers they dial, call legs, plays and bridges."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from emulator.domain.behaviour import AttemptPlan
from emulator.domain.rare import LegRare, Rare
from emulator.sim.clock import Timer

__all__ = [
    "Bridge",
    "Broadcast",
    "BroadcastState",
    "CallLeg",
    "CreateCommand",
    "LegState",
    "Play",
    "PlaySpec",
    "Recipient",
    "Recipients",
    "Result",
    "Target",
    "recipient_numbers",
]


class LegState(enum.StrEnum):
    INITIATED = "initiated"
    RINGING = "ringing"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class BroadcastState(enum.StrEnum):
    RUNNING = "running"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class PlaySpec:
    """A prompt to play: TTS text or a named prompt, optionally a DTMF menu."""

    text: str | None = None
    voice: str | None = None
    language: str | None = None
    prompt_name: str | None = None
    prompt_ref: str | None = None
    dtmf: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    number: str
    play: PlaySpec | None = None
    custom_data: Any = None


class Recipients(Sequence[Recipient]):
    """The numbers of a create request, in order: a plain number is kept as its string, and a
    `Recipient` is made when one is read (one each was 56 bytes a number, a million of them
    for a million-number campaign); only recipients with a play or data of their own are kept
    as such."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Recipient | str]) -> None:
        self._items = [
            item.number if isinstance(item, Recipient) and _plain(item) else item for item in items
        ]

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Recipient: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Recipient, ...]: ...
    def __getitem__(self, index: int | slice) -> Recipient | tuple[Recipient, ...]:
        if isinstance(index, slice):
            return tuple(_recipient(item) for item in self._items[index])
        return _recipient(self._items[index])

    def special(self, index: int) -> Recipient | None:
        """The `index`-th recipient if it has a play or data of its own (nothing is made)."""
        item = self._items[index]
        return None if isinstance(item, str) else item

    def numbers(self) -> list[str]:
        return [item if isinstance(item, str) else item.number for item in self._items]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Recipients):
            return self._items == other._items
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Recipients({len(self._items)} numbers)"


def _plain(recipient: Recipient) -> bool:
    return recipient.play is None and recipient.custom_data is None


def _recipient(item: Recipient | str) -> Recipient:
    return Recipient(item) if isinstance(item, str) else item


def recipient_numbers(recipients: Sequence[Recipient]) -> list[str]:
    """The numbers of `recipients`, without making a `Recipient` for each."""
    if isinstance(recipients, Recipients):
        return recipients.numbers()
    return [recipient.number for recipient in recipients]


@dataclass(frozen=True, slots=True)
class CreateCommand:
    """The one canonical create request every dialect is normalised into."""

    name: str
    owner_ref: str | None
    from_number: str
    recipients: Sequence[Recipient]  # `Recipients` from a request
    play: PlaySpec | None
    retry_interval_ms: int
    max_attempts: int
    event_url: str
    call_handler_url: str | None
    family: str
    completion_state: str | None
    custom_data: Any = None


@dataclass(frozen=True, slots=True)
class Result:
    code: str  # "success" | "failed"
    reason: str  # "success", "Busy", "NoAnswer", "AMD", "Invalid", "Stopped"

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


class Play:
    """A prompt playing on a call. Its id is made when first read: at a campaign's busiest
    instant every number hears its prompt, and an id string each was 85 bytes (so was every
    field more than five: the id slot holds the maker until the id is made)."""

    __slots__ = ("_id", "leg", "n", "spec", "timer", "waiting_digits")

    def __init__(self, make_id: Callable[..., str], leg: CallLeg, n: int, spec: PlaySpec) -> None:
        self._id: str | Callable[..., str] = make_id  # `IdFactory.make`, shared by every play
        self.leg = leg
        self.n = n  # the call's n-th play
        self.spec = spec
        self.timer: Timer | None = None
        self.waiting_digits = False  # a menu's prompt has ended: the callee may press now

    @property
    def play_id(self) -> str:
        made = self._id
        if not isinstance(made, str):
            made = self._id = made("play", self.leg.voice_id, self.n)
        return made


@dataclass(slots=True, eq=False)
class Bridge:
    bridge_id: str
    from_number: str
    to: str
    state: str = "bridging"
    timer: Timer | None = None


class CallLeg:
    """One attempt to call one number: a call with its own voice_id."""

    __slots__ = (
        "_rare",
        "answered",
        "answered_ms",
        "attempt",
        "ended_ms",
        "plan",
        "play",
        "plays",
        "progress",
        "reason",
        "started_ms",
        "state",
        "target",
        "voice_id",
    )

    menus = Rare(0)
    bridges = Rare(0)
    bridge: Rare[Bridge | None] = Rare(None)
    deadline: Rare[Timer | None] = Rare(None)  # a callee who hangs up at a fixed time
    menu_ms: Rare[int | None] = Rare(None)  # when the last menu's prompt ended (timeline)

    def __init__(
        self,
        voice_id: str,
        target: Target,
        attempt: int,
        state: LegState = LegState.INITIATED,
        plan: AttemptPlan | None = None,
        started_ms: int = 0,
    ) -> None:
        self.voice_id = voice_id
        self.target = target
        self.attempt = attempt
        self.state = state
        self.plan = plan
        self.answered = False
        self.reason = ""
        self.plays = 0
        self.play: Play | None = None
        self.progress: Timer | None = None  # the callee's next move (answer, busy, hang up...)
        self.started_ms = started_ms
        self.ended_ms: int | None = None
        # when the callee answered, for the timeline (legs of one instant share its int)
        self.answered_ms: int | None = None
        self._rare: LegRare | None = None

    def __repr__(self) -> str:
        return f"CallLeg({self.voice_id!r}, attempt {self.attempt}, {self.state.value})"

    @property
    def broadcast(self) -> Broadcast:
        return self.target.broadcast

    @property
    def live(self) -> bool:
        return self.state is not LegState.DISCONNECTED


@dataclass(slots=True, eq=False)
class Target:
    """One number of a broadcast, across all its attempts."""

    broadcast: Broadcast
    index: int
    number: str
    leg: CallLeg | None = None  # its last call
    result: Result | None = None
    retry: Timer | None = None

    @property
    def attempts(self) -> int:
        """Calls made to it so far: its last call's attempt (no field of its own: with six, a
        target takes 80 bytes, not 96, and a campaign has one per number)."""
        leg = self.leg
        return 0 if leg is None else leg.attempt

    @property
    def recipient(self) -> Recipient:
        return self.broadcast.command.recipients[self.index]

    @property
    def own(self) -> Recipient | None:
        """Its recipient if that has a play or custom data of its own, else None (read for
        every event: a plain number's `Recipient` is not made for it)."""
        recipients = self.broadcast.command.recipients
        if isinstance(recipients, Recipients):
            return recipients.special(self.index)
        return recipients[self.index]

    @property
    def state(self) -> str:
        if self.leg is None:
            return "queued" if self.result is None else LegState.DISCONNECTED.value
        if self.result is None and not self.leg.live:
            return "retrying"
        return self.leg.state.value


@dataclass(slots=True, eq=False)
class Broadcast:
    broadcast_id: str
    command: CreateCommand
    created_ms: int
    state: BroadcastState = BroadcastState.RUNNING
    targets: list[Target] = field(default_factory=list)
    finished: int = 0
    successful: int = 0
    failed: int = 0
    live_legs: int = 0
    attempts: int = 0
    ended_ms: int | None = None
    outstanding: int = 0  # per-call webhooks not yet delivered or given up
    completion_sent: bool = False
    queued: int = 0  # numbers not dialled yet (and not finished)
    legs_by_state: dict[LegState, int] = field(default_factory=lambda: dict.fromkeys(LegState, 0))
    by_result: dict[str, int] = field(default_factory=dict)  # finished numbers per result reason
    journal_id: int | None = None  # the journal entry of the request that created it

    @property
    def name(self) -> str:
        return self.command.name

    def tally(self, result: Result) -> None:
        """Count a number that has finished with `result`."""
        self.finished += 1
        self.by_result[result.reason] = self.by_result.get(result.reason, 0) + 1
        if result.code == "success":
            self.successful += 1
        else:
            self.failed += 1

    @property
    def all_finished(self) -> bool:
        return self.finished == len(self.targets)

    @property
    def per_call_url(self) -> str:
        return self.command.call_handler_url or self.command.event_url

    def by_state(self) -> dict[str, int]:
        """Numbers per current state (`Target.state`), from counters: no walk over the targets."""
        counts = self.legs_by_state
        live = counts[LegState.INITIATED] + counts[LegState.RINGING] + counts[LegState.CONNECTED]
        return {
            "queued": self.queued,
            "initiated": counts[LegState.INITIATED],
            "ringing": counts[LegState.RINGING],
            "connected": counts[LegState.CONNECTED],
            "retrying": max(0, len(self.targets) - self.queued - self.finished - live),
            "disconnected": self.finished,
        }

    def results(self) -> dict[str, int]:
        """Finished numbers per result reason (recounted once for a restored broadcast)."""
        if sum(self.by_result.values()) != self.finished:
            counts: dict[str, int] = {}
            for target in self.targets:
                if target.result is not None:
                    reason = target.result.reason
                    counts[reason] = counts.get(reason, 0) + 1
            self.by_result = counts
        return dict(self.by_result)

    def progress(self) -> dict[str, int]:
        return {
            "total": len(self.targets),
            "finished": self.finished,
            "in_progress": self.live_legs,
            "pending": len(self.targets) - self.finished,
            "successful": self.successful,
            "failed": self.failed,
            "attempts": self.attempts,
        }
