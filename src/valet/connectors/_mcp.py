"""Any MCP server as a toolset: a stdio command or a streamable-HTTP URL.

Its tools are listed once when the toolset opens; each becomes an `Operation` whose arguments
model is built from the tool's input schema and whose effect comes from, in order: the person's
mapping (`effects = {tool = "read"}`), the server's annotations (`readOnlyHint` → read,
`destructiveHint` → delete, other writes → update, or send when `openWorldHint` says they reach
outside), else `unknown` — which the gateway always asks about. Annotations are the server's own
claims: set `trust_annotations = false` to ignore them for a server you do not trust.

Its arguments' roles come from the input schema (`declared_args`): for a tool that is not a
read, recipients, URLs, amounts, targets and every string whose role cannot be told are
consequential; URL arguments pass the navigation rules before the call is sent.

Results are untrusted content (the gateway tags them `untrusted:<tool>#<n>`). A server that
crashes, hangs past `timeout` or writes invalid JSON gives the model a readable failure, never
a hang; after a crash or invalid JSON its tools stay unavailable for the rest of the task.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, TextIO

import anyio
from mcp import Client, MCPError, StdioServerParameters, stdio_client
from mcp import types as mcp_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from valet.connectors._errors import ConnectorError
from valet.connectors._mcp_args import declared_args
from valet.connectors._schema import model_from_schema, required_of
from valet.connectors._toolset import AuthMethod, Operation, Toolset
from valet.effects import Effect
from valet.gateway import ToolFailure


class McpSettings(BaseModel):
    """One MCP server, as configured by the person (`[[mcp]]` in `config.toml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: list[str] | None = Field(default=None, min_length=1)
    """The server's command line (stdio transport), e.g. `["mcp-server-git", "--repository",
    "/home/me/project"]`."""
    url: str | None = None
    """The server's streamable-HTTP endpoint, e.g. `http://127.0.0.1:8000/mcp`."""
    env: dict[str, str] = Field(default_factory=dict[str, str])
    """Extra environment variables for the command (only PATH, HOME and a few more are passed
    through otherwise)."""
    cwd: Path | None = None
    effects: dict[str, Effect] = Field(default_factory=dict[str, Effect])
    """The person's mapping of tool name → effect; it wins over the server's annotations."""
    trust_annotations: bool = True
    """Take the server's read-only/destructive hints into account; when false, every tool
    not in `effects` is `unknown` (asked)."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds one tool call may take."""
    startup_timeout: float = Field(default=30.0, gt=0)
    """Seconds the server may take to start and list its tools."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either command (a stdio server) or url (streamable HTTP)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must be http:// or https://, got {self.url!r}")
        return self


def effect_of(tool: mcp_types.Tool, settings: McpSettings) -> tuple[Effect, str]:
    """The effect of an MCP tool and why: the person's mapping, the annotations, or unknown."""
    mapped = settings.effects.get(tool.name)
    if mapped is not None:
        return mapped, "your mapping"
    hints = tool.annotations
    if hints is None or not settings.trust_annotations:
        return Effect.UNKNOWN, "no annotation" if hints is None else "annotations not trusted"
    if hints.read_only_hint:
        return Effect.READ, "annotation readOnlyHint"
    if hints.destructive_hint:
        return Effect.DELETE, "annotation destructiveHint"
    if hints.read_only_hint is False and hints.destructive_hint is False:
        if hints.open_world_hint is False:
            return Effect.UPDATE, "annotations: writes, not destructive"
        return Effect.SEND, "annotations: writes to the open world"
    return Effect.UNKNOWN, "annotations do not say"


class McpConnector:
    """The `mcp` connector: opens one MCP server as a toolset."""

    name: ClassVar[str] = "mcp"
    description: ClassVar[str] = "Any MCP server: a stdio command or a streamable-HTTP URL."
    auth: ClassVar[AuthMethod] = "local"
    scopes: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[type[BaseModel]] = McpSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, McpSettings):
            raise ConnectorError(f"toolset {name!r}: expected MCP settings")
        return _open(name, settings)


MCP = McpConnector()


@asynccontextmanager
async def _open(name: str, settings: McpSettings) -> AsyncGenerator[Toolset]:
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        server = McpServer(name, settings, errlog)
        async with server.connected() as tools:
            operations = tuple(server.operation(tool) for tool in tools)
            where = " ".join(settings.command) if settings.command else settings.url
            description = f"MCP server {server.label} ({where})"
            yield Toolset(name, description, "local", operations, connector="mcp")


