"""The task's browser as a run uses it: opened on the first step that really runs, put back
where the task was after a restart (the saved page, its typed fields, cookies and storage), and
its state saved after every action of a durable run."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from playwright.async_api import Error as PlaywrightError

from valet.agent import Toolbox
from valet.browser import ActionOutcome, BrowserPool, BrowserSession, Observation
from valet.connectors import Toolset, ToolsetAction, ToolsetToolbox
from valet.errors import StartPageUnreachable, StoreUnavailable, ValetError
from valet.gateway import DocumentGuard, GatedToolbox, Gateway, TaskSecrets, Watch
from valet.record import RunRecorder
from valet.runtime._journal import Journal, JournaledToolbox
from valet.runtime._saved_state import (
    PAGE,
    STORAGE,
    SavedState,
    forget_state,
    lost_state,
    read_json,
    saved_state,
)
from valet.tools import Action, BrowserToolbox, Goto

if TYPE_CHECKING:
    from valet.runtime._local import TaskSpec

log = logging.getLogger("valet.runtime")


class BrowserUnavailable(ValetError):
    """The browser could not be started or reached (e.g. a wrong `--cdp-url`)."""


class BrowserCrashed(BrowserUnavailable):
    """The task's browser died under it (killed, crashed, disconnected). A durable run reopens
    it where the task was (`CheckpointedToolbox`); it fails the task when that keeps happening."""


@dataclass
class TaskBrowser:
    """The task's browser, opened on the first step that really runs: at the start URL for a
    new run, or, after a restart, back at the saved page with the saved cookies and storage."""

    spec: TaskSpec
    home: Path
    record: RunRecorder
    gateway: Gateway
    secrets: TaskSecrets
    toolsets: Sequence[Toolset]
    vision: bool
    durable: bool
    journal: Journal
    pool: BrowserPool | None = None
    """The worker's shared browsers: the task gets a context in one (else a browser of its own)."""
    session: BrowserSession | None = None
    on_session: Callable[[BrowserSession], None] | None = None
    watch: Watch | None = None
    """Watch mode: the model's actions on sensitive sites wait until the person watches."""
    _stored: str | None = field(default=None, init=False)
    """The storage state last written (an unchanged one is not written again)."""
    _kept: SavedState | None = field(default=None, init=False)
    """Where the state is kept (chosen at the first start or save)."""
    lost: str | None = None
    """After a restart: what of the task's saved browser could not be restored (the model is
    told at its next observation)."""
    save_with_look: bool = False
    """Each action's save runs while the next look reads the page (see `_SavesState`)."""
    system: Toolbox | None = None
    """The open browser as valet itself uses it (putting the page back, looking up whether an
    interrupted click took effect): navigation rules apply, what the pages said does not."""

    @property
    def state_dir(self) -> Path:
        return self.home / "tasks" / self.record.run_id

    async def start(self, resumed: bool) -> Toolbox:
        if self.session is not None:  # its browser died: this one replaces it
            await self.close()
        if self._kept is None:
            self._kept = await asyncio.to_thread(saved_state, self.home, self.record.run_id)
        if resumed and self.durable:
            try:
                await asyncio.to_thread(self._kept.restore)
            except StoreUnavailable as exc:  # what was not put back is told to the model
                log.warning("could not read the task's saved browser: %s", exc)
            self.lost = lost_state(self.state_dir)
        saved = read_json(self.state_dir / PAGE) if resumed else {}
        state = self.state_dir / STORAGE
        documents = DocumentGuard(self.gateway.gate)
        try:
            cap, _ = self.gateway.gate.policy.download_cap()  # the person's rule, else valet's
            self.session = await BrowserSession.start(
                self.spec.browser.model_copy(update={"download_max_bytes": cap.bytes}),
                self.record.artifacts,
                self.home / "profiles",
                storage_state=state if resumed and state.is_file() else None,
                guard=documents.check,
                egress=documents.connect,
                resolve=documents.addresses,
                pool=self.pool,
            )
        except PlaywrightError as exc:
            raise BrowserUnavailable(_first_line(exc)) from exc
        page = BrowserToolbox(self.session, self.spec.files_dir, screenshots=self.vision)
        journaled = JournaledToolbox(page, self.journal)
        gated = GatedToolbox(
            journaled,
            self.gateway,
            secrets=self.secrets,
            stops=self.spec.stops,
            vault_can_fill=self.secrets.can_fill,
            watch=self.watch,
            sensitive_sites=self.spec.browser.sensitive_sites,
            documents=documents,
        )
        toolbox = ToolsetToolbox(gated, self.gateway, self.toolsets)
        self.system = GatedToolbox(page, self.gateway, actor="system", secrets=self.secrets)
        if resumed and isinstance(url := saved.get("url"), str) and url != "about:blank":
            await self.system.execute(Goto(url=url))
            await self._refill(saved.get("fields"), url)
        elif self.spec.start_url and (not resumed or self.lost is not None):
            opening = GatedToolbox(page, self.gateway, actor="person", secrets=self.secrets)
            opened = await opening.execute(Goto(url=self.spec.start_url))
            if not opened.ok:  # a task that cannot start where it was asked to does not start
                raise StartPageUnreachable(f"{self.spec.start_url}: {opened.message}")
        # Only now may the person see and take the browser: a takeover granted while the page
        # was still being put back after a restart had the person's sign-in undone by it.
        if self.on_session is not None:
            self.on_session(self.session)
        if not self.durable:
            return toolbox
        await self.save()
        return _SavesState(toolbox, self)

    def check_alive(self) -> None:
        """Raise `BrowserCrashed` when the browser under the task is gone."""
        if self.session is not None and self.session.crashed:
            raise BrowserCrashed("the browser stopped working")

    async def save(self) -> None:
        """Where the task is, for a restart: the page's URL and the browser's storage."""
        if self.session is None:
            return
        session = self.session
        url = session.page_url  # read with the state: the storage and the fields of one page
        storage, found = await session.state()
        page = json.dumps({"url": url, "fields": self._fields(found)})
        stored = json.dumps(storage)
        if self._kept is None:
            self._kept = await asyncio.to_thread(saved_state, self.home, self.record.run_id)
        unchanged = stored == self._stored  # most steps change no cookie: what is kept stands
        await asyncio.to_thread(self._kept.write, page, None if unchanged else stored)
        self._stored = stored

    def _fields(self, fields: list[dict[str, object]]) -> list[dict[str, object]]:
        """The form fields worth saving: a vault value is kept as its placeholder, any other
        secret-looking value (a card number, a token) is not kept at all, nor a password that
        did not come from the vault."""
        kept: list[dict[str, object]] = []
        for typed in fields:
            shown = self.secrets.hide(str(typed.get("value", "")))
            if typed.get("secret") and not self.secrets.uses(shown):
                continue
            if self.secrets.redactor.text(shown) == shown:
                kept.append({**typed, "value": shown})
        return kept

    async def _refill(self, fields: object, url: str) -> None:
        """Put back what had been typed into the reopened page's forms (vault placeholders
        filled again only where their credential is bound, as when the agent types them)."""
        if self.session is None or not isinstance(fields, list):
            return
        ready: list[dict[str, object]] = []
        for item in cast(list[object], fields):
            if not isinstance(item, dict):
                continue
            kept = cast(dict[str, object], item)
            value = str(kept.get("value", ""))
            if self.secrets.uses(value):
                if self.secrets.check(value, url, in_frame=False) is not None:
                    continue
                value = self.secrets.fill(value)
            ready.append({**kept, "value": value})
        await self.session.refill(ready)

    async def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()
            if session.wiped is not None:
                self.gateway.gate.note(
                    actor="system",
                    what="browser.wipe",
                    details={"profile": self.spec.browser.profile, "sites": list(session.wiped)},
                    reason="the task touched a sensitive site, so its persistent profile was wiped",
                )

    async def forget_state(self) -> None:
        """The run ended: nothing to resume, so the saved cookies and page go (and the
        journal)."""
        await asyncio.to_thread(forget_state, self.home, self.record.run_id)


