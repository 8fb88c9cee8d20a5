"""Scripts: lists of actions written by hand (scripted models) or saved from a run (workflows).

One format serves both. Each item is one action, `{kind: arguments}`, with shorthands:

    - goto: /shop                                   # relative URLs resolve against the page
    - type: {role: searchbox, name: Search, text: "{{query}}", submit: true}
    - expect: {text: "results for", element: {role: link, name: "Next"}}
    - click: {role: button, name: "Add to cart"}    # stable: by role and accessible name
    - click: 12                                     # or by the element's id
    - press: Enter
    - done: {answer: "Added two cables", success: true}

`expect` checks the observation before the next action (keys: url, title, text, element,
absent, prompt); a failed expectation ends the run unsuccessfully with the reason. `say: text` makes
the model answer with plain text and `raw: {tool: click, args: {...}}` sends a tool call as is:
both are for testing how valet handles a model's mistakes. `{{name}}` is replaced by a
parameter's value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from valet.errors import ScriptError
from valet.tools import ACTIONS_BY_KIND

_TARGET_KEYS = ("role", "name", "nth")
_SHORTHAND = {
    "goto": "url",
    "open_tab": "url",
    "press": "keys",
    "scroll": "direction",
    "done": "answer",
    "switch_tab": "tab",
    "close_tab": "tab",
    "wait_for": "text",
}
_PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Expectation:
    url: str | None = None
    title: str | None = None
    text: str | None = None
    element: tuple[str, str] | None = None
    absent: tuple[str, str] | None = None
    prompt: str | None = None
    """Text anywhere in the prompt (task, history, notes), not only on the page."""

    def failure(self, prompt: str) -> str | None:
        """Why the observation in `prompt` does not meet this expectation, or None."""
        page = prompt.split("# Current page", 1)[-1]
        first = page.strip().splitlines()[:3]
        head = "\n".join(first)
        if self.url is not None and self.url not in head:
            return f"expected the URL to contain {self.url!r}; page header: {head[:200]!r}"
        if self.title is not None and self.title not in head:
            return f"expected the title to contain {self.title!r}"
        if self.text is not None and self.text not in page:
            return f"expected the page to show {self.text!r}"
        if self.element is not None and not _has_element(page, *self.element):
            return f"expected a {self.element[0]} named {self.element[1]!r} on the page"
        if self.absent is not None and _has_element(page, *self.absent):
            return f"expected no {self.absent[0]} named {self.absent[1]!r} on the page"
        if self.prompt is not None and self.prompt not in prompt:
            return f"expected the prompt to contain {self.prompt!r}"
        return None


@dataclass(frozen=True)
class ScriptStep:
    """One scripted reply: an action (`kind`, `args`), plain text, or a raw tool call."""

    kind: str
    args: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())
    expect: Expectation | None = None
    text: str | None = None
    """Set for `say` steps: the model replies with this text instead of an action."""
    raw: bool = False
    """The tool call is sent as is, even if invalid."""

    def describe(self) -> str:
        if self.text is not None:
            return f"say {self.text!r}"
        element = self.args.get("element")
        if _is_dict(element):
            return f'{self.kind} {element.get("role")} "{element.get("name")}"'
        shown = {k: v for k, v in self.args.items() if k != "element"}
        ref = f" [{element}]" if element is not None else ""
        return (
            f"{self.kind}{ref} {json.dumps(shown, ensure_ascii=False)}"
            if shown
            else self.kind + ref
        )


def load_script(path: Path, params: dict[str, str] | None = None) -> list[ScriptStep]:
    """Read a script file (YAML or JSON): a list of steps, or a mapping with `steps:`."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"cannot read script {path}: {exc}") from exc
    if _is_dict(data) and "steps" in data:
        declared: dict[Any, Any] = data.get("params") or {}
        defaults: dict[str, str] = {str(k): str(v) for k, v in declared.items()}
        data = data["steps"]
    else:
        defaults = {}
    if not _is_list(data):
        raise ScriptError(f"script {path} must be a list of actions (or have a `steps:` list)")
    values = defaults | (params or {})
    return parse_steps(_substitute(data, values), source=str(path))


