"""Drop-in HTTPS: the `cert` subcommand, serving the API over TLS, and HTTPS webhook receivers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from conftest import StartEmulator
from cryptography import x509
from sample_clients import SampleApp, serving

from emulator import Settings
from emulator.cli import main, serve
from emulator.tls import CertPaths, write_certificates

HOST = "api.enablex.io"
NODE = shutil.which("node")


def test_cert_subcommand_writes_ca_and_server_certificate(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert main(["cert", "--host", HOST, "--host", "voice.enablex.io", "--out", str(out)]) == 0
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    assert server.issuer == ca.subject
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [HOST, "voice.enablex.io", "localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    for key in ("ca-key.pem", "server-key.pem"):
        assert stat.S_IMODE(os.stat(out / key).st_mode) == 0o600
    # a second run reuses the CA, so a client trusts it once
    ca_before = (out / "ca.pem").read_bytes()
    server_before = (out / "server.pem").read_bytes()
    assert main(["cert", "--host", "api-qa.enablex.io", "--out", str(out), "--no-local"]) == 0
    assert (out / "ca.pem").read_bytes() == ca_before
    assert (out / "server.pem").read_bytes() != server_before
    server = x509.load_pem_x509_certificate((out / "server.pem").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["api-qa.enablex.io"]


class _HostsFile(AbstractResolver):
    """Resolves every name to 127.0.0.1, like a hosts-file entry would."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


@pytest.fixture
def certs(tmp_path: Path) -> CertPaths:
    return write_certificates(tmp_path, (HOST,))


@pytest.fixture
async def tls_emulator(certs: CertPaths) -> AsyncIterator[int]:
    """`serve` with --tls-cert/--tls-key on a free port; yields the port."""
    settings = Settings(
        port=0, tls_cert=str(certs.server_cert), tls_key=str(certs.server_key), settle_ms=0
    )
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, ready=ready.set_result))
    url = await asyncio.wait_for(ready, 10)
    assert url.startswith("https://")
    yield int(url.rsplit(":", 1)[1])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _auth() -> dict[str, str]:
    s = Settings()
    token = base64.b64encode(f"{s.app_id}:{s.app_key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_api_served_over_tls_for_the_real_host_name(
    tls_emulator: int, certs: CertPaths
) -> None:
    trust = ssl.create_default_context(cafile=str(certs.ca_cert))
    connector = aiohttp.TCPConnector(resolver=_HostsFile(), ssl=trust)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"https://{HOST}:{tls_emulator}/voice/v1/broadcast/nope"
        async with session.get(url, headers=_auth()) as resp:
            assert resp.status == 404
            assert resp.content_type == "application/json"
            assert (await resp.json())["error_description"] == "Application Not Found"


