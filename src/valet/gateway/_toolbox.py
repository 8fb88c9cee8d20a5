"""The gateway around valet's browser toolbox: every action is classified, decided and audited.

Wire it between the toolbox and the loop (`GatedToolbox(BrowserToolbox(...), gateway)`); the
loop's one call site, `execute`, then passes through the gate. A refused action comes back as
`ActionOutcome(ok=False, message="denied by rule …: …")` for the model to read.

Secrets: a `type` whose text holds vault placeholders (`{{vault:shop.password}}`) is filled
with the real values just before it runs, only when the live page's site and every place the
field's form can be sent are bound to the credential (else denied: `vault.domain`,
`vault.form`, `vault.unknown`, `vault.field`, `vault.frame`). The audit log, the run record and
the model see the placeholder only; values that come back in observations and results are
replaced by their placeholders.

Exits: a click or an Enter that sends a form to another site than the page's, with values in
it, is a `send` to that site; the site and the values are its consequential arguments, and a
password never leaves that way (`gateway.password_elsewhere`). What `read_page` and `find`
return is learned like the page (recorded, scanned, tagged with the page as its source).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit

from pydantic import ValidationError

from valet.agent import Toolbox
from valet.audit import Actor
from valet.browser import DEFAULT_SENSITIVE_SITES, ActionOutcome, ByRole, Element, Observation
from valet.effects import Effect
from valet.gateway._documents import DocumentGuard, Refusal, Resolver, resolve_host
from valet.gateway._exits import CONSEQUENTIAL, carrying, password_leaves, sent
from valet.gateway._gate import Gate, Ruling, Taint
from valet.gateway._gateway import Gateway
from valet.gateway._page_state import page_content, page_source, page_state
from valet.gateway._secrets import TaskSecrets
from valet.gateway._stop_guard import StopGuard, VaultCanFill, no_vault
from valet.gateway._watch import Watch, WatchGuard
from valet.policy import (
    STOP_KINDS,
    ActionRequest,
    Classification,
    Decision,
    Finding,
    MaxAmount,
    StopKind,
    check_navigation,
    classify_click,
    classify_drag,
    classify_enter,
    find_element,
    has_payment_fields,
    read_total,
    site_of,
    strictest,
)
from valet.tools import (
    Action,
    Click,
    ClickAt,
    Download,
    Drag,
    Find,
    Goto,
    OpenTab,
    Point,
    Press,
    ReadPage,
    Type,
)


@runtime_checkable
class LinkTargets(Protocol):
    """A toolbox that can say where a click on an element would navigate."""

    async def link_url(self, element: int | ByRole) -> str | None: ...


@runtime_checkable
class LiveUrl(Protocol):
    """A toolbox that can say which page is open right now (not at the last observation)."""

    @property
    def page_url(self) -> str: ...


@runtime_checkable
class DownloadSizes(Protocol):
    """A toolbox that can ask a server how big a file is before downloading it."""

    async def content_length(self, url: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class _Facts:
    request: ActionRequest
    extra: tuple[Decision, ...]
    taint: Taint
    classification: Classification | None
    target: Element | None
    first: Decision | None = None
    """A decision that says why better than the rules' and wins over theirs when as strict:
    a password leaving for another site (denied); the ask when a spending limit exists but
    the order total could not be read."""
    sends: dict[str, object] | None = None
    """Where a form the action submits to another site goes and what it carries (shown to the
    person with the action's arguments)."""

    def decide(self, gate: Gate) -> Decision:
        """The gate's decision; `first` wins over as strict a decision (it says why)."""
        decision = gate.decide(self.request, self.extra)
        return decision if self.first is None else strictest([self.first, decision])


class GatedToolbox:
    """A `Toolbox` whose every action passes the gateway first."""

    def __init__(
        self,
        inner: Toolbox,
        gateway: Gateway | Gate,
        *,
        resolve: Resolver = resolve_host,
        actor: Actor = "agent",
        secrets: TaskSecrets | None = None,
        stops: Iterable[StopKind] = STOP_KINDS,
        vault_can_fill: VaultCanFill = no_vault,
        watch: Watch | None = None,
        sensitive_sites: Iterable[str] = DEFAULT_SENSITIVE_SITES,
        documents: DocumentGuard | None = None,
    ) -> None:
        """`stops`: which stops for the person apply (login, payment, captcha, otp);
        `vault_can_fill`: whether the vault fills a stop's form itself (then no stop);
        `watch`: watch mode, an action on (or to) one of `sensitive_sites` waits until the
        person watches (None: no watch mode); `documents`: the guard the browser session
        asks before each document request, whose refusals the model is told about."""
        self.inner = inner
        self.secrets = secrets or TaskSecrets(None)
        fills = self.secrets.can_fill if vault_can_fill is no_vault else vault_can_fill
        self.stops = StopGuard(stops, fills)
        self.gate = gateway.gate if isinstance(gateway, Gateway) else gateway
        self._resolve = resolve
        self._ahead: Resolver = resolve
        """How a destination is resolved before an action goes there: through the document
        guard's short memory when it uses the same resolver (the browser's own request for it,
        a moment later, then needs no second lookup)."""
        if documents is not None and resolve is resolve_host:
            self._ahead = documents.addresses
        self._actor: Actor = actor
        self._last: Observation | None = None
        self._seen_digest = ""
        self._learned: set[bytes] = set()
        self._typed: dict[int, str] = {}
        """What this task typed into the open page's fields (element id → the text as the
        model wrote it): a form that is sent carries it."""
        self.watch = None if watch is None else WatchGuard(watch, sensitive_sites)
        self.documents = documents

    @property
    def actions(self) -> tuple[type[Action], ...]:
        return self.inner.actions

    async def observe(self) -> Observation:
        """Observe the page; leave it when a navigation went, or tried to go, where it may
        not: the browser's guard refused it (the tab shows an error page), or, the second
        line, the page loaded from a denied address (no guard, or the host's DNS changed)."""
        observation, guard = await self._observe_checked()
        refused = self.documents.take() if self.documents is not None else []
        notes = [_note(refusal) for refusal in refused]
        left = self._landed(observation.url, guard)
        if left is None and observation.url.startswith("chrome-error:"):
            left = next((r.ruling for r in reversed(refused) if r.kind == "page"), None)
        if left is not None:
            notes = [f"[valet left the page: {left.message}]"]
            notes += [_note(r) for r in refused if r.ruling is not left]
            await self.inner.execute(Goto(url="about:blank"))
            observation = await self.inner.observe()
        if notes:
            observation.text = "\n".join([*notes, observation.text])
        observation = self.secrets.hide_observation(observation)
        observation = self.stops.review(observation)
        if self._last is None or page_source(self._last.url) != page_source(observation.url):
            self._typed = {}
        self._last = observation
        if observation.digest != self._seen_digest or not observation.digest:
            self._seen_digest = observation.digest
            self._learn(observation)
        return observation

    async def _observe_checked(self) -> tuple[Observation, Decision | None]:
        """The observation and the navigation rules' decision on its address. The page open
        now is checked while it is observed (its host resolves meanwhile); again after, if
        the observation shows another address."""
        here = self.inner.page_url if isinstance(self.inner, LiveUrl) else None
        if here is None:
            observation = await self.inner.observe()
            return observation, await self._page_guard(observation.url)
        checking = asyncio.create_task(self._page_guard(here))
        try:
            observation = await self.inner.observe()
        except BaseException:
            checking.cancel()
            raise
        if observation.url == here:
            return observation, await checking
        checking.cancel()
        return observation, await self._page_guard(observation.url)

    def _learn(self, page: Observation) -> None:
        """Tell the gate what the page says, unless it said exactly that before (a checkbox
        ticked changes the page's digest, not its words: no second scan of the same text)."""
        source, content = page_source(page.url), page_content(page)
        hasher = hashlib.blake2b(str(source).encode("utf-8", "surrogatepass"), digest_size=16)
        for text in content:
            hasher.update(b"\x00" + text.encode("utf-8", "surrogatepass"))
        said = hasher.digest()
        if said in self._learned:
            return
        if len(self._learned) >= 1024:
            self._learned.clear()
        self._learned.add(said)
        self.gate.learn(source, content)

    async def execute(self, action: Action) -> ActionOutcome:
        if self.watch is not None:
            await self.watch.hold(self._sites_of(action), self.gate)
        facts = await self._facts(action)
        gate = self.gate
        decision = facts.decide(gate)
        if facts.classification is not None and not decision.rule_id.startswith("nav."):
            decision = Decision(
                decision.verdict,
                decision.rule_id,
                f"{decision.reason} ({facts.classification.reason})",
            )
        args: dict[str, object] = action.model_dump(mode="json")
        asked = _shown_args(args, facts.sends)

        async def recheck(edited: dict[str, object]) -> tuple[dict[str, object], Decision] | str:
            edited = {k: v for k, v in edited.items() if k != "form"}
            try:
                changed = type(action).model_validate(edited)
            except ValidationError as exc:
                return f"invalid edit: {exc.errors(include_url=False)[0]['msg']}"
            redone = await self._facts(changed)
            return _shown_args(changed.model_dump(mode="json"), redone.sends), redone.decide(gate)

        taint = facts.taint
        if decision.verdict == "ask" and isinstance(action, Click) and self._last is not None:
            # The person is told when the page they are asked about holds injected text.
            page = self.gate.flags_of(page_source(self._last.url))
            taint = Taint(taint.tainted, tuple(dict.fromkeys((*taint.findings, *page))))
        seen = await self._page_now(action) if decision.verdict == "ask" else ""
        ruling = await gate.rule(facts.request, decision, asked, taint, recheck, seen)
        if ruling.run and seen and ruling.approver and await self._page_now(action) != seen:
            ruling = _page_changed(ruling)  # the answer was about a page that is gone
        effect = facts.request.effect.value
        if not ruling.run:
            gate.record(
                actor=self._actor,
                tool=action.kind,
                effect=effect,
                ruling=ruling,
                outcome=ruling.outcome,
                taint=facts.taint,
            )
            return ActionOutcome(ok=False, message=ruling.message, target=facts.target)
        run_args = {k: v for k, v in ruling.args.items() if k != "form"}
        to_run = action if run_args == args else type(action).model_validate(run_args)
        typed = shown = ""
        if isinstance(to_run, Type) and self.secrets.uses(to_run.text):
            shown, typed = to_run.text, self.secrets.fill(to_run.text)
            to_run = to_run.model_copy(update={"text": typed})
        try:
            outcome = self.secrets.hide_outcome(await self.inner.execute(to_run), typed, shown)
        except Exception:
            gate.record(
                actor=self._actor,
                tool=action.kind,
                effect=effect,
                ruling=ruling,
                outcome="error",
                taint=facts.taint,
            )
            raise
        if isinstance(to_run, Download) and outcome.ok:
            too_large = await self._too_large(outcome)
            if too_large is not None:
                ruling = Ruling(too_large, False, "denied", ruling.approver, ruling.args)
                message = f"{ruling.message}; valet deleted the file"
                outcome = ActionOutcome(ok=False, message=message, target=outcome.target)
        paid = facts.request.amount
        if outcome.ok and paid is not None and facts.request.effect is Effect.PURCHASE:
            gate.spend(paid)  # what a per-task `MaxAmount` adds up
        if outcome.ok and isinstance(to_run, Type) and facts.target is not None:
            self._typed[facts.target.id] = shown or to_run.text  # a placeholder, not its value
        found = self._learn_result(to_run, outcome)
        gate.record(
            actor=self._actor,
            tool=action.kind,
            effect=effect,
            ruling=ruling,
            outcome="executed" if outcome.ok else "failed",
            result={"message": outcome.message, "content": outcome.content},
            taint=facts.taint,
            findings=found,
        )
        return outcome

    async def _page_now(self, action: Action) -> str:
        """The digest of the page `action` acts on, as it is now ("" for a navigation)."""
        if isinstance(action, Goto | OpenTab):
            return ""
        ref = getattr(action, "element", None)
        return page_state(
            await self.inner.observe(), ref if isinstance(ref, int | ByRole) else None
        )

    def _learn_result(self, action: Action, outcome: ActionOutcome) -> tuple[Finding, ...]:
        """What `read_page` (the whole page, also beyond the view), `find` or a download
        returned, learned as the page's words: recorded, scanned, tagged with the page."""
        if not outcome.ok or not outcome.content:
            return ()
        if not isinstance(action, ReadPage | Find | Download):
            return ()
        url = self.inner.page_url if isinstance(self.inner, LiveUrl) else ""
        url = url or (self._last.url if self._last is not None else "")
        return self.gate.learn(page_source(url), outcome.content)

    async def _facts(self, action: Action) -> _Facts:
        page = self._last
        here = page.url if page is not None else ""
        site = site_of(here) if here.startswith(("http:", "https:")) else None
        effect = action.effect
        extra: list[Decision] = []
        classification: Classification | None = None
        target: Element | None = None
        watched: dict[str, object] = {}
        size: int | None = None
        match action:
            case Goto(url=url) | OpenTab(url=str() as url) | Download(url=str() as url):
                absolute = urljoin(here, url) if here else url
                guard = await self._navigation(absolute, self._ahead)
                extra.append(guard)
                site = site_of(absolute)
                watched["url"] = url
                if isinstance(action, Download):
                    size = await self._declared_size(absolute, guard)
            case Download(element=int() | ByRole() as ref):
                link = await self._link_url(ref, self._element(ref))
                if link is not None:
                    guard = await self._navigation(link, self._ahead)
                    extra.append(guard)
                    size = await self._declared_size(link, guard)
            case Click(element=ref):
                target = self._element(ref)
                classification = self._click(target, ref)
                link = await self._link_url(ref, target)
                if link is not None:
                    extra.append(await self._navigation(link, self._ahead))
            case ClickAt():
                classification = Classification(Effect.UNKNOWN, "a click at coordinates")
            case Drag(source=source, target=goal) if self._last is not None:
                target = self._end(source)
                classification = classify_drag(target, self._end(goal), self._last)
            case Type(element=ref, text=text, submit=True):
                target = self._element(ref)
                classification = self._enter(target, text)
                watched["text"] = text
                extra.extend(self._vault(text, target))
            case Type(element=ref, text=text):
                target = self._element(ref)
                watched["text"] = text
                extra.extend(self._vault(text, target))
            case Press(keys=keys, element=ref) if "enter" in keys.lower():
                target = self._element(ref) if ref is not None else None
                classification = self._enter(target)
            case _:
                pass
        refused = self.stops.check(action, page, self.gate.task.request)
        if refused and isinstance(action, Type):
            self.secrets.redactor.add(action.text)  # what was meant for that field is not kept
        extra.extend(refused)
        if classification is not None:
            effect = classification.effect
        submission = None if classification is None else classification.submission
        sends: dict[str, object] | None = None
        leaves: Decision | None = None
        consequential: tuple[str, ...] = ()
        if submission is not None and submission.elsewhere:
            sends = sent(submission)
            watched |= sends
            consequential = CONSEQUENTIAL
            site = submission.site
            extra.append(await self._navigation(submission.url, self._ahead))
            leaves = password_leaves(submission, site_of(here) if here else None)
        pays = self._pays(effect)
        amount = read_total(self._last, target) if pays and self._last is not None else None
        unread: Decision | None = None
        if pays and amount is None and self._limited():
            unread = Decision.ask(
                "gateway.amount_unread",
                "valet could not read the order total on this page, "
                "so your spending limit cannot be checked",
            )
        # The person's start page and valet's own way back to the saved page come from no
        # content: what the page they lead to says does not bear on going there.
        agent = self._actor == "agent"
        taint = self.gate.taint(watched, consequential) if agent else Taint()
        told = carrying(taint)
        if told and classification is not None:
            classification = replace(classification, reason=f"{classification.reason}, {told}")
        request = ActionRequest(
            tool=action.kind,
            effect=effect,
            site=site,
            connector="browser",
            amount=amount,
            spent=self.gate.spent(),
            spent_month=None if amount is None else await asyncio.to_thread(self.gate.spent_month),
            tainted=taint.tainted,
            origins=taint.origins,
            findings=taint.findings,
            size_bytes=size,
        )
        first = leaves or unread  # a password leaving is denied; an unread total only asks
        return _Facts(request, tuple(extra), taint, classification, target, first, sends)

    def _sites_of(self, action: Action) -> list[str]:
        """The page open right now and, for a navigation, where it goes (watch mode)."""
        here = self.inner.page_url if isinstance(self.inner, LiveUrl) else ""
        here = here or (self._last.url if self._last is not None else "")
        match action:
            case Goto(url=url) | OpenTab(url=str() as url) | Download(url=str() as url):
                return [here, urljoin(here, url) if here else url]
            case _:
                return [here]

    def _vault(self, text: str, target: Element | None) -> list[Decision]:
        """A denial when `text` holds vault placeholders that may not be filled here: checked
        against the page open right now, not the one last observed."""
        if not self.secrets.uses(text):
            return []
        url = self.inner.page_url if isinstance(self.inner, LiveUrl) else ""
        url = url or (self._last.url if self._last is not None else "")
        in_frame = target is not None and target.frame is not None
        denial = self.secrets.check(text, url, in_frame=in_frame, sends_to=self._sends_to(target))
        if denial is None and target is None:
            denial = Decision.deny(
                "vault.target", "valet fills secrets only into a field of the latest observation"
            )
        return [] if denial is None else [denial]

    def _sends_to(self, target: Element | None) -> tuple[str, ...]:
        """Every URL the form of `target` can be sent to (none when it is in no form)."""
        if target is None or target.form is None:
            return ()
        form = self._last.forms.get(target.form.form) if self._last is not None else None
        found = (target.form.url, *(() if form is None else form.targets))
        return tuple(dict.fromkeys(found))

    async def _link_url(self, ref: int | ByRole, known: Element | None) -> str | None:
        """The URL a click would follow: as the element index gave it with the element (no
        extra trip to the page), else read live when the inner toolbox can tell (the browser
        can)."""
        url = _indexed_link(known)
        if url is None and isinstance(self.inner, LinkTargets):
            url = await self.inner.link_url(ref)
        if not url or url.startswith(("javascript:", "#")):
            return None
        return url

    async def _declared_size(self, url: str, guard: Decision) -> int | None:
        """The size the server declares for a download, when the inner toolbox can ask (the
        browser can) and navigation may go there (no request to a denied or asked URL)."""
        if guard.verdict != "allow" or not isinstance(self.inner, DownloadSizes):
            return None
        return await self.inner.content_length(url)

    async def _too_large(self, outcome: ActionOutcome) -> Decision | None:
        """After a download whose size was not declared: the denial when a saved file is over
        the download cap; the saved files are deleted then."""
        cap, cap_id = self.gate.policy.download_cap()
        biggest = max(await asyncio.to_thread(_sizes, outcome.artifacts), default=0)
        denial = cap.over(biggest, cap_id)
        if denial is not None:
            await asyncio.to_thread(_delete, outcome.artifacts)
        return denial

    def _pays(self, effect: Effect) -> bool:
        """A purchase, or a submit of payment details: it may spend the page's order total."""
        if effect is Effect.SUBMIT:
            return self._last is not None and has_payment_fields(self._last)
        return effect is Effect.PURCHASE

    def _limited(self) -> bool:
        return any(isinstance(rule, MaxAmount) for rule in self.gate.policy.rules.rules)

    def _element(self, ref: int | ByRole) -> Element | None:
        page = self._last
        if page is None:
            return None
        if isinstance(ref, int):
            return page.element(ref)
        return find_element(page, ref.role, ref.name, ref.nth)

    def _end(self, end: int | ByRole | Point) -> Element | None:
        """A drag's end as an element of the latest observation (None: a point or unknown)."""
        return None if isinstance(end, Point) else self._element(end)

    def _click(self, target: Element | None, ref: int | ByRole) -> Classification:
        if target is None or self._last is None:
            shown = f"[{ref}]" if isinstance(ref, int) else f'{ref.role} "{ref.name}"'
            return Classification(Effect.UNKNOWN, f"{shown} is not in the latest observation")
        return classify_click(target, self._last, self._typed)

    def _enter(self, target: Element | None, text: str = "") -> Classification:
        """What Enter in `target` does (after typing `text` into it, when it is typed)."""
        if self._last is None:
            return Classification(Effect.UNKNOWN, "Enter before any observation")
        typed = self._typed if target is None or not text else self._typed | {target.id: text}
        return classify_enter(target, self._last, typed)

    async def _page_guard(self, url: str) -> Decision | None:
        """The navigation rules' decision on a page's address (None: not a web or file page)."""
        if not url.startswith(("http:", "https:", "file:")):
            return None
        return await self._navigation(url, self._resolve)  # afresh: the DNS may have changed

    def _landed(self, url: str, guard: Decision | None) -> Ruling | None:
        """The denial, audited, when the page open now is at an address navigation may not go."""
        if guard is None or guard.verdict != "deny":
            return None
        ruling = Ruling(guard, False, "denied", args={"url": url})
        self.gate.record(
            actor="system", tool="redirect", effect="navigate", ruling=ruling, outcome="denied"
        )
        return ruling

    async def _navigation(self, url: str, resolve: Resolver) -> Decision:
        settings = self.gate.policy.navigation
        host = urlsplit(url).hostname if url.startswith(("http:", "https:")) else None
        resolved = await resolve(host) if host else []
        return check_navigation(url, resolved, settings)


def _page_changed(ruling: Ruling) -> Ruling:
    why = Decision.deny(
        "gateway.page_changed",
        "the page changed while the person was asked about it, so their answer does not count "
        "for the page as it is now; look at the page again (an action on it is asked again)",
    )
    return Ruling(why, False, "denied", ruling.approver, ruling.args)


def _shown_args(args: dict[str, object], sends: dict[str, object] | None) -> dict[str, object]:
    """An action's arguments as the person is asked about them: with where its form goes and
    what it carries (`form`, taken off again before it runs)."""
    return args if sends is None else {**args, "form": sends}


def _indexed_link(element: Element | None) -> str | None:
    """The absolute URL a click on `element` follows, as the element index gave it
    (`Element.href`: its own or its enclosing link's; "" when it is in no link); None when the
    index did not say (an element built elsewhere: the page is asked)."""
    return None if element is None else element.href


def _note(refusal: Refusal) -> str:
    if refusal.kind == "connection":
        return f"[valet refused a connection the browser asked for: {refusal.ruling.message}]"
    what = "an embedded frame" if refusal.kind == "frame" else "a page"
    return f"[valet refused to open {what}: {refusal.ruling.message}]"


def _sizes(paths: Iterable[Path]) -> list[int]:
    return [path.stat().st_size for path in paths if path.is_file()]


def _delete(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
