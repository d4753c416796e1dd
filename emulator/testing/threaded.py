"""The emulator and a webhook sink in a background thread, for synchronous tests (Django, Flask).

Everything runs in the thread's own event loop; each method here blocks until the matching
coroutine has finished there. Sink reaction handlers run in that loop too, so they must not call
the blocking methods of this class (use `server`'s async methods inside an `async` handler).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from emulator.config import Settings
from emulator.testing.client import EmulatorClient
from emulator.testing.server import EmulatorServer
from emulator.testing.sink import WebhookSink

__all__ = ["ThreadedEmulator"]

_T = TypeVar("_T")
Json = Any


class ThreadedEmulator:
    """`with ThreadedEmulator(Settings()) as em:` an emulator and a sink on 127.0.0.1, blocking API.

    `server` and `sink` are the async objects living in the thread; the methods below are their
    blocking twins. With `url`, `server` is a fresh project (`project`: its settings for
    `POST /_emulator/projects`) on the emulator running there, deleted by `stop()`.
    """

    def __init__(
        self,
        settings: Settings,
        timeout: float = 30.0,
        *,
        url: str | None = None,
        token: str | None = None,
        project: dict[str, Any] | None = None,
        sink_host: tuple[str, str | None] = ("127.0.0.1", None),
    ) -> None:
        self.timeout = timeout  # real seconds any one blocking call may take
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._external = (url, token, project or {}) if url is not None else None
        self.server: EmulatorClient = EmulatorServer(settings)
        self.sink = WebhookSink(password=lambda: self.server.app_id)
        self._sink_host = sink_host

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> ThreadedEmulator:
        self._thread.start()
        if self._external is None:
            self.run(self.server.start())
        else:
            url, token, project = self._external
            self.server = self.run(EmulatorClient.new_project(url, token, **project))
        self.run(self.sink.start(self._sink_host[0], 0, self._sink_host[1]))
        return self

    def stop(self) -> None:
        """Stop both servers and the thread; raise the first error a sink handler raised."""
        if self._thread.is_alive():
            self.run(self.sink.close())
            if self._external is not None:
                self.run(self.server.delete_project())
            self.run(self.server.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.timeout)
        self._loop.close()
        self.sink.check()

    def __enter__(self) -> ThreadedEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` in the emulator's loop and return its result (blocking)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("blocking emulator call from the emulator's own thread: await it")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout)

    # -- where things are ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return self.server.api_url

    @property
    def app_id(self) -> str:
        return self.server.app_id

    @property
    def app_key(self) -> str:
        return self.server.app_key

    @property
    def auth_header(self) -> str:
        return self.server.auth_header

    @property
    def sink_url(self) -> str:
        return self.sink.url

    # -- blocking twins of the server's helpers --------------------------------------------
    def request(self, method: str, path: str, json: Json = None, **kw: Any) -> tuple[int, Json]:
        return self.run(self.server.request(method, path, json, **kw))

    def create_broadcast(self, numbers: list[str], **kw: Any) -> Json:
        return self.run(self.server.create_broadcast(numbers, **kw))

    def report(self, broadcast_id: str) -> Json:
        return self.run(self.server.report(broadcast_id))

    def advance(self, seconds: float) -> Json:
        return self.run(self.server.advance(seconds))

    def run_until_idle(self) -> Json:
        return self.run(self.server.run_until_idle())

    def reset(self) -> Json:
        return self.run(self.server.reset())

    def requests(self, **filters: Any) -> list[Json]:
        return self.run(self.server.requests(**filters))

    def webhooks(self, **filters: Any) -> list[Json]:
        return self.run(self.server.webhooks(**filters))

    # -- blocking twins of the sink's helpers ----------------------------------------------
    def wait_for(self, *args: Any, **fields: Any) -> Json:
        return self.run(self.sink.wait_for(*args, **fields))

    def wait_for_completion(self, broadcast_id: str | None = None) -> Json:
        return self.run(self.sink.wait_for_completion(broadcast_id))
