"""Connectors register through the `valet.connectors` entry point; the person's config names the
toolsets to open from them.

A package (valet itself included) registers a connector in its `pyproject.toml`:

    [project.entry-points."valet.connectors"]
    files = "valet.connectors._files:FILES"

The object must satisfy `Connector`; its entry-point name is its name. `config.toml` opens
toolsets from them:

    [[mcp]]                                  # shorthand for connector = "mcp"
    name = "git"
    command = ["mcp-server-git", "--repository", "/home/me/project"]
    effects = { git_checkout = "update" }    # optional: the person's mapping wins

    [[connectors]]
    name = "notes"
    connector = "files"
    root = "~/notes"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from valet.connectors._accounts import Accounts
from valet.connectors._errors import ConnectorError
from valet.connectors._toolset import AuthMethod, Toolset
from valet.errors import ConfigError
from valet.policy import ConnectorGrant

ENTRY_POINT_GROUP = "valet.connectors"


@runtime_checkable
class Connector(Protocol):
    """What an entry point names: a kind of toolset and how to open one."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def auth(self) -> AuthMethod: ...

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope its operations may need (the operations say which each needs)."""
        ...

    @property
    def settings(self) -> type[BaseModel]:
        """The typed settings of one toolset opened from this connector."""
        ...

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        """Open a toolset named `name` (connect, start the server…); closed on exit."""
        ...


class ToolsetConfig(BaseModel):
    """A toolset to attach to a task: which connector, under which name, with which settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    """The toolset's name; its tools are called `<name>_<operation>`."""
    connector: str
    settings: dict[str, Any] = Field(default_factory=dict[str, Any])
    """The connector's settings (checked by its `settings` model when opened)."""
    shared: bool = False
    """In multi-person mode, whether every person's tasks may use it as it is configured
    (`shared = true`: a team's tracker, a read-only wiki). A toolset that signs in with an
    `account` is each person's own (with their account of that name) without it; any other is
    the installation's only."""

    @classmethod
    def mcp(cls, name: str, **settings: Any) -> ToolsetConfig:
        """An MCP server: `command=[...]` or `url=...`, optional `effects={tool: effect}`."""
        return cls(name=name, connector="mcp", settings=settings)


def registered_connectors() -> dict[str, Connector]:
    """Every connector registered under the `valet.connectors` entry point, by name."""
    found: dict[str, Connector] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded: object = point.load()
        except Exception as exc:
            raise ConnectorError(
                f"connector {point.name!r} ({point.value}) fails to load: {exc}"
            ) from exc
        if not isinstance(loaded, Connector):
            raise ConnectorError(f"connector {point.name!r} ({point.value}) is not a Connector")
        if loaded.name != point.name:
            raise ConnectorError(
                f"connector {point.value} is named {loaded.name!r}, registered as {point.name!r}"
            )
        found[point.name] = loaded
    return found


def default_grant(config: ToolsetConfig) -> ConnectorGrant:
    """What a task may do on a toolset that `[grants]` does not name: read only, unless its
    connector only ever touches the task's own things and says which effects it needs (the
    workspace: its files and commands, each command still asked; `granted` on the class)."""
    connector = registered_connectors().get(config.connector)
    effects: tuple[str, ...] = getattr(connector, "granted", ())
    return ConnectorGrant.of(config.name, *effects)


def connector_names() -> list[str]:
    """The registered connectors' names, without loading them (nor their client libraries)."""
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


async def open_toolsets(
    configs: Sequence[ToolsetConfig],
    stack: AsyncExitStack,
    connectors: Mapping[str, Connector] | None = None,
) -> list[Toolset]:
    """Open every configured toolset on `stack` (closed when the stack closes)."""
    if not configs:
        return []  # nothing to load (connectors import their client libraries)
    registry = registered_connectors() if connectors is None else connectors
    names = [config.name for config in configs]
    if len(set(names)) != len(names):
        raise ConnectorError(f"two toolsets share a name: {names}")
    opened: list[Toolset] = []
    for config in configs:
        connector = registry.get(config.connector)
        if connector is None:
            known = ", ".join(sorted(registry)) or "none"
            raise ConnectorError(
                f"toolset {config.name!r}: no connector {config.connector!r} (registered: {known})"
            )
        try:
            settings = connector.settings.model_validate(config.settings)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ConnectorError(f"toolset {config.name!r}: invalid settings: {problems}") from exc
        opened.append(await stack.enter_async_context(connector.open(config.name, settings)))
    return opened


def configured_toolsets(config: Mapping[str, Any]) -> list[ToolsetConfig]:
    """The toolsets in `config.toml`: `[[mcp]]` servers and `[[connectors]]` entries."""
    found: list[ToolsetConfig] = []
    for key, default in (("mcp", "mcp"), ("connectors", None)):
        entries: object = config.get(key, [])
        if not isinstance(entries, list):
            raise ConfigError(f"config.toml: [[{key}]] must be a list of tables")
        for number, entry in enumerate(cast(list[object], entries), 1):
            if not isinstance(entry, dict):
                raise ConfigError(f"config.toml: [[{key}]] #{number} is not a table")
            table = {str(k): v for k, v in cast(dict[object, Any], entry).items()}
            name = table.pop("name", None)
            connector = default or table.pop("connector", None)
            shared = table.pop("shared", False)
            try:
                found.append(
                    ToolsetConfig(name=name, connector=connector, settings=table, shared=shared)
                )
            except ValidationError as exc:
                first = exc.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ConfigError(
                    f"config.toml: [[{key}]] #{number}: {where}: {first['msg']}"
                ) from exc
    return found


PER_TASK = frozenset({"workspace"})
"""Connectors whose toolsets hold nothing of the installation's (each task gets its own
folder): a person's tasks get them as configured."""


def people_toolsets(configs: Sequence[ToolsetConfig], accounts: Accounts) -> list[ToolsetConfig]:
    """The toolsets a person's task may open: each that signs in with an `account` the person
    connected under that name (in their own space, `accounts`), and each the installation
    shares (`shared = true`), and those that are each task's own (`PER_TASK`: the
    workspace). The installation's other toolsets (its folders, its servers, its
    credentials) are not a person's."""
    return [
        config
        for config in configs
        if config.shared
        or config.connector in PER_TASK
        or (
            isinstance(account := config.settings.get("account"), str)
            and accounts.get(account) is not None
        )
    ]


@dataclass(frozen=True)
class ToolsetReport:
    """What a configured toolset offers, or why it could not be opened."""

    config: ToolsetConfig
    toolset: Toolset | None
    error: str = ""


async def inspect_toolsets(
    configs: Sequence[ToolsetConfig], connectors: Mapping[str, Connector] | None = None
) -> list[ToolsetReport]:
    """Open each toolset in turn (starting its server) to list its operations, then close it."""
    registry = registered_connectors() if connectors is None else connectors
    reports: list[ToolsetReport] = []
    for config in configs:
        try:
            async with AsyncExitStack() as stack:
                (toolset,) = await open_toolsets([config], stack, registry)
        except ConnectorError as exc:
            reports.append(ToolsetReport(config, None, str(exc)))
            continue
        reports.append(ToolsetReport(config, toolset))
    return reports
