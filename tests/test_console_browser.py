"""The console in headless Chromium against the real emulator: a broadcast appears live, a call
opens, a person answers, presses 1 and hangs up from the page, and the webhooks reach the app;
a 10,000-number broadcast stays responsive; the docs' screenshots are made here."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Receiver, Running, StartEmulator, until
from console_browser import Browser, browser_or_skip

IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"


def screenshot_folder(tmp_path: Path) -> Path:
    """docs/images when its screenshots are missing or BROADCAST_EMULATOR_SCREENSHOTS is set;
    otherwise a temporary folder (they show real latencies, so every run differs a little and
    would otherwise rewrite the committed images each time)."""
    wanted = ("console.png", "console-call.png")
    if os.environ.get("BROADCAST_EMULATOR_SCREENSHOTS") or not all(
        (IMAGES / name).exists() for name in wanted
    ):
        return IMAGES
    return tmp_path


MENU = {"play": {"text": "Press one for sales", "dtmf": True, "prompt_ref": "menu"}}


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async for b in browser_or_skip(tmp_path / "profile"):
        yield b


async def open_console(browser: Browser, url: str, hash_: str = "", **size: int) -> Any:
    page = await browser.page(**size)
    await page.goto(f"{url}/_emulator/ui{hash_}")
    await page.wait_for_selector("body[data-ready=true]")
    await live(page)
    return page


async def live(page: Any) -> None:
    await page.wait_for_function(
        "document.querySelector('#stream-status').textContent.includes('live')"
    )


async def rows_loaded(page: Any) -> None:
    await page.wait_for_function("window.__console.timeline.rowAt(0) !== undefined")


def events(receiver: Receiver, number: str) -> list[tuple[str, Any]]:
    return [
        (e.get("state") or e.get("playstate"), e.get("reason")) for e in receiver.for_number(number)
    ]


async def test_a_broadcast_appears_live_and_a_call_opens(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    page = await open_console(browser, emu.url)
    assert await page.locator("#no-broadcasts").is_visible()
    created = await emu.api.create(["+15550000101", "+15550000001"], receiver)
    item = page.locator("#broadcast-list").get_by_role("button", name="test campaign")
    await item.wait_for()  # from the stream: nobody reloaded the page
    await page.get_by_role("button", name="advance the clock 10 seconds").click()
    await page.locator("#clock-now").get_by_text("09:00:10.000").wait_for()
    await item.click()
    assert page.url.endswith(f"#/p/{emu.emulator.app_id}/b/{created['broadcast_id']}")
    await rows_loaded(page)
    await page.get_by_role("region", name="timeline rows").focus()
    await page.keyboard.press("Enter")  # the first row's last attempt
    title = page.locator("#call-title")
    await title.wait_for()
    assert "+15550000101" in (await title.text_content() or "")
    table = page.locator("#call table[aria-label='events sent to the app']")
    await table.get_by_text("initiated").first.wait_for()
    assert await table.get_by_text("✓ delivered").count() >= 2
    await page.get_by_role("tab", name="Requests (journal)").click()
    await page.locator("#panel-requests").get_by_text("/voice/v1/broadcast").first.wait_for()
    await page.get_by_role("tab", name="Deliveries").click()
    await page.locator("#panel-deliveries").get_by_text("initiated").first.wait_for()


async def _interactive(emu: Running, receiver: Receiver, page: Any, number: str) -> None:
    """Create a broadcast to an interactive callee and let it ring (the page's +1 s button)."""
    await emu.api.create([number], receiver, action_on_connect=MENU)
    await tick_until(page, "waiting for: answer")


async def tick_until(page: Any, text: str) -> None:
    """Press +1 s until the "waiting for you" list shows `text` (a few virtual seconds)."""
    from playwright.async_api import TimeoutError as Timeout

    shown = page.locator("#waiting-list").get_by_text(text)
    for _ in range(12):
        try:
            await shown.wait_for(timeout=1000)
            return
        except Timeout:
            await page.get_by_role("button", name="advance the clock 1 second").click()
    await shown.wait_for()


async def test_be_the_callee_answer_press_1_and_hang_up(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    page = await open_console(browser, emu.url)
    number = "+15550000009"
    await _interactive(emu, receiver, page, number)
    assert ("connected", None) not in events(receiver, number)
    # answer: from the "waiting for you" list at the top of the page
    await page.locator("#waiting-list").get_by_role("button", name="answer", exact=True).click()
    await until(lambda: ("connected", None) in events(receiver, number))
    # the prompt plays; then the menu waits for a person
    await tick_until(page, "waiting for: press")
    waiting = page.locator("#waiting-list")
    await waiting.get_by_role("button", name="open the call to +15550000009").click()
    panel = page.locator("#call")
    press_1 = panel.get_by_role("button", name="press 1", exact=True)
    await press_1.wait_for()
    assert await press_1.is_enabled()
    await press_1.click()
    await until(lambda: any(e.get("playstate") == "digitcollected" for e in receiver.events))
    collected = next(e for e in receiver.events if e.get("playstate") == "digitcollected")
    assert collected["digit"] == "1"
    # the trigger is journalled: it shows among the requests that touched the call
    requests = panel.locator("table[aria-label='requests that touched this call']")
    await requests.get_by_text("/press").wait_for()
    # hang up, from the call panel
    await panel.get_by_role("button", name="hang up").click()
    await until(lambda: any(name == "disconnected" for name, _ in events(receiver, number)))
    await panel.get_by_text("callee-hangup").first.wait_for()
    hangup = panel.get_by_role("button", name="hang up")
    await page.wait_for_function("document.querySelector('#call .trigger-hangup').disabled")
    assert await hangup.get_attribute("title")  # disabled, saying why
    assert await panel.locator(".reasons").count() == 1


async def test_a_button_the_state_does_not_allow_is_disabled_with_the_reason(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    page = await open_console(browser, emu.url)
    await _interactive(emu, receiver, page, "+15550000009")
    await page.locator("#waiting-list").get_by_role("button", name="open the call").click()
    press_1 = page.locator("#call").get_by_role("button", name="press 1", exact=True)
    await press_1.wait_for()
    assert await press_1.is_disabled()
    reason = await press_1.get_attribute("title")
    assert reason and reason != "1"
    assert reason in (await page.locator("#call .reasons").text_content() or "")


async def test_with_a_control_token_the_page_keeps_it_for_every_request(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual", control_token="t0k/en")
    page = await open_console(browser, emu.url, "?token=t0k%2Fen")  # the stream is live too
    await emu.api.call(
        "POST",
        "/voice/v1/broadcast",
        emu.api.create_body(["+15550000101"], receiver),
    )
    await page.locator("#broadcast-list").get_by_text("test campaign").wait_for()
    await page.get_by_role("button", name="advance the clock 10 seconds").click()
    await page.locator("#clock-now").get_by_text("09:00:10.000").wait_for()


async def test_a_10000_number_broadcast_loads_and_stays_responsive(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    numbers = [f"+1555{n:07d}" for n in range(10_000)]
    body = emu.api.create_body(numbers, receiver)
    del body["action_on_connect"]
    status, created = await emu.api.call("POST", "/voice/v1/broadcast", body)
    assert status == 200, created
    await emu.api.advance(5)
    bid = created["broadcast_id"]
    page = await open_console(browser, emu.url, f"#/p/{emu.emulator.app_id}/b/{bid}")
    await page.wait_for_function("window.__console.timeline.total === 10000")
    await page.evaluate("window.__console.metrics.maxDrawMs = 0")  # the first draw loads fonts
    # scroll to the middle and to the end: the rows come a page at a time and draw quickly
    took = await page.evaluate(SCROLL_AND_WAIT, 5000)
    took_end = await page.evaluate(SCROLL_AND_WAIT, 9999)
    metrics = await page.evaluate("window.__console.metrics")
    nodes = await page.evaluate("document.getElementsByTagName('*').length")
    assert took < 5000 and took_end < 5000, (took, took_end)
    assert metrics["maxDrawMs"] < 250, metrics
    assert nodes < 5000, nodes  # never one DOM node per number or event
    assert await page.locator("canvas.tl-lanes").is_visible()  # aggregate lanes per state


SCROLL_AND_WAIT = """async (index) => {
  const t = window.__console.timeline;
  const started = performance.now();
  t.scroller.scrollTop = index * 24;
  while (t.rowAt(index) === undefined) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - started;
}"""


async def test_screenshots_for_the_docs(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser, tmp_path: Path
) -> None:
    """docs/images/console.png and console-call.png, from a realistic state."""
    emu = await start_emulator(clock="manual")
    mixed = [
        "+15550000101",
        "+15550000001",
        "+15550000002",
        "+15550000003",
        "+15550000004",
        "+15550000005",
        "+15550000006",
        "+15550000102",
        "+15550000103",
        "+15550000104",
    ]
    await emu.api.create(
        [f"+1555000{n:04d}" for n in range(201, 213)], receiver, application_name="Reminders"
    )
    await emu.api.run_until_idle()
    await emu.api.create(mixed, receiver, application_name="Spring sale", action_on_connect=MENU)
    await emu.api.advance(4)
    page = await open_console(browser, emu.url, width=1440, height=1180)
    await _interactive(emu, receiver, page, "+15550000009")
    await page.locator("#broadcast-list").get_by_role("button", name="Spring sale").click()
    await page.wait_for_function("window.__console.timeline.total === 10")
    await rows_loaded(page)
    await page.get_by_role("region", name="timeline rows").focus()
    await page.keyboard.press("Enter")
    await page.locator("#call-title").wait_for()
    await page.locator("#health").get_by_text("3 broadcasts in").wait_for()
    await page.locator("#project").get_by_text("3 broadcasts").wait_for(state="attached")
    folder = screenshot_folder(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(folder / "console.png"))
    await page.locator("#waiting-list").get_by_role("button", name="open the call").click()
    await page.locator("#call").get_by_text("waiting for you").wait_for()
    await page.locator("#call").screenshot(path=str(folder / "console-call.png"))
    assert (folder / "console.png").stat().st_size > 10_000


async def test_reject_as_busy_from_the_page(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    page = await open_console(browser, emu.url)
    number = "+15550000009"
    await _interactive(emu, receiver, page, number)
    waiting = page.locator("#waiting-list")
    await waiting.get_by_label("reject as", exact=True).select_option("busy")
    await waiting.get_by_role("button", name="reject as the chosen outcome").click()
    await until(lambda: ("disconnected", "busy") in events(receiver, number))
    await page.locator("#waiting").wait_for(state="hidden")  # nobody is waiting any more


async def test_the_page_chooses_the_project(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    status, other = await emu.api.call(
        "POST", "/_emulator/projects", {"app_id": "billing", "clock": "manual"}, auth=False
    )
    assert status == 201, other
    await emu.api.create(["+15550000101"], receiver, application_name="Default's")
    page = await open_console(browser, emu.url)
    await page.locator("#broadcast-list").get_by_text("Default's").wait_for()
    await page.locator("#project").select_option("billing")
    await page.wait_for_function("location.hash === '#/p/billing'")
    await page.locator("#no-broadcasts").wait_for()
    assert await page.locator("#broadcast-list li").count() == 0
    # a broadcast of that project appears live; the default project's does not show
    pair = base64.b64encode(f"billing:{other['app_key']}".encode()).decode()
    body = emu.api.create_body(["+15550000102"], receiver, application_name="Billing's")
    status, _ = await emu.api.call(
        "POST", "/voice/v1/broadcast", body, auth=False, headers={"Authorization": "Basic " + pair}
    )
    assert status == 200
    await page.locator("#broadcast-list").get_by_text("Billing's").wait_for()
    assert await page.locator("#broadcast-list li").count() == 1
    await page.reload()  # the hash keeps the project
    await page.locator("#broadcast-list").get_by_text("Billing's").wait_for()
    assert await page.locator("#project").input_value() == "billing"


async def test_the_journal_and_delivery_log_filter(
    start_emulator: StartEmulator, receiver: Receiver, browser: Browser
) -> None:
    emu = await start_emulator(clock="manual")
    await emu.api.create(["+15550000101"], receiver)
    await emu.api.call("GET", "/voice/v1/broadcast/nope")
    await emu.api.run_until_idle()
    page = await open_console(browser, emu.url, "#/t/requests")
    panel = page.locator("#panel-requests")
    await panel.get_by_text("/voice/v1/broadcast/nope").wait_for()
    await panel.get_by_label("method").select_option("POST")
    await panel.get_by_text("/voice/v1/broadcast/nope").wait_for(state="detached")
    assert await panel.locator("tbody tr").count() == 1
    await page.get_by_role("tab", name="Deliveries").click()
    deliveries = page.locator("#panel-deliveries")
    await deliveries.locator("tbody tr").first.wait_for()
    await deliveries.get_by_label("event").fill("disconnected")
    await page.wait_for_function(
        "[...document.querySelectorAll('#panel-deliveries tbody tr')].length === 1"
    )
    assert "✓ delivered" in (await deliveries.locator("tbody tr").text_content() or "")
