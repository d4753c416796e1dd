"""The store: the single owner of every broadcast and call leg."""

from __future__ import annotations

from collections.abc import Iterator

from emulator.domain.models import Broadcast, CallLeg
from emulator.errors import Messages, NotFound

__all__ = ["Store"]


class Store:
    def __init__(self) -> None:
        self.broadcasts: dict[str, Broadcast] = {}
        self.legs: dict[str, CallLeg] = {}

    def add(self, broadcast: Broadcast) -> None:
        self.broadcasts[broadcast.broadcast_id] = broadcast

    def broadcast(self, broadcast_id: str) -> Broadcast:
        found = self.broadcasts.get(broadcast_id)
        if found is None:
            raise NotFound(Messages.APP_NOT_FOUND, app_instance=broadcast_id)
        return found

    def leg(self, voice_id: str) -> CallLeg:
        found = self.legs.get(voice_id)
        if found is None:
            raise NotFound(Messages.CALL_NOT_FOUND, voice_id=voice_id)
        return found

    def __iter__(self) -> Iterator[Broadcast]:
        return iter(self.broadcasts.values())

    def clear(self) -> None:
        self.broadcasts.clear()
        self.legs.clear()
