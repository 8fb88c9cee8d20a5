"""The person, played by a test: a `Handover` that acts on the live page with Playwright while
valet waits, the way a person at the browser window would."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from playwright.async_api import Page

from valet.agent import HandBack
from valet.browser import BrowserSession
from valet.sites import DEMO_EMAIL, DEMO_PASSWORD

TEST_CARD = ("4242 4242 4242 4242", "12/30", "123")


@dataclass
class PlaysPerson:
    """Takes the browser when valet stops for the person, does `act` on the page, hands back.

    Pass `attach` as `run_task(on_session=...)` so it gets the run's browser."""

    act: Callable[[Page], Awaitable[None]]
    session: BrowserSession | None = None
    reasons: list[str] = field(default_factory=lambda: list[str]())
    """Why valet handed over, each time."""
    asks: list[str] = field(default_factory=lambda: list[str]())
    """Takeovers the person asks for (`requested`), consumed one per step."""

    def attach(self, session: BrowserSession) -> None:
        self.session = session

    async def requested(self) -> str | None:
        return self.asks.pop(0) if self.asks else None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        assert self.session is not None, "pass on_session=person.attach to run_task"
        self.reasons.append(reason)
        started = time.monotonic()
        page = await self.session.live_page()
        await self.act(page)
        return HandBack("person:test", time.monotonic() - started, url, page.url)


async def sign_in(page: Page, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> None:
    """Sign in on the login form that is open, and wait for the page it leads to."""
    form = page.locator("form", has=page.locator("input[type=password]")).first
    await form.locator("input[type=email]").fill(email)
    await form.locator("input[type=password]").fill(password)
    async with page.expect_navigation():
        await form.locator("[type=submit]").click()


async def type_card(page: Page, card: tuple[str, str, str] = TEST_CARD) -> None:
    """Type the card number, expiry and security code into the open payment form."""
    number, expiry, code = card
    await page.locator("input[autocomplete=cc-number]").fill(number)
    await page.locator("input[autocomplete=cc-exp]").fill(expiry)
    await page.locator("input[autocomplete=cc-csc]").fill(code)


async def nothing(page: Page) -> None:
    """A person who looks and hands the browser straight back."""
