"""Workers on demand: tasks that serve ready items, started when items become ready, up to a limit,
and ended when nothing is ready, so that a thousand idle dispatchers run no task at all."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Workers"]

log = logging.getLogger("emulator.webhooks")
T = TypeVar("T")


class Workers(Generic[T]):
    """Serves `push`ed items in order with `serve`, at most `limit` at a time.

    A worker takes ready items one after the other and ends when none is left. `push(item,
    spawn=False)` is for a `serve` that queues more work: its own worker looks again before it
    ends, so no new task is needed for it.
    """

    def __init__(self, serve: Callable[[T], Awaitable[None]], limit: int) -> None:
        self._serve = serve
        self.limit = max(1, limit)
        self.ready: deque[T] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._running = False

    @property
    def count(self) -> int:
        """Worker tasks alive now."""
        return len(self._tasks)

    def start(self) -> None:
        self._running = True
        self._spawn()  # items pushed before the start

    def push(self, item: T, spawn: bool = True) -> None:
        self.ready.append(item)
        if spawn:
            self._spawn()

    def _spawn(self) -> None:
        """Start workers for the ready items that no worker is about to take."""
        if not self._running:
            return
        while len(self._tasks) - self._busy < len(self.ready) and len(self._tasks) < self.limit:
            self._tasks.add(asyncio.get_running_loop().create_task(self._work()))

    async def _work(self) -> None:
        try:
            while self.ready:  # never awaits but in `serve`: a busy worker always looks again
                item = self.ready.popleft()
                self._busy += 1
                try:
                    await self._serve(item)
                except Exception:  # never lose an item's worker: the item would hold time
                    log.exception("webhook worker failed on %r", item)
                finally:
                    self._busy -= 1
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        self._running = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
