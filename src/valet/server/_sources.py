"""The person's sources for the API and the web app: connector accounts (who, granted scopes,
last use, unused for long) and configured toolsets with their standing grants; and the person's
acts on them (connect, test, revoke), done by the same `valet.connectors` functions as
`valet connectors add | test | remove`, and audited as the person's.

No answer here ever carries a secret: an app password goes from the request straight to the
vault, tokens stay in it, and errors say what failed, not with what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from valet._home import install_of
from valet.connectors import (
    PRESETS,
    Account,
    Accounts,
    ConnectorError,
    NoRevocationEndpoint,
    OAuthError,
    ToolsetConfig,
    ToolsetReport,
    add_secret_account,
    check_account,
    configured_toolsets,
    connector_names,
    default_grant,
    finish_oauth_account,
    inspect_toolsets,
    name_is_free,
    oauth_provider,
    record_connect,
    record_removal,
    registered_connectors,
    remove_account,
    unused_after_days,
    uses_account,
)
from valet.effects import Effect
from valet.errors import ConfigError, ValetError
from valet.policy import BuiltinRules, ConnectorGrant, standing_grants
from valet.server._signins import PendingSignIn, SignIns
from valet.settings import load_config, signing_in_as
from valet.vault import normalize_domain

NAME = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
"""An account's name (the vault's credential names)."""
SHORT = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""A connector's or provider's name."""


class SourceError(ValetError):
    """A source cannot be connected, tested or revoked as asked (the message says why)."""

    status: ClassVar[int] = 409
    """The API's HTTP status for it."""


class SourceNotFound(SourceError):
    """No account of that name."""

    status = 404


class BadSource(SourceError):
    """The request names a connector or provider valet cannot use."""

    status = 400


class SourceConflict(SourceError):
    """The request clashes with what exists: a taken name, a provider that cannot revoke, a
    configuration that is broken."""


class CannotRevoke(SourceConflict):
    """The provider has no revocation endpoint: the person revokes on its site, then removes
    the account here only (`local_only`)."""


class ProviderFailed(SourceError):
    """The provider refused or could not be reached: nothing was changed."""

    status = 502


# -- what the person has --


Doing = Literal["runs", "asks you", "refused", "needs a grant"]


class SourceAccount(BaseModel):
    """One connector account, without any secret."""

    name: str
    connector: str
    auth: Literal["oauth2", "password"]
    provider: str | None
    """The OAuth provider; None for an app password or token."""
    login: str
    """Who it is at the service, when the service said."""
    scopes: list[str]
    """Scopes the provider granted (OAuth)."""
    created: datetime
    last_used: datetime | None
    unused: bool
    """Not used for more than `SourcesView.unused_after_days` days: worth revoking."""
    idle_days: int
    """Whole days since its last use (since it was connected, when never used)."""
    credential: str | None
    """The vault credential holding its password or token (not the secret)."""
    toolsets: list[str]
    """Configured toolsets that sign in with it."""


class OperationGrant(BaseModel):
    """One operation of a toolset, and what the standing grant lets every task do with it."""

    tool: str
    operation: str
    effect: str
    scopes: list[str]
    granted: bool
    """Within the standing grant (or the read-only default)."""
    valet: Doing
    """What happens when a task calls it (before the person's own rules)."""


class ToolsetSource(BaseModel):
    """A toolset configured in config.toml, its accounts and its standing grant."""

    name: str
    connector: str
    accounts: list[str]
    grant: list[str]
    """Effects every task may have on it: `[grants]`, else read-only."""
    approved: list[str]
    """Effects approved in advance (no ask)."""
    standing: bool
    """Whether `[grants]` names it (else the read-only default applies)."""
    description: str = ""
    operations: list[OperationGrant] | None = None
    """None unless asked for (listing them opens the toolset)."""
    error: str = ""
    """Why it could not be opened."""


class SourcesView(BaseModel):
    """Everything the Sources page shows."""

    unused_after_days: int
    """`[accounts] unused_after_days` of config.toml (default 90)."""
    accounts: list[SourceAccount]
    toolsets: list[ToolsetSource]
    connectors: list[str]
    """Registered connectors an account can be for."""
    providers: list[str]
    """OAuth providers: valet's presets and `[oauth.NAME]` of config.toml."""


async def read_sources(home: Path, *, operations: bool = False) -> SourcesView:
    """The accounts and toolsets; with `operations`, each toolset is opened once to list what
    it offers. Raises `SourceConflict` when config.toml or connectors.toml is broken."""
    try:
        config = load_config(home)
        days = unused_after_days(config)
        accounts = Accounts.load(home).accounts
        configs = configured_toolsets(config)
        if install_of(home) is not None:  # a person's: those they may use (connecting them)
            configs = [c for c in configs if c.shared or "account" in c.settings]
        grants = {g.connector: g for g in standing_grants(config)}
        registry = await asyncio.to_thread(registered_connectors) if operations else None
    except (ConfigError, ConnectorError) as exc:
        raise SourceConflict(str(exc)) from exc
    with _signing(home):
        reports = None if registry is None else await inspect_toolsets(configs, registry)
    now = datetime.now(UTC)
    return SourcesView(
        unused_after_days=days,
        accounts=[_account(a, configs, days, now) for a in accounts],
        toolsets=[
            _toolset(c, accounts, grants.get(c.name), None if reports is None else reports[i])
            for i, c in enumerate(configs)
        ],
        connectors=connector_names(),
        providers=sorted(set(PRESETS) | set(_oauth_tables(config))),
    )