class McpServer:
    """One connection to an MCP server for the length of a task."""

    def __init__(self, name: str, settings: McpSettings, errlog: TextIO) -> None:
        self.name = name
        self.label = name
        self.settings = settings
        self._errlog = errlog
        self._client: Client | None = None
        self._fault: str | None = None
        """Set when the server crashed or broke the protocol: every later call fails with it."""
        self._inflight: anyio.CancelScope | None = None

    @asynccontextmanager
    async def connected(self) -> AsyncGenerator[list[mcp_types.Tool]]:
        s = self.settings
        transport: Any
        if s.command is not None:
            params = StdioServerParameters(
                command=s.command[0],
                args=s.command[1:],
                env=dict(s.env) or None,
                cwd=s.cwd.expanduser() if s.cwd is not None else None,
            )
            transport = stdio_client(params, errlog=self._errlog)
        else:
            transport = s.url
        client = Client(
            transport,
            read_timeout_seconds=s.startup_timeout,
            message_handler=self._on_message,
            cache=None,
        )
        try:
            await client.__aenter__()
        except Exception as exc:
            raise ConnectorError(self._explain_start(exc)) from exc
        try:
            tools = await self._list_tools(client)
            info = client.server_info
            self.label = f"{self.name!r}" if info is None else f"{self.name!r} ({info.name})"
            self._client = client
            yield tools
        finally:
            self._client = None
            await client.__aexit__(None, None, None)

    async def _list_tools(self, client: Client) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        try:
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    return tools
        except (MCPError, ValidationError, anyio.BrokenResourceError, OSError) as exc:
            raise ConnectorError(self._explain_start(exc)) from exc
        raise ConnectorError(f"MCP server {self.name!r} lists more than 100 pages of tools")

    def operation(self, tool: mcp_types.Tool) -> Operation:
        effect, why = effect_of(tool, self.settings)
        schema: dict[str, object] = dict(tool.input_schema)
        args = model_from_schema(f"{self.name}_{tool.name}", schema)
        required = required_of(schema)
        description = tool.description or (tool.annotations.title if tool.annotations else None)

        async def run(arguments: BaseModel) -> object:
            dumped: dict[str, object] = arguments.model_dump(mode="json", by_alias=True)
            sent = {k: v for k, v in dumped.items() if v is not None or k in required}
            return await self.call(tool.name, sent)

        declared = declared_args(schema, args, effect)
        return Operation(
            tool.name,
            description or tool.name,
            args,
            effect,
            run,
            recipient_args=declared.recipients,
            consequential_args=declared.consequential,
            amount_arg=declared.amount,
            currency_arg=declared.currency,
            site_arg=declared.site,
            url_args=declared.urls,
            effect_source=why,
        )

    async def call(self, tool: str, arguments: dict[str, object]) -> object:
        """Call `tool`; the server's answer as text (or JSON), or a `ToolFailure` saying why not."""
        client = self._client
        if self._fault is not None or client is None:
            raise ToolFailure(self._fault or f"the MCP server {self.label} is not connected")
        result: mcp_types.CallToolResult | None = None
        with anyio.CancelScope() as scope:
            self._inflight = scope
            try:
                result = await client.call_tool(
                    tool, arguments, read_timeout_seconds=self.settings.timeout
                )
            except MCPError as exc:
                if exc.code == mcp_types.REQUEST_TIMEOUT:
                    raise ToolFailure(
                        f"the MCP server {self.label} did not answer {tool} within "
                        f"{self.settings.timeout:g} s"
                    ) from exc
                if exc.code == mcp_types.CONNECTION_CLOSED:
                    raise ToolFailure(self._broke("stopped (it crashed or exited)")) from exc
                raise ToolFailure(
                    f"the MCP server {self.label} refused {tool}: {exc.message}"
                ) from exc
            except ValidationError as exc:
                raise ToolFailure(self._broke("answered with a result that is not MCP")) from exc
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
                raise ToolFailure(self._broke("stopped (its connection broke)")) from exc
            finally:
                self._inflight = None
        if result is None:  # cancelled by `_on_message`: the server broke the protocol
            raise ToolFailure(self._fault or f"the MCP server {self.label} broke the connection")
        text = _text_of(result)
        if result.is_error:
            raise ToolFailure(f"{tool} failed: {text or 'the server gave no reason'}")
        return text

    async def _on_message(self, message: object) -> None:
        """Transport faults (e.g. a line that is not JSON) end the call in flight at once."""
        if isinstance(message, Exception):
            first = str(message).strip().splitlines()[:1]
            detail = first[0][:200] if first else type(message).__name__
            self._broke(f"sent invalid JSON ({detail})")
            if self._inflight is not None:
                self._inflight.cancel()

    def _broke(self, what: str) -> str:
        if self._fault is None:
            said = self._stderr_tail()
            self._fault = (
                f"the MCP server {self.label} {what}; its tools are unavailable for the rest of "
                f"this task{f'. Its last error output: {said}' if said else ''}"
            )
        return self._fault

    def _explain_start(self, exc: BaseException) -> str:
        s = self.settings
        where = f"`{' '.join(s.command)}`" if s.command is not None else s.url
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, MCPError):
            reason = exc.message
        elif isinstance(exc, BaseExceptionGroup):
            inner: list[BaseException] = list(exc.exceptions)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            reason = "; ".join(str(e) or type(e).__name__ for e in inner)
        said = self._stderr_tail()
        tail = f". Its error output: {said}" if said else ""
        return f"MCP server {self.name!r} ({where}) could not be started: {reason}{tail}"

    def _stderr_tail(self, limit: int = 400) -> str:
        try:
            fd = self._errlog.fileno()
            size = os.fstat(fd).st_size
            start = max(0, size - limit * 4)
            text = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(lines)[-limit:]


def _text_of(result: mcp_types.CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        match block:
            case mcp_types.TextContent(text=text):
                parts.append(text)
            case mcp_types.ImageContent(mime_type=mime) | mcp_types.AudioContent(mime_type=mime):
                parts.append(f"[{mime} content, not shown]")
            case mcp_types.ResourceLink(uri=uri):
                parts.append(f"[resource link: {uri}]")
            case mcp_types.EmbeddedResource(resource=mcp_types.TextResourceContents(text=text)):
                parts.append(text)
            case _:
                parts.append(f"[{block.type} content, not shown]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)
