"""The `matrix` connector: where a Matrix toolset's secret comes from, and which operations it
offers with which effects.

The secret is read from the vault at the first call, never when the toolset opens, and only for
a homeserver the credential is bound to: a missing credential or a wrong token is a failure the
model and the person read, and the toolset lists its operations without the vault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from valet.connectors._errors import ConnectorError
from valet.connectors._matrix._client import MatrixClient, Secret, SecretSource
from valet.connectors._matrix._rooms import (
    JoinRoom,
    ListRooms,
    PostMessage,
    ReadMessages,
    Reply,
    Rooms,
)
from valet.connectors._matrix._settings import MatrixSettings
from valet.connectors._toolset import AuthMethod, Operation, Toolset
from valet.effects import Effect
from valet.errors import ValetError
from valet.gateway import ToolFailure
from valet.settings import secrets_home
from valet.vault import Vault

READ, SEND, JOIN = "matrix.read", "matrix.send", "matrix.join"


class MatrixConnector:
    """Matrix chat over the client-server API, as one account (access token or password)."""

    name: ClassVar[str] = "matrix"
    description: ClassVar[str] = (
        "Matrix chat: list your rooms, read a room's recent messages, post, reply, join a room."
    )
    auth: ClassVar[AuthMethod] = "api_key"
    scopes: ClassVar[tuple[str, ...]] = (READ, SEND, JOIN)
    settings: ClassVar[type[BaseModel]] = MatrixSettings

    def __init__(self, *, home: Path | None = None) -> None:
        """`home`: the valet home whose vault holds the credential (default: `VALET_HOME`)."""
        self.home = home

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, MatrixSettings):
            raise ConnectorError(f"toolset {name!r}: expected Matrix settings")

        async def secret() -> Secret:
            return await asyncio.to_thread(self._secret, settings)

        return _open(name, settings, secret)

    def _secret(self, settings: MatrixSettings) -> Secret:
        wanted = settings.credential
        host = httpx.URL(settings.homeserver).netloc.decode()
        try:
            vault = Vault.load(self.home or secrets_home())
        except ValetError as exc:
            raise ToolFailure(f"the vault cannot be opened: {exc}") from exc
        credential = vault.get(wanted) if vault is not None else None
        what = "access token" if settings.auth == "token" else "password"
        if credential is None:
            raise ToolFailure(
                f"the vault has no credential {wanted!r} (the person adds the Matrix {what}: "
                f"valet vault add {wanted} --domain {host} --password-stdin)"
            )
        if not credential.bound_to(settings.homeserver):
            raise ToolFailure(
                f"vault credential {wanted!r} is bound to {', '.join(credential.domains)}, not "
                f"to the Matrix server {host}; valet sends a secret only to the hosts it is "
                "bound to"
            )
        value = credential.password.get_secret_value()
        if not value:
            raise ToolFailure(f"vault credential {wanted!r} has no {what} (its password is empty)")
        return Secret(credential.username, value, wanted)


MATRIX = MatrixConnector()


@asynccontextmanager
async def _open(
    name: str, settings: MatrixSettings, secret: SecretSource
) -> AsyncGenerator[Toolset]:
    async with httpx.AsyncClient(base_url=settings.homeserver, timeout=settings.timeout) as http:
        client = MatrixClient(settings, secret, http)
        rooms = Rooms(client)
        operations = (
            _op("list_rooms", "List the rooms you are in.", ListRooms, Effect.READ,
                rooms.list_rooms, READ),
            _op("read_messages", "Read a room's recent messages, oldest first (`earlier` "
                "pages back).", ReadMessages, Effect.READ, rooms.read_messages, READ),
            _op("post_message", "Post a message in a room, as you.", PostMessage, Effect.SEND,
                rooms.post_message, SEND, recipients=("room",)),
            _op("reply", "Answer a message in a room, as you.", Reply, Effect.SEND,
                rooms.reply, SEND, recipients=("room",)),
            _op("join_room", "Join a room (the people in it see you joined).", JoinRoom,
                Effect.UPDATE, rooms.join_room, JOIN, acts_on=("room",)),
        )  # fmt: skip
        auth: AuthMethod = "api_key" if settings.auth == "token" else "basic"
        try:
            yield Toolset(
                name,
                f"the Matrix account on {settings.homeserver}",
                auth,
                operations,
                connector="matrix",
            )
        finally:
            await client.close()


def _op(
    name: str,
    description: str,
    args: type[BaseModel],
    effect: Effect,
    body: Callable[[Any], Awaitable[object]],
    scope: str,
    recipients: tuple[str, ...] = (),
    acts_on: tuple[str, ...] = (),
) -> Operation:
    # Every write is idempotent: a send carries a transaction id derived from the task, room
    # and message (the server keeps one event per id), and joining twice is joining once.
    return Operation(
        name, description, args, effect, body, (scope,), recipient_args=recipients,
        consequential_args=(*recipients, *acts_on), idempotent=effect is not Effect.READ,
    )  # fmt: skip
