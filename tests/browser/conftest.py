"""What the browser tests share: Debian's Chromium driven by Playwright (never a downloaded browser), one
``segflow local up`` for the session, and where screenshots go."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import LocalEndpoint, start_local_endpoint

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as root in a closed network: no sandbox, no background connections (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("SEGFLOW_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


def _browser_missing() -> str | None:
    if CHROMIUM.exists():
        return None
    if os.environ.get("SEGFLOW_REQUIRE_BROWSER"):  # CI installs it: missing there is a failure
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    return f"{CHROMIUM} is not installed (apt-get install chromium)"


# Package-scoped, not session-scoped: playwright's sync API keeps an event loop running in the worker's main
# thread while it is open, and a later test of the same worker could then not asyncio.run anything.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def endpoint() -> Iterator[LocalEndpoint]:
    with start_local_endpoint("consoletest") as started:
        yield started


def screenshot(page: Any, name: str) -> Path:
    """A screenshot of the viewport, kept as a test artifact (docs/ holds copies of the ones it shows)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=str(shot))
    return shot