class StateNotSaved(ValetError):
    """The browser's state could not be saved after an action (a restart could not put the
    task back where it is): the action's step fails rather than being stored without it."""


@dataclass
class _SavesState:
    """Saves the browser's state after every browser action (durable runs resume from it).

    With `TaskBrowser.save_with_look` (checkpoint layout 3, where the look that follows an
    action is made in the action's checkpoint), the save runs while the page is looked at: the
    look waits for it, so that both are done before the checkpoint is stored."""

    inner: Toolbox
    browser: TaskBrowser
    _saving: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def actions(self) -> tuple[type[Action], ...]:
        return self.inner.actions

    async def saved(self) -> None:
        """Wait for the save an action started; `StateNotSaved` if it failed."""
        if self._saving is None:
            return
        saving, self._saving = self._saving, None
        try:
            await saving
        except (PlaywrightError, OSError, StoreUnavailable) as exc:
            raise StateNotSaved(f"the browser's state could not be saved: {exc}") from exc

    async def observe(self) -> Observation:
        try:
            observation = await self._observe()
        except asyncio.CancelledError:  # nothing of this step is stored: the save may stop
            if self._saving is not None:
                self._saving.cancel()
                self._saving = None
            raise
        except BaseException:
            await self.saved()  # a failed save is reported over the page's error
            raise
        await self.saved()
        return observation

    async def _observe(self) -> Observation:
        try:
            observation = await self.inner.observe()
        except PlaywrightError:
            self.browser.check_alive()
            raise
        self.browser.check_alive()
        if self.browser.lost is not None:
            lost = (
                f"valet was restarted and could not restore the task's browser: {self.browser.lost}"
            )
            observation.text = f"[{lost}]\n{observation.text}"
            self.browser.lost = None
        return observation

    async def execute(self, action: Action) -> ActionOutcome:
        await self.saved()
        try:
            outcome = await self.inner.execute(action)
        except PlaywrightError:
            self.browser.check_alive()
            raise
        self.browser.check_alive()
        if isinstance(action, ToolsetAction):  # a connector's tool leaves the browser be
            return outcome
        self._saving = asyncio.ensure_future(self.browser.save())
        if not self.browser.save_with_look:  # else the look that follows waits for it
            await self.saved()
        return outcome


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
