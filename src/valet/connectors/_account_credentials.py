"""How a toolset signs in with one of the person's accounts (`connectors.toml`).

A toolset's settings may name an account instead of a vault credential:

    [[connectors]]
    name = "gmail"
    connector = "mail"
    imap_host = "imap.gmail.com"
    smtp_host = "smtp.gmail.com"
    account = "google"                 # valet connectors add google --oauth

`account_credentials` alone decides what that gives the connector, so that mail, calendar and
GitHub cannot drift apart:

- an OAuth account gives `OAuthCredentials`: a `TokenSource` for its access token, refreshed
  before it expires (and after the service refused it), saved back to the vault, each use
  recorded as the account's last use; a refresh the provider refuses (access revoked) says to
  sign in again, with the command;
- an app-password account gives `PasswordCredentials`: its vault credential, used exactly as a
  `credential = "..."` setting is (bound to the server's host), and `used()` records each use.

A missing account, or an OAuth provider valet cannot use (no client id in config.toml), is a
`ConnectorError` when the toolset opens, naming the account and the command that fixes it.
`BearerAuth` sends a token source's token on httpx requests (GitHub, WebDAV).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from valet.connectors._accounts import Account, Accounts
from valet.connectors._errors import ConnectorError
from valet.connectors._oauth import oauth_provider
from valet.connectors._signin import AccountToken
from valet.errors import ConfigError
from valet.gateway import ToolFailure
from valet.settings import load_config, secrets_home


class TokenSource(Protocol):
    """Where a connector's bearer token comes from (the vault, an OAuth account…)."""

    @property
    def label(self) -> str:
        """How the person knows this token, for error messages (e.g. `the vault credential
        'github'`)."""
        ...

    async def token(self, *, renew: bool = False) -> str:
        """The token to send. `renew`: the last one was refused (401); return a fresh one, or
        the same when there is no other. Raise `ToolFailure` when there is none at all."""
        ...


class BearerAuth(httpx.Auth):
    """httpx's `Authorization: Bearer` from a `TokenSource`, asked before each request; after a
    401, the request goes once more with a renewed token (a refused request changed nothing)."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("valet's connectors only make asynchronous requests")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.tokens.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = await self.tokens.token(renew=True)
            if fresh != token:
                request.headers["Authorization"] = f"Bearer {fresh}"
                yield request


@dataclass(frozen=True)
class OAuthCredentials:
    """An OAuth account: the connector sends `tokens`' access token (bearer, XOAUTH2)."""

    account: Account
    tokens: TokenSource

    @property
    def username(self) -> str:
        """The account's name at the service (`me@gmail.com`), as its userinfo said."""
        return self.account.login


@dataclass(frozen=True)
class PasswordCredentials:
    """An app-password account: the connector signs in with vault credential `credential`."""

    account: Account
    credential: str
    home: Path

    def used(self) -> None:
        """Record that the account was just used (its `last_used` in connectors.toml)."""
        accounts = Accounts.load(self.home)
        accounts.touch(self.account.name)
        accounts.save()


AccountCredentials = OAuthCredentials | PasswordCredentials


def account_credentials(toolset: str, name: str, home: Path | None = None) -> AccountCredentials:
    """What toolset `toolset` signs in with when its settings say `account = name`.

    Reads `connectors.toml` and `config.toml` of `home` (default: `VALET_HOME`), not the vault:
    a toolset opens, and lists its operations, without it. Raises `ConnectorError`."""
    where = home or secrets_home()
    try:
        account = Accounts.load(where).get(name)
        config = load_config(where)
    except ConfigError as exc:
        raise ConnectorError(f"toolset {toolset!r}: {exc}") from exc
    if account is None:
        raise ConnectorError(
            f"toolset {toolset!r}: no connector account named {name!r}; connect it with "
            f"`valet connectors add {name} --oauth` (or `--credential VAULT_NAME` for an app "
            "password or token), or fix `account` in config.toml (`valet connectors list` "
            "shows the accounts)"
        )
    if account.auth == "password":
        if not account.credential:
            raise ConnectorError(
                f"toolset {toolset!r}: the account {name!r} names no vault credential; connect "
                f"it again: valet connectors add {name} --credential VAULT_NAME --replace"
            )
        return PasswordCredentials(account, account.credential, where)
    try:
        oauth_provider(provider_of(account), config)
    except ConfigError as exc:
        raise ConnectorError(
            f"toolset {toolset!r}: the account {name!r} signs in with OAuth, but {exc}"
        ) from exc
    return OAuthCredentials(account, AccountTokens(where, account, config))


def provider_of(account: Account) -> str:
    """The OAuth provider an account signs in at (its connector's name when it says none)."""
    return account.provider or account.connector


def sign_in_again(account: Account) -> str:
    """The command that signs in to `account` again, keeping its name, provider and
    connector."""
    command = f"valet connectors add {account.name} --oauth"
    if provider_of(account) != account.name:
        command += f" --provider {provider_of(account)}"
    if account.connector != account.name:
        command += f" --connector {account.connector}"
    return f"sign in again ({command} --replace)"


class AccountTokens:
    """An OAuth account's `AccountToken`, whose failures say what to do when the provider
    refuses to refresh (the person revoked valet's access, or the refresh token expired)."""

    def __init__(self, home: Path, account: Account, config: Mapping[str, Any]) -> None:
        self.account = account
        self._source = AccountToken(home, account.name, config)

    @property
    def label(self) -> str:
        return self._source.label

    async def token(self, *, renew: bool = False) -> str:
        try:
            return await self._source.token(renew=renew)
        except ToolFailure as failure:
            if not _refused(failure):
                raise
            raise ToolFailure(
                f"{failure}: {self.label} no longer works (access revoked at the provider, or "
                f"its sign-in expired): {sign_in_again(self.account)}"
            ) from failure


def _refused(failure: BaseException) -> bool:
    """Whether the authorization server answered with an OAuth error (not a network failure)."""
    from authlib.common.errors import AuthlibBaseError

    cause = failure.__cause__
    while cause is not None:
        if isinstance(cause, AuthlibBaseError):
            return True
        cause = cause.__cause__
    return False
