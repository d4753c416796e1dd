"""The console's static files at /_emulator/ui: types, caching, 404s, traversal, the token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import Serve, Served, StartEmulator
from multidict import CIMultiDict

from emulator.console.routes import load_assets

FILES = {
    "app.js": "text/javascript",
    "style.css": "text/css",
    "timeline.js": "text/javascript",
    "index.html": "text/html",
}


async def get(url: str, **kw: Any) -> tuple[int, CIMultiDict[str], bytes]:
    async with aiohttp.ClientSession() as s, s.get(url, allow_redirects=False, **kw) as r:
        return r.status, r.headers.copy(), await r.read()


def test_the_package_ships_every_file_the_page_loads() -> None:
    assets = load_assets()
    html = assets["index.html"].body.decode()
    for src in re.findall(r'(?:src|href)="/_emulator/ui/([^"]+)"', html):
        assert src in assets, src
    for name, asset in assets.items():
        if name.endswith(".js"):  # every module another one imports is shipped too
            for imported in re.findall(r'from "\./([^"]+)"', asset.body.decode()):
                assert imported in assets, (name, imported)


@pytest.mark.parametrize("path", ["/_emulator/ui", "/_emulator/ui/", "/_emulator/ui/index.html"])
async def test_the_page_is_html_never_cached_and_talks_to_the_emulator_only(
    start_emulator: StartEmulator, path: str
) -> None:
    emu = await start_emulator()
    status, headers, body = await get(emu.url + path)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert b'<script type="module" src="/_emulator/ui/app.js">' in body
    assert b"http://" not in body and b"https://" not in body  # no CDN, nothing remote


@pytest.mark.parametrize(("name", "kind"), sorted(FILES.items()))
async def test_assets_have_their_type_and_revalidate_by_etag(
    start_emulator: StartEmulator, name: str, kind: str
) -> None:
    emu = await start_emulator()
    status, headers, body = await get(f"{emu.url}/_emulator/ui/{name}")
    assert status == 200
    assert headers["Content-Type"] == f"{kind}; charset=utf-8"
    if name == "index.html":
        return
    assert headers["Cache-Control"] == "no-cache"
    assert body == load_assets()[name].body
    status, again, body = await get(
        f"{emu.url}/_emulator/ui/{name}", headers={"If-None-Match": headers["ETag"]}
    )
    assert (status, body) == (304, b"")
    assert again["ETag"] == headers["ETag"]


@pytest.mark.parametrize(
    "tail",
    [
        "nope.js",
        "routes.py",
        "__init__.py",
        "..%2Froutes.py",
        "%2e%2e%2froutes.py",
        "%2E%2E/routes.py",
        "../routes.py",
        "..%5croutes.py",
        "static%2fapp.js",
        "..%252froutes.py",
        ".hidden",
        "app.js%00.css",
        "APP.JS",
    ],
)
async def test_unknown_files_and_traversal_are_json_404s(
    start_emulator: StartEmulator, tail: str
) -> None:
    emu = await start_emulator()
    async with (
        aiohttp.ClientSession() as s,
        s.get(yarl_url(f"{emu.url}/_emulator/ui/{tail}")) as r,
    ):
        assert r.status == 404, tail
        assert r.content_type == "application/json"
        body = await r.json()
    assert body["state"] == "failed" and body["error_description"]
    assert b"import" not in str(body).encode()  # no file content leaks into the error


def yarl_url(text: str) -> Any:
    import yarl

    return yarl.URL(text, encoded=True)  # sent exactly as written, %-escapes and all


async def test_with_a_control_token_the_page_and_every_asset_need_it(serve: Serve) -> None:
    served: Served = await serve("--control-token", "s3cr&t/")
    ui = served.url + "/_emulator/ui"
    assert (await get(ui))[0] == 401
    assert (await get(ui + "/app.js"))[0] == 401
    status, headers, body = await get(ui + "?token=s3cr%26t%2F")
    assert status == 200
    html = body.decode()
    # every URL the page loads carries the token, and an import map hands it to each module
    assert '"/_emulator/ui/app.js?token=s3cr%26t%2F"' in html
    assert '"/_emulator/ui/style.css?token=s3cr%26t%2F"' in html
    assert '"/_emulator/ui/timeline.js": "/_emulator/ui/timeline.js?token=s3cr%26t%2F"' in html
    nonce = re.search(r'<script type="importmap" nonce="([^"]+)">', html)
    assert nonce and f"'nonce-{nonce[1]}'" in headers["Content-Security-Policy"]
    for name in ("app.js", "timeline.js", "style.css"):
        assert (await get(f"{ui}/{name}?token=s3cr%26t%2F"))[0] == 200
    assert (await get(ui + "/app.js?token=wrong"))[0] == 401


ROOT = Path(__file__).resolve().parent.parent


def test_a_wheel_carries_the_static_folder() -> None:
    """pyproject's package-data names every file of emulator/console/static/."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["emulator"]
    static = ROOT / "emulator" / "console" / "static"
    files = [p.relative_to(ROOT / "emulator").as_posix() for p in static.iterdir()]
    assert files
    assert all(any(fnmatch(f, pattern) for pattern in patterns) for f in files), files
    assert sorted(p.name for p in static.iterdir()) == sorted(load_assets())  # all are served


def test_ci_installs_chromium_and_requires_the_browser_tests() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    readme = (ROOT / "README.md").read_text()
    assert lines[-1] in readme  # the README's test command, verbatim, last
    text = "\n".join(lines)
    assert "apt-get install -y" in text and "chromium" in text
    assert text.index("BROADCAST_EMULATOR_BROWSER_TESTS=required") < text.index(lines[-1])


@pytest.mark.parametrize(
    ("required", "outcome"), [("", "1 skipped"), ("required", "1 error")], ids=["skip", "fail"]
)
def test_without_a_browser_the_browser_tests_skip_unless_required(
    required: str, outcome: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCAST_EMULATOR_")}
    env["BROADCAST_EMULATOR_CHROMIUM"] = "/nonexistent/chromium"
    env["BROADCAST_EMULATOR_BROWSER_TESTS"] = required
    test = "tests/test_console_page.py::test_the_timeline_works_from_the_keyboard"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-rsf", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in run.stdout, run.stdout
    assert (run.returncode != 0) == bool(required)  # required: the run fails, never skips
    assert "no Chromium found (apt-get install -y chromium)" in run.stdout
