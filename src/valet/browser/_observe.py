"""Element indexing across frames: one injected indexer per document, stable global ids.

Each document (top page, same-origin or cross-origin iframe) gets one instance of
`js/indexer.js`, kept by Python as a JS handle. The indexer keeps its own element → local id
map in a closure; this module maps (document, local id) to a global id that never changes or
gets reused during the session. One `evaluate` per frame per observation.

Actions reach elements through `js/locate.js`, a Playwright selector engine registered for the
session: `locator(global_id)` is a locator that resolves inside the page, in Playwright's
isolated world, in the same round trip as the action itself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, TypedDict, cast

from playwright.async_api import (
    BrowserContext,
    Error,
    Frame,
    JSHandle,
    Locator,
    Page,
    Selectors,
)

from valet.browser._types import (
    Element,
    FieldFacts,
    FormFacts,
    FormTarget,
    Observation,
    Widget,
    digest_of,
)

_ENGINE = "valet"
GONE_MARKER = "valet: the element is no longer on the page"
"""What the selector engine throws for an element that is gone."""
CLOSED_MARKER = "valet: the element is in a closed shadow root"
"""What the selector engine throws for an element it cannot be handed."""

_STALE_MARKERS = (
    "Execution context was destroyed",
    "Cannot find context",
    "disposed",
    "Frame was detached",
    "has been closed",
    "Target closed",
    "navigat",
)


def is_stale(error: Error) -> bool:
    """True when the error means the document (and its indexer) went away."""
    return any(marker in error.message for marker in _STALE_MARKERS)


class RawFrame(TypedDict):
    seq: int
    url: str
    title: str
    els: list[list[Any]]
    total: int
    text: str
    textMore: int
    textHash: str
    frames: list[list[Any]]
    scroll: list[int]
    mutations: int
    widgets: list[list[Any]]
    unsettled: bool
    state: str
    forms: list[list[Any]]
    labels: list[str]


@dataclass(eq=False)
class FrameIndex:
    """The indexer of one document and the ids it has handed out."""

    frame: Frame
    handle: JSHandle
    key: str
    """Name of the events this document's indexer answers (random per injection)."""
    local_to_global: dict[int, int] = field(default_factory=lambda: dict[int, int]())
    delivered: int = 0
    """Sequence number of the last observation of this document shown to the caller."""
    iframe_id: int | None = None
    """Local id of this frame's <iframe> element in the parent document's index."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An observation plus what is needed to act on it and to mark it delivered."""

    observation: Observation
    seqs: tuple[tuple[FrameIndex, int], ...]
    total_elements: int
    text_more: int
    unsettled: bool = False
    """The page was still changing when the post-action settle wait ended."""
    states: tuple[tuple[Frame, str | None], ...] = ()
    """Each document's state mark when it was read (None: it could not be read)."""


@dataclass(frozen=True, slots=True)
class ObserveLimits:
    max_elements: int
    text_chars: int
    timeout_s: float
    settle_quiet_ms: int | None = None
    settle_max_ms: int = 0
    settle_busy_ms: int = 0


def new_event_name() -> str:
    """A random event name pages cannot guess (see js/locate.js)."""
    return f"valet-{secrets.token_hex(12)}"


