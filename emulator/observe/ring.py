"""What the event-stream readers follow: published messages, the ring that keeps them while
they are unread, and the budget that samples the stream when framing it would cost too much.

A `Message` is one published fact with the JSON object the stream sends, built when read (most are
read by nobody but a counter) and framed once however many readers there are. The `Ring` keeps
the messages by seq; each reader follows it with its own cursor (`emulator.observe.stream`), and
one that falls further behind than the ring holds loses what was overwritten.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple

from emulator.jsonwire import dump_bytes

__all__ = [
    "CALL",
    "PER_CALL",
    "WEBHOOK",
    "Budget",
    "Keep",
    "Message",
    "Read",
    "Ring",
    "Sampler",
    "StreamLimits",
    "Tap",
    "wall_iso",
]


@dataclass(slots=True)
class StreamLimits:
    """Bounds of the stream (per world; tests shrink them)."""

    # messages kept for readers; a reader further behind loses the rest. Large enough for the burst
    # of a 100,000-number campaign's busiest instant (every number's event at once, before any
    # reader can run); what every reader has read is let go of but for the newest `resume_kept`
    ring_size: int = 131_072
    resume_kept: int = 4096  # messages a reader reconnecting with Last-Event-ID resumes from
    batch: int = 256  # messages written to a reader at once
    batch_s: float = 0.02  # readers are woken at most this often (real seconds)
    heartbeat_s: float = 15.0  # `: keep-alive` after this long with nothing else
    write_timeout_s: float = 30.0  # a reader whose socket accepts nothing this long is dropped
    behind: int = 5  # a reader that loses messages this many batches in a row is dropped
    max_clients: int = 1000  # readers at once (more get 503)
    send_buffer: int = 256 * 1024  # kernel send buffer of a stream connection (bytes)
    sample_s: float = 0.25  # at most one progress (per broadcast) or clock message this often
    # the part of real time the project's readers may spend framing and writing the stream; a
    # campaign that publishes more than that is sampled by call (see `Budget`)
    share: float = 0.03
    busy_notice_s: float = 1.0  # a sampled reader is told what it missed at most this often


class _WallIso:
    """`wall_iso`: a stream publishes tens of thousands of messages a second, many in the same
    millisecond, and formatting a datetime for each was a tenth of a campaign's time with a reader
    attached; this formats each second once and each millisecond once."""

    __slots__ = ("head", "ms", "second", "text")

    def __init__(self) -> None:
        self.ms = self.second = -1
        self.head = self.text = ""

    def __call__(self, seconds: float | None = None) -> str:
        """Wall time (now, or `seconds` since the epoch) as ISO-8601 UTC with milliseconds."""
        # as datetime does it: the fraction to the microsecond (half to even), then cut to the ms
        frac, whole = math.modf(time.time() if seconds is None else seconds)
        ms = int(whole) * 1000 + round(frac * 1e6) // 1000
        if ms == self.ms:
            return self.text
        second, millis = divmod(ms, 1000)
        if second != self.second:
            self.second = second
            self.head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self.ms, self.text = ms, f"{self.head}.{millis:03d}Z"
        return self.text


wall_iso = _WallIso()


class Message:
    """One published fact: `data` is the JSON object the stream sends, `frame` its Server-Sent
    Events frame, made once however many readers there are.

    A subclass may build `data` only when read (`build`): most messages of a busy campaign are
    read by nobody but a counter (the serve log's delivered webhooks use `note`, a word about the
    message that needs no dict). Built data is not kept (the ring may hold a campaign's burst of
    messages): it is made again, the same, if read again."""

    __slots__ = ("_data", "_frame", "broadcast_id", "note", "seq", "type", "voice_id")

    def __init__(
        self,
        seq: int,
        kind: str,
        data: dict[str, Any] | None = None,
        note: str = "",
    ) -> None:
        self.seq = seq
        self.type = kind
        self._data = data
        self.broadcast_id = data.get("broadcast_id") if data else None
        self.voice_id = data.get("voice_id") if data else None
        self.note = note
        self._frame: bytes | None = None

    def build(self) -> dict[str, Any]:
        """The data of a message published without it (subclasses)."""
        raise NotImplementedError

    @property
    def data(self) -> dict[str, Any]:
        data = self._data
        return self.build() if data is None else data

    def render(self) -> bytes:
        """The Server-Sent Events frame of this message, made now."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (
            self.seq,
            self.type.encode(),
            dump_bytes(self.data),
        )

    @property
    def frame(self) -> bytes:
        """The frame, made once for every reader (when more than one reads the stream)."""
        frame = self._frame
        if frame is None:
            frame = self._frame = self.render()
        return frame


