"""Webhook encryption as Node's `crypto.createDecipher(x-algoritm, APP_ID)` reads it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

import pytest
from conftest import Receiver, StartEmulator
from sample_clients import node_create_decipher

from emulator.cli import build_parser, main, settings_from_args
from emulator.webhooks.crypto import AES_CIPHERS, BodyEncoder, evp_bytes_to_key, node_encrypt

APP_ID = "5f1e99bf90ce3c3ccsc52e6462"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")

# What every sample's webhook handler does with an encrypted body (fact sheet §D).
_NODE_DECRYPT = r"""
const { createDecipher } = require('crypto');
const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = items.map(({ headers, body, appId }) => {
  const key = createDecipher(headers['x-algoritm'], appId);
  let text = key.update(body.encrypted_data, headers['x-format'], headers['x-encoding']);
  text += key.final(headers['x-encoding']);
  return JSON.parse(text);
});
process.stdout.write(JSON.stringify(out));
"""


def node_decrypt_all(items: list[dict[str, Any]]) -> list[Any]:
    """Decrypt `{headers, body, appId}` items in one Node process, as the sample apps do."""
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--no-deprecation", "-e", _NODE_DECRYPT],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_fact_sheet_vector_is_pinned() -> None:
    key, iv = evp_bytes_to_key(APP_ID.encode(), 32)
    assert key.hex().startswith("e3cfa7af") and key.hex().endswith("4ed54526")
    assert iv.hex() == "7baed10b64cf40ec0a592aad344486a8"
    assert node_encrypt(b'{"a":1}', "aes256", APP_ID) == "01iqodQMOgR+8IqeKPZXzg=="


def test_encoder_body_and_headers_decrypt_independently() -> None:
    event = {"state": "connected", "voice_id": "v-1", "text": "héllo ✓"}
    body, headers = BodyEncoder("aes256", APP_ID).encode(event)
    assert headers["x-algoritm"] == "aes256" and headers["x-format"] == "base64"
    assert headers["x-encoding"] == "utf8" and headers["Content-Type"] == "application/json"
    data = json.loads(body)["encrypted_data"]
    assert json.loads(node_create_decipher("aes256", APP_ID, data, "base64")) == event
    body, headers = BodyEncoder("aes256", APP_ID, "hex").encode(event)
    assert headers["x-format"] == "hex"
    data = json.loads(body)["encrypted_data"]
    assert json.loads(node_create_decipher("aes256", APP_ID, data, "hex")) == event


def test_plain_mode_sends_the_event_itself() -> None:
    body, headers = BodyEncoder("none", APP_ID).encode({"state": "connected"})
    assert json.loads(body) == {"state": "connected"} and "x-algoritm" not in headers


@pytest.mark.parametrize("name", ["aes-256-gcm", "md5", "des"])
def test_ciphers_node_cannot_read_without_a_tag_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unsupported webhook cipher"):
        BodyEncoder(name, APP_ID)


def test_serve_refuses_an_unknown_cipher(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--webhook-encryption", "md5"]) == 2
    assert "unsupported webhook cipher" in capsys.readouterr().err


def test_flags_reach_the_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--webhook-encryption", "aes192", "--webhook-format", "hex"]
    )
    settings = settings_from_args(args)
    assert (settings.webhook_encryption, settings.webhook_format) == ("aes192", "hex")


@needs_node
def test_node_decrypts_every_cipher_name_and_format() -> None:
    names = [*sorted(AES_CIPHERS), "AES256", "Aes-128-CBC"]
    event = {"playstate": "digitcollected", "digit": "1", "text": "naïve ✓" * 5}
    items = []
    for name in names:
        for fmt in ("base64", "hex"):
            body, headers = BodyEncoder(name, APP_ID, fmt).encode(event)
            items.append({"headers": headers, "body": json.loads(body), "appId": APP_ID})
    assert node_decrypt_all(items) == [event] * len(items)


@needs_node
@pytest.mark.parametrize("fmt", ["base64", "hex"])
async def test_node_decrypts_every_webhook_of_a_broadcast(
    fmt: str, start_emulator: StartEmulator, receiver: Receiver
) -> None:
    run = await start_emulator(app_id=APP_ID, webhook_encryption="aes256", webhook_format=fmt)
    await run.api.create(["919876543210", "919800000001"], receiver, number_of_retries=1)

    async def all_delivered() -> None:
        while len(receiver.events) < 2 or "encrypted_data" not in receiver.events[-1]:
            await asyncio.sleep(0.005)
        await run.api.run_until_idle()

    await asyncio.wait_for(all_delivered(), 10)
    deliveries = (await run.api.control("GET", "/webhooks"))["deliveries"]
    assert all(d["state"] == "delivered" for d in deliveries)
    items = [
        {"headers": {k.lower(): v for k, v in h.items()}, "body": b, "appId": APP_ID}
        for h, b in zip(receiver.headers, receiver.events, strict=True)
    ]
    decrypted = node_decrypt_all(items)

    def canonical(events: list[Any]) -> list[str]:
        return sorted(json.dumps(e, sort_keys=True) for e in events)

    assert canonical(decrypted) == canonical([d["payload"] for d in deliveries])
    assert decrypted[-1]["resultSet"] == {
        "successfull_calls": 1,
        "failed_calls": 1,
        "total_calls": 2,
    }
    assert all(i["headers"]["x-format"] == fmt for i in items)