def _signing(home: Path) -> AbstractContextManager[None]:
    """Toolsets opened here sign in with `home`'s accounts when it is a person's space."""
    return signing_in_as(home) if install_of(home) is not None else nullcontext()


def _oauth_tables(config: Mapping[str, Any]) -> list[str]:
    tables: object = config.get("oauth", {})
    return list(cast(dict[str, object], tables)) if isinstance(tables, dict) else []


def _account(
    account: Account, configs: list[ToolsetConfig], days: int, now: datetime
) -> SourceAccount:
    return SourceAccount(
        name=account.name,
        connector=account.connector,
        auth=account.auth,
        provider=account.provider,
        login=account.login,
        scopes=list(account.scopes),
        created=account.created,
        last_used=account.last_used,
        unused=account.unused(days, now),
        idle_days=(now - (account.last_used or account.created)).days,
        credential=account.credential,
        toolsets=[c.name for c in configs if uses_account(c, account)],
    )


def _toolset(
    config: ToolsetConfig,
    accounts: tuple[Account, ...],
    standing: ConnectorGrant | None,
    report: ToolsetReport | None,
) -> ToolsetSource:
    grant = standing or default_grant(config)
    source = ToolsetSource(
        name=config.name,
        connector=config.connector,
        accounts=[a.name for a in accounts if uses_account(config, a)],
        grant=sorted(e.value for e in grant.effects),
        approved=sorted(e.value for e in grant.approved),
        standing=standing is not None,
    )
    if report is None:
        return source
    if report.toolset is None:
        return source.model_copy(update={"error": report.error})
    toolset = report.toolset
    operations = [
        OperationGrant(
            tool=toolset.tool_name(op),
            operation=op.name,
            effect=op.effect.value,
            scopes=list(op.scopes),
            granted=op.effect in grant.effects,
            valet=what_valet_does(op.effect, grant),
        )
        for op in toolset.operations
    ]
    return source.model_copy(update={"description": toolset.description, "operations": operations})


def what_valet_does(effect: Effect, grant: ConnectorGrant) -> Doing:
    """Outside the grant: denied until the person grants it; inside: valet's built-in rules,
    with the grant's advance approvals lifting their ask."""
    if effect not in grant.effects:
        return "needs a grant"
    verdict = BuiltinRules().check(effect, grant.approved & grant.effects).verdict
    return _DOING[verdict]


_DOING: dict[str, Doing] = {"allow": "runs", "ask": "asks you", "deny": "refused"}


# -- what the person does --


class _Connect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="The account's name (`github`, `work_mail`).")
    connector: str = Field(pattern=SHORT, description="A registered connector.")
    replace: bool = Field(default=False, description="Replace an account of that name.")


class NewSecretSource(_Connect):
    """Connect with an app password or token: it goes to the vault, bound to `domains`."""

    auth: Literal["password"]
    secret: SecretStr = Field(min_length=1, max_length=4096)
    """Never stored anywhere but the (encrypted) vault, never sent back."""
    username: str = Field(default="", max_length=256)
    domains: list[str] = Field(min_length=1, max_length=8)
    """The service's hosts (`imap.example.com`): where the secret may be used."""

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [normalize_domain(d) for d in value]


class NewOAuthSource(_Connect):
    """Connect by signing in at an OAuth provider: the answer is the URL to open."""

    auth: Literal["oauth2"]
    provider: str | None = Field(
        default=None, pattern=SHORT, description="OAuth provider (default: the account's name)."
    )
    scopes: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list[str], max_length=32
    )
    """Scopes to ask for; none: the provider's read-only defaults."""


NewSource = Annotated[NewSecretSource | NewOAuthSource, Field(discriminator="auth")]


class SignInStarted(BaseModel):
    """Open `authorization_url`; the provider sends the browser back to `redirect_uri`, where
    valet completes the sign-in."""

    name: str
    authorization_url: str
    redirect_uri: str
    expires_in: int
    """Seconds left to sign in."""


class SourceCheck(BaseModel):
    """The cheap check of `valet connectors test`."""

    name: str
    ok: bool
    login: str = ""
    toolsets: list[str] = Field(default_factory=list[str])
    """Configured toolsets using the account that opened."""
    failed: list[str] = Field(default_factory=list[str])
    """Those that did not, with why."""
    error: str = ""
    """Why the account does not work."""


