"""Signing in to a server (CalDAV, WebDAV) with a login kept in the vault.

A toolset's settings name the vault credential (`credential = "nextcloud"`), never the password.
The credential must be bound to the server's host (`valet vault add nextcloud --domain
cloud.example`): a login is only ever sent to a server it was saved for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from valet.connectors._errors import ConnectorError
from valet.settings import valet_home
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
        vault = Vault.open(home or valet_home())
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
