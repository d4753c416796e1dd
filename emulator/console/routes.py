"""Serves the console's static files (shipped in `emulator/console/static/`) at `/_emulator/ui`.

The files are read once, when the routes are built, and served from memory by exact name: nothing
a request says ever reaches the file system, so no path can leave the folder. The page is the same
for every project (it picks the project itself, CONTRACT §8). With a control token the page is
opened as `/_emulator/ui?token=T`; its HTML then carries the token on its script and style URLs,
and an import map gives it to every module the page imports, so each asset request passes the
token check the control plane applies to every route.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from aiohttp import web

from emulator.api.middleware import CONTROL_PREFIX
from emulator.errors import NotFound

__all__ = ["UI_PATH", "Asset", "console_routes", "load_assets"]

UI_PATH = CONTROL_PREFIX + "/ui"
INDEX = "index.html"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)+")
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain",
}
_TEXT = frozenset({".html", ".js", ".css", ".svg", ".txt"})
# the page talks to the emulator only: no CDN, no other origin, no plugins, no framing
_CSP = (
    "default-src 'self'; script-src 'self'{nonce}; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, as served."""

    body: bytes
    content_type: str
    charset: str | None
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of the static folder by name (the folder is flat)."""
    folder = resources.files("emulator.console").joinpath("static")
    assets: dict[str, Asset] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if not entry.is_file() or suffix not in _TYPES or not _NAME.fullmatch(entry.name):
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        charset = "utf-8" if suffix in _TEXT else None
        assets[entry.name] = Asset(body, _TYPES[suffix], charset, etag)
    return assets


def _index(assets: dict[str, Asset], token: str | None) -> web.Response:
    """The page; with a token, every asset URL it loads carries it (see the module docstring)."""
    html = assets[INDEX].body.decode("utf-8")
    nonce = ""
    if token is not None:
        suffix = "?token=" + quote(token, safe="")
        for name in assets:
            html = html.replace(f'"{UI_PATH}/{name}"', f'"{UI_PATH}/{name}{suffix}"')
        modules = {f"{UI_PATH}/{n}": f"{UI_PATH}/{n}{suffix}" for n in assets if n.endswith(".js")}
        value = secrets.token_urlsafe(16)
        nonce = f" 'nonce-{value}'"
        mapping = json.dumps({"imports": modules})
        tag = f'<script type="importmap" nonce="{value}">{mapping}</script>'
        html = html.replace("<!-- importmap -->", tag, 1)
    return web.Response(
        text=html,
        content_type="text/html",
        headers={
            **_SECURITY,
            "Cache-Control": "no-store",
            "Content-Security-Policy": _CSP.format(nonce=nonce),
        },
    )


_SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _asset(asset: Asset, request: web.Request) -> web.Response:
    headers = {**_SECURITY, "Cache-Control": "no-cache", "ETag": asset.etag}
    if request.headers.get("If-None-Match") == asset.etag:
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=asset.body, content_type=asset.content_type, charset=asset.charset, headers=headers
    )


def console_routes() -> list[web.RouteDef]:
    """`GET /_emulator/ui` (also with a trailing slash) and `GET /_emulator/ui/{file}`."""
    assets = load_assets()

    async def index(request: web.Request) -> web.Response:
        return _index(assets, request.query.get("token"))

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name == INDEX:
            return await index(request)
        found = assets.get(name)
        if found is None:
            raise NotFound(f"no such console file: {name[:100]!r}")
        return _asset(found, request)

    return [
        web.get(UI_PATH, index),
        web.get(UI_PATH + "/", index),
        web.get(UI_PATH + "/{file}", asset),
    ]
