"""Runs browser actions against a `BrowserSession`: the single place where they touch the page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from valet.browser import ActionOutcome, BrowserSession, ByRole, Observation
from valet.tools._browser_actions import (
    BROWSER_ACTIONS,
    Action,
    Back,
    Check,
    Clear,
    Click,
    ClickAt,
    CloseTab,
    Done,
    Download,
    Drag,
    Find,
    Forward,
    Goto,
    Hover,
    HoverAt,
    OpenTab,
    Point,
    Press,
    ReadPage,
    Screenshot,
    Scroll,
    Select,
    SwitchTab,
    Type,
    Upload,
    Wait,
    WaitFor,
)


@dataclass
class BrowserToolbox:
    """The browser toolset: observe the page and carry out one action at a time."""

    session: BrowserSession
    files_dir: Path | None = None
    """Folder `upload` may take files from; uploads are refused when unset."""
    screenshots: bool = False
    """Attach a screenshot with numbered marks to every observation (for vision models)."""

    @property
    def actions(self) -> tuple[type[Action], ...]:
        return BROWSER_ACTIONS

    async def observe(self) -> Observation:
        return await self.session.observe(screenshot=self.screenshots)

    async def execute(self, action: Action) -> ActionOutcome:
        s = self.session
        match action:
            case Goto(url=url):
                return await s.goto(urljoin(s.page_url, url))
            case Click(element=element):
                return await s.click(element)
            case ClickAt(x=x, y=y):
                return await s.click_at(x, y)
            case HoverAt(x=x, y=y):
                return await s.hover_at(x, y)
            case Type(element=element, text=text, submit=submit):
                return await s.type(element, text, submit=submit)
            case Clear(element=element):
                return await s.clear(element)
            case Select(element=element, option=option):
                return await s.select(element, option)
            case Check(element=element, checked=checked):
                return await s.set_checked(element, checked)
            case Press(keys=keys, element=element, times=times):
                return await s.press(keys, element, times)
            case Hover(element=element):
                return await s.hover(element)
            case Scroll(direction=direction, amount=amount, element=element):
                return await s.scroll(direction, amount, element)
            case Drag(source=source, target=target):
                return await s.drag(_spot(source), _spot(target))
            case Upload(element=element, file=file):
                path = self._upload_path(file)
                if isinstance(path, str):
                    return ActionOutcome(ok=False, message=path)
                return await s.upload(element, [path])
            case Wait(seconds=seconds):
                return await s.wait(seconds)
            case WaitFor(text=text, element=element, timeout=timeout):
                return await s.wait_for(text=text, target=element, timeout_s=timeout)
            case Back():
                return await s.back()
            case Forward():
                return await s.forward()
            case OpenTab(url=url):
                return await s.open_tab(None if url is None else urljoin(s.page_url, url))
            case SwitchTab(tab=tab):
                return await s.switch_tab(tab)
            case CloseTab(tab=tab):
                return await s.close_tab(tab)
            case Find(query=query):
                return await s.find(query)
            case ReadPage():
                return await s.read_page()
            case Screenshot():
                return await s.screenshot()
            case Download(element=element, url=url):
                source = element if element is not None else url and urljoin(s.page_url, url)
                if source is None:
                    return ActionOutcome(ok=False, message="download needs an element or a url")
                return await s.download(source)
            case Done():
                return ActionOutcome(ok=True, message="done")
            case _:
                raise TypeError(f"unhandled action {type(action).__name__}")

    @property
    def page_url(self) -> str:
        """The current tab's URL, read live (the gateway checks it before filling a secret)."""
        return self.session.page_url

    async def link_url(self, element: int | ByRole) -> str | None:
        """Where clicking `element` would navigate, when it is a link (for the gateway)."""
        return await self.session.link_url(element)

    async def content_length(self, url: str) -> int | None:
        """The size the server declares for `url`, when it does (for the gateway's download cap)."""
        return await self.session.content_length(urljoin(self.session.page_url, url))

    def _upload_path(self, name: str) -> Path | str:
        if self.files_dir is None:
            return "uploads are not enabled for this task (no files folder was given)"
        folder = self.files_dir.resolve()
        path = (folder / name).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            available = sorted(p.name for p in folder.iterdir() if p.is_file())[:20]
            return f"no file {name!r} in the task's files; available: {available}"
        return path


def _spot(end: int | ByRole | Point) -> int | ByRole | tuple[float, float]:
    return (end.x, end.y) if isinstance(end, Point) else end