class RevokedSource(BaseModel):
    """What revoking did."""

    name: str
    revoked_at_provider: bool
    """The provider revoked the tokens (OAuth, unless `local_only`)."""
    deleted_credential: bool
    """The account's own vault credential was deleted."""


def _known_connector(name: str) -> None:
    known = connector_names()
    if name not in known:
        raise BadSource(f"no connector {name!r} (registered: {', '.join(known)})")


def _free(home: Path, name: str, replace: bool) -> None:
    try:
        name_is_free(home, name, replace=replace)
    except ConfigError as exc:
        raise SourceConflict(str(exc)) from exc


async def connect_with_secret(
    home: Path, body: NewSecretSource, person: str = "person"
) -> SourceAccount:
    """Store the secret in the vault and the account, then audit the person's act (`person`:
    who, in multi-person mode; `home` is then their space)."""
    _known_connector(body.connector)
    _free(home, body.name, body.replace)
    try:
        config = load_config(home)
        days, configs = unused_after_days(config), configured_toolsets(config)
        account = add_secret_account(
            home,
            body.name,
            connector=body.connector,
            secret=body.secret,
            domains=tuple(body.domains),
            username=body.username,
            replace=body.replace,
        )
    except ConfigError as exc:
        raise SourceConflict(str(exc)) from exc
    await _audited(record_connect, home, account, person=person)
    return _account(account, configs, days, datetime.now(UTC))


async def _audited(record: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Write the person's act to the audit log (after it happened: a log that cannot be
    written is said, not hidden behind a crash)."""
    try:
        await asyncio.to_thread(record, *args, **kwargs)
    except ConfigError as exc:
        raise SourceConflict(f"done, but the audit log could not record it: {exc}") from exc


def start_sign_in(
    home: Path,
    body: NewOAuthSource,
    signins: SignIns,
    redirect_uri: str,
    owner: str | None = None,
) -> SignInStarted:
    """The provider's authorization URL for a new account; the sign-in waits in `signins`
    (for `owner`, the person whose space `home` is; None: the installation's)."""
    _known_connector(body.connector)
    _free(home, body.name, body.replace)
    try:
        provider = oauth_provider(body.provider or body.name, load_config(home))
    except ConfigError as exc:
        raise BadSource(str(exc)) from exc
    pending = signins.begin(
        body.name,
        connector=body.connector,
        provider=provider,
        redirect_uri=redirect_uri,
        scopes=tuple(body.scopes),
        replace=body.replace,
        owner=owner,
    )
    return SignInStarted(
        name=body.name,
        authorization_url=pending.start.url,
        redirect_uri=redirect_uri,
        expires_in=int(signins.within),
    )


async def finish_sign_in(
    home: Path, pending: PendingSignIn, answer: Mapping[str, str], person: str = "person"
) -> Account:
    """Complete a sign-in with the provider's answer (code + PKCE), then audit it."""
    try:
        account = await finish_oauth_account(
            home,
            pending.name,
            pending.provider,
            pending.start,
            answer,
            connector=pending.connector,
            replace=pending.replace,
        )
    except OAuthError as exc:
        raise ProviderFailed(str(exc)) from exc
    except ConfigError as exc:
        raise SourceConflict(str(exc)) from exc
    await _audited(record_connect, home, account, person=person)
    return account


def account_named(home: Path, name: str) -> Account:
    try:
        found = Accounts.load(home).get(name)
    except ConfigError as exc:
        raise SourceConflict(str(exc)) from exc
    if found is None:
        raise SourceNotFound(f"no connector account named {name!r}")
    return found


async def check_source(home: Path, name: str) -> SourceCheck:
    """`valet connectors test`: a failing account is an answer (`ok` false), not an error."""
    account_named(home, name)
    try:
        with _signing(home):
            report = await check_account(home, name, load_config(home))
    except (ConnectorError, ConfigError) as exc:
        return SourceCheck(name=name, ok=False, error=str(exc))
    return SourceCheck(
        name=name,
        ok=report.ok,
        login=report.login,
        toolsets=list(report.toolsets),
        failed=list(report.failed),
    )


async def revoke_source(
    home: Path, name: str, *, local_only: bool = False, person: str = "person"
) -> RevokedSource:
    """`valet connectors remove`: revoke at the provider (OAuth, unless `local_only`), delete
    the vault entries and the account, and audit it as the person's. A failed revocation
    changes nothing."""
    account_named(home, name)
    try:
        account = await remove_account(home, name, load_config(home), local_only=local_only)
    except NoRevocationEndpoint as exc:
        raise CannotRevoke(str(exc)) from exc
    except OAuthError as exc:
        raise ProviderFailed(str(exc)) from exc
    except (ConnectorError, ConfigError) as exc:
        raise SourceConflict(str(exc)) from exc
    await _audited(record_removal, home, account, local_only=local_only, person=person)
    return RevokedSource(
        name=name,
        revoked_at_provider=account.auth == "oauth2" and not local_only,
        deleted_credential=account.credential_owned,
    )
