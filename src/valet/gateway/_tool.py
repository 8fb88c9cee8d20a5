"""Declaring a tool: a typed Python function plus the effect it has on the world.

    @tool(effect=Effect.SEND, recipient_args=("to",))
    def send_email(to: str, subject: str, body: str) -> str: ...

Arguments are validated from the function's type hints (a pydantic model built from the
signature), so a model's bad arguments come back as a readable value, not an exception.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from valet.effects import Effect
from valet.gateway._errors import GatewayError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ToolEffects:
    """What the gateway needs to know about a tool beyond its signature."""

    effect: Effect
    consequential_args: tuple[str, ...] = ()
    """Arguments whose origin matters (checked for taint): who or what the tool sends to,
    deletes, shares or changes. Defaults to the recipient, amount and site arguments."""
    recipient_args: tuple[str, ...] = ()
    """Arguments naming who receives what it sends or shares (checked by the person's rules)."""
    amount_arg: str | None = None
    currency_arg: str | None = None
    currency: str | None = None
    """Currency of `amount_arg` when no `currency_arg` says it."""
    site_arg: str | None = None
    """An argument holding a URL or host the tool acts on."""
    site: str | None = None
    connector: str | None = None
    trusted: bool = False
    """Results are trusted data (e.g. the person's own settings); else untrusted content."""
    url_args: tuple[str, ...] = ()
    """Arguments holding URLs the tool reaches. Like `site_arg` and any argument named `url`,
    `uri`, `link`, `endpoint` or `webhook`, they pass the navigation rules before it runs."""


@dataclass(frozen=True)
class Tool(Generic[P, R]):
    """A function the gateway can run, with its declared effects. Calling it calls the function
    directly (no gate): only `Gateway.call` is gated."""

    fn: Callable[P, R]
    name: str
    effects: ToolEffects
    args_model: type[BaseModel]
    is_async: bool = field(default=False)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def description(self) -> str:
        return inspect.getdoc(self.fn) or ""

    @property
    def consequential(self) -> tuple[str, ...]:
        e = self.effects
        if e.consequential_args:
            return e.consequential_args
        named = (*e.recipient_args, e.amount_arg, e.site_arg)
        return tuple(name for name in named if name is not None)

    def validate(self, args: Mapping[str, object]) -> dict[str, object] | str:
        """The validated keyword arguments, or a message the model can read."""
        try:
            parsed = self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            return f"invalid arguments for {self.name}: {problems}"
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}


def tool(
    *,
    effect: Effect,
    consequential_args: tuple[str, ...] = (),
    recipient_args: tuple[str, ...] = (),
    amount_arg: str | None = None,
    currency_arg: str | None = None,
    currency: str | None = None,
    site_arg: str | None = None,
    site: str | None = None,
    connector: str | None = None,
    trusted: bool = False,
    url_args: tuple[str, ...] = (),
    name: str | None = None,
) -> Callable[[Callable[P, R]], Tool[P, R]]:
    """Declare a function as a gated tool with `effect` (see `ToolEffects` for the rest)."""
    effects = ToolEffects(
        effect,
        consequential_args=consequential_args,
        recipient_args=recipient_args,
        amount_arg=amount_arg,
        currency_arg=currency_arg,
        currency=currency,
        site_arg=site_arg,
        site=site,
        connector=connector,
        trusted=trusted,
        url_args=url_args,
    )

    def wrap(fn: Callable[P, R]) -> Tool[P, R]:
        return make_tool(fn, effects, name)

    return wrap


def make_tool(fn: Callable[P, R], effects: ToolEffects, name: str | None = None) -> Tool[P, R]:
    """A `Tool` from a plain function (what `@tool` does)."""
    tool_name = name or getattr(fn, "__name__", "tool")
    model = _args_model(fn, tool_name)
    e = effects
    named = (*e.consequential_args, *e.recipient_args, *e.url_args, e.amount_arg)
    for arg in (*named, e.currency_arg, e.site_arg):
        if arg is not None and arg not in model.model_fields:
            raise GatewayError(f"{tool_name}: no parameter named {arg!r}")
    return Tool(fn, tool_name, effects, model, inspect.iscoroutinefunction(fn))


def _args_model(fn: Callable[..., object], name: str) -> type[BaseModel]:
    try:
        hints = get_type_hints(fn)
    except NameError as exc:
        raise GatewayError(f"{name}: type hints cannot be resolved ({exc})") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise GatewayError(f"{name}: *args and **kwargs are not supported")
        if param.name not in hints:
            raise GatewayError(f"{name}: parameter {param.name!r} has no type hint")
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints[param.name], default)
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    return create_model(f"{name}_args", __config__=config, **fields)
