"""Where a webhook may go: URL checks, the parsed target, and where the emulator itself listens.

`parse_target(url)` turns a webhook URL into the `Target` the transport connects to (scheme in any
case, IDNA host, percent-encoded path, `user:password` as a Basic header) or says why it cannot be
one. `webhook_url_problem` adds the rules checked when a broadcast is created (CONTRACT §11): the
`--webhook-allow` list and not the emulator's own control plane. `Listener` holds the (host, port)
pairs the emulator's server is bound to, so that both the create checks and the transport can
tell a URL, or an open connection, that points back at the emulator.
"""

from __future__ import annotations

import base64
import ipaddress
import posixpath
import re
import socket
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from yarl import URL

__all__ = [
    "CONTROL_PREFIX",
    "Listener",
    "Target",
    "allow_list",
    "normalise_host",
    "parse_target",
    "webhook_url_problem",
]

CONTROL_PREFIX = "/_emulator"
_DEFAULT_PORT = {"http": 80, "https": 443}
_NAME = re.compile(r"[a-z0-9_.-]+")
_USERINFO = re.compile(r"//[^/?#@]*@")  # user:password in a URL, hidden when the URL is quoted
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Target(NamedTuple):
    """A webhook URL as the transport uses it (a tuple: it keys the transport's caches, and a
    tuple hashes at C speed)."""

    scheme: str  # "http" or "https"
    host: str  # lowercase, IDNA-encoded; an IPv6 address without brackets
    port: int
    path: str  # request target: path and query, percent-encoded
    authority: str  # the Host header
    authorization: str | None  # "Basic ..." from user:password in the URL
    control: bool  # the path, normalised, is under /_emulator

    @property
    def key(self) -> tuple[str, str, int]:
        """One receiver: connections are pooled, and outages kept, per (scheme, host, port)."""
        return (self.scheme, self.host, self.port)

    @property
    def receiver(self) -> str:
        """`scheme://host:port`, for logs and health (never the credentials)."""
        return f"{self.scheme}://{_bracket(self.host)}:{self.port}"