Tap = Callable[[Message], None]


Keep = Callable[[str, Any, Any], bool]  # (type, broadcast_id, voice_id): whether a reader wants it
Make = Callable[[int, int, Any, Any], Message]  # (kind, seq, source, extra): the message itself

MESSAGE, CALL, WEBHOOK = 0, 1, 2  # what a ring slot holds: a message, or what one is made from
_KIND_TYPE = {CALL: "call", WEBHOOK: "webhook"}
PER_CALL = frozenset(_KIND_TYPE.values())  # the messages a sampled stream keeps of 1 call in N


class Read(NamedTuple):
    """What one reader read of the ring."""

    lost: int  # messages the ring no longer held (the reader was too far behind)
    messages: list[Message]
    cursor: int  # the last seq read


class Ring:
    """The last `size` messages, by seq, and a wake-up for the readers following it.

    A per-call message (`call`, `webhook`: most of a campaign's) is kept as what it is made from
    (`put_source`: its delivery, and a number), made by `make` only when a reader takes it, once
    for every reader: a reader that filters or samples it out costs no object. What every reader
    has read is let go of (`release`) but for the newest `kept`, which a reader that reconnects
    with `Last-Event-ID` resumes from: the ring is as large as a campaign's busiest instant and
    holds that many messages only while they are unread."""

    def __init__(
        self,
        size: int,
        last_seq: int,
        batch_s: float,
        kept: int = 4096,
        share: float = 1.0,
        make: Make | None = None,
    ) -> None:
        self.size = max(16, size)
        self.kept = kept
        self.budget = Budget(share)
        self.make = make
        self.buf: list[Any] = [None] * self.size  # a Message, or the source of one
        self.kinds = bytearray(self.size)  # MESSAGE, or the kind of source in `buf`
        self.extra: list[Any] = [None] * self.size  # the source's number
        self.first = last_seq + 1  # nothing before this was ever in the ring
        self.last = last_seq
        self.released = last_seq  # every message up to this one has been let go of
        # while every reader takes everything, the per-call messages of the calls a sampled
        # stream leaves out are not even published (the bus counts them in `skipped`): the
        # messages of 1 call in `put_sample` are
        self.put_sample = 1
        self.skipped = 0
        self.readers: set[Any] = set()  # see `join`
        self.partial = 0  # readers that take less than everything (a filter)
        self.event = asyncio.Event()
        self._batch_s = batch_s
        self._wake: asyncio.TimerHandle | None = None

    def join(self, reader: Any, everything: bool) -> None:
        """A reader follows the ring from now on (`everything`: it has no filter)."""
        self.readers.add(reader)
        self.partial += not everything

    def leave(self, reader: Any, everything: bool) -> None:
        if reader in self.readers:
            self.readers.discard(reader)
            self.partial -= not everything

    def put(self, message: Message) -> None:
        seq = message.seq
        slot = seq % self.size
        self.buf[slot] = message
        self.kinds[slot] = MESSAGE
        self.last = seq
        if self._wake is None:
            self._arm()

    def put_source(self, kind: int, seq: int, source: Any, extra: Any) -> None:
        """A per-call message, to be made (`make(kind, seq, source, extra)`) when read."""
        slot = seq % self.size
        self.buf[slot] = source
        self.kinds[slot] = kind
        self.extra[slot] = extra
        self.last = seq
        if self._wake is None:
            self._arm()

    def hole(self, seq: int) -> None:
        """No message at `seq` (one the readers' sampling left out, published for taps only)."""
        self.buf[seq % self.size] = None
        self.last = seq

    def _arm(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._wake = loop.call_later(self._batch_s, self.wake)

    def wake(self) -> None:
        """Wake every reader now (they read what is new, then wait again)."""
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None
        event, self.event = self.event, asyncio.Event()
        event.set()

    @property
    def oldest(self) -> int:
        return max(self.first, self.last - self.size + 1, self.released + 1)

    def read(self, cursor: int, limit: int, keep: Keep | None = None) -> Read:
        """After seq `cursor`: up to `limit` messages `keep` wants (all without one)."""
        start = max(cursor + 1, self.oldest)
        end = min(self.last, start + limit - 1)
        buf, kinds, size = self.buf, self.kinds, self.size
        out: list[Message] = []
        for seq in range(start, end + 1):
            slot = seq % size
            entry = buf[slot]
            if entry is None:
                continue
            kind = kinds[slot]
            if kind == MESSAGE:
                if keep is None or keep(entry.type, entry.broadcast_id, entry.voice_id):
                    out.append(entry)
            elif keep is None or keep(_KIND_TYPE[kind], entry.broadcast_id, entry.voice_id):
                assert self.make is not None
                message = buf[slot] = self.make(kind, seq, entry, self.extra[slot])
                kinds[slot] = MESSAGE
                self.extra[slot] = None
                out.append(message)
        return Read(start - (cursor + 1), out, max(cursor, end))

    def release(self) -> None:
        """Let go of what every reader has read but the newest `kept` messages."""
        if not self.readers:
            return
        upto = min(reader.cursor for reader in self.readers) - self.kept
        first = max(self.released + 1, self.last - self.size + 1)
        if upto < first:
            return
        self.released = upto
        size = self.size
        a, b = first % size, upto % size + 1  # slots a..b-1, perhaps around the end
        for lo, hi in ((a, b),) if a < b else ((a, size), (0, b)):
            self.buf[lo:hi] = self.extra[lo:hi] = [None] * (hi - lo)

    def close(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
            self._wake = None


class Budget:
    """What the readers of one ring may spend, and how they are sampled when that is too little.

    Framing a message costs microseconds, and a 100,000-number campaign publishes a million of
    them in half a minute: followed whole, the stream would slow the campaign by a third. So the
    readers share `share` of real time: a bucket fills at that rate, holding at most `burst_s` of
    work (a small campaign's burst is framed whole, at once). Once it is empty they keep the
    per-call messages (`call`, `webhook`) of one call in `sample` only (whole calls, picked by
    voice_id: see `emulator.observe.stream`) and every other message (requests, broadcast
    progress, clock, waiting calls). Every `adjust_s`, `sample` is set from what the last window
    cost: up in proportion while the bucket is empty and the readers spend more than their share,
    halved once the bucket is half full again and they spend less than half of it."""

    MAX_SAMPLE = 1 << 16

    def __init__(self, share: float, burst_s: float = 0.05, adjust_s: float = 0.1) -> None:
        self.share = share
        self.burst_s = burst_s
        self.adjust_s = adjust_s
        self.sample = 1
        self.credit = burst_s
        self.spent = 0.0  # in the current window
        self.at = self.window = time.perf_counter()

    def charge(self, spent_s: float) -> None:
        """`spent_s` of work was done; sample more or fewer calls if the window says so."""
        now = time.perf_counter()
        credit = min(self.burst_s, self.credit + (now - self.at) * self.share) - spent_s
        self.credit = max(-self.burst_s, credit)  # an older debt is paid by sampling
        self.at = now
        self.spent += spent_s
        if now - self.window < self.adjust_s:
            return
        rate = self.spent / (now - self.window)
        self.spent, self.window = 0.0, now
        if self.credit < 0 and rate > self.share:
            self.sample = min(self.MAX_SAMPLE, math.ceil(self.sample * rate / self.share - 1e-6))
        elif self.credit > self.burst_s / 2 and rate < self.share / 2 and self.sample > 1:
            self.sample //= 2


class Sampler:
    """At most one emission per key per `interval_s` of real time; the last touch always emits."""

    def __init__(self, interval_s: float, emit: Callable[[Hashable], None]) -> None:
        self.interval_s = interval_s
        self.emit = emit
        self.last: dict[Hashable, float] = {}
        self.pending: dict[Hashable, None] = {}
        self._handle: asyncio.TimerHandle | None = None

    def touch(self, key: Hashable) -> None:
        if key in self.pending:
            return
        now = time.monotonic()
        last = self.last.get(key)
        if last is None or now - last >= self.interval_s:
            self.last[key] = now
            self.emit(key)
            return
        self.pending[key] = None
        if self._handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._handle = loop.call_later(self.interval_s - (now - last), self.flush)

    def flush(self) -> None:
        self._handle = None
        pending, self.pending = self.pending, {}
        now = time.monotonic()
        for key in pending:
            self.last[key] = now
            self.emit(key)

    def forget(self, key: Hashable) -> None:
        self.last.pop(key, None)
        self.pending.pop(key, None)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.pending.clear()
        self.last.clear()
