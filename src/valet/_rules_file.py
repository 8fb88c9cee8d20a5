"""The person's rules on disk: `rules.toml` in valet's home, each rule next to the words it was
compiled from, and every change recorded in the audit log as the person's.

    [[rules]]
    id = "max-amount-1"
    kind = "max_amount"
    note = "never spend more than 100 €"
    limit = "100"
    currency = "EUR"
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import cast

from pydantic import ValidationError

from valet._home import install_of
from valet.audit import AuditEntry, AuditLog
from valet.errors import ConfigError
from valet.policy import Rule, RuleSet

RULES_FILE = "rules.toml"


class RulesError(ConfigError):
    """The rules file (or a file given to replace it) is not valid rules."""


def rules_to_toml(rules: RuleSet) -> str:
    """TOML a person can read and edit: `id`, `kind` and `note` first, defaults left out."""
    lines = [
        "# valet's rules: your limits, enforced by code on every action.",
        "# Edit with `valet rules edit`; kinds: max_amount, forbid_effect, require_approval,",
        "# allow_sites, deny_sites, allowed_recipient_domains, max_download.",
    ]
    for rule in rules.rules:
        data = rule.model_dump(mode="json", exclude_defaults=True)
        ordered = {"id": rule.id, "kind": rule.kind, "note": rule.note} | data
        lines.append("")
        lines.append("[[rules]]")
        for key, value in ordered.items():
            if value == "" and key in ("id", "note"):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        items = cast(Iterable[object], value)
        return "[" + ", ".join(_toml_value(item) for item in items) + "]"
    raise TypeError(f"cannot write {value!r} as a rule value")


def rules_from_toml(text: str, *, where: str = RULES_FILE) -> RuleSet:
    """Parse and validate rules; a readable `RulesError` when they are not valid."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{where}: not valid TOML: {exc}") from exc
    return rules_from_data(data, where=where)


def rules_from_data(data: object, *, where: str) -> RuleSet:
    try:
        rules = RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'rules'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise RulesError(f"{where}: not valid rules: {problems}") from exc
    ids = [rule.id for rule in rules.rules if rule.id]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RulesError(f"{where}: two rules have the id {', '.join(duplicates)}")
    return rules


def load_rules(home: Path) -> RuleSet:
    """The saved rules, or no rules when there is no file yet."""
    path = home / RULES_FILE
    if not path.is_file():
        return RuleSet()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"{path}: cannot be read: {exc}") from exc
    return rules_from_toml(text, where=str(path))


def save_rules(home: Path, rules: RuleSet) -> Path:
    """Write the rules atomically (a reader never sees half a file)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / RULES_FILE
    partial = path.with_suffix(".toml.partial")
    partial.write_text(rules_to_toml(rules), encoding="utf-8")
    os.replace(partial, path)
    return path


def with_ids(existing: RuleSet, new: Iterable[Rule]) -> tuple[Rule, ...]:
    """`new` rules, each with an id unused in `existing` (`max-amount-1`, `forbid-effect-2`…);
    an id a new rule already has is kept when it is free."""
    taken = {rule.id for rule in existing.rules}
    found: list[Rule] = []
    for rule in new:
        if not rule.id or rule.id in taken:
            rule = rule.model_copy(update={"id": _fresh_id(rule.kind, taken)})
        taken.add(rule.id)
        found.append(rule)
    return tuple(found)


def named(rules: RuleSet) -> RuleSet:
    """`rules` with an id on every rule (rules written by hand may have none)."""
    taken = {rule.id for rule in rules.rules if rule.id}
    found: list[Rule] = []
    for rule in rules.rules:
        if not rule.id:
            rule = rule.model_copy(update={"id": _fresh_id(rule.kind, taken)})
            taken.add(rule.id)
        found.append(rule)
    return RuleSet(rules=tuple(found))


def _fresh_id(kind: str, taken: set[str]) -> str:
    stem = kind.replace("_", "-")
    number = 1
    while f"{stem}-{number}" in taken:
        number += 1
    return f"{stem}-{number}"


def record_change(
    home: Path, what: str, details: Mapping[str, object], reason: str, *, person: str = "person"
) -> None:
    """Append the person's change (a rule; a connector account connected or revoked) to the
    audit log (actor `person`). A change in a person's space goes to its installation's log."""
    where = install_of(home) or home
    log = AuditLog.of_home(where)
    try:
        log.append(
            AuditEntry(
                actor="person",
                on_behalf_of=person,
                tool=what,
                effect="",
                args=dict(details),
                verdict="allow",
                rule_id=f"person.{what}",
                reason=reason,
                outcome="recorded",
            )
        )
    finally:
        log.close()