def parse_target(url: str) -> Target:
    """The target of `url`; ValueError says what is wrong with it (to follow a field name)."""
    text = url.strip()
    shown = _USERINFO.sub("//***@", text[:200])
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid port (1-65535 allowed): {shown!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL, not {shown!r}")
    if port == 0:
        raise ValueError(f"has an invalid port (1-65535 allowed): {shown!r}")
    try:
        parsed = URL(text)
        host = normalise_host(parsed.raw_host or "")
    except (ValueError, TypeError, UnicodeError):
        raise ValueError(f"has an invalid host: {shown!r}") from None
    port = port or _DEFAULT_PORT[scheme]
    authority = _bracket(host) + ("" if port == _DEFAULT_PORT[scheme] else f":{port}")
    return Target(
        scheme,
        host,
        port,
        parsed.raw_path_qs or "/",
        authority,
        _basic(parsed.user, parsed.password),
        _is_control(parsed.raw_path),
    )


def normalise_host(host: str) -> str:
    """A host as URLs and `--webhook-allow` are compared: lowercase ASCII (IDNA), no brackets."""
    text = host.strip().strip("[]").lower()
    if not text:
        raise ValueError("empty host")
    if ":" in text:
        return str(ipaddress.IPv6Address(text))
    if not text.isascii():
        text = text.encode("idna").decode("ascii")
    if not _NAME.fullmatch(text):
        raise ValueError(f"invalid host {host!r}")
    return text


def allow_list(hosts: Iterable[str]) -> tuple[str, ...]:
    """`--webhook-allow` entries as URL hosts are compared with them (an entry that is no host
    at all is kept lowercase: it never matches)."""
    out = []
    for host in hosts:
        try:
            out.append(normalise_host(host))
        except (ValueError, UnicodeError):
            out.append(host.strip().lower())
    return tuple(out)


def webhook_url_problem(
    url: str, allow: tuple[str, ...] = (), listener: Listener | None = None
) -> str | None:
    """Why `url` cannot be a webhook URL (a phrase to follow the field's name), or None."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return str(exc)
    if allow and target.host not in allow:
        return f"host {target.host!r} is not in the webhook allow list"
    if listener is not None and listener.is_control(target):
        return f"points at the emulator's own control plane ({CONTROL_PREFIX}), which is refused"
    return None


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _basic(user: str | None, password: str | None) -> str | None:
    if user is None and password is None:
        return None
    pair = f"{user or ''}:{password or ''}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _is_control(raw_path: str) -> bool:
    """Is the path, once decoded, with dot segments and doubled slashes resolved, under
    /_emulator? (Decoded until stable: a server may decode once more than we think.)"""
    path = raw_path
    for _ in range(4):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = posixpath.normpath("/" + path.replace("\\", "/")).lower()
    path = "/" + path.lstrip("/")
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _address(host: str) -> _Address | None:
    """An IP address written in a URL (IPv4 also in the short forms `inet_aton` takes: 127.1,
    2130706433, 0x7f.1), or None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _any(address: _Address) -> bool:
    return address.is_unspecified


class Listener:
    """The (host, port) pairs the emulator's server is bound to (filled once the site starts).

    A pair bound to 0.0.0.0 or :: serves every local address; a pair bound to a loopback address
    also serves URLs naming `localhost` or 0.0.0.0 (which connects to the local host).
    """

    def __init__(self, pairs: Iterable[tuple[str, int]] = ()) -> None:
        self._bound: list[tuple[_Address, int]] = []
        for host, port in pairs:
            self.add(host, port)

    @property
    def bound(self) -> list[tuple[str, int]]:
        return [(str(address), port) for address, port in self._bound]

    def add(self, host: str, port: int) -> None:
        address = _address(host.strip("[]"))
        if address is None:
            raise ValueError(f"a bound address must be an IP address, not {host!r}")
        if (address, port) not in self._bound:
            self._bound.append((address, port))

    def add_site(self, site: Any) -> None:
        """Register every socket an aiohttp site (`web.TCPSite`, after `start()`) listens on."""
        server = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or ():
            name = sock.getsockname()
            self.add(str(name[0]), int(name[1]))

    def is_control(self, target: Target) -> bool:
        """Does `target` name the emulator's own control plane (by its literal host and port)?"""
        return target.control and self.serves(target.host, target.port)

    def serves(self, host: str, port: int) -> bool:
        """Does a URL naming `host:port` reach this emulator? Judged without DNS: IP literals,
        `localhost` and this machine's own name; the transport checks the real peer too."""
        candidates = self._candidates(host)
        return any(
            bound_port == port and self._matches(bound, address)
            for bound, bound_port in self._bound
            for address in candidates
        )

    def reaches_self(self, peer: tuple[Any, ...], local: tuple[Any, ...] | None) -> bool:
        """Is an open connection's peer (`getpeername()`) this emulator's listener?"""
        address = _address(str(peer[0]))
        if address is None:
            return False
        mine = _address(str(local[0])) if local else None
        port = int(peer[1])
        for bound, bound_port in self._bound:
            if bound_port != port:
                continue
            if _any(bound) and (address.is_loopback or address == mine):
                return True
            if self._matches(bound, address):
                return True
        return False

    @staticmethod
    def _candidates(host: str) -> list[_Address]:
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost") or name == _hostname():
            return [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
        address = _address(name)
        return [] if address is None else [address]

    @staticmethod
    def _matches(bound: _Address, address: _Address) -> bool:
        if _any(bound):
            return address.is_loopback or address.is_unspecified
        if address == bound:
            return True
        # connecting to 0.0.0.0 (or ::) reaches the local host's listeners
        return bound.is_loopback and address.is_unspecified


def _hostname() -> str:
    return socket.gethostname().lower()
