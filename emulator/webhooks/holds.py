"""Who holds a world's clock: receivers in an outage, and receivers slow to answer.

An outage (CONTRACT §11) is one receiver (scheme, host, port) that cannot be reached: the first
delivery that meets it keeps retrying in real time, with the clock held, until the receiver
answers or `window_s` has passed; other deliveries to it wait, parked, without sending. A window
that passes with the receiver still down leaves the outage `expired`: from then on deliveries to
it fail and back off on the virtual clock as usual, and no new window opens until the receiver
answers something again.

`Holds` also says which receivers hold the clock and since when (`rows`), and writes it to the
serve log once a receiver has held it for `announce_s`, and again when it lets go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["ANNOUNCE_S", "CHECK_S", "WAITING_S", "Holds", "Outage", "Outages"]

log = logging.getLogger("emulator.webhooks")

WAITING_S = 1.0  # an attempt waiting longer than this for its answer is said to hold the clock
ANNOUNCE_S = 2.0  # a receiver holding the clock longer than this is written to the serve log
CHECK_S = 0.5  # how often the holders are looked at while anything is in flight
_MAX_RECORDS = 1024  # receivers remembered as down (a run sends to a handful)

Key = tuple[str, str, int]


class Outage:
    """One unreachable receiver: since when, until when it is retried, who waits for it."""

    __slots__ = ("deadline", "error", "expired", "parked", "receiver", "started", "wall")

    def __init__(self, receiver: str, started: float, wall: float, window_s: float, error: str):
        self.receiver = receiver
        self.started = started  # monotonic
        self.wall = wall  # the same instant, wall time
        self.deadline = started + window_s
        self.error = error
        self.expired = False
        self.parked: list[Any] = []  # channels waiting for the receiver (the dispatcher's)


class Outages:
    """The outage of each receiver that cannot be reached (one at a time per receiver)."""

    def __init__(
        self,
        window_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.window_s = window_s
        self.records: dict[Key, Outage] = {}
        self._monotonic = monotonic
        self._wall = wall or (lambda: 0.0)

    def get(self, key: Key) -> Outage | None:
        return self.records.get(key) if self.records else None

    def open(self, key: Key, receiver: str, error: str) -> Outage:
        if len(self.records) >= _MAX_RECORDS:
            self._forget_expired()
        outage = Outage(receiver, self._monotonic(), self._wall(), self.window_s, error)
        self.records[key] = outage
        log.warning(
            "webhook receiver %s cannot be reached (%s): holding the clock and retrying in real "
            "time for up to %g s (--webhook-outage-s)",
            receiver,
            error,
            self.window_s,
        )
        return outage

    def answered(self, key: Key) -> Outage | None:
        """The receiver answered: its outage (open or expired) is over."""
        outage = self.records.pop(key, None) if self.records else None
        if outage is not None:
            log.info(
                "webhook receiver %s answers again, %.1f s after it could not be reached",
                outage.receiver,
                self._monotonic() - outage.started,
            )
        return outage

    def expire(self, outage: Outage) -> None:
        outage.expired = True
        log.warning(
            "webhook receiver %s still unreachable after %.1f s: its deliveries now fail and "
            "back off on the virtual clock (%s)",
            outage.receiver,
            self._monotonic() - outage.started,
            outage.error,
        )

    def holding(self) -> list[Outage]:
        return [o for o in self.records.values() if not o.expired]

    def clear(self) -> list[Outage]:
        gone = list(self.records.values())
        self.records.clear()
        return gone

    def _forget_expired(self) -> None:
        for key in [k for k, o in self.records.items() if o.expired]:
            del self.records[key]


class Holds:
    """Receivers holding the clock: outages, and attempts waiting longer than `WAITING_S`.

    `inflight` maps each attempt in flight to its start (monotonic), kept by the dispatcher;
    `receiver_of` names an attempt's receiver. While anything is in flight or held, `watch()`
    keeps a timer that looks every `CHECK_S` and writes new and released holds to the log.
    """

    def __init__(
        self,
        outages: Outages,
        inflight: dict[Any, float],
        receiver_of: Callable[[Any], str],
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.outages = outages
        self.inflight = inflight
        self._receiver_of = receiver_of
        self._monotonic = monotonic
        self._wall = wall or (lambda: 0.0)
        self.announced: dict[tuple[str, str], float] = {}  # (receiver, reason) -> since
        self._timer: asyncio.TimerHandle | None = None

    def rows(self) -> list[dict[str, Any]]:
        """`[{receiver, reason: "outage" | "waiting for answer", since (wall, ISO), for_s}]`."""
        now = self._monotonic()
        found: dict[tuple[str, str], float] = {}
        for outage in self.outages.holding():
            found[(outage.receiver, "outage")] = outage.started
        down = {receiver for receiver, _ in found}
        for item, started in list(self.inflight.items()):
            if now - started < WAITING_S:
                continue
            receiver = self._receiver_of(item)
            key = (receiver, "waiting for answer")
            if receiver not in down:
                found[key] = min(found.get(key, started), started)
        wall_now = self._wall()
        return [
            {
                "receiver": receiver,
                "reason": reason,
                "since": _iso(wall_now - (now - started)),
                "for_s": round(now - started, 3),
            }
            for (receiver, reason), started in sorted(found.items(), key=lambda kv: kv[1])
        ]

    def check(self) -> None:
        """Write new holds (longer than ANNOUNCE_S) and released ones to the serve log."""
        now = self._monotonic()
        current = {(r["receiver"], r["reason"]): now - r["for_s"] for r in self.rows()}
        for key, since in current.items():
            if key not in self.announced and now - since >= ANNOUNCE_S:
                self.announced[key] = since
                log.warning(
                    "webhook receiver %s holds the clock (%s) since %s, %.1f s ago",
                    key[0],
                    key[1],
                    _iso(self._wall() - (now - since)),
                    now - since,
                )
        for key in [k for k in self.announced if k not in current]:
            since = self.announced.pop(key)
            log.warning(
                "webhook receiver %s let go of the clock (%s) after %.1f s", *key, now - since
            )

    # -- the timer that looks while something may hold the clock --------------------------------
    def watch(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(CHECK_S, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.check()
        if self.inflight or self.announced or self.outages.holding():
            self.watch()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _iso(wall: float) -> str:
    moment = datetime.fromtimestamp(wall, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
