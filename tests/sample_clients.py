"""Webhook receivers that behave like EnableX's sample apps, for re-enacting their flows.

A `SampleApp` answers webhooks the way the Node samples do (decrypting `{encrypted_data}` with the
APP_ID when asked to, or always, like the 2020 Outbound-Inbound client), records each decoded event,
and runs the app's reaction (its API calls) before it answers, so that with the auto clock and
`settle_ms=0` the reaction happens at the event's virtual instant.

The decryption here is written independently of `emulator.webhooks.crypto`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Event = dict[str, Any]
Reaction = Callable[[Event], Awaitable[None]]
_KEY_BYTES = {"aes128": 16, "aes192": 24, "aes256": 32}


def node_create_decipher(algorithm: str, password: str, data: str, fmt: str) -> str:
    """Node's `createDecipher(algorithm, password)` for AES-CBC names, as the samples call it."""
    name = algorithm.lower()
    key_len = _KEY_BYTES.get(name) or int(name.split("-")[1]) // 8
    material, block = b"", b""
    while len(material) < key_len + 16:
        block = hashlib.md5(block + password.encode()).digest()
        material += block
    key, iv = material[:key_len], material[key_len : key_len + 16]
    raw = bytes.fromhex(data) if fmt == "hex" else base64.b64decode(data)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    return padded[: -padded[-1]].decode("utf-8")


class SampleApp:
    """One sample app's webhook side: decode, record, react."""

    def __init__(self, app_id: str, always_decrypt: bool = False) -> None:
        self.app_id = app_id
        self.always_decrypt = always_decrypt
        self.events: list[Event] = []
        self.headers: list[dict[str, str]] = []
        self.react: Reaction | None = None
        self.errors: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.headers.append(headers)
        if self.always_decrypt or "x-algoritm" in headers:
            if "x-algoritm" not in headers:  # what the always-decrypting family does: 500, drop
                self.errors.append("no x-algoritm header")
                return web.Response(status=500)
            text = node_create_decipher(
                headers["x-algoritm"], self.app_id, body["encrypted_data"], headers["x-format"]
            )
            body = json.loads(text)
        self.events.append(body)
        if self.react is not None:
            await self.react(body)
        return web.Response(status=200)

    # -- reading what happened -------------------------------------------------------------
    def completion(self) -> Event | None:
        done = [e for e in self.events if "resultSet" in e]
        return done[-1] if done else None

    def for_voice(self, voice_id: str) -> list[Event]:
        return [e for e in self.events if e.get("voice_id") == voice_id]

    def names(self, voice_id: str) -> list[str]:
        """The event names of one call, each tagged by its kind and prompt_ref."""
        out = []
        for e in self.for_voice(voice_id):
            if "playstate" in e:
                out.append(f"play:{e['playstate']}:{e.get('prompt_ref')}")
            else:
                out.append(e["state"])
        return out

    def voice_ids(self) -> list[str]:
        """Voice ids in the order their first event arrived."""
        return list(dict.fromkeys(e["voice_id"] for e in self.events if "voice_id" in e))


@contextlib.asynccontextmanager
async def serving(app: SampleApp, tls: ssl.SSLContext | None = None) -> AsyncIterator[SampleApp]:
    """Serve `app` on 127.0.0.1:0 (HTTPS when `tls` is given) for the duration of the block."""
    web_app = web.Application()
    web_app.router.add_post("/{tail:.*}", app.handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    app.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield app
    finally:
        await runner.cleanup()
