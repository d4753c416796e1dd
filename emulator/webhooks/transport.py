"""The webhook transport: one connection pool and one policy for every http:// and https:// POST.

Webhooks are small POSTs whose answer only matters for its status, sent by the thousand to a few
receivers, so a generic client's per-request machinery (URL objects, cookie jar, header merging,
response objects, timers) would cost several times the write and the read. The policy, in one
place (CONTRACT §6, §11):

- **One attempt is one request.** `post` sends the request once and reports what came back. A
  3xx answer is never followed: the attempt fails with `redirect to <Location>`, and the log says
  so once per URL (WARNING). So the host connected to is always the URL's host, which is the host
  `--webhook-allow` was checked against.
- **Connections are reused per receiver** (scheme, host, port), for http and https alike (TLS in
  the same pool, certificates verified only with `--webhook-verify-tls`), but never after
  `keepalive_s` idle (Node closes idle sockets after 5 s).
- **A stale connection is retried once, here only.** When a reused connection turns out closed by
  the receiver before one byte of the answer arrived, the request goes again at once on a fresh
  connection (which is not pooled afterwards); the caller sees one attempt.
- **At most 64 KiB of an answer is read** (head and body, `http1.MAX_ANSWER`). A longer answer is
  cut, its connection closed, and the attempt counts by its status.
- **Time-outs are real**: `timeout_s` for connecting, writing and the whole answer, enforced by one
  watchdog while exchanges are in flight (a timer per request would cost more than the request),
  so an exchange fails between `timeout_s` and `timeout_s` plus a quarter of it (at most 0.25 s).
- **Never the emulator's own control plane**: a URL whose path is under /_emulator is refused
  when its host is the emulator's listener, whether the URL says so literally or the connection
  turns out to reach it.
- **Unreachable is told apart**: a refused, reset or closed connection and a time-out come back
  with `unreachable=True` (the dispatcher then rides out an outage, CONTRACT §11); a TLS, DNS or
  protocol error, or any HTTP answer, does not.
- The request carries `Host`, the caller's headers, `Authorization: Basic` from `user:password`
  in the URL, and `Content-Length`; the head is built once per URL and headers.

The pool is shareable: several dispatchers (one per project) may post through one `Transport`;
whoever created it closes it. A receiver in the emulator's own process (the replay's built-in
client) can be reached without a socket: `local[(host, port)]` attaches a new connection's
protocol to it in memory instead.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from emulator.webhooks.delivery import redact_url
from emulator.webhooks.http1 import Connection, Disconnected, Response
from emulator.webhooks.targets import Listener, Target, parse_target

__all__ = ["Attach", "Result", "Transport"]

log = logging.getLogger("emulator.webhooks")

_MAX_TARGETS = 1024  # distinct URLs remembered (a run sends to a handful)
_UNREACHABLE_ERRNO = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN})
_Key = tuple[str, str, int, bool]  # scheme, host, port, verify
# joins a new client protocol to a receiver in this process (it calls `connection_made` itself)
Attach = Callable[[asyncio.Protocol], object]


class Result(NamedTuple):
    """What one request came to: a status and/or an error; `unreachable` for an outage."""

    status: int | None
    error: str | None = None
    unreachable: bool = False


_TO_SELF = Result(None, "refused: the emulator's own control plane")


def _describe(exc: BaseException) -> Result:
    """A failed exchange as a result: which failures mean the receiver cannot be reached."""
    if isinstance(exc, TimeoutError):
        return Result(None, "timeout", True)
    if isinstance(exc, Disconnected):
        return Result(None, f"disconnected: {exc}", True)
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ssl.SSLError):
        return Result(None, text)
    unreachable = isinstance(exc, (ConnectionError, BrokenPipeError)) or (
        isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNO
    )
    return Result(None, text, unreachable)


class Transport:
    """Keep-alive HTTP/1.1 POSTs to webhook receivers over plain TCP or TLS."""

    def __init__(
        self,
        keepalive_s: float = 4.0,
        verify_tls: bool = False,
        listener: Listener | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keepalive_s = keepalive_s
        self.verify_tls = verify_tls
        self.listener = listener
        self._monotonic = monotonic
        self._idle: dict[_Key, list[Connection]] = {}
        self._busy: set[Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._watch_timeout = 0.0  # the time-out the watchdog's period was chosen for
        self._targets: dict[str, Target | str] = {}
        self._heads: dict[tuple[Target, tuple[tuple[str, str], ...]], bytes] = {}
        self._tls: dict[bool, ssl.SSLContext] = {}
        self._warned: set[str] = set()
        self._answers: dict[int, Result] = {}  # one Result per status seen (at most 1,000)
        self.opened = 0  # connections opened so far (reuse shows as few)
        # plain http:// receivers in this process, by (host, port), reached without a socket
        # (the replay's built-in client registers its receiver here)
        self.local: dict[tuple[str, int], Attach] = {}

    # -- targets ------------------------------------------------------------------------------
    def target(self, url: str) -> Target | str:
        """The target of `url`, or why it is refused (remembered for the few URLs of a run)."""
        try:
            return self._targets[url]
        except KeyError:
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            try:
                found: Target | str = parse_target(url)
            except ValueError as exc:
                found = f"refused: the URL {exc}"
            self._targets[url] = found
            return found

    # -- one request --------------------------------------------------------------------------
    async def post(
        self,
        target: Target,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        verify: bool | None = None,
    ) -> Result:
        """POST `body` once (a stale reused connection aside) and say what came of it."""
        if target.control and self.listener is not None and self.listener.is_control(target):
            return _TO_SELF
        request = b"%b%d\r\n\r\n%b" % (self._head(target, headers), len(body), body)
        verify = self.verify_tls if verify is None else verify
        key = (target.scheme, target.host, target.port, verify)
        try:
            response = await self._send(target, key, request, timeout_s)
        except (OSError, ValueError, TimeoutError) as exc:
            return _describe(exc)
        return _TO_SELF if response is None else self._result(target, response)

    async def _send(
        self, target: Target, key: _Key, request: bytes, timeout_s: float
    ) -> Response | None:
        """The answer, on an idle connection if there is one, else (or when that one turns out
        stale) on a fresh one; None when the fresh one reached the emulator's control plane."""
        started = self._monotonic()
        deadline = started + timeout_s
        conn = self._take(key, started)
        stale = False
        if conn is not None:
            try:
                return await self._exchange(key, conn, request, deadline, timeout_s)
            except Disconnected as exc:
                if not exc.silent:
                    raise
                # closed by the receiver while idle: not its answer. Once more on a fresh
                # connection, used once only (as a receiver that drops idle ones may want)
                stale = True
        conn = await self._open(target, key, deadline)
        if target.control and conn.to_self:
            conn.close()
            return None
        return await self._exchange(key, conn, request, deadline, timeout_s, keep=not stale)

    def _result(self, target: Target, response: Response) -> Result:
        status = response.status
        if status < 300 or status >= 400:
            try:
                return self._answers[status]
            except KeyError:
                found = self._answers[status] = Result(status)
                return found
        where = _shown(response.location)
        self._warn_redirect(target, status, where)
        return Result(status, f"redirect to {where}")

    def _warn_redirect(self, target: Target, status: int, where: str) -> None:
        url = f"{target.receiver}{target.path}"
        if url in self._warned:
            return
        if len(self._warned) >= _MAX_TARGETS:
            self._warned.clear()
        self._warned.add(url)
        log.warning(
            "webhook receiver %s answered %d redirect to %s: redirects are not followed, "
            "the attempt fails (fix the URL)",
            url,
            status,
            where,
        )

    def _head(self, target: Target, headers: Mapping[str, str]) -> bytes:
        """The request head up to the Content-Length value: the same for every webhook sent to
        one URL, so it is written once (3 us per request otherwise)."""
        key = (target, tuple(headers.items()))
        try:
            return self._heads[key]
        except KeyError:
            if len(self._heads) >= _MAX_TARGETS:
                self._heads.clear()
            lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.authority}"]
            lines += [f"{k}: {_printable(v)}" for k, v in headers.items()]
            if target.authorization is not None:
                lines.append(f"Authorization: {target.authorization}")
            lines.append("Content-Length: ")
            head = self._heads[key] = "\r\n".join(lines).encode("latin-1", "replace")
            return head

    # -- connections --------------------------------------------------------------------------
    async def _open(self, target: Target, key: _Key, deadline: float) -> Connection:
        attach = self.local.get((target.host, target.port)) if target.scheme == "http" else None
        if attach is not None:  # a receiver in this process: joined in memory, no socket
            conn = Connection()
            attach(conn)
            self.opened += 1
            return conn
        loop = asyncio.get_running_loop()
        tls = self._context(key[3]) if target.scheme == "https" else None
        async with asyncio.timeout(max(0.0, deadline - self._monotonic())):
            transport, conn = await loop.create_connection(
                Connection,
                target.host,
                target.port,
                ssl=tls,
                server_hostname=target.host if tls is not None else None,
            )
        self.opened += 1
        if self.listener is not None and target.control:
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            conn.to_self = peer is not None and self.listener.reaches_self(peer, local)
        return conn

    def _context(self, verify: bool) -> ssl.SSLContext:
        try:
            return self._tls[verify]
        except KeyError:
            context = ssl.create_default_context()
            if not verify:  # the vendor's sample apps run self-signed receivers (CONTRACT §6)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls[verify] = context
            return context

    async def _exchange(
        self,
        key: _Key,
        conn: Connection,
        request: bytes,
        deadline: float,
        timeout_s: float,
        keep: bool = True,
    ) -> Response:
        self._busy.add(conn)
        if self._watchdog is None or timeout_s < self._watch_timeout:
            self._arm_watchdog(timeout_s)
        try:
            response = await conn.exchange(request, deadline)
        except BaseException:
            conn.close()
            raise
        finally:
            self._busy.discard(conn)
        if keep and response.keep_alive and not conn.closed:
            conn.idle_since = self._monotonic()
            self._idle.setdefault(key, []).append(conn)
            self._arm_sweeper()
        else:
            conn.close()
        return response

    def _take(self, key: _Key, now: float) -> Connection | None:
        idle = self._idle.get(key)
        limit = now - self.keepalive_s
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= limit:
                return conn
            conn.close()
        return None

    # -- exchanges fail at their deadline -------------------------------------------------------
    def _arm_watchdog(self, timeout_s: float) -> None:
        """Look at the exchanges in flight every quarter of the shortest time-out among them."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watch_timeout = timeout_s
        period = min(max(timeout_s / 4, 0.005), 0.25)
        self._watchdog = asyncio.get_running_loop().call_later(period, self._watch)

    def _watch(self) -> None:
        self._watchdog = None
        now = self._monotonic()
        for conn in [c for c in self._busy if c.deadline <= now]:
            conn.expire()
        if self._busy:
            self._arm_watchdog(self._watch_timeout)

    # -- idle connections are closed after keepalive_s ------------------------------------------
    def _arm_sweeper(self) -> None:
        if self._sweeper is None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self.keepalive_s, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        limit = self._monotonic() - self.keepalive_s
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if not c.closed and c.idle_since >= limit]
            for conn in idle:
                if conn not in keep:
                    conn.close()
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        if self._idle:
            self._arm_sweeper()

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing runs until the first request; here for symmetry with `close`."""

    async def close(self) -> None:
        for handle in (self._sweeper, self._watchdog):
            if handle is not None:
                handle.cancel()
        self._sweeper = self._watchdog = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()


def _printable(text: str) -> str:
    """A header value as a request head may carry it (no CR, LF or NUL)."""
    return text if text.isprintable() else "".join(c if c.isprintable() else " " for c in text)


def _shown(location: str | None) -> str:
    """A redirect's Location as the delivery log and the serve log show it."""
    if not location:
        return "(no Location header)"
    return redact_url(_printable(location))[:300]
