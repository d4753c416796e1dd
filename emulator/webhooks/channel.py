"""A webhook channel: the deliveries of one channel (one number's events, or one broadcast's),
which go out one after the other, in order, and what the dispatcher knows of it."""

from __future__ import annotations

from collections.abc import Hashable

from emulator.webhooks.delivery import Delivery

__all__ = ["Channel"]


class Channel:
    """The deliveries of one channel, in order: a queue linked through `Delivery.next`, since a
    channel (one number) holds a few events, and even a list of two was 88 bytes a number (and
    with so few, appending walks the queue rather than keep its tail: 16 bytes a number)."""

    __slots__ = ("backoff", "head", "key", "parked", "probing", "scheduled")

    def __init__(self, key: Hashable) -> None:
        self.key = key  # `Delivery.channel_key`: the channel's name, or the number it serves
        self.head: Delivery | None = None
        self.scheduled = False
        self.backoff = False
        self.parked = False  # waiting for an unreachable receiver (token held)
        self.probing = False  # its delivery is retrying an unreachable receiver in real time

    def append(self, delivery: Delivery) -> None:
        last = self.head
        if last is None:
            self.head = delivery
            return
        while last.next is not None:
            last = last.next
        last.next = delivery

    def popleft(self) -> None:
        head = self.head
        if head is not None:
            self.head, head.next = head.next, None

    def __len__(self) -> int:
        count, delivery = 0, self.head
        while delivery is not None:
            count, delivery = count + 1, delivery.next
        return count

    def __repr__(self) -> str:
        return f"channel {self.head.channel if self.head is not None else '(empty)'}"
