"""What an MCP tool's arguments are for, read from its JSON input schema.

An MCP server says nothing about who its tools send to or what they change, so each argument's
role is told from its schema: its `format` (`email`, `uri`…), else its name (`to`, `recipient`,
`url`, `amount`, `iban`, `path`, `id`…, the whole name or its last or first word:
`recipient_email`, `repo_path`, `cc_list`). `declared_args` turns the roles into the
declarations the gateway acts on:

- a read (`readOnlyHint`, or the person's mapping) has no consequential argument, only URLs;
- any other tool: recipients, URLs, amounts and targets are consequential (a value found only in
  untrusted content makes the gateway ask), and so is every string argument whose role cannot be
  told (the conservative default); only what it says (`text`, `body`, `message`…), fixed choices
  (`enum`), numbers and booleans of no known role are not;
- URL arguments (any effect) pass the navigation rules before the call is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, JsonValue

from valet.effects import Effect

Role = Literal["recipient", "url", "amount", "currency", "target", "content"]

FORMAT_ROLES: dict[str, Role] = {
    "email": "recipient",
    "idn-email": "recipient",
    "uri": "url",
    "iri": "url",
    "url": "url",
    "hostname": "url",
    "idn-hostname": "url",
    "ipv4": "url",
    "ipv6": "url",
}
"""A JSON-schema `format` that says an argument's role."""

NAME_ROLES: dict[str, Role] = {
    **dict.fromkeys(
        ("to", "recipient", "recipients", "cc", "bcc", "email", "emails", "address", "addresses",
         "attendee", "attendees", "participant", "participants", "invitee", "invitees",
         "assignee", "assignees", "reviewer", "reviewers", "member", "members", "phone"),
        "recipient",
    ),
    **dict.fromkeys(
        ("url", "urls", "uri", "uris", "link", "links", "endpoint", "endpoints", "webhook",
         "href", "host", "hostname", "domain"),
        "url",
    ),
    **dict.fromkeys(("amount", "price", "cost", "total", "fee", "sum"), "amount"),
    "currency": "currency",
    **dict.fromkeys(
        ("iban", "bic", "account", "card", "password", "secret", "token", "id", "ids", "uid",
         "path", "paths", "file", "files", "folder", "directory", "dir", "source",
         "destination", "target", "repo", "repository", "owner", "org", "branch", "ref",
         "remote", "room", "channel", "user", "username", "users"),
        "target",
    ),
    **dict.fromkeys(
        ("text", "body", "content", "contents", "message", "subject", "title", "description",
         "comment", "note", "notes", "summary", "query", "prompt", "caption"),
        "content",
    ),
}  # fmt: skip
"""An argument's name, or its last or first word, that says its role."""

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


@dataclass(frozen=True, slots=True)
class DeclaredArgs:
    """The declarations of one tool's arguments (field names of its arguments model)."""

    consequential: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    site: str | None = None
    """The one URL a write acts on (its site is what grants and the task's scope see)."""
    amount: str | None = None
    currency: str | None = None


def declared_args(
    schema: Mapping[str, object], args: type[BaseModel], effect: Effect
) -> DeclaredArgs:
    """The declarations for a tool with input `schema`, arguments model `args` (built from it)
    and `effect` (from the person's mapping or the server's annotations)."""
    roles: dict[str, Role | None] = {}
    free: dict[str, bool] = {}
    for field, prop, spec in _fields(schema, args):
        roles[field] = _role(prop, spec)
        free[field] = _free_text(args.model_fields[field].annotation)
    urls = tuple(f for f, role in roles.items() if role == "url")
    if effect is Effect.READ:
        return DeclaredArgs(urls=urls)
    recipients = tuple(f for f, role in roles.items() if role == "recipient")
    amount = next((f for f, role in roles.items() if role == "amount"), None)
    currency = next((f for f, role in roles.items() if role == "currency"), None)
    consequential = tuple(
        f
        for f, role in roles.items()
        if role in ("recipient", "url", "amount", "target") or (role is None and free[f])
    )
    single = urls[0] if len(urls) == 1 and _is_str(args.model_fields[urls[0]].annotation) else None
    return DeclaredArgs(
        consequential,
        recipients,
        urls,
        site=single,
        amount=amount,
        currency=currency if amount is not None else None,
    )


def _role(prop: str, spec: Mapping[str, object]) -> Role | None:
    for found in _formats(spec):
        if found in FORMAT_ROLES:
            return FORMAT_ROLES[found]
    words = [w.lower() for w in _WORD.findall(prop)]
    for name in (prop.lower(), *words[-1:], *words[:1]):
        if name in NAME_ROLES:
            return NAME_ROLES[name]
    return None


def _fields(
    schema: Mapping[str, object], args: type[BaseModel]
) -> Iterator[tuple[str, str, Mapping[str, object]]]:
    """(field name, schema property, its schema) for each argument."""
    properties = _dict(schema.get("properties"))
    for field, info in args.model_fields.items():
        prop = info.alias or field
        yield field, prop, _resolve(schema, _dict(properties.get(prop)))


def _formats(spec: Mapping[str, object], depth: int = 0) -> Iterator[str]:
    """The `format`s of a property, of its items and of its `anyOf`/`oneOf` options."""
    if not spec or depth > 4:
        return
    if isinstance(spec.get("format"), str):
        yield str(spec["format"]).lower()
    yield from _formats(_dict(spec.get("items")), depth + 1)
    for key in ("anyOf", "oneOf"):
        options = spec.get(key)
        for option in cast(list[object], options) if isinstance(options, list) else []:
            yield from _formats(_dict(option), depth + 1)


def _free_text(annotation: Any) -> bool:
    """Whether the argument can hold any text (a string or a list of them, not a fixed choice)."""
    if annotation is str or annotation is JsonValue:
        return True
    origin = get_origin(annotation)
    if origin in (Union, UnionType, list, tuple, set, frozenset):
        return any(_free_text(a) for a in get_args(annotation) if a is not NoneType)
    return False


def _is_str(annotation: Any) -> bool:
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return all(a is str or a is NoneType for a in get_args(annotation))
    return False


def _resolve(root: Mapping[str, object], spec: Mapping[str, object]) -> Mapping[str, object]:
    ref = spec.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return spec
    target: object = root
    for part in ref[2:].split("/"):
        target = _dict(target).get(part)
    return {**_dict(target), **{k: v for k, v in spec.items() if k != "$ref"}}


def _dict(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return {str(k): v for k, v in cast(dict[object, object], value).items()}
    return {}
