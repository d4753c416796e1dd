"""What `serve` checks and says around the server: TLS files, the listening address, the
file-descriptor budget for `--max-connections`, the garbage collector, and the start banner.

Every check raises ValueError with one line a user can act on; the CLI prints it and exits 2.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import ssl
from pathlib import Path

from emulator.config import Settings
from emulator.sim.clock import ClockMode, format_iso

__all__ = [
    "banner",
    "check_listen",
    "display_url",
    "raise_fd_limit",
    "ssl_context",
    "tune_collector",
]

log = logging.getLogger("emulator")
FD_RESERVE = 256  # descriptors that are not client connections: webhooks, state file, logs
_ALL_ADDRESSES = {"0.0.0.0": "every IPv4 address", "::": "every address", "": "every address"}


# -- TLS ---------------------------------------------------------------------------------
def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context for --tls-cert/--tls-key, or None to serve plain HTTP."""
    cert, key = settings.tls_cert, settings.tls_key
    if not cert and not key:
        return None
    if not cert:
        raise ValueError("--tls-key needs --tls-cert: give the certificate the key belongs to")
    cert_text = _read_pem(cert, "--tls-cert")
    if key:
        _read_pem(key, "--tls-key")
    elif "PRIVATE KEY-----" not in cert_text:
        raise ValueError(
            f"--tls-cert {cert} holds no private key: give its key file with --tls-key "
            "(broadcast-emulator cert writes both)"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        files = f"--tls-cert {cert}" + (f" and --tls-key {key}" if key else "")
        reason = exc.reason or exc.strerror or "unreadable"
        raise ValueError(
            f"{files}: not a PEM certificate and its matching private key ({reason.lower()})"
        ) from None
    return context


def _read_pem(path: str, flag: str) -> str:
    try:
        with Path(path).open("rb") as file:
            return file.read(1024 * 1024).decode("latin-1")
    except OSError as exc:
        raise ValueError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None


# -- the listening address ------------------------------------------------------------------
async def check_listen(host: str, port: int) -> None:
    """Fail with one clear line if `host`:`port` cannot be listened on, before anything starts
    (so a second emulator on a taken port reads no state file and opens nothing)."""
    if port == 0:
        return
    loop = asyncio.get_running_loop()
    try:
        probe = await loop.create_server(asyncio.Protocol, host or None, port)
    except OSError as exc:
        raise ValueError(f"cannot listen on {_host_port(host, port)}: {_why(exc)}") from None
    probe.close()
    await probe.wait_closed()


def _why(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown host name (--host takes an address of this machine or a name for one)"
    if exc.errno == errno.EADDRINUSE:
        return (
            "address already in use (is another emulator still running? "
            "choose another --port, or --port 0 for a free one)"
        )
    if exc.errno == errno.EACCES:
        return (
            "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; "
            "or choose a port above 1023)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address (--host takes one of its own addresses)"
    return (exc.strerror or str(exc)).lower()


def raise_fd_limit(max_connections: int) -> int:
    """Raise this process's open-file limit so `max_connections` clients fit, if the system
    allows; otherwise return the lower connection cap that fits (and log it)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to manage
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    except (ValueError, OSError):
        pass
    if soft >= wanted:
        return max_connections
    cap = max(1, soft - FD_RESERVE if soft > 2 * FD_RESERVE else soft // 2)
    log.warning(
        "--max-connections %d lowered to %d: this process may open only %d files (ulimit -n)",
        max_connections,
        cap,
        soft,
    )
    return cap


def tune_collector() -> None:
    """Collect garbage for a server whose heap is millions of objects that live for a campaign
    (legs, queued webhooks): what exists once it has started (modules, the app) is frozen out
    of every collection, and the youngest generation is collected every 10,000 allocations
    instead of 700, the older ones every 10 of the younger. A 200,000-number campaign spent
    13 % of its CPU in collections before, most of it in full ones, which walk the whole heap
    each time it grew by a quarter; about 5 % after. Unreachable cycles are still collected:
    the youngest generation still every few milliseconds of a campaign. (No collection first:
    it would hold up the first request by tens of milliseconds, for a few KB.)"""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


# -- what the start prints ----------------------------------------------------------------
def display_url(host: str, port: int, tls: bool) -> str:
    """The base URL a client on this machine uses for a server bound to `host`:`port`."""
    scheme = "https" if tls else "http"
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host or '0.0.0.0'}:{port}"


def banner(settings: Settings, url: str) -> list[str]:
    """The start line (kept as it always was: tests and users grep it), then one line per thing
    a user reaches for: where it listens, the API, the control plane, OpenAPI, the console,
    credentials and the clock."""
    port = int(url.rsplit(":", 1)[1])
    listen = _host_port(settings.host, port)
    if settings.host in _ALL_ADDRESSES:
        listen += (
            f" ({_ALL_ADDRESSES[settings.host]} of this machine; from this machine use {url}, "
            "from others this machine's address)"
        )
    guard = " (Bearer token required, except on health)" if settings.control_token else ""
    return [
        f"broadcast-emulator serving {url} (app id {settings.app_id!r}, app key "
        f"{settings.app_key!r}, clock {settings.clock.value})",
        f"  listening on   {listen}",
        f"  API            {url}/voice/v1 (also {url}/v1)",
        f"  credentials    HTTP Basic, APP_ID {settings.app_id!r}, APP_KEY {settings.app_key!r}",
        f"  control plane  {url}/_emulator{guard}, health at {url}/_emulator/health",
        f"  OpenAPI        {url}/_emulator/openapi.json",
        f"  console        {url}/_emulator/ui",
        f"  clock          {_clock_line(settings)}",
        "  stop with Ctrl-C (twice to stop at once)",
    ]


def _clock_line(settings: Settings) -> str:
    start = format_iso(settings.start_ms)
    if settings.clock is ClockMode.AUTO:
        return f"auto from {start}: jumps when idle for {settings.settle_ms:g} ms"
    if settings.clock is ClockMode.REALTIME:
        return f"realtime from {start} at speed {settings.speed:g}"
    return f"manual at {start}: moves only through POST /_emulator/clock/advance"
