"""Validation problems in the person's words, field by field, for the web app.

Pydantic says "String should have at least 1 character"; a person should read "Task: write
what valet should do." The API keeps pydantic's `loc`, `msg` and `type` and adds this `text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

FIELDS = {
    "task": "Task",
    "start_url": "Start page",
    "agent_mode": "Agent mode",
    "text": "Message",
    "actor": "Actor",
    "page": "Page",
    "size": "Records per page",
}
"""Names a person knows the web app's fields by; other fields are named as they are."""

_EMPTY = {
    "task": "write what valet should do",
    "text": "write a message first",
}
_PLUMBING = ("body", "query", "path", "form", "header", "cookie")


def field_of(error: Mapping[str, Any]) -> str:
    """The field a problem is about (`element`, `start_url`, `args.element`), without where
    in the request it was (`body`, `query`)."""
    loc = [str(part) for part in error.get("loc", ())]
    while loc and loc[0] in _PLUMBING:
        loc = loc[1:]
    return ".".join(loc)


def problem_text(error: Mapping[str, Any]) -> str:
    """One problem as a sentence naming its field: `Start page: must be an http(s) URL…`."""
    field = field_of(error)
    said = _sentence(field, error)
    if not field:
        return said[:1].upper() + said[1:]
    return f"{FIELDS.get(field, field)}: {said}"


def problems_text(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    return [problem_text(e) for e in errors]


def _sentence(field: str, error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    msg = str(error.get("msg", ""))
    match kind:
        case "missing":
            return _EMPTY.get(field, "is required")
        case "string_too_short":
            low = int(ctx.get("min_length", 1))
            return _EMPTY.get(field, "is empty") if low <= 1 else f"needs {low}+ characters"
        case "string_too_long":
            return f"is too long (at most {int(ctx.get('max_length', 0)):,} characters)"
        case "int_parsing" | "int_type" | "int_from_float":
            return "must be a whole number"
        case "float_parsing" | "float_type":
            return "must be a number"
        case "bool_parsing" | "bool_type":
            return "must be on or off (true or false)"
        case "string_type":
            return "must be text"
        case "greater_than_equal" | "greater_than":
            return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
        case "less_than_equal" | "less_than":
            return f"must be at most {ctx.get('le', ctx.get('lt'))}"
        case "literal_error" | "enum":
            return f"must be one of {ctx.get('expected', 'the listed values')}"
        case "extra_forbidden":
            return "is not a field of this action"
        case "value_error":
            return msg.removeprefix("Value error, ")
        case _:
            return msg[:1].lower() + msg[1:] if msg else "is not valid"
