"""Giving the browser to the person from the terminal (until the web app's live view takes over).

`TerminalHandover` is for `valet run --headed` on a terminal: when the page needs the person
(or they press Ctrl-\\ to ask for the browser), it says why and waits for Enter while they act
in the visible window. `DemoHandover` plays the person in `valet demo`: it signs in to the demo
shop or types its test card into the live page by code, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from types import FrameType

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from rich.console import Console
from rich.text import Text

from valet._progress import ProgressView
from valet.agent import HandBack
from valet.browser import BrowserSession

TAKE_OVER_KEY = "Ctrl-\\"
_TAKE_OVER_SIGNAL = getattr(signal, "SIGQUIT", None)


@dataclass
class TerminalHandover:
    """The person takes the visible browser window and presses Enter to hand it back."""

    console: Console
    progress: ProgressView | None = None
    session: BrowserSession | None = None
    _asked: bool = field(default=False, init=False)

    def attach(self, session: BrowserSession) -> None:
        """Receive the run's browser (`run_task(on_session=...)`), to read where it was left."""
        self.session = session

    @contextlib.contextmanager
    def listening(self) -> Generator[None]:
        """While inside, Ctrl-\\ (SIGQUIT) asks for the browser at the agent's next step."""
        if _TAKE_OVER_SIGNAL is None:
            yield
            return

        def ask(signum: int, frame: FrameType | None) -> None:
            self._asked = True

        previous = signal.signal(_TAKE_OVER_SIGNAL, ask)
        try:
            yield
        finally:
            signal.signal(_TAKE_OVER_SIGNAL, previous)

    async def requested(self) -> str | None:
        if not self._asked:
            return None
        self._asked = False
        return f"you pressed {TAKE_OVER_KEY} to take over"

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        started = time.monotonic()
        with self.progress.paused() if self.progress else contextlib.nullcontext():
            self.console.print(
                Text.assemble(
                    ("valet stops for you: ", "bold magenta"),
                    (reason, "bold"),
                    f"\n      page: {url}\n      the browser window is yours: do what is needed "
                    "there (valet never sees what you type), then come back here.",
                )
            )
            try:
                await asyncio.to_thread(input, "      press Enter to hand the browser back ")
            except EOFError:
                return None
        after = self.session.page_url if self.session is not None else url
        return HandBack("person:terminal", time.monotonic() - started, url, after)


@dataclass
class DemoHandover:
    """The demo plays the person: it signs in with the demo account, or types the demo shop's
    test card, into the live page by code, the way the person would in the window."""

    console: Console
    email: str
    password: str
    card: tuple[str, str, str] = ("4242 4242 4242 4242", "12/30", "123")
    """Card number, expiry, security code."""
    session: BrowserSession | None = None

    def attach(self, session: BrowserSession) -> None:
        self.session = session

    async def requested(self) -> str | None:
        return None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        started = time.monotonic()
        self.console.print(
            Text.assemble(
                ("valet stops for you: ", "bold magenta"),
                (reason, "bold"),
                ("\n      → the person (played by the demo) takes over the browser…", "magenta"),
            )
        )
        if self.session is None:
            return None
        page = await self.session.live_page()
        try:
            acted = await self._sign_in(page) or await self._pay(page)
        except PlaywrightError as exc:
            self.console.print(Text(f"      the demo could not do it: {exc.message}", "red"))
            return None
        if not acted:
            self.console.print(Text("      the demo does not know what to do here", "red"))
            return None
        self.console.print(Text(f"      ← {acted}; the browser goes back to valet", "magenta"))
        return HandBack("person:demo", time.monotonic() - started, url, page.url)

    async def _sign_in(self, page: Page) -> str | None:
        password = page.locator("input[type=password]").first
        if not await password.count():
            return None
        form = page.locator("form", has=password).first
        await form.locator("input[type=email], input[autocomplete=username]").first.fill(self.email)
        await password.fill(self.password)
        async with page.expect_navigation():
            await form.locator("[type=submit]").first.click()
        return f"signed in as {self.email}"

    async def _pay(self, page: Page) -> str | None:
        number = page.locator("input[autocomplete=cc-number]").first
        if not await number.count():
            return None
        await number.fill(self.card[0])
        await page.locator("input[autocomplete=cc-exp]").first.fill(self.card[1])
        await page.locator("input[autocomplete=cc-csc]").first.fill(self.card[2])
        return "typed the demo shop's test card"