def parse_steps(items: list[Any], source: str = "script") -> list[ScriptStep]:
    steps: list[ScriptStep] = []
    pending: Expectation | None = None
    for number, item in enumerate(items, 1):
        where = f"{source}, item {number}"
        if not _is_dict(item) or not item:
            raise ScriptError(f"{where}: expected a mapping like {{click: 12}}, got {item!r}")
        entry: dict[str, Any] = {str(k): v for k, v in item.items()}
        if "expect" in entry:
            pending = _expectation(entry.pop("expect"), where)
            if not entry:
                continue
        if len(entry) != 1:
            raise ScriptError(f"{where}: one action per item, got {sorted(entry)}")
        kind, value = next(iter(entry.items()))
        steps.append(_step(kind, value, pending, where))
        pending = None
    if pending is not None:
        steps.append(ScriptStep("done", {"answer": "script finished", "success": True}, pending))
    return steps


def _step(kind: str, value: Any, expect: Expectation | None, where: str) -> ScriptStep:
    if kind == "say":
        return ScriptStep("say", expect=expect, text=str(value))
    if kind == "raw":
        if not _is_dict(value) or "tool" not in value:
            raise ScriptError(f"{where}: raw needs {{tool: NAME, args: {{...}}}}")
        raw: dict[str, Any] = value
        return ScriptStep(str(raw["tool"]), dict(raw.get("args") or {}), expect, raw=True)
    action = ACTIONS_BY_KIND.get(kind)
    if action is None:
        raise ScriptError(f"{where}: unknown action {kind!r}; known: {', '.join(ACTIONS_BY_KIND)}")
    args = _arguments(kind, value, "element" in action.model_fields)
    try:
        action.model_validate(args)
    except ValueError as exc:
        raise ScriptError(f"{where}: invalid {kind}: {exc}") from exc
    return ScriptStep(kind, args, expect)


def _arguments(kind: str, value: Any, takes_element: bool) -> dict[str, Any]:
    if value is None:
        return {}
    if _is_dict(value):
        args: dict[str, Any] = {str(k): v for k, v in value.items()}
        if takes_element and "element" not in args and "role" in args:
            args["element"] = {k: args.pop(k) for k in _TARGET_KEYS if k in args}
        return args
    if takes_element and kind not in _SHORTHAND:
        return {"element": value}
    return {_SHORTHAND.get(kind, "value"): value}


def _expectation(value: Any, where: str) -> Expectation:
    if not _is_dict(value):
        raise ScriptError(
            f"{where}: expect needs a mapping (url, title, text, element, absent, prompt)"
        )
    spec: dict[str, Any] = value
    unknown = set(spec) - {"url", "title", "text", "element", "absent", "prompt"}
    if unknown:
        raise ScriptError(f"{where}: unknown expectation keys {sorted(unknown)}")

    def pair(key: str) -> tuple[str, str] | None:
        ref = spec.get(key)
        if ref is None:
            return None
        if not _is_dict(ref) or "role" not in ref or "name" not in ref:
            raise ScriptError(f"{where}: expect.{key} needs {{role: ..., name: ...}}")
        return (str(ref["role"]), str(ref["name"]))

    def text(key: str) -> str | None:
        return None if spec.get(key) is None else str(spec[key])

    return Expectation(
        text("url"), text("title"), text("text"), pair("element"), pair("absent"), text("prompt")
    )


def _has_element(page: str, role: str, name: str) -> bool:
    pattern = re.compile(rf"\] {re.escape(role)} \"{re.escape(name)}\"")
    return pattern.search(page) is not None


def _substitute(data: Any, values: dict[str, str]) -> Any:
    if isinstance(data, str):

        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise ScriptError(f"parameter {key!r} has no value; pass --param {key}=...")
            return values[key]

        return _PARAM.sub(replace, data)
    if _is_list(data):
        return [_substitute(v, values) for v in data]
    if _is_dict(data):
        return {k: _substitute(v, values) for k, v in data.items()}
    return data


def _is_dict(value: object) -> TypeGuard[dict[Any, Any]]:
    """`isinstance(value, dict)`, typed: YAML/JSON mappings hold anything (keys too)."""
    return isinstance(value, dict)


def _is_list(value: object) -> TypeGuard[list[Any]]:
    """`isinstance(value, list)`, typed: YAML/JSON lists hold anything."""
    return isinstance(value, list)