async def test_tls_needs_the_local_ca(tls_emulator: int) -> None:
    connector = aiohttp.TCPConnector(resolver=_HostsFile(), ssl=ssl.create_default_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await session.get(f"https://{HOST}:{tls_emulator}/voice/v1/broadcast/x")


# A Node client as the samples write it: https.request to the hard-coded host; the test
# stands in for the hosts-file entry with `lookup`, and trusts the CA via NODE_EXTRA_CA_CERTS.
_NODE_CLIENT = r"""
const https = require('https');
const [port, auth] = process.argv.slice(1);
const lookup = (host, opts, cb) => opts && opts.all
  ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
const body = JSON.stringify({ name: 'TEST_APP', from: '919999999999',
  broadcast_numbers: JSON.stringify([{ phone: '919876543210' }]),
  event_url: 'http://127.0.0.1:9/event' });
const req = https.request({ host: 'api.enablex.io', port, path: '/voice/v1/broadcast',
  method: 'POST', lookup, headers: { Authorization: auth, 'Content-Type': 'application/json' } },
  (res) => { let d = ''; res.on('data', (c) => { d += c; });
    res.on('end', () => { const m = JSON.parse(d);
      process.stdout.write(JSON.stringify({ status: res.statusCode, state: m.state })); }); });
req.on('error', (e) => { process.stderr.write(e.message); process.exit(3); });
req.end(body);
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_node_client_trusts_the_ca_with_node_extra_ca_certs(
    tls_emulator: int, certs: CertPaths
) -> None:
    assert NODE is not None
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(certs.ca_cert)}
    proc = await asyncio.create_subprocess_exec(
        NODE,
        "-e",
        _NODE_CLIENT,
        str(tls_emulator),
        _auth()["Authorization"],
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == {"status": 200, "state": "broadcastcall_initiated"}


def _receiver_tls(certs: CertPaths) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    return context


async def _one_broadcast(start_emulator: StartEmulator, app: SampleApp, **settings: Any) -> Any:
    run = await start_emulator(webhook_attempts=1, **settings)
    body = {"broadcast_numbers_array": ["919800000004"], "action_on_connect": None}
    receiver_like = type("R", (), {"url": app.url})()
    await run.api.create(["919800000004"], receiver_like, **body)
    await run.api.run_until_idle()
    for _ in range(1000):
        log = (await run.api.control("GET", "/webhooks"))["deliveries"]
        if log and all(d["state"] != "pending" for d in log):
            return log
        await asyncio.sleep(0.005)
    raise AssertionError("deliveries still pending")


async def test_webhooks_reach_self_signed_https_receivers(
    start_emulator: StartEmulator, certs: CertPaths
) -> None:
    async with serving(SampleApp("x"), tls=_receiver_tls(certs)) as app:
        assert app.url.startswith("https://")
        log = await _one_broadcast(start_emulator, app)
    assert [d["state"] for d in log] == ["delivered"] * len(log)
    assert [e["state"] for e in app.events] == [
        "initiated",
        "initiated",
        "disconnected",
        "completed",
    ]


async def test_webhook_verify_tls_refuses_an_untrusted_receiver(
    start_emulator: StartEmulator, certs: CertPaths
) -> None:
    async with serving(SampleApp("x"), tls=_receiver_tls(certs)) as app:
        log = await _one_broadcast(start_emulator, app, webhook_verify_tls=True)
    assert app.events == []
    assert {d["state"] for d in log} == {"dead"}
    assert "certificate" in log[0]["attempts"][0]["error"].lower()


@pytest.mark.skipif(NODE is None, reason="node is not installed")
async def test_node_2020_client_runs_unmodified_over_drop_in_https(certs: CertPaths) -> None:
    """A Node client written like the 2020 samples, against `serve` with TLS and encryption:
    it reaches its completion event, and its short character-count Content-Length gets JSON."""
    assert NODE is not None
    app_id, app_key = "5f1e99bf90ce3c3ccsc52e6462", "secret-key"
    settings = Settings(
        port=0,
        app_id=app_id,
        app_key=app_key,
        tls_cert=str(certs.server_cert),
        tls_key=str(certs.server_key),
        webhook_encryption="aes256",
        settle_ms=100,  # the samples answer a webhook first, then call the API
    )
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, ready=ready.set_result))
    port = (await asyncio.wait_for(ready, 10)).rsplit(":", 1)[1]
    script = Path(__file__).parent / "node" / "broadcast_2020.js"
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(certs.ca_cert)}
    try:
        proc = await asyncio.create_subprocess_exec(
            NODE,
            "--no-deprecation",
            str(script),
            port,
            app_id,
            app_key,
            "919876543210",
            "919999999999",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["short_content_length"] == {"status": 400, "state": "failed"}
    assert summary["chain"] == ["connected", "menu", "hangup", "disconnected", "complete:1/0"]
    assert summary["events"] == [
        "initiated",
        "initiated",
        "ringing",
        "connected",
        "play:initiated:1",
        "play:playfinished:1",
        "play:initiated:2",
        "play:menutimeout:2",
        "disconnected",
        "broadcastcomplete",
    ]
    assert [r["status"] for r in summary["responses"]] == [200, 202, 200]


async def test_python_client_trusts_the_ca_with_ssl_cert_file(
    tls_emulator: int, certs: CertPaths
) -> None:
    """docs/drop-in.md: `SSL_CERT_FILE=certs/ca.pem` for clients on Python's default context."""
    import sys

    code = (
        "import json, urllib.request;"
        f"print(json.load(urllib.request.urlopen('https://127.0.0.1:{tls_emulator}"
        "/_emulator/health'))['status'])"
    )
    env = {**os.environ, "SSL_CERT_FILE": str(certs.ca_cert)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "ok"


@pytest.mark.parametrize("which", ["missing", "no key"])
def test_serve_names_a_bad_certificate_file(
    which: str, certs: CertPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = "/nonexistent/server.pem" if which == "missing" else str(certs.ca_cert)
    assert main(["serve", "--port", "0", "--tls-cert", cert]) == 2
    (line,) = capsys.readouterr().err.splitlines()  # one line naming the flag and the file
    assert line.startswith(f"broadcast-emulator serve: error: --tls-cert {cert}"), line
