"""Reconciling an action a crash interrupted: found out, never guessed.

When a restarted task reaches the step whose action was running when valet stopped, the
journal says how far it got. `Recovery.resume` then:
- gives back the stored outcome when the action had finished (only its step was not stored);
- asks the toolset's lookup hook (`Operation.reconcile`: mail looks the Message-ID up in Sent,
  …): if it happened, the model is told so and it is not done again; if it certainly did not,
  it runs again (through the gateway, so it is asked again like any call); an `idempotent`
  operation simply runs again;
- otherwise (a browser click, an MCP tool, an unsure lookup) asks the person, saying exactly
  what was interrupted. "Yes" → done, not repeated; "no" → done again (a toolset call runs
  again; on a page the model chooses again on the reopened page); no answer → the model is
  told it is unknown and the run cannot end as a success without saying so (`unconfirmed`).

Every reconciliation is written to the audit log as the system's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, assert_never
from urllib.parse import urljoin

from valet.agent import Questions, Toolbox
from valet.audit import Redactor
from valet.browser import ActionOutcome, ByRole, Element, Observation
from valet.connectors import (
    DidNotHappen,
    Happened,
    Operation,
    Reconciled,
    Toolset,
    ToolsetAction,
    Unsure,
)
from valet.effects import Effect
from valet.gateway import Gateway, ToolFailure
from valet.policy import Source, classify_click, classify_drag, classify_enter, find_element
from valet.runtime._journal import Entry, Journal
from valet.tools import Action, Click, ClickAt, Drag, Goto, PageCheck, Point, Press, Type

_YES = ("yes", "y", "it did", "done", "oui")
_NO = ("no", "n", "it did not", "it didn't", "not", "non")


@dataclass
class Recovery:
    """Reconciles the interrupted action of a restarted run (one per run)."""

    journal: Journal
    gateway: Gateway
    toolsets: Sequence[Toolset]
    questions: Questions | None
    redactor: Redactor
    last_seen: Observation | None = None
    """The page as the model last saw it before the restart (names the element it acted on)."""
    unconfirmed: list[str] = field(default_factory=lambda: list[str]())
    """Interrupted actions nobody could confirm: the run says so when it ends."""
    system: Callable[[], Toolbox | None] = lambda: None
    """The browser as valet itself uses it, once open: a declared check's page is valet's own
    look, not an action the model chose on what a page said."""

    async def resume(self, key: str, entry: Entry, action: Action, toolbox: Toolbox) -> Resumed:
        """The outcome of the step `key`, whose action an earlier process started."""
        what = self.describe(action, entry)
        page_only = not isinstance(action, ToolsetAction) and not isinstance(
            self._on_page(action), Unsure
        )
        if entry.ended and not page_only:  # what it did on a page went with the page
            self._note(what, "finished before the restart; its stored result is given back")
            told = f"{what}: this was done before valet restarted (not done again). {entry.message}"
            self._learn(action, entry.content)
            return Resumed(ActionOutcome(ok=entry.ok, message=told, content=entry.content))
        verdict = await self._look_up(action, entry, toolbox)
        match verdict:
            case Happened(result=result, how=how):
                self.journal.settle(key, True, f"took effect ({how})")
                self._note(what, f"it had taken effect: {how}")
                content = result if isinstance(result, str) else json.dumps(result, default=str)
                self._learn(action, content)
                message = (
                    f"{what}: valet was restarted while this ran; it had taken effect ({how}), "
                    "so it was not done again"
                )
                return Resumed(ActionOutcome(ok=True, message=message, content=content))
            case DidNotHappen(how=how) if not isinstance(action, ToolsetAction):
                self.journal.settle(key, False, how)
                self._note(what, f"{how}; the model chooses again")
                message = (
                    f"{what}: valet was restarted while this ran; {how}. Look at the page again "
                    "and choose the next action."
                )
                return Resumed(ActionOutcome(ok=False, message=message), choose_again=True)
            case DidNotHappen(how=how):
                self.journal.settle(key, False, f"did not take effect ({how})")
                self._note(what, f"it had not taken effect ({how}); it runs again")
                return Resumed(await toolbox.execute(action), again=True)
            case Unsure(what=unsure):
                return await self._ask(key, action, what, unsure, toolbox)
            case _:
                assert_never(verdict)

    async def _ask(
        self, key: str, action: Action, what: str, unsure: str, toolbox: Toolbox
    ) -> Resumed:
        answer = None
        if self.questions is not None:
            answer = await self.questions.ask(
                f"valet was restarted while it was doing this: {what}. {unsure} Please check, "
                'then answer "yes" if it took effect or "no" if it did not.'
            )
        said = _yes_or_no(answer)
        if said == "yes":
            self.journal.settle(key, True, "the person confirmed it took effect")
            self._note(what, "the person confirmed it had taken effect", actor="person")
            message = (
                f"{what}: valet was restarted while this ran; the person checked and confirmed "
                "it took effect, so it was not done again"
            )
            return Resumed(ActionOutcome(ok=True, message=message))
        if said == "no":
            self.journal.settle(key, False, "the person said it did not take effect")
            self._note(what, "the person said it had not taken effect", actor="person")
            if isinstance(action, ToolsetAction):
                return Resumed(await toolbox.execute(action), again=True)
            message = (
                f"{what}: valet was restarted while this ran, and the person checked: it did "
                "NOT take effect. Look at the page again and do it again if the task still "
                "needs it."
            )
            return Resumed(ActionOutcome(ok=False, message=message), choose_again=True)
        self.journal.settle(key, False, "unconfirmed")
        self.unconfirmed.append(what)
        detail = "nobody could be asked" if answer is None else f"the person answered {answer!r}"
        self._note(what, f"whether it took effect is unknown ({detail})")
        message = (
            f"{what}: valet was restarted while this was running, and whether it took effect is "
            f"unknown ({unsure} {detail}). It was not repeated. Do not assume it happened; tell "
            "the person in your final answer that they must check it."
        )
        return Resumed(ActionOutcome(ok=False, message=message, unconfirmed=what))

    async def _look_up(self, action: Action, entry: Entry, toolbox: Toolbox) -> Reconciled:
        if not isinstance(action, ToolsetAction):
            verdict = self._on_page(action)
            if isinstance(verdict, Unsure) and isinstance(action, Click) and action.check:
                return await self._declared(action.check, entry, toolbox)
            return verdict
        operation = self._operation(action)
        if operation is None or (operation.reconcile is None and not operation.idempotent):
            return Unsure(f"{action.kind} gives valet no way to look it up.")
        if operation.reconcile is None:
            return DidNotHappen("running it again cannot do it twice")
        args = operation.args.model_validate(action.model_dump(by_alias=True), by_name=True)
        try:
            return await operation.reconcile(
                args, self.journal.action_id(entry.key), entry.committed
            )
        except ToolFailure as failure:
            return Unsure(f"looking it up failed: {failure}.")

    def _on_page(self, action: Action) -> Reconciled:
        """A page action: one that only opened a page or edited the page's fields is gone
        with the page (reopened from its address); one that may have made the site act (a
        button valet cannot tell is harmless, Enter in a form) cannot be checked from here."""
        effect = self._page_effect(action)
        edits_fields = effect is Effect.INPUT and not isinstance(action, Click | ClickAt)
        # a drag that only set a slider, a key pressed, a wait: gone with the page like a field
        if effect in (Effect.READ, Effect.NAVIGATE) or edits_fields:
            return DidNotHappen("it only opened a page or filled in the page, which was reopened")
        return Unsure("valet cannot tell from the reopened page whether the site acted on it.")

    async def _declared(self, check: PageCheck, entry: Entry, toolbox: Toolbox) -> Reconciled:
        """The check the model or the workflow declared with the click: open its page and
        look for its text. Not found, the page the click was on is opened again."""
        url = urljoin(entry.url, check.url)
        toolbox = self.system() or toolbox
        opened = await toolbox.execute(Goto(url=url))
        if not opened.ok:
            return Unsure(f"valet could not open {url} to check ({opened.message}).")
        page = await toolbox.observe()
        shown = "\n".join([page.text, *(e.name for e in page.elements)]).casefold()
        if check.text.casefold() in shown:
            return Happened(f"{url} shows {check.text!r}", f"{url} shows {check.text!r}")
        if entry.url:
            await toolbox.execute(Goto(url=entry.url))
        return DidNotHappen(f"{url} does not show {check.text!r}, so it did not take effect")

    def _page_effect(self, action: Action) -> Effect:
        """The effect the gateway saw in `action` on the page the model chose it on."""
        seen = self.last_seen
        if isinstance(action, Click):
            element = _element(seen, action.element)
            return classify_click(element, seen).effect if element and seen else Effect.UNKNOWN
        if isinstance(action, Drag):
            ends = (_element(seen, action.source), _element(seen, action.target))
            return classify_drag(*ends, seen).effect if seen else Effect.UNKNOWN
        enter = isinstance(action, Press) and "enter" in action.keys.lower()  # as the gateway
        if (isinstance(action, Type) and action.submit) or enter:
            target = _element(seen, getattr(action, "element", None))
            return classify_enter(target, seen).effect if seen else Effect.UNKNOWN
        return action.effect

    def _operation(self, action: ToolsetAction) -> Operation | None:
        for toolset in self.toolsets:
            if toolset.name == action.toolset:
                return next((o for o in toolset.operations if o.name == action.operation), None)
        return None

    def describe(self, action: Action, entry: Entry) -> str:
        """The interrupted action in the person's words (element names, the page, arguments)."""
        if isinstance(action, ToolsetAction):
            args = json.dumps(action.model_dump(mode="json", by_alias=True), ensure_ascii=False)
            shown = args if len(args) <= 300 else args[:299] + "…"
            return self.redactor.text(f"{action.kind} {shown}")
        ends = [action.source, action.target] if isinstance(action, Drag) else []
        named = " onto".join(self._name(end) for end in ends or [getattr(action, "element", None)])
        page = f" on {entry.url}" if entry.url else ""
        return self.redactor.text(f"{action.kind}{named}{page}")

    def _name(self, target: object) -> str:
        if isinstance(target, int) and self.last_seen is not None:
            element = self.last_seen.element(target)
            return f' [{target}] {element.role} "{element.name}"' if element else f" [{target}]"
        if isinstance(target, int):
            return f" [{target}]"
        if isinstance(target, ByRole):
            return f' {target.role} "{target.name}"'
        if isinstance(target, Point):
            return f" ({target.x:g}, {target.y:g})"
        return ""

    def _learn(self, action: Action, content: str | None) -> None:
        """What a toolset returned is untrusted content, restored or looked up alike: the
        gateway traces values the model takes from it (a page's text is learnt when seen)."""
        if content and isinstance(action, ToolsetAction):
            self.gateway.gate.learn(Source("untrusted", f"{action.kind}#restored"), content)

    def _note(self, what: str, found: str, actor: Literal["system", "person"] = "system") -> None:
        self.gateway.gate.note(
            actor=actor,
            what="journal.reconcile",
            details={"action": what, "found": found},
            reason="an action was interrupted by a restart of valet",
        )


@dataclass(frozen=True)
class Resumed:
    """A reconciled step's outcome."""

    outcome: ActionOutcome
    again: bool = False
    """The action ran again (it certainly had not taken effect)."""
    choose_again: bool = False
    """The model chooses again on the reopened page (a page action that did not happen)."""


def _element(seen: Observation | None, ref: object) -> Element | None:
    if seen is None:
        return None
    if isinstance(ref, int):
        return seen.element(ref)
    if isinstance(ref, ByRole):
        return find_element(seen, ref.role, ref.name, ref.nth)
    return None


def _yes_or_no(answer: str | None) -> Literal["yes", "no"] | None:
    if answer is None:
        return None
    said = answer.strip().casefold().rstrip(".!")
    if said in _NO or said.startswith(("no ", "no,", "it did not", "it didn't", "not ")):
        return "no"
    if said in _YES or said.startswith(("yes ", "yes,", "it did ")):
        return "yes"
    return None
