"""Headless Chromium for the console's tests: found, launched and driven with Playwright.

Without a browser (or Playwright) the tests skip, saying why; with the environment variable
BROADCAST_EMULATOR_BROWSER_TESTS=required (set by .ci/run) they fail instead, so CI can never
pass by skipping them. BROADCAST_EMULATOR_CHROMIUM names another Chromium binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = ["ARGS", "Browser", "browser_or_skip", "chromium_path", "missing"]

# flags that work in a container without a display, a GPU or any network
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRED = os.environ.get("BROADCAST_EMULATOR_BROWSER_TESTS", "") == "required"


def missing(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"BROADCAST_EMULATOR_BROWSER_TESTS=required but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str | None:
    named = os.environ.get("BROADCAST_EMULATOR_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class Browser:
    """One fresh browser profile; `page()` opens a tab whose script errors fail the test."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.errors: list[str] = []

    async def page(self, width: int = 1400, height: int = 900) -> Any:
        page = await self.context.new_page()
        await page.set_viewport_size({"width": width, "height": height})
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        return page


async def browser_or_skip(profile: Path, *, bypass_csp: bool = True) -> AsyncIterator[Browser]:
    """A fresh profile in `profile`. Playwright's polling waits evaluate strings, which the
    page's Content-Security-Policy forbids: tests that wait so bypass it (one test does not)."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("Playwright is not installed (pip install -e '.[test]')")
    path = chromium_path()
    if path is None:
        missing("no Chromium found (apt-get install -y chromium)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=path, args=ARGS, headless=True, bypass_csp=bypass_csp
        )
        context.set_default_timeout(15_000)  # a wait that fails fails quickly
        browser = Browser(context)
        try:
            yield browser
        finally:
            await context.close()
        assert not browser.errors, browser.errors
