"""The `mail` connector: how a mail toolset signs in and which operations it offers.

The password comes from the vault by credential name, only for the hosts the credential is
bound to; with `auth = "xoauth2"` an access token comes from the token source given to
`MailConnector(tokens=...)`. A toolset with `account = "NAME"` signs in with that connector
account instead: XOAUTH2 with its OAuth access token (refreshed when it expires), or its app
password's vault credential. Nothing connects, and the vault is not read, before the first
operation: a missing credential, a wrong password or a server that is down is a failure the
model and the person read, and the toolset lists without the vault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from valet.connectors._account_credentials import (
    AccountCredentials,
    OAuthCredentials,
    PasswordCredentials,
    account_credentials,
    sign_in_again,
)
from valet.connectors._errors import ConnectorError
from valet.connectors._toolset import AuthMethod, Operation, Toolset
from valet.connectors.mail._imap import Login
from valet.connectors.mail._operations import (
    Compose,
    Flag,
    ListFolders,
    LoginSource,
    Mailbox,
    MessageRef,
    Move,
    Search,
    Send,
)
from valet.connectors.mail._settings import MailSettings
from valet.effects import Effect
from valet.errors import ValetError
from valet.gateway import ToolFailure
from valet.settings import secrets_home
from valet.vault import Vault

TokenSource = Callable[[str], Awaitable[str]]
"""Gives a fresh OAuth2 access token for an account (the toolset's `credential`)."""

READ, MODIFY, COMPOSE, SEND = "mail.read", "mail.modify", "mail.compose", "mail.send"


class MailConnector:
    """E-mail over IMAP and SMTP (password from the vault, or XOAUTH2)."""

    name: ClassVar[str] = "mail"
    description: ClassVar[str] = (
        "E-mail over IMAP and SMTP: list folders, search, read (with attachments), move, "
        "flag, draft and send."
    )
    auth: ClassVar[AuthMethod] = "basic"
    scopes: ClassVar[tuple[str, ...]] = (READ, MODIFY, COMPOSE, SEND)
    settings: ClassVar[type[BaseModel]] = MailSettings

    def __init__(self, *, home: Path | None = None, tokens: TokenSource | None = None) -> None:
        """`home`: the valet home whose vault holds the credentials (default: `VALET_HOME`).
        `tokens`: the OAuth2 access-token source for `auth = "xoauth2"` toolsets."""
        self.home = home
        self.tokens = tokens

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, MailSettings):
            raise ConnectorError(f"toolset {name!r}: expected mail settings")
        return _open(name, *self._sign_in(name, settings))

    def login(self, name: str, settings: MailSettings) -> LoginSource:
        """How toolset `name` signs in: awaiting it reads the vault (or the OAuth token) then.
        For code outside the toolset that uses the same mailbox (the audit log's mail
        witness). Raises `ConnectorError`; awaiting raises `ToolFailure`."""
        return self._sign_in(name, settings)[1]

    def _sign_in(self, name: str, settings: MailSettings) -> tuple[MailSettings, LoginSource]:
        if settings.account is None:
            return settings, self._login(name, settings)
        found = account_credentials(name, settings.account, self.home)
        if isinstance(found, OAuthCredentials):  # the account decides: XOAUTH2
            settings = settings.model_copy(update={"auth": "xoauth2"})
        return settings, self._account_login(name, settings, found)

    def _login(self, name: str, settings: MailSettings) -> LoginSource:
        credential = settings.credential or ""  # the settings give one or the other
        if settings.auth == "xoauth2":
            tokens = self.tokens
            if tokens is None:
                raise ConnectorError(
                    f"toolset {name!r} signs in with XOAUTH2 but valet has no OAuth2 token "
                    f"source for {credential!r}: sign in to the account (valet connectors add "
                    f"NAME --oauth) and set `account = NAME` instead of `credential`"
                )
            if not settings.username:
                raise ConnectorError(f"toolset {name!r}: XOAUTH2 needs `username`")
            username = settings.username

            async def token() -> Login:
                return Login(username, await tokens(credential), "xoauth2", credential)

            return token

        async def password() -> Login:
            return await asyncio.to_thread(self._password_login, settings, credential)

        return password

    def _account_login(
        self, name: str, settings: MailSettings, found: AccountCredentials
    ) -> LoginSource:
        """XOAUTH2 with an OAuth account's token, or an app-password account's vault login."""
        match found:
            case OAuthCredentials(account=account, tokens=tokens):
                username = settings.username or found.username
                if not username:
                    raise ConnectorError(
                        f"toolset {name!r}: the account {account.name!r} did not say its address: "
                        "set `username` (the mailbox's login, e.g. me@gmail.com)"
                    )
                fix = (
                    f"the account {account.name!r} may lack mail access or have been revoked: "
                    f"{sign_in_again(account)}, with the provider's mail scope"
                )

                async def token() -> Login:
                    return Login(username, await tokens.token(), "xoauth2", account.name, fix)

                return token
            case PasswordCredentials(account=account):
                if settings.auth == "xoauth2":
                    raise ConnectorError(
                        f"toolset {name!r}: the account {account.name!r} signs in with an app "
                        'password, not OAuth: remove `auth = "xoauth2"`'
                    )

                def used_login() -> Login:
                    login = self._password_login(settings, found.credential)
                    found.used()
                    return login

                async def password() -> Login:
                    return await asyncio.to_thread(used_login)

                return password

    def _password_login(self, settings: MailSettings, wanted: str) -> Login:
        """The vault's login for this mailbox, read when an operation needs it (so a toolset
        opens, and lists its operations, without the vault)."""
        home = self.home or secrets_home()
        try:
            vault = Vault.load(home)
        except ValetError as exc:
            raise ToolFailure(f"the vault cannot be opened: {exc}") from exc
        credential = vault.get(wanted) if vault is not None else None
        if credential is None:
            host = settings.imap_host
            raise ToolFailure(
                f"the vault has no credential {wanted!r} (the person adds it: valet vault add "
                f"{wanted} --domain {host} --domain {settings.smtp_host} --username …)"
            )
        for kind, (host, port) in (
            ("IMAP", settings.imap_address),
            ("SMTP", settings.smtp_address),
        ):
            if not credential.bound_to(f"https://{host}:{port}/"):
                bound = ", ".join(credential.domains)
                raise ToolFailure(
                    f"vault credential {wanted!r} is bound to {bound}, not to the {kind} server "
                    f"{host}:{port}; valet sends a login only to the hosts it is bound to"
                )
        secret = credential.password.get_secret_value()
        if not secret:
            raise ToolFailure(f"vault credential {wanted!r} has no password")
        username = settings.username or credential.username
        if not username:
            raise ToolFailure(
                f"no login name: set `username` in the toolset or store one with {wanted!r}"
            )
        return Login(username, secret, "password", wanted)