class Observer:
    """Owns the per-document indexers of one browser session and the global id registry."""

    def __init__(self, reply: str | None = None) -> None:
        """`reply`: the name of the selector engine's reply event, when the engine was
        registered already (a browser pool registers one for all its sessions)."""
        scripts = resources.files("valet.browser").joinpath("js")
        self._source = scripts.joinpath("indexer.js").read_text("utf-8")
        self._engine_source = scripts.joinpath("locate.js").read_text("utf-8")
        self._watch_source = scripts.joinpath("watch.js").read_text("utf-8")
        self._reply = reply or new_event_name()
        self._watch = new_event_name()
        self._indexes: dict[Frame, FrameIndex] = {}
        self._registry: dict[int, tuple[FrameIndex, int]] = {}
        self._next_id = 1

    # ---- indexes ---------------------------------------------------------------------------

    def forget_frame(self, frame: Frame) -> None:
        index = self._indexes.pop(frame, None)
        if index is not None:
            self._drop(index)

    def _drop(self, index: FrameIndex) -> None:
        for global_id in index.local_to_global.values():
            self._registry.pop(global_id, None)
        index.local_to_global.clear()

    async def _index_for(self, frame: Frame, timeout_s: float) -> FrameIndex | None:
        index = self._indexes.get(frame)
        if index is not None:
            return index
        key = f"valet-{secrets.token_hex(12)}"
        config = {"key": key, "reply": self._reply, "watch": self._watch}
        try:
            handle = await asyncio.wait_for(frame.evaluate_handle(self._source, config), timeout_s)
        except (Error, TimeoutError):
            return None
        index = FrameIndex(frame=frame, handle=handle, key=key)
        self._indexes[frame] = index
        return index

    async def _link_to_parent(self, index: FrameIndex, timeout_s: float) -> None:
        parent = index.frame.parent_frame
        parent_index = self._indexes.get(parent) if parent is not None else None
        if parent_index is None or index.iframe_id is not None:
            return
        try:
            element = await asyncio.wait_for(index.frame.frame_element(), timeout_s)
            local = await asyncio.wait_for(
                parent_index.handle.evaluate("(ix, el) => ix.lookup(el)", element), timeout_s
            )
            await element.dispose()
        except (Error, TimeoutError):
            return
        index.iframe_id = int(local)

    def _global_id(self, index: FrameIndex, local: int) -> int:
        global_id = index.local_to_global.get(local)
        if global_id is None:
            global_id = self._next_id
            self._next_id += 1
            index.local_to_global[local] = global_id
            self._registry[global_id] = (index, local)
        return global_id

    def mark_delivered(self, snapshot: Snapshot) -> None:
        for index, seq in snapshot.seqs:
            index.delivered = max(index.delivered, seq)

    def knows(self, global_id: int) -> bool:
        return global_id in self._registry

    @property
    def highest_id(self) -> int:
        return self._next_id - 1

    # ---- element access ----------------------------------------------------------------------

    async def register_engine(self, selectors: Selectors) -> None:
        """Register the selector engine behind `locator`; do it before any page is used."""
        script = f"({self._engine_source})({json.dumps(self._reply)})"
        await selectors.register(_ENGINE, script=script, content_script=True)

    async def watch(self, context: BrowserContext) -> None:
        """Add the page watcher (js/watch.js) to every document the context opens from now on,
        before the page's own scripts: it notes which elements got click or key listeners and
        what a person's input set in motion (debounce timers, fetches), for the indexer."""
        config = json.dumps({"key": self._watch})
        await context.add_init_script(script=f"({self._watch_source})({config});")

    def locator(self, global_id: int) -> Locator | None:
        """A locator for the live element behind a global id (None when its id is unknown).

        It resolves inside the page when an action runs; an element that is gone by then makes
        the action fail at once with an error carrying `GONE_MARKER`.
        """
        entry = self._registry.get(global_id)
        if entry is None:
            return None
        index, local = entry
        return index.frame.locator(f"{_ENGINE}={index.key}/{local}")

    async def call(self, page: Page, expression: str, arg: Any = None) -> Any:
        """Evaluate `expression` (a function of the indexer and arg) in the main frame."""
        index = await self._index_for(page.main_frame, 5)
        if index is None:
            return None
        try:
            return await index.handle.evaluate(expression, arg)
        except Error as error:
            if is_stale(error):
                self.forget_frame(page.main_frame)
                return None
            raise

    async def frame_call(self, global_id: int, expression: str, arg: Any = None) -> Any:
        """Evaluate `expression` (of the indexer, the element's local id and arg) in its frame."""
        entry = self._registry.get(global_id)
        if entry is None:
            return None
        index, local = entry
        try:
            return await index.handle.evaluate(expression, [local, arg])
        except Error as error:
            if is_stale(error):
                return None
            raise

    async def draw_marks(self, page: Page, ids: list[int], remove: bool = False) -> None:
        """Draw (or remove) numbered boxes over the given elements in every frame."""
        by_index: dict[FrameIndex, list[list[int]]] = {}
        for global_id in ids:
            entry = self._registry.get(global_id)
            if entry is not None and entry[0].frame.page == page:
                by_index.setdefault(entry[0], []).append([entry[1], global_id])
        calls = [
            index.handle.evaluate("(ix) => ix.unmark()")
            if remove
            else index.handle.evaluate("(ix, pairs) => ix.marks(pairs)", pairs)
            for index, pairs in by_index.items()
        ]
        await asyncio.gather(*calls, return_exceptions=True)

    # ---- observation -------------------------------------------------------------------------

    async def _observe_frame(self, frame: Frame, limits: ObserveLimits) -> RawFrame | None:
        settle = (
            None
            if limits.settle_quiet_ms is None
            else {
                "quietMs": limits.settle_quiet_ms,
                "maxMs": limits.settle_max_ms,
                "busyMs": limits.settle_busy_ms,
            }
        )
        for _attempt in range(2):
            index = await self._index_for(frame, limits.timeout_s)
            if index is None:
                return None
            opts = {
                "maxElements": limits.max_elements,
                "textChars": limits.text_chars,
                "since": index.delivered,
                "settle": settle,
            }
            try:
                raw = await asyncio.wait_for(
                    index.handle.evaluate(
                        "async (ix, opts) => JSON.stringify(await ix.observe(opts))", opts
                    ),
                    limits.timeout_s,
                )
                return cast(RawFrame, json.loads(raw))
            except TimeoutError:
                return None
            except Error as error:
                if not is_stale(error) or frame.is_detached():
                    self.forget_frame(frame)
                    return None
                self.forget_frame(frame)
                settle = None
        return None

    async def snapshot(self, page: Page, limits: ObserveLimits) -> Snapshot:
        frames = [frame for frame in page.frames if not frame.is_detached()]
        for stale in [f for f in self._indexes if f.page == page and f not in frames]:
            self.forget_frame(stale)
        results = await asyncio.gather(*(self._observe_frame(f, limits) for f in frames))
        raws = dict(zip(frames, results, strict=True))
        await asyncio.gather(
            *(
                self._link_to_parent(self._indexes[f], limits.timeout_s)
                for f in frames
                if f.parent_frame is not None and f in self._indexes and raws[f] is not None
            )
        )
        snapshot = self._assemble(page, frames, raws)
        states = tuple((f, None if r is None else r["state"]) for f, r in raws.items())
        return replace(snapshot, states=states)

    async def unchanged(self, snapshot: Snapshot, page: Page, timeout_s: float) -> bool:
        """Nothing on the page changed since `snapshot` was read (no DOM mutation, no input,
        no scroll, no navigation, the same frames): one small evaluate per document."""
        frames = [frame for frame in page.frames if not frame.is_detached()]
        if not snapshot.states or [f for f, _ in snapshot.states] != frames:
            return False

        async def same(frame: Frame, mark: str | None) -> bool:
            index = self._indexes.get(frame)
            if mark is None or index is None:
                return False
            try:
                now = await asyncio.wait_for(index.handle.evaluate("(ix) => ix.state()"), timeout_s)
            except (Error, TimeoutError):
                return False
            return now == mark

        results = await asyncio.gather(*(same(f, m) for f, m in snapshot.states))
        return all(results)

    def _frame_state(
        self, frame: Frame, raws: dict[Frame, RawFrame | None]
    ) -> tuple[str, str] | None:
        """(label, visibility) of a child frame; None when it or an ancestor is hidden."""
        parent = frame.parent_frame
        if parent is None:
            return ("", "v")
        index = self._indexes.get(frame)
        parent_raw = raws.get(parent)
        if index is None or parent_raw is None or index.iframe_id is None:
            return None
        for local, label, state in parent_raw["frames"]:
            if local == index.iframe_id:
                if state == "h":
                    return None
                outer = self._frame_state(parent, raws)
                if outer is None:
                    return None
                name = str(label) or frame.name or "frame"
                return (name, outer[1] if outer[1] != "v" else str(state))
        return None

    def _assemble(
        self, page: Page, frames: list[Frame], raws: dict[Frame, RawFrame | None]
    ) -> Snapshot:
        main_raw = raws.get(page.main_frame)
        elements: list[Element] = []
        fields: dict[int, FieldFacts] = {}
        widgets: list[Widget] = []
        seqs: list[tuple[FrameIndex, int]] = []
        digest_parts: list[str] = []
        texts: list[str] = []
        forms: dict[str, FormFacts] = {}
        labels: list[str] = []
        total = 0
        text_more = 0
        for position, frame in enumerate(frames):
            raw = raws.get(frame)
            index = self._indexes.get(frame)
            if raw is None or index is None:
                continue
            state = self._frame_state(frame, raws)
            if state is None:
                continue
            label, frame_vis = state
            seqs.append((index, raw["seq"]))
            total += raw["total"]
            text_more += raw["textMore"]
            digest_parts.append(f"{label}\x01{raw['textHash']}\x01{raw['scroll']}")
            frame = label or None
            widgets.extend(_widget(row, frame) for row in raw["widgets"])
            forms.update(_forms(position, raw["forms"]))
            labels.extend(raw["labels"])
            for row in raw["els"]:
                local, role, name, value, states, flags, extra, facts, href, point, form = row
                flags = str(flags)
                if frame_vis in ("a", "b") and "a" not in flags and "b" not in flags:
                    flags += frame_vis
                states = str(states)
                global_id = self._global_id(index, int(local))
                if facts is not None:
                    fields[global_id] = _field(facts)
                elements.append(
                    Element(
                        id=global_id,
                        role=str(role),
                        name=str(name),
                        value=None if value is None else str(value),
                        states=tuple(states.split()) if states else (),
                        new="n" in flags,
                        offscreen="a" in flags or "b" in flags,
                        frame=frame,
                        extra=None if extra is None else str(extra),
                        above="a" in flags,
                        href=str(href),
                        point=None if point is None or frame is not None else _point(point),
                        form=_form_target(position, form),
                    )
                )
                if "focused" in states:
                    states = " ".join(s for s in states.split() if s != "focused")
                digest_parts.append(
                    f"{global_id}\x02{role}\x02{name}\x02{value}\x02{states}"
                    f"\x02{flags.replace('n', '')}"
                )
            if raw["text"]:
                texts.append(raw["text"] if not label else f'[frame "{label}"]\n{raw["text"]}')
        url = page.url if main_raw is None else main_raw["url"]
        title = "" if main_raw is None else main_raw["title"]
        text = "\n".join(texts)
        if main_raw is None:
            text = "(the page is not responding; its content could not be read)\n" + text
        observation = Observation(
            url=url,
            title=title,
            tabs=[],
            elements=elements,
            text=text,
            truncated=total > len(elements) or text_more > 0,
            omitted_elements=max(0, total - len(elements)),
            digest=digest_of(url, *digest_parts),
            fields=fields,
            widgets=widgets,
            forms=forms,
            labels=labels,
        )
        unsettled = any(raw is not None and raw.get("unsettled", False) for raw in raws.values())
        return Snapshot(
            observation=observation,
            seqs=tuple(seqs),
            total_elements=total,
            text_more=text_more,
            unsettled=unsettled,
        )


