"""In-flight tokens: work that must hold simulated time still while it runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Activity"]


class Activity:
    """Counts in-flight work (API requests, webhook attempts).

    A token is taken when the work is created (before any task is scheduled) and released in
    `finally`. The driver moves time only while no token is held and the settle window since the
    last release has passed.
    """

    def __init__(self) -> None:
        self._held = 0
        self._idle: asyncio.Event | None = None
        self.generation = 0
        self.last_release = time.monotonic()

    @property
    def held(self) -> int:
        return self._held

    def acquire(self, count: int = 1) -> None:
        if count <= 0:
            return
        self._held += count
        self.generation += 1
        if self._idle is not None:
            self._idle.clear()

    def release(self, count: int = 1) -> None:
        if count <= 0:
            return
        self._held -= count
        if self._held < 0:  # a reset dropped work that still releases: never go negative
            self._held = 0
        self.generation += 1
        self.last_release = time.monotonic()
        if self._held == 0 and self._idle is not None:
            self._idle.set()

    def reset(self) -> None:
        self._held = 0
        self.generation += 1
        if self._idle is not None:
            self._idle.set()

    @contextmanager
    def token(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    async def wait_idle(self) -> None:
        if self._held == 0:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        while self._held:
            await self._idle.wait()
            self._idle.clear()