MAIL = MailConnector()


@asynccontextmanager
async def _open(name: str, settings: MailSettings, login: LoginSource) -> AsyncGenerator[Toolset]:
    box = Mailbox(name, settings, login)
    operations = (
        _op(
            "list_folders",
            "List the mail folders with their message counts.",
            ListFolders,
            Effect.READ,
            box.list_folders,
            READ,
        ),
        _op(
            "search",
            "Search a folder (from, to, subject, text, since, unseen); newest first.",
            Search,
            Effect.READ,
            box.search,
            READ,
        ),
        _op(
            "read_message",
            "Read one message: headers, text and attachments (not marked seen).",
            MessageRef,
            Effect.READ,
            box.read_message,
            READ,
        ),
        Operation(
            "move",
            "Move a message to another folder.",
            Move,
            Effect.UPDATE,
            box.move,
            (MODIFY,),
            consequential_args=("uid", "to_folder"),
        ),
        Operation(
            "flag",
            "Set or clear a flag (seen, flagged, answered).",
            Flag,
            Effect.UPDATE,
            box.flag,
            (MODIFY,),
            consequential_args=("uid",),
            idempotent=True,
        ),
        Operation(
            "draft",
            "Save a draft in the Drafts folder (nothing is sent).",
            Compose,
            Effect.CREATE,
            box.draft,
            (COMPOSE,),
            consequential_args=("to", "cc", "bcc"),
            reconcile=box.reconcile_draft,
        ),
        Operation(
            "send",
            "Send an e-mail now.",
            Send,
            Effect.SEND,
            box.send,
            (SEND,),
            recipient_args=("to", "cc", "bcc"),
            consequential_args=("to", "cc", "bcc"),
            reconcile=box.reconcile_send,
        ),
    )
    host, port = settings.imap_address
    auth: AuthMethod = "oauth2" if settings.auth == "xoauth2" else "basic"
    try:
        yield Toolset(
            name,
            f"the mailbox {settings.address or settings.username} ({host}:{port})",
            auth,
            operations,
            connector="mail",
        )
    finally:
        await box.close()


def _op(
    name: str,
    description: str,
    args: type[BaseModel],
    effect: Effect,
    body: Callable[[Any], Awaitable[object]],
    scope: str,
) -> Operation:
    return Operation(name, description, args, effect, body, (scope,))
