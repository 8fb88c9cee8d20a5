"""Adding, testing and removing connector accounts, and the tokens connectors use.

- `add_oauth_account`: the browser sign-in (code + PKCE through a loopback redirect); tokens go
  to the vault, the account to `connectors.toml`. `finish_oauth_account` is its second half,
  for a redirect that arrives elsewhere (the server's callback route).
- `add_password_account`: an app password or token already in the vault (`valet vault add`);
  `add_secret_account`: one given now, stored in the vault with the account (the web app).
- `check_account`: a cheap authenticated read (refreshing the token first when it expires soon),
  and each configured toolset that uses the account is opened once.
- `remove_account`: revoke at the provider (OAuth), then delete the tokens (and a credential
  stored with the account) and the account.
- `AccountToken`: a connector's token source for an OAuth account; refreshed before expiry
  (and after a 401), saved back to the vault, and the account's last use recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from valet.connectors._accounts import Account, Accounts
from valet.connectors._errors import ConnectorError
from valet.connectors._oauth import (
    REFRESH_LEEWAY,
    AuthorizationRequest,
    LoopbackRedirect,
    OAuthError,
    OAuthProvider,
    authorization_request,
    exchange_code,
    oauth_provider,
    refresh,
    revoke,
    whoami,
)
from valet.connectors._registry import ToolsetConfig, configured_toolsets, inspect_toolsets
from valet.errors import ConfigError
from valet.gateway import ToolFailure
from valet.vault import Credential, Token, Vault, VaultError


async def add_oauth_account(
    home: Path,
    name: str,
    provider: OAuthProvider,
    *,
    connector: str,
    show: Callable[[str], None],
    scopes: tuple[str, ...] = (),
    redirect: LoopbackRedirect | None = None,
    replace: bool = False,
) -> Account:
    """Sign in at `provider` (`show` gets the URL to open), store the tokens in the vault and
    the account in `connectors.toml`. Nothing is stored unless every step succeeded."""
    name_is_free(home, name, replace=replace)
    async with redirect or LoopbackRedirect() as listener:
        start = authorization_request(provider, listener.uri, scopes)
        show(start.url)
        answer = await listener.wait()
    return await finish_oauth_account(
        home, name, provider, start, answer, connector=connector, replace=replace
    )


def name_is_free(home: Path, name: str, *, replace: bool = False) -> None:
    """Raise `ConfigError` when an account `name` exists and may not be replaced (checked before
    the person is sent to sign in, and again before anything is stored)."""
    if Accounts.load(home).get(name) is not None and not replace:
        raise ConfigError(f"there is already an account named {name!r} (use --replace)")


async def finish_oauth_account(
    home: Path,
    name: str,
    provider: OAuthProvider,
    start: AuthorizationRequest,
    answer: Mapping[str, str],
    *,
    connector: str,
    replace: bool = False,
) -> Account:
    """The second half of a sign-in, wherever the redirect arrived (the CLI's loopback listener
    or the server's own callback route): trade the code for tokens (state and PKCE checked),
    read who signed in, then store. A failed read revokes the new tokens; nothing is stored
    unless every step succeeded."""
    name_is_free(home, name, replace=replace)
    token = await exchange_code(provider, start, answer, name=name)
    try:
        login = await whoami(provider, token)
    except OAuthError:
        if provider.revoke_url is not None:  # leave no live token behind at the provider
            with suppress(OAuthError):
                await revoke(provider, token)
        raise
    account = Account(
        name=name,
        connector=connector,
        auth="oauth2",
        provider=provider.name,
        login=login,
        scopes=token.scopes,
        created=datetime.now(UTC),
    )
    accounts = Accounts.load(home)
    vault = Vault.open(home, create=True)
    vault.put_token(token)
    accounts.add(account, replace=replace)
    vault.save()
    accounts.save()
    return account


def add_password_account(
    home: Path, name: str, *, connector: str, credential: str, replace: bool = False
) -> Account:
    """An account whose app password or token is the vault credential `credential`."""
    vault = Vault.open(home)
    found = vault.get(credential)
    if found is None:
        raise VaultError(
            f"the vault has no credential {credential!r}: add it first (valet vault add "
            f"{credential} --domain HOST --username ME)"
        )
    if not found.password.get_secret_value():
        raise VaultError(f"the vault credential {credential!r} has no password or token")
    accounts = Accounts.load(home)
    account = Account(
        name=name,
        connector=connector,
        auth="password",
        credential=credential,
        login=found.username,
        created=datetime.now(UTC),
    )
    accounts.add(account, replace=replace)
    accounts.save()
    return account


def add_secret_account(
    home: Path,
    name: str,
    *,
    connector: str,
    secret: SecretStr,
    domains: tuple[str, ...],
    username: str = "",
    replace: bool = False,
) -> Account:
    """An account whose app password or token is given now (the web app's connect form): it
    goes straight to the vault as credential `name`, bound to `domains`, and the account owns
    it (removing the account deletes it). Raises `VaultError` when the vault already has a
    credential `name` that is not this account's own (unless `replace`)."""
    accounts = Accounts.load(home)
    existing = accounts.get(name)
    if existing is not None and not replace:
        raise ConfigError(f"there is already an account named {name!r} (use --replace)")
    vault = Vault.open(home, create=True)
    if vault.get(name) is not None and not replace:
        raise VaultError(
            f"the vault already has a credential {name!r}: choose another account name, or "
            f"connect it with that credential (valet connectors add {name} --credential {name})"
        )
    try:
        credential = Credential(name=name, domains=domains, username=username, password=secret)
        account = Account(
            name=name,
            connector=connector,
            auth="password",
            credential=name,
            credential_owned=True,
            login=username,
            created=datetime.now(UTC),
        )
    except ValidationError as exc:  # the messages name the field, never the secret's value
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise VaultError(f"cannot store the account {name!r}: {where}: {first['msg']}") from exc
    vault.add(credential, replace=True)
    accounts.add(account, replace=replace)
    vault.save()
    accounts.save()
    return account


def account_of(home: Path, name: str) -> Account:
    found = Accounts.load(home).get(name)
    if found is None:
        raise ConfigError(f"no connector account named {name!r} (see: valet connectors list)")
    return found


async def fresh_token(
    home: Path, account: Account, provider: OAuthProvider, *, renew: bool = False
) -> Token:
    """The account's tokens, refreshed first (and saved) when they expire within a minute or
    when `renew` says the last access token was refused."""
    vault = Vault.open(home)
    token = vault.token(account.name)
    if token is None:
        raise OAuthError(
            f"the vault holds no tokens for {account.name!r}: sign in again "
            f"(valet connectors add {account.name} --oauth --replace)"
        )
    if renew or token.expires_within(REFRESH_LEEWAY):
        token = await refresh(provider, token)
        vault.put_token(token)
        vault.save()
    return token


def _touch(home: Path, name: str) -> None:
    accounts = Accounts.load(home)
    accounts.touch(name)
    accounts.save()


@dataclass(frozen=True)
class CheckReport:
    """What `check_account` found."""

    account: Account
    login: str
    toolsets: tuple[str, ...] = ()
    """Configured toolsets using the account that opened."""
    failed: tuple[str, ...] = ()
    """Configured toolsets using the account that did not open, with why."""

    @property
    def ok(self) -> bool:
        return not self.failed


async def check_account(home: Path, name: str, config: Mapping[str, Any]) -> CheckReport:
    """A cheap read with the account: the provider's userinfo (OAuth, refreshing first when
    needed) or the vault credential (password), then each configured toolset using it is
    opened once. Raises `ConnectorError`/`ConfigError` when the account does not work."""
    account = account_of(home, name)
    if account.auth == "oauth2":
        provider = oauth_provider(account.provider or account.connector, config)
        token = await fresh_token(home, account, provider)
        login = await whoami(provider, token)
    else:
        vault = Vault.open(home)
        found = vault.get(account.credential or "")
        if found is None or not found.password.get_secret_value():
            raise VaultError(f"the vault credential {account.credential!r} is gone or empty")
        login = found.username
    using = [c for c in configured_toolsets(config) if uses_account(c, account)]
    reports = await inspect_toolsets(using)
    _touch(home, name)
    return CheckReport(
        account,
        login,
        tuple(r.config.name for r in reports if r.toolset is not None),
        tuple(f"{r.config.name}: {r.error}" for r in reports if r.toolset is None),
    )


def uses_account(config: ToolsetConfig, account: Account) -> bool:
    """Whether the configured toolset signs in with `account` (by name, or its credential)."""
    settings = config.settings
    if settings.get("account") == account.name:
        return True
    return account.credential is not None and settings.get("credential") == account.credential


async def remove_account(
    home: Path, name: str, config: Mapping[str, Any], *, local_only: bool = False
) -> Account:
    """Revoke the account's tokens at the provider (unless `local_only`), then delete them from
    the vault (and the credential the account owns, if any) and the account from
    `connectors.toml`. A failed revocation changes nothing."""
    account = account_of(home, name)
    vault = Vault.load(home)
    token = None if vault is None else vault.token(name)
    if account.auth == "oauth2" and token is not None and not local_only:
        provider = oauth_provider(account.provider or account.connector, config)
        await revoke(provider, token)
    if vault is not None:
        changed = vault.remove_token(name)
        owned = account.credential if account.credential_owned else None
        if owned is not None and vault.get(owned) is not None:
            vault.remove(owned)
            changed = True
        if changed:
            vault.save()
    accounts = Accounts.load(home)
    accounts.remove(name)
    accounts.save()
    return account


class AccountToken:
    """An OAuth account's access token for a connector (`token()`; `token(renew=True)` after
    the service refused the last one). Failures are `ToolFailure`s the model can read."""

    def __init__(self, home: Path, account: str, config: Mapping[str, Any]) -> None:
        self.home = home
        self.account = account
        self.config = config

    @property
    def label(self) -> str:
        return f"the connector account {self.account!r}"

    async def token(self, *, renew: bool = False) -> str:
        try:
            account = account_of(self.home, self.account)
            if account.auth != "oauth2":
                raise ConfigError(f"{self.label} signs in with a password, not OAuth")
            provider = oauth_provider(account.provider or account.connector, self.config)
            token = await fresh_token(self.home, account, provider, renew=renew)
        except (ConnectorError, ConfigError) as exc:
            raise ToolFailure(str(exc)) from exc
        _touch(self.home, self.account)
        return token.access_token.get_secret_value()
