"""Secrets for one task: the gateway fills vault placeholders on bound sites and hides the
values again in everything that comes back (observations, results), so the model and the run
record only ever hold placeholders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from valet.audit import Redactor
from valet.browser import ActionOutcome, Element, Observation
from valet.policy import Decision, Stop, field_kind
from valet.vault import Vault, available, check, fill, placeholders


class TaskSecrets:
    """The vault as one task sees it. Every value it fills is added to the run's `redactor`."""

    def __init__(self, vault: Vault | None, redactor: Redactor | None = None) -> None:
        self.vault = vault
        self.redactor = redactor or Redactor(vault.secret_values() if vault else ())
        self._shown: dict[str, str] = {}
        """Each secret value → the placeholder the model sees instead."""
        if vault is not None:
            for credential in vault.credentials:
                for field in ("username", "password"):
                    value = credential.value(field)
                    if len(value) >= 3:
                        self._shown[value] = "{{vault:" + f"{credential.name}.{field}" + "}}"

    def uses(self, text: str) -> bool:
        return bool(placeholders(text))

    def check(
        self, text: str, url: str, *, in_frame: bool, sends_to: Sequence[str] = ()
    ) -> Decision | None:
        """A denial when the placeholders in `text` may not be filled on the page at `url`, or
        into a field whose form may be sent to one of `sends_to` (it must be bound too)."""
        refusal = check(self.vault, text, url, in_frame=in_frame, sends_to=sends_to)
        return None if refusal is None else Decision.deny(refusal.rule_id, refusal.reason)

    def fill(self, text: str) -> str:
        """`text` with the real values (after `check` allowed it)."""
        if self.vault is None:
            return text
        filled = fill(self.vault, text)
        for value, shown in filled.values.items():
            self.redactor.add(value)
            if len(value) >= 3:
                self._shown[value] = shown
        return filled.text

    def can_fill(self, observation: Observation, stop: Stop) -> bool:
        """Whether the vault fills what a stop asks for on this page (a login's password, a
        one-time code from a TOTP seed): then valet does not stop for the person. Never when
        the form asking for it goes to a site the credential is not bound to: the person
        then decides."""
        needed = {"login": "password", "otp": "totp"}.get(stop.kind)
        if self.vault is None or needed is None:
            return False
        kind = "password" if stop.kind == "login" else "otp"
        keys = {
            e.form.form
            for e in observation.elements
            if e.form is not None
            and e.id in observation.fields
            and field_kind(observation.fields[e.id]) == kind
        }
        targets = {
            to
            for key, form in observation.forms.items()
            if key in keys or (kind == "password" and form.password)
            for to in form.targets
        }
        return any(
            needed in c.fields() and all(c.bound_to(to) for to in targets)
            for c in self.vault.for_page(observation.url)
        )

    def available(self, url: str) -> list[str]:
        return available(self.vault, url)

    def hide(self, text: str) -> str:
        """`text` with every known secret value replaced by its placeholder."""
        for value in sorted(self._shown, key=len, reverse=True):
            if value in text:
                text = text.replace(value, self._shown[value])
        return text

    def hide_element(self, element: Element | None) -> Element | None:
        if element is None or not self._shown:
            return element
        value = None if element.value is None else self.hide(element.value)
        return replace(element, name=self.hide(element.name), value=value)

    def hide_observation(self, observation: Observation) -> Observation:
        """The observation with secret values replaced, and the placeholders of this site."""
        observation.vault = self.available(observation.url)
        if not self._shown:
            return observation
        observation.title = self.hide(observation.title)
        observation.text = self.hide(observation.text)
        observation.dialogs = [self.hide(d) for d in observation.dialogs]
        observation.elements = [e for e in map(self.hide_element, observation.elements) if e]
        observation.labels = [self.hide(label) for label in observation.labels]
        observation.forms = {
            key: replace(form, values=tuple(self.hide(v) for v in form.values))
            for key, form in observation.forms.items()
        }
        return observation

    def hide_outcome(self, outcome: ActionOutcome, typed: str, shown: str) -> ActionOutcome:
        """The outcome of typing `typed` (the filled text) as if `shown` had been typed."""
        message = outcome.message
        if typed and typed[:60] in message:
            message = message.replace(typed[:60], shown[:60], 1)
        outcome.message = self.hide(message)
        if outcome.content is not None:
            outcome.content = self.hide(outcome.content)
        outcome.target = self.hide_element(outcome.target)
        return outcome
