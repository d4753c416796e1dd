"""The console in headless Firefox (Debian's firefox-esr) against the real emulator.

Firefox speaks WebDriver BiDi itself, so no geckodriver is needed: tests/console_firefox.mjs
drives it with puppeteer-core (pinned below, installed by npm into tests/.cache/ on first use;
it never downloads a browser), one JSON command a line over stdin and stdout. The test stays in
charge: it creates broadcasts and reads the webhooks its receiver got, while the page acts with
real clicks and keys, under its own Content-Security-Policy (nothing bypasses it). Everything
the page reports (console errors, uncaught errors, failed requests, HTTP errors, CSP
violations, a mark in the page's own log) fails the test.

Without firefox-esr, Node or the npm package the tests skip, saying why; with
BROADCAST_EMULATOR_BROWSER_TESTS=required (set by .ci/run, the same switch as the Chromium
tests) they fail instead. BROADCAST_EMULATOR_FIREFOX names another Firefox binary.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Receiver, StartEmulator, until
from console_browser import missing
from console_fake import FakeBackend

# the puppeteer-core release made for Firefox 140, the ESR that Debian ships: later releases send
# BiDi commands that 140 does not know (emulation.setScreenOrientationOverride, from setViewport)
PUPPETEER = "24.14.0"
ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "tests" / ".cache" / "puppeteer"
SCRIPT = ROOT / "tests" / "console_firefox.mjs"
STYLE = ROOT / "emulator" / "console" / "static" / "style.css"
MENU = {"play": {"text": "Press one for sales", "dtmf": True, "prompt_ref": "menu"}}
ANSWER_TIMEOUT_S = 90.0  # one command of the driver, launch included, on a busy machine
ANSWER_BYTES = 64 * 1024 * 1024  # one answer line (a report lists every request of the page)


def firefox_path() -> str | None:
    named = os.environ.get("BROADCAST_EMULATOR_FIREFOX")
    if named:
        return named if Path(named).exists() else None
    for name in ("firefox-esr", "firefox"):
        found = shutil.which(name)
        if found:
            return found
    return None


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    found = re.match(r"v(\d+)\.", out.stdout.strip())
    return int(found.group(1)) if found else None


def installed_version() -> str | None:
    manifest = CACHE / "node_modules" / "puppeteer-core" / "package.json"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return str(version)


@contextlib.contextmanager
def install_lock() -> Iterator[None]:
    """One npm install at a time (pytest-xdist workers may all want it at once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_puppeteer() -> Path:
    """tests/.cache/puppeteer with puppeteer-core at the pinned version, installed if needed."""
    if installed_version() == PUPPETEER:
        return CACHE
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed (it installs puppeteer-core, which drives Firefox)")
    with install_lock():
        if installed_version() != PUPPETEER:
            command = [npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix"]
            command += [str(CACHE), f"puppeteer-core@{PUPPETEER}"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                missing(f"`npm install puppeteer-core@{PUPPETEER}` took over 300 s")
            if done.returncode != 0 or installed_version() != PUPPETEER:
                lines = [x for x in done.stderr.splitlines() if "complete log" not in x]
                said = "; ".join(x.strip() for x in lines[:3]) or "no output"
                missing(f"`npm install puppeteer-core@{PUPPETEER}` failed: {said}")
    return CACHE


@pytest.fixture(scope="session")
def puppeteer_dir() -> Path:
    path = firefox_path()
    if path is None:
        missing("no Firefox found (apt-get install -y firefox-esr)")
    major = node_major()
    if major is None or major < 18:
        missing("Node.js 18 or newer is needed to drive Firefox (apt-get install -y nodejs)")
    return ensure_puppeteer()


class DriverError(AssertionError):
    """A command the page could not carry out (a wait timed out, an element never showed)."""


class Firefox:
    """One headless Firefox, driven through tests/console_firefox.mjs."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.count = 0
        self.version = ""

    async def send(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.count += 1
        line = json.dumps({"id": self.count, "op": op, "args": args}) + "\n"
        self.proc.stdin.write(line.encode())
        await self.proc.stdin.drain()
        return await self.answer(self.count, f"{op} {args}")

    async def answer(self, wanted: int, what: str) -> Any:
        assert self.proc.stdout is not None
        while True:
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), ANSWER_TIMEOUT_S)
            except TimeoutError:
                raise DriverError(f"no answer to {what}; driver log:\n{self.tail()}") from None
            if not raw:
                raise DriverError(f"the driver exited during {what}; its log:\n{self.tail()}")
            message = json.loads(raw)
            if message.get("id") != wanted:
                continue
            if not message["ok"]:
                raise DriverError(f"{what}: {message['error']}")
            return message["value"]

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-30:])
        except OSError:
            return "(none)"

    # -- the page ---------------------------------------------------------------------------
    async def open_console(self, url: str, suffix: str = "", **size: int) -> None:
        await self.send("open", url=f"{url}/_emulator/ui{suffix}", **size)
        await self.wait("document.body.dataset.ready === 'true'")
        await self.wait("document.querySelector('#stream-status').textContent.includes('live')")

    async def wait(self, expr: str, timeout_ms: int = 15_000) -> Any:
        return await self.send("wait", expr=expr, timeout=timeout_ms)

    async def eval(self, expr: str) -> Any:
        return await self.send("eval", expr=expr)

    async def click(self, element: str) -> None:
        await self.send("click", expr=element)

    async def press(self, key: str) -> None:
        await self.send("press", key=key)

    async def shows(self, selector: str, text: str) -> None:
        """Wait until the element `selector` is shown and holds `text`."""
        await self.wait(f"{shown(selector)} && {q(selector)}.textContent.includes({js(text)})")

    async def report(self) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = await self.send("report")
        return seen

    async def assert_clean(self) -> None:
        """Nothing went wrong in the page: no error of any kind, no request failed or refused,
        and the page's own log under the header is empty."""
        seen = await self.report()
        problems = seen["errors"] + seen["failed"] + seen["http"]
        assert not problems, "\n".join([*problems, "warnings:", *seen["warnings"]])
        log = await self.eval("document.querySelector('#stream-log').textContent")
        assert log == "", log

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(DriverError, ConnectionError, OSError):
                await self.send("close")
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def js(value: Any) -> str:
    return json.dumps(value)


def q(selector: str) -> str:
    return f"document.querySelector({js(selector)})"


def shown(selector: str) -> str:
    return f"({q(selector)} && {q(selector)}.getClientRects().length > 0)"


def button(scope: str, name: str, exact: bool = True) -> str:
    """The button under `scope` whose accessible name (aria-label, else text) is `name`."""
    test = "=== n" if exact else ".includes(n)"
    return (
        f"((n) => [...document.querySelectorAll({js(scope + ' button')})].find((b) => "
        f"(b.getAttribute('aria-label') || b.textContent).trim(){test}))({js(name)})"
    )


@pytest.fixture
async def firefox(puppeteer_dir: Path, tmp_path: Path) -> AsyncIterator[Firefox]:
    profile = tmp_path / "profile"
    profile.mkdir()
    log = tmp_path / "driver.log"
    env = {
        **os.environ,
        "FIREFOX": str(firefox_path()),
        "PUPPETEER_DIR": str(puppeteer_dir),
        "PROFILE": str(profile),
        "MOZ_CRASHREPORTER_DISABLE": "1",
    }
    with log.open("wb") as errors:
        proc = await asyncio.create_subprocess_exec(
            shutil.which("node") or "node", str(SCRIPT), env=env, cwd=tmp_path,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=errors,
            limit=ANSWER_BYTES,
        )  # fmt: skip
    browser = Firefox(proc, log)
    try:
        browser.version = await browser.answer(0, "the launch of Firefox")
        yield browser
    finally:
        await browser.close()


# -- the tests ---------------------------------------------------------------------------------
NAME_W, AXIS_H, ROW_H = 190, 26, 24  # the timeline's layout (emulator/console/static/paint.js)
EVENTS = "#call table[aria-label='events sent to the app']"
FOCUS = (
    "(() => { const a = document.activeElement; return a === document.body ? 'nothing' : "
    "`${a.getAttribute('aria-label') || a.textContent.trim()} in "
    "${(a.closest('[id]') || {}).id}`; })()"
)
# per row of the timeline's canvas: is its number written (dark pixels on the left), and how
# many colours has its bar (each state has its colour and pattern); called with the layout
PAINTED = """((rows, axisH, rowH, nameW) => {
  const canvas = document.querySelector('.tl-canvas');
  const ctx = canvas.getContext('2d');
  const k = canvas.width / canvas.clientWidth;
  const at = (v) => Math.round(v * k);
  const pixels = (x, y, w, h) => ctx.getImageData(at(x), at(y), at(w), at(h)).data;
  const colours = (data) => {
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4) {
      seen.add(((data[i] >> 4) << 8) + ((data[i + 1] >> 4) << 4) + (data[i + 2] >> 4));
    }
    return seen.size;
  };
  const inked = (data) => data.some((v, i) => i % 4 === 0 && v < 128 && data[i + 3] > 0);
  const tops = [...Array(rows).keys()].map((n) => axisH + n * rowH);
  const bar = canvas.clientWidth - nameW - 12;
  return {
    names: tops.map((y) => inked(pixels(4, y + 4, 120, 16))),
    colours: tops.map((y) => colours(pixels(nameW, y + 4, bar, 16))),
  };
})"""
SCROLL_AND_WAIT = """(async (index, rowH) => {
  const t = window.__console.timeline;
  const started = performance.now();
  t.scroller.scrollTop = index * rowH;
  while (t.rowAt(index) === undefined) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - started;
})"""


def events(receiver: Receiver, number: str) -> list[tuple[str, Any]]:
    return [
        (e.get("state") or e.get("playstate"), e.get("reason")) for e in receiver.for_number(number)
    ]


def digit_collected(receiver: Receiver) -> dict[str, Any] | None:
    return next((e for e in receiver.events if e.get("playstate") == "digitcollected"), None)


async def tick_until(ff: Firefox, text: str) -> None:
    """Press the page's +1 s until "waiting for you" shows `text` (a few virtual seconds)."""
    waiting = f"{shown('#waiting-list')} && {q('#waiting-list')}.textContent.includes({js(text)})"
    for _ in range(12):
        try:
            await ff.wait(waiting, timeout_ms=1000)
            return
        except DriverError:
            await ff.click(button("#clock", "advance the clock 1 second"))
    await ff.wait(waiting)


async def tab_to(ff: Firefox, name: str, where: str, stay: bool = True, back: bool = False) -> None:
    """Tab (Shift+Tab with `back`) to the control named `name` in the element of id `where`;
    with `stay`, the focus must not leave that element on the way."""
    for _ in range(40):
        focused = await ff.eval(FOCUS)
        if focused == f"{name} in {where}":
            return
        assert not stay or focused.endswith(f" in {where}"), f"the focus left {where}: {focused}"
        await ff.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {name} (last: {await ff.eval(FOCUS)})")


async def test_in_firefox_a_broadcast_appears_live_and_a_person_answers_presses_1_and_hangs_up(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    emu = await start_emulator(clock="manual")
    await firefox.open_console(emu.url)
    assert firefox.version.startswith("firefox/"), firefox.version
    await firefox.wait(shown("#no-broadcasts"))
    before = len((await firefox.report())["requests"])
    number = "+15550000009"
    created = await emu.api.create([number, "+15550000101"], receiver, action_on_connect=MENU)
    await firefox.wait(button("#broadcast-list", "test campaign", exact=False))
    requested = (await firefox.report())["requests"][before:]
    # from the stream: the page did not reload its broadcast list to see it
    assert not [r for r in requested if "/broadcasts" in r], requested
    await tick_until(firefox, "waiting for: answer")
    assert ("connected", None) not in events(receiver, number)
    await firefox.click(button("#waiting-list", "answer"))
    await until(lambda: ("connected", None) in events(receiver, number))
    await tick_until(firefox, "waiting for: press")
    await firefox.click(button("#waiting-list", f"open the call to {number}"))
    await firefox.shows("#call-title", number)
    await firefox.click(button("#call", "press 1"))
    await until(lambda: digit_collected(receiver) is not None)
    assert (digit_collected(receiver) or {})["digit"] == "1"
    await firefox.shows("#call table[aria-label='requests that touched this call']", "/press")
    await firefox.click(button("#call", "hang up"))
    await until(lambda: any(name == "disconnected" for name, _ in events(receiver, number)))
    assert ("disconnected", "callee-hangup") in events(receiver, number)
    await firefox.shows("#call", "callee-hangup")
    await firefox.wait(f"{q('#call .trigger-hangup')}.disabled")
    title = await firefox.eval(f"{q('#call .trigger-hangup')}.title")
    assert title and title != "hang up", title  # disabled, saying why
    assert f"/b/{created['broadcast_id']}/c/" in await firefox.eval("location.hash")
    await firefox.assert_clean()


async def test_in_firefox_a_person_plays_the_callee_with_the_keyboard_alone(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    """The call panel redraws on every event of its call: the focus stays on its buttons; and
    the page hears from the stream when the call starts waiting for a person."""
    emu = await start_emulator(clock="manual")
    number = "+15550000009"
    await firefox.open_console(emu.url)
    await emu.api.create([number], receiver, action_on_connect=MENU)
    await emu.api.advance(2)
    await firefox.shows("#waiting-list", "waiting for: answer")
    await firefox.eval("document.activeElement.blur(), true")
    await tab_to(firefox, f"open the call to {number}", "waiting-list", stay=False)
    await firefox.press("Enter")
    await firefox.shows("#call-title", number)
    await tab_to(firefox, "answer", "call", stay=False)  # on through the page to the panel
    await firefox.press("Enter")
    await until(lambda: ("connected", None) in events(receiver, number))
    await firefox.wait(f"{q('#call .trigger-answer')}.disabled")  # redrawn: answered
    assert (await firefox.eval(FOCUS)) == "hang up in call"  # the next button that can act
    # every webhook so far is delivered and shown: from here only the stream's "waiting"
    # message tells the page that the menu now waits for a person
    await until(lambda: ("initiated", None) in events(receiver, number)[3:])
    await firefox.wait(f"{q(EVENTS)}?.textContent.split('✓ delivered').length === 5")
    voice_id = (await firefox.eval("location.hash")).rsplit("/c/", 1)[1]
    for _ in range(12):  # the prompt plays (the clock moves by the API here, not the page)
        call = await emu.api.control("GET", f"/calls/{voice_id}")
        if "press" in call["allowed"]:
            break
        await emu.api.advance(1)
    await firefox.shows("#waiting-list", "waiting for: press")
    await firefox.wait(f"!{button('#call', 'press 1')}.disabled")
    assert (await firefox.eval(FOCUS)) == "hang up in call"
    await tab_to(firefox, "press 1", "call", back=True)
    await firefox.press("Enter")
    await until(lambda: digit_collected(receiver) is not None)
    assert (digit_collected(receiver) or {})["digit"] == "1"
    await firefox.wait(f"{button('#call', 'press 1')}.disabled")
    await tab_to(firefox, "hang up", "call")
    await firefox.press("Enter")
    await until(lambda: ("disconnected", "callee-hangup") in events(receiver, number))
    await firefox.shows("#call", "callee-hangup")
    await firefox.wait("document.activeElement.closest('#call') !== null")
    await firefox.assert_clean()


async def test_in_firefox_tab_reaches_the_buttons_and_the_keys_work(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create(["+15550000101", "+15550000102"], receiver)
    await firefox.open_console(emu.url)
    await firefox.wait(button("#broadcast-list", "test campaign", exact=False))
    # from the top of the page, Tab reaches the clock's "+10 s" and Enter presses it
    await firefox.eval("document.activeElement.blur(), true")
    await tab_to(firefox, "advance the clock 10 seconds", "clock", stay=False)
    ring = await firefox.eval("getComputedStyle(document.activeElement).outlineStyle")
    assert ring == "solid", ring  # the visible focus ring of :focus-visible
    await firefox.press("Enter")
    await firefox.shows("#clock-now", "09:00:10.000")
    # the tab bar: → shows the journal, ← the broadcasts again
    await firefox.eval(f"{q('#tab-broadcasts')}.focus(), true")
    await firefox.press("ArrowRight")
    await firefox.wait("document.activeElement.id === 'tab-requests'")
    await firefox.shows("#panel-requests", "/voice/v1/broadcast")
    await firefox.press("ArrowLeft")
    await firefox.wait(f"!{q('#panel-broadcasts')}.hidden")
    # Tab on into the broadcast list, Enter opens the broadcast; in the timeline ↓ and Enter
    # open the second number's call, Escape closes it
    await firefox.press("Tab")
    await firefox.wait("document.activeElement.closest('#broadcast-list') !== null")
    await firefox.press("Enter")
    await firefox.wait("window.__console.timeline.rowAt(1) !== undefined")
    await tab_to(firefox, "timeline rows: arrow keys move, Enter opens the call, + and - zoom",
                 "timeline", stay=False)  # fmt: skip
    await firefox.press("ArrowDown")
    await firefox.press("Enter")
    await firefox.shows("#call-title", "+15550000102")
    await firefox.press("Escape")
    await firefox.wait(f"{q('#call')}.hidden")
    await firefox.assert_clean()


async def test_in_firefox_the_timeline_is_drawn_answers_the_pointer_and_survives_a_reload(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create(["+15550000101", "+15550000002", "+15550000001"], receiver)
    await emu.api.advance(8)
    await firefox.open_console(emu.url)
    await firefox.click(button("#broadcast-list", "test campaign", exact=False))
    await firefox.wait("window.__console.timeline.rowAt(2) !== undefined")
    await firefox.wait("window.__console.metrics.draws > 0")
    painted = await firefox.eval(f"{PAINTED}(3, {AXIS_H}, {ROW_H}, {NAME_W})")
    # every row has its number written and a bar of several colours (the states' patterns)
    assert painted["names"] == [True, True, True], painted
    assert all(n >= 3 for n in painted["colours"]), painted
    box = await firefox.eval(f"{q('.tl-scroll')}.getBoundingClientRect().toJSON()")
    # the pointer over the first row's bar: the tooltip names the number and the attempt
    x = box["left"] + NAME_W + 0.25 * (box["width"] - NAME_W - 12)
    await firefox.send("move", x=x, y=box["top"] + AXIS_H + ROW_H / 2)
    await firefox.wait(f"!{q('.tl-tip')}.hidden")
    tip = await firefox.eval(f"{q('.tl-tip')}.textContent")
    assert "+15550000101" in tip and "attempt 1" in tip, tip
    # a click on the second row opens its call; a reload (the modules revalidated from the
    # cache) opens it again from the address, and leaves no error behind
    await firefox.send("clickAt", x=x, y=box["top"] + AXIS_H + ROW_H * 1.5)
    await firefox.shows("#call-title", "+15550000002")
    await firefox.send("reload")
    await firefox.wait("document.body.dataset.ready === 'true'")
    await firefox.shows("#call-title", "+15550000002")
    await firefox.wait("window.__console.timeline.rowAt(2) !== undefined")
    assert await firefox.eval("window.__console.timeline.selected") == 1
    # away to another page and back: the same, with its stream live again
    await firefox.send("goto", url="about:blank")
    await firefox.send("back")
    await firefox.wait("document.body.dataset.ready === 'true'")
    await firefox.shows("#stream-status", "live")
    await firefox.shows("#call-title", "+15550000002")
    await firefox.assert_clean()


async def test_in_firefox_a_10000_number_broadcast_loads_and_stays_responsive(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    emu = await start_emulator(clock="manual")
    body = emu.api.create_body([f"+1555{n:07d}" for n in range(10_000)], receiver)
    del body["action_on_connect"]
    status, created = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, created
    await emu.api.advance(5)
    bid = created["broadcast_id"]
    await firefox.open_console(emu.url, f"#/p/{emu.emulator.app_id}/b/{bid}")
    await firefox.wait("window.__console.timeline.total === 10000")
    await firefox.eval("window.__console.metrics.maxDrawMs = 0")  # the first draw loads fonts
    took = await firefox.eval(f"{SCROLL_AND_WAIT}(5000, {ROW_H})")
    took_end = await firefox.eval(f"{SCROLL_AND_WAIT}(9999, {ROW_H})")
    metrics = await firefox.eval("window.__console.metrics")
    nodes = await firefox.eval("document.getElementsByTagName('*').length")
    assert took < 5000 and took_end < 5000, (took, took_end)
    assert metrics["maxDrawMs"] < 250, metrics
    assert nodes < 5000, nodes  # never one DOM node per number or event
    assert await firefox.eval(shown("canvas.tl-lanes"))  # aggregate lanes per state
    await firefox.assert_clean()


async def test_in_firefox_a_dropped_stream_is_marked_and_the_page_reconnects(
    firefox: Firefox,
) -> None:
    """Against the stand-in backend, which can end the stream on demand: Firefox's EventSource
    comes back by itself and the page says it dropped and came back."""
    fake = await FakeBackend(numbers=30).start()
    try:
        await firefox.open_console(fake.url)
        fake.drop_streams()
        await firefox.shows("#stream-log", "stream dropped")
        await firefox.shows("#stream-log", "stream reconnected")
        await firefox.shows("#stream-status", "live")
        assert fake.opened == 2
        seen = await firefox.report()
        assert not seen["errors"] + seen["http"], seen
    finally:
        await fake.close()


def declarations(css: str) -> list[tuple[list[str], list[tuple[str, str]]]]:
    """([selector], [(property, value)]) of every rule of the console's style sheet."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        pairs = []
        for part in body.split(";"):
            if ":" in part:
                prop, value = part.split(":", 1)
                pairs.append((prop.strip(), value.replace("!important", "").strip()))
        selectors = [" ".join(one.split()) for one in re.split(r",(?![^(]*\))", selector)]
        rules.append((selectors, pairs))
    return rules


REFUSED = """((rules) => {
  const out = [];
  for (const [selectors, pairs] of rules) {
    for (const one of selectors) if (!CSS.supports(`selector(${one})`)) out.push(`selector ${one}`);
    for (const [prop, value] of pairs)
      if (!CSS.supports(prop, value)) out.push(`${selectors} { ${prop}: ${value} }`);
  }
  return out;
})"""


async def test_in_firefox_with_a_token_the_modules_style_and_stream_all_load(
    start_emulator: StartEmulator, receiver: Receiver, firefox: Firefox
) -> None:
    """The modules come through the import map and the stream opens, all with the token; the
    style sheet is understood whole (Firefox drops a rule or declaration it cannot parse)."""
    emu = await start_emulator(clock="manual", control_token="t0k/en")
    await firefox.open_console(emu.url, "?token=t0k%2Fen")  # ready and live: modules, stream
    body = emu.api.create_body(["+15550000101"], receiver)
    await emu.api.call("POST", "/voice/v1/broadcast", body)
    await firefox.wait(button("#broadcast-list", "test campaign", exact=False))
    await firefox.click(button("#clock", "advance the clock 10 seconds"))
    await firefox.shows("#clock-now", "09:00:10.000")
    seen = await firefox.report()
    ours = [r for r in seen["requests"] if "/_emulator/" in r]
    assert len(ours) > 15 and all("token=t0k%2Fen" in r for r in ours), ours
    rules = declarations(STYLE.read_text())
    assert len(rules) > 50
    assert await firefox.eval(f"{REFUSED}({js(rules)})") == []
    assert await firefox.eval("document.styleSheets[0].cssRules.length") == len(rules)
    await firefox.assert_clean()


# -- without a browser -------------------------------------------------------------------------
def test_ci_installs_firefox_and_requires_the_browser_tests() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    text = "\n".join(lines)
    assert "apt-get install -y" in text and "firefox-esr" in text
    assert text.index("BROADCAST_EMULATOR_BROWSER_TESTS=required") < text.index(lines[-1])
    assert "tests/.cache/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("firefox", "no Firefox found (apt-get install -y firefox-esr)"),
        ("node", "Node.js 18 or newer is needed to drive Firefox"),
    ],
)
@pytest.mark.parametrize(("required", "outcome"), [("", "1 skipped"), ("required", "1 error")])
def test_without_firefox_or_node_the_firefox_tests_skip_unless_required(
    cause: str, reason: str, required: str, outcome: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROADCAST_EMULATOR_")}
    env["BROADCAST_EMULATOR_BROWSER_TESTS"] = required
    if cause == "firefox":
        env["BROADCAST_EMULATOR_FIREFOX"] = "/nonexistent/firefox"
    else:  # a Firefox, but no node on the PATH
        env["BROADCAST_EMULATOR_FIREFOX"] = sys.executable  # any file: it is never started
        env["PATH"] = str(Path(sys.executable).parent)
    test = ["tests/test_console_firefox.py", "-k", "dropped_stream"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-rsf", *test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in run.stdout, run.stdout
    assert (run.returncode != 0) == bool(required)  # required: the run fails, never skips
    assert reason in run.stdout, run.stdout