def _field(facts: list[Any]) -> FieldFacts:
    tag, kind, autocomplete, name, element_id, inputmode, maxlength = facts
    return FieldFacts(
        tag=str(tag),
        type=str(kind),
        autocomplete=str(autocomplete),
        name=str(name),
        id=str(element_id),
        inputmode=str(inputmode),
        maxlength=None if maxlength is None else int(maxlength),
    )


def _forms(position: int, rows: list[list[Any]]) -> dict[str, FormFacts]:
    """The forms of the document at `position` among the observed frames, by key."""
    out: dict[str, FormFacts] = {}
    for local, action, method, targets, password, filled, values in rows:
        out[f"{position}:{local}"] = FormFacts(
            action=str(action),
            method=str(method),
            targets=tuple(str(t) for t in targets),
            password=bool(password),
            password_filled=bool(filled),
            values=tuple(str(v) for v in values),
        )
    return out


def _form_target(position: int, raw: list[Any] | None) -> FormTarget | None:
    if raw is None:
        return None
    local, url, method, submits = raw
    return FormTarget(f"{position}:{local}", str(url), str(method), bool(submits))


def _widget(row: list[Any], frame: str | None) -> Widget:
    tag, src, classes, sitekey, size = row
    return Widget(str(tag), str(src), str(classes), bool(sitekey), str(size), frame)


def _point(raw: list[Any]) -> tuple[int, int]:
    x, y = raw
    return (int(x), int(y))
