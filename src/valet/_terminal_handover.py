"""Giving the browser to the person from the terminal (until the web app's live view takes over).

`TerminalHandover` is for `valet run --headed` on a terminal: when the page needs the person
(or they press Ctrl-\\ to ask for the browser), it says why and waits for Enter while they act
in the visible window. (`valet demo` plays the person through the server's API instead.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from types import FrameType

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
