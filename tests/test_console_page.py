"""The console page in headless Chromium against a stand-in backend (tests/console_fake.py):
what the real emulator cannot be made to do on demand, such as a stream that drops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from console_browser import Browser, browser_or_skip
from console_fake import FakeBackend


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async for b in browser_or_skip(tmp_path / "profile"):
        yield b


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    backend = await FakeBackend(numbers=300).start()
    yield backend
    await backend.close()


async def open_console(browser: Browser, url: str, hash_: str = "") -> Any:
    page = await browser.page()
    await page.goto(f"{url}/_emulator/ui{hash_}")
    await page.wait_for_selector("body[data-ready=true]")
    return page


async def open_live(browser: Browser, url: str) -> Any:
    """The console, once its stream is live."""
    page = await open_console(browser, url)
    await page.wait_for_function(
        "document.querySelector('#stream-status').textContent.includes('live')"
    )
    return page


async def test_a_dropped_stream_is_marked_and_the_page_reconnects(
    browser: Browser, fake: FakeBackend
) -> None:
    page = await open_live(browser, fake.url)
    status = page.locator("#stream-status")
    fake.drop_streams()
    # EventSource comes back by itself; the page says the stream dropped and that it came back
    log = page.locator("#stream-log")
    await log.get_by_text("stream dropped").wait_for()
    await log.get_by_text("stream reconnected").wait_for()
    assert "live" in await status.text_content()
    assert fake.opened == 2


async def test_a_busy_emulator_sampling_the_stream_is_marked_without_a_reload(
    browser: Browser, fake: FakeBackend
) -> None:
    page = await open_live(browser, fake.url)
    busy = {"type": "dropped", "reason": "busy", "count": 1200, "sample": 8}
    for queue in fake.queues:
        queue.put_nowait(busy)
        queue.put_nowait({**busy, "count": 900})
    log = page.locator("#stream-log")
    mark = log.get_by_text("the emulator is busy: this page is shown 1 call in 8")
    await mark.wait_for()
    await page.wait_for_function(
        "document.querySelector('#stream-log').textContent.includes('(\u00d72)')"
    )  # one mark that counts up, not one line per notice
    assert await log.get_by_text("the view was reloaded").count() == 0
    assert "live" in await page.locator("#stream-status").text_content()


async def test_pause_freezes_the_view_while_messages_arrive(
    browser: Browser, fake: FakeBackend
) -> None:
    page = await open_live(browser, fake.url)
    await page.get_by_role("button", name="pause the view").click()
    created = {
        "type": "broadcast",
        "change": "created",
        "broadcast_id": "b-new",
        "name": "Late",
        "state": "running",
        "virtual_time": "2026-01-01T09:00:41.000Z",
        "progress": {"total": 5, "finished": 0, "in_progress": 0, "pending": 5},
    }
    for queue in fake.queues:
        queue.put_nowait(created)
    await page.wait_for_function(
        "document.querySelector('#stream-status').textContent.includes('1 new')"
    )
    assert await page.locator("#broadcast-list li").count() == 1  # frozen: "Late" not shown
    await page.get_by_role("button", name="resume the view").click()
    await page.locator("#broadcast-list").get_by_text("Late").wait_for()
    assert await page.locator("#broadcast-list li").count() == 2


async def test_a_deep_link_opens_the_call_and_survives_a_reload(
    browser: Browser, fake: FakeBackend
) -> None:
    page = await open_console(browser, fake.url, "#/p/fake-app/b/b-0001/c/v-250")
    title = page.locator("#call-title")
    await title.wait_for()
    assert await title.text_content() == "Call +15550000250 · attempt 1"
    await page.reload()
    await page.wait_for_selector("body[data-ready=true]")
    assert await page.locator("#call-title").text_content() == "Call +15550000250 · attempt 1"
    assert page.url.endswith("#/p/fake-app/b/b-0001/c/v-250")


async def test_the_timeline_works_from_the_keyboard(browser: Browser, fake: FakeBackend) -> None:
    page = await open_console(browser, fake.url, "#/p/fake-app/b/b-0001")
    await page.wait_for_function("window.__console.timeline.rowAt(3) !== undefined")
    grid = page.get_by_role("region", name="timeline rows")
    await grid.focus()
    for key in ("ArrowDown", "ArrowDown", "ArrowDown"):
        await page.keyboard.press(key)
    assert "row 4 of 300: +15550000003" in await page.locator("#tl-live").text_content()
    await page.keyboard.press("Enter")
    await page.locator("#call-title").wait_for()
    assert page.url.endswith("/c/v-3")
    await page.keyboard.press("Escape")
    await page.wait_for_function("!location.hash.includes('/c/')")
    await page.locator("#call").wait_for(state="hidden")


@pytest.mark.parametrize("token", [None, "t/1"])
async def test_the_page_runs_under_its_own_content_security_policy(
    tmp_path: Path, token: str | None
) -> None:
    """Same-origin only, no eval, no inline script but the import map of a token (by nonce):
    the page loads, draws and streams, and with a token every request it makes carries it."""
    fake = await FakeBackend(numbers=300, token=token).start()
    query = "" if token is None else "?token=t%2F1"
    async for strict in browser_or_skip(tmp_path / "strict", bypass_csp=False):
        page = await strict.page()
        await page.add_init_script(VIOLATIONS)
        await page.goto(f"{fake.url}/_emulator/ui{query}#/p/fake-app/b/b-0001")
        await page.wait_for_selector("body[data-ready=true]")
        await page.locator("#stream-status").get_by_text("live").wait_for()
        assert await page.evaluate("window.__console.metrics.draws") > 0
        assert await page.evaluate("window.__violations") == []
    await fake.close()
    assert fake.refused == []


VIOLATIONS = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"""


