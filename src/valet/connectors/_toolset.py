"""A toolset: a named group of typed operations, each declaring the effect it has on the world.

    Operation(name="read_file", description="Read a text file.", args=ReadFile,
              effect=Effect.READ, scopes=("files.read",), run=read_file)

An operation's arguments are a pydantic model (the schema the model sees), its `run` takes an
instance of it. Operations never run directly: `Toolset.tools()` turns them into gateway tools
(`valet.gateway.Tool`) and only `Gateway.call` runs those, after the policy (or the person)
allowed it; `Toolset.actions()` gives the model one typed action per operation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast

from pydantic import BaseModel, create_model

from valet.connectors._errors import ConnectorError
from valet.effects import Effect
from valet.gateway import Tool, ToolEffects
from valet.tools import Action

AuthMethod = Literal["none", "local", "api_key", "basic", "oauth2"]
"""How a connector authenticates: `none` (nothing to sign in to), `local` (runs on this machine
with the person's rights, e.g. an MCP server command), `api_key`, `basic`, `oauth2`."""

Run = Callable[[Any], Awaitable[object]]
"""An operation's body: takes its validated arguments model, returns a JSON-like value. It
raises `valet.gateway.ToolFailure` for a failure the model should read."""


@dataclass(frozen=True)
class Happened:
    """The interrupted call took effect (found where it would be)."""

    result: object
    """What the call would have returned, as far as the lookup can tell."""
    how: str
    """How that is known, for the person and the model (`found Message-ID … in Sent`)."""


@dataclass(frozen=True)
class DidNotHappen:
    """The interrupted call certainly did not take effect: it may run again."""

    how: str


@dataclass(frozen=True)
class Unsure:
    """Nobody can tell from here whether the interrupted call took effect."""

    what: str
    """What exactly is uncertain, in words the person can check."""


Reconciled = Happened | DidNotHappen | Unsure

Reconcile = Callable[[Any, str, bool], Awaitable[Reconciled]]
"""Looks up whether an interrupted call took effect: takes the call's arguments model, the
action's id (`valet.gateway.running_action().id` when it ran) and whether it had passed its point
of no return (`RunningAction.commit`)."""

_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Operation:
    """One typed operation of a toolset."""

    name: str
    description: str
    args: type[BaseModel]
    effect: Effect
    run: Run = field(repr=False)
    scopes: tuple[str, ...] = ()
    """What access the operation needs (e.g. `files.read`, `mail.send`)."""
    recipient_args: tuple[str, ...] = ()
    """Arguments naming who receives what it sends or shares (checked by the person's rules)."""
    consequential_args: tuple[str, ...] = ()
    """Arguments whose origin matters: who or what it sends to, deletes, shares or changes (a
    value found only in untrusted content makes the gateway ask). Empty: the recipient, amount
    and site arguments."""
    amount_arg: str | None = None
    """An argument holding an amount of money it spends (checked by the person's limits)."""
    currency_arg: str | None = None
    currency: str | None = None
    """The currency of `amount_arg` when no `currency_arg` says it."""
    site_arg: str | None = None
    """An argument holding a URL or host the operation acts on."""
    url_args: tuple[str, ...] = ()
    """Arguments holding URLs it reaches (checked by the navigation rules before it runs)."""
    effect_source: str = "declared"
    """Why it has this effect: `declared` by the connector, else e.g. `annotation readOnlyHint`,
    `your mapping` or `no annotation` (MCP)."""
    reconcile: Reconcile | None = None
    """After a crash in the middle of this operation: finds out whether it took effect. Without
    one (and not `idempotent`), the person is asked, shown exactly what was interrupted."""
    idempotent: bool = False
    """Running it again with the same arguments and action id cannot do it twice (the server
    keeps one event per transaction id, one calendar event per UID…): after a crash it simply
    runs again (through the gateway, as any call)."""

    def __post_init__(self) -> None:
        named = (*self.consequential_args, *self.recipient_args, *self.url_args)
        for arg in (*named, self.amount_arg, self.currency_arg, self.site_arg):
            if arg is not None and arg not in self.args.model_fields:
                raise ConnectorError(f"operation {self.name}: no argument named {arg!r}")


class ToolsetAction(Action):
    """Base of the actions built for toolset operations (one subclass per operation)."""

    kind: ClassVar[str] = "toolset"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    toolset: ClassVar[str] = ""
    operation: ClassVar[str] = ""


@dataclass(frozen=True)
class Toolset:
    """A live toolset (an opened connector or MCP server), named by the person's config."""

    name: str
    description: str
    auth: AuthMethod
    operations: tuple[Operation, ...]
    connector: str = ""
    """The registered connector it was opened from (`files`, `mcp`…)."""
    at_end: Callable[[str, bool], None] | None = None
    """Called (in a thread) when a task that had this toolset ends for good, with the task's
    id and whether it succeeded: e.g. the workspace removes the task's folder if so set."""

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for op in self.operations for s in op.scopes))

    def tool_name(self, operation: Operation) -> str:
        """The name the model and the gateway know the operation by: `<toolset>_<operation>`
        (not doubled when the operation already starts with the toolset's name)."""
        base = operation.name
        if not base.startswith(f"{self.name}_"):
            base = f"{self.name}_{base}"
        return _TOOL_NAME.sub("_", base)[:64]

    def tools(self) -> list[Tool[..., Any]]:
        """One gateway tool per operation, tagged with this toolset as its connector."""
        return [self._tool(op) for op in self.operations]

    def actions(self) -> tuple[type[ToolsetAction], ...]:
        """One typed action per operation, for the model."""
        return tuple(self._action(op) for op in self.operations)

    def _tool(self, op: Operation) -> Tool[..., Any]:
        async def run(**kwargs: object) -> object:
            return await op.run(op.args.model_validate(kwargs, by_name=True))

        effects = ToolEffects(
            op.effect,
            consequential_args=op.consequential_args,
            recipient_args=op.recipient_args,
            amount_arg=op.amount_arg,
            currency_arg=op.currency_arg,
            currency=op.currency,
            site_arg=op.site_arg,
            connector=self.name,
            url_args=op.url_args,
        )
        return Tool(run, self.tool_name(op), effects, op.args, is_async=True)

    def _action(self, op: Operation) -> type[ToolsetAction]:
        name = self.tool_name(op)
        doc = f"{op.description.strip() or op.name} (toolset {self.name}, effect {op.effect.value})"
        bases = (ToolsetAction, op.args)
        model = cast(type[ToolsetAction], create_model(name, __base__=bases, __doc__=doc))
        model.kind = name
        model.effect = op.effect
        model.toolset = self.name
        model.operation = op.name
        return model
