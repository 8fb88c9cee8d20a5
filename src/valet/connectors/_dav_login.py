"""Signing in to a server (CalDAV, WebDAV) with a login kept in the vault, or a connector
account.

A toolset's settings name the vault credential (`credential = "nextcloud"`), never the password.
The credential must be bound to the server's host (`valet vault add nextcloud --domain
cloud.example`): a login is only ever sent to a server it was saved for. Or they name a
connector account (`account = "google"`): an OAuth account's access token is sent as a bearer,
an app-password account's vault credential as a login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from valet.connectors._account_credentials import (
    OAuthCredentials,
    PasswordCredentials,
    TokenSource,
    account_credentials,
    sign_in_again,
)
from valet.connectors._errors import ConnectorError
from valet.settings import secrets_home
from valet.vault import Vault, VaultError


@dataclass(frozen=True, slots=True)
class Login:
    """A username and password (or access token) for one server."""

    username: str
    password: str = field(repr=False)
    credential: str
    """The vault credential it came from (named in error messages, never its values)."""


def vault_login(
    toolset: str, credential: str | None, url: str, home: Path | None = None
) -> Login | None:
    """The login of vault credential `credential` for the server at `url` (None: no login).

    Raises `ConnectorError` when the vault cannot be opened, has no such credential, or the
    credential is not bound to the server's host."""
    if credential is None:
        return None
    try:
        vault = Vault.open(home or secrets_home())
    except VaultError as exc:
        raise ConnectorError(f"toolset {toolset!r}: cannot open the vault: {exc}") from exc
    found = vault.get(credential)
    if found is None:
        raise ConnectorError(
            f"toolset {toolset!r}: the vault has no credential {credential!r} "
            "(add it with: valet vault add)"
        )
    if not found.bound_to(url):
        raise ConnectorError(
            f"toolset {toolset!r}: vault credential {credential!r} is bound to "
            f"{', '.join(found.domains)}, not to {url}; valet sends a login only to its sites"
        )
    return Login(found.username, found.password.get_secret_value(), credential)


@dataclass(frozen=True)
class DavSignIn:
    """How a toolset signs in: a vault `login` (HTTP basic, or its password as a bearer when the
    settings say so), or an OAuth account's `tokens` (a bearer, asked for before each
    operation, so an expired one is refreshed); `used` records an account's use."""

    login: Login | None = None
    tokens: TokenSource | None = None
    username: str = ""
    """Who signs in (e.g. the organizer of invitations when the settings name none)."""
    refused: str = ""
    """Why the server may have refused the sign-in, and what the person does then."""
    used: Callable[[], None] | None = None


def dav_sign_in(
    toolset: str,
    url: str,
    credential: str | None,
    account: str | None,
    home: Path | None = None,
) -> DavSignIn:
    """The sign-in of a toolset whose settings give `credential` or `account` (or neither: no
    login). Raises `ConnectorError` as `vault_login` and `account_credentials` do."""
    if account is None:
        return _vault_sign_in(vault_login(toolset, credential, url, home))
    match account_credentials(toolset, account, home):
        case OAuthCredentials(account=found, tokens=tokens) as oauth:
            refused = (
                f"the access token of {tokens.label} has no access here, or was revoked "
                f"({sign_in_again(found)}, with the scope this server needs)"
            )
            return DavSignIn(tokens=tokens, username=oauth.username, refused=refused)
        case PasswordCredentials() as password:
            login = vault_login(toolset, password.credential, url, password.home)
            return _vault_sign_in(login, password.used)


def _vault_sign_in(login: Login | None, used: Callable[[], None] | None = None) -> DavSignIn:
    if login is None:
        return DavSignIn(
            refused="wrong username or password, or no access (set `credential` or `account` "
            "in the toolset's settings)"
        )
    return DavSignIn(
        login,
        username=login.username,
        refused="wrong username or password, or no access (check vault credential "
        f"{login.credential!r})",
        used=used,
    )