async def test_without_a_broadcast_shown_the_timeline_draws_nothing(
    browser: Browser, fake: FakeBackend
) -> None:
    """Clock messages move virtual now; with no broadcast open the timeline must not draw (it
    once drew an axis from the epoch to now, 120,000 ticks, blocking the page for seconds)."""
    page = await open_console(browser, fake.url, "#/p/fake-app")
    await page.locator("#stream-status").get_by_text("live").wait_for()
    for second in range(41, 45):
        clock = {
            "type": "clock",
            "change": "jump",
            "mode": "manual",
            "pending": 0,
            "now": f"2026-01-01T09:00:{second}.000Z",
            "virtual_time": f"2026-01-01T09:00:{second}.000Z",
        }
        for queue in fake.queues:
            queue.put_nowait(clock)
    await page.locator("#clock-now").get_by_text("09:00:44.000").wait_for()
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert await page.evaluate("window.__console.metrics.draws") == 0


async def test_an_unknown_broadcast_in_a_link_says_so(browser: Browser, fake: FakeBackend) -> None:
    page = await open_console(browser, fake.url, "#/p/fake-app/b/no-such-broadcast")
    await page.get_by_text("The timeline could not be read").wait_for()


async def test_every_control_has_a_name_and_is_reachable(
    browser: Browser, fake: FakeBackend
) -> None:
    page = await open_console(browser, fake.url, "#/p/fake-app/b/b-0001/c/v-1")
    await page.locator("#call-title").wait_for()
    unnamed = await page.evaluate(UNNAMED)
    assert unnamed == [], unnamed
    # Tab goes through the controls in order, the timeline's rows included
    reached = set()
    for _ in range(80):
        await page.keyboard.press("Tab")
        reached.add(await page.evaluate("document.activeElement.getAttribute('aria-label') || ''"))
    assert "advance the clock 1 second" in reached
    assert any(name.startswith("timeline rows") for name in reached)
    assert "close the call panel" in reached


UNNAMED = """[...document.querySelectorAll('button, select, input, [tabindex]')]
  .filter((el) => !el.closest('[hidden]'))
  .filter((el) => !(el.getAttribute('aria-label') || el.textContent.trim()
                    || (el.labels && el.labels.length)))
  .map((el) => el.outerHTML.slice(0, 80))"""
