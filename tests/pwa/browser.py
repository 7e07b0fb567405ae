"""Browser fixtures and helpers shared by the PWA's end-to-end tests (tests/test_pwa_*.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import PASSWORD
from tests.pwa.support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, FRONTEND

PHONE = {"width": 360, "height": 740}
TABLET = {"width": 1024, "height": 800}
AXE = FRONTEND / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        # Not a skip: `make test` must run these. CI (.ci/run) installs it with apt-get.
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium chromium-driver, or set CHROMIUM"
        )

    # Playwright's sync API keeps an event loop in this thread; the ORM calls in these tests are
    # still plain synchronous calls made between browser steps.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def new_context(browser: Any, viewport: dict[str, int] = PHONE, *, locale: str = "en-GB") -> Any:
    context = browser.new_context(viewport=viewport, locale=locale, service_workers="allow")
    context.clock.install(time=timezone.now())
    # The site's CSP (script-src 'self') refuses an injected <script> tag, so axe-core goes in as an
    # init script (added by the browser, outside the page's CSP); every CSP violation is recorded.
    context.add_init_script(path=str(AXE))
    context.add_init_script(
        script="window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sign_in(page: Any, base: str, email: str, *, heading: str) -> None:
    page.goto(f"{base}/app/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", level=1, name=heading).wait_for()


def axe_check(page: Any, screen: str) -> None:
    """No serious or critical WCAG 2.1 A/AA violation and no CSP violation on this screen; saves its
    screenshot."""
    ARTIFACTS.joinpath("pwa").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pwa" / f"{screen}.png"), full_page=True)
    assert page.evaluate("window.__csp") == [], screen
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}));
        }"""
    )
    serious = [v for v in result if v["impact"] in {"serious", "critical"}]
    assert serious == [], f"{screen}: {serious}"


def wait_for_service_worker(page: Any, timeout_s: float = 30.0) -> None:
    """Until a service worker controls the page. Polled with ``page.evaluate`` (run through the
    DevTools protocol): ``wait_for_function`` polls with an ``eval`` inside the page, which the app's
    Content Security Policy (no 'unsafe-eval') refuses whenever its first check is not already true."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate("() => Boolean(navigator.serviceWorker && navigator.serviceWorker.controller)"):
        if time.monotonic() > deadline:
            raise AssertionError(f"no service worker controls {page.url} after {timeout_s:.0f} s")
        page.wait_for_timeout(100)
