"""Every browser action as one tool, `act(kind, …)`: the same actions in a smaller request.

One tool per action repeats a tool's wrapper and the shared fields (`element`, `url`, `text`)
two dozen times; one flat tool names each field once and lists the actions, with the fields
each takes, in its description. The model's call becomes the typed action again
(`ActionChoice.action`) before anything else sees it, so the gateway, the journal and the run
record get exactly what they get from one tool per action.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import UnionType
from typing import Any, ClassVar, Literal, Union, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from valet.tools._browser_actions import Action, untitled

_HOW = "One browser action: kind and its fields (? optional):"


class ActionChoice(BaseModel):
    """Base of the generated `act` arguments: `kind` and every action's fields, all optional."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=untitled)
    kinds: ClassVar[dict[str, type[Action]]] = {}
    kind: str

    def action(self) -> Action:
        """The typed action the call stands for (`ValidationError` when its fields do not fit
        it); fields that belong to other actions are left out."""
        chosen = self.kinds[self.kind]
        given = {name: getattr(self, name) for name in chosen.model_fields}
        return chosen.model_validate({k: v for k, v in given.items() if v is not None})


def one_tool(actions: Sequence[type[Action]]) -> type[ActionChoice]:
    """The `act` argument model for `actions`: `kind` picks one, the union of their fields
    (each optional; a field several actions share takes the first one's type and
    description), described by one line per action."""
    fields: dict[str, Any] = {
        "kind": (cast(Any, Literal).__getitem__(tuple(a.kind for a in actions)), Field())
    }
    for action in actions:
        for name, info in action.model_fields.items():
            if name not in fields:
                described = Field(
                    default=None, description=info.description, json_schema_extra=_no_default
                )
                fields[name] = (_optional(info), described)
    lines = [_HOW, *(_line(action) for action in actions)]
    model = create_model("act", __base__=ActionChoice, __doc__="\n".join(lines), **fields)
    model.kinds = {action.kind: action for action in actions}
    return model


def _optional(info: FieldInfo) -> Any:
    """The field's type, or None, which the schema omits. Its limits (`le=50`…) are checked
    when the call becomes the typed action, whose description states those that matter."""
    declared = info.annotation
    union = get_origin(declared) in (Union, UnionType)
    kept = [t for t in get_args(declared) if t is not type(None)] if union else [declared]
    return Union[(*kept, SkipJsonSchema[None])]


def _no_default(schema: dict[str, Any]) -> None:
    """Every field but `kind` is optional: a `"default": null` on each says nothing more."""
    schema.pop("default", None)


def _line(action: type[Action]) -> str:
    names = [n if f.is_required() else f"{n}?" for n, f in action.model_fields.items()]
    doc = " ".join((action.__doc__ or "").split())
    return f"{action.kind}({', '.join(names)}): {doc}"
