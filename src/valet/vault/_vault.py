"""The vault file: every credential and connector token, encrypted together with Fernet
(AES-128-CBC + HMAC-SHA256) in `home/vault.json`, written atomically with mode 0600.

The file holds only `{"format": 2, "cipher": "fernet", "data": "<token>"}`: names and domains
are encrypted too (format 1, credentials only, is still read). A wrong key fails the HMAC check
and raises `VaultKeyError`; it never decrypts to garbage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import TypeAdapter, ValidationError

from valet.vault._credential import Credential
from valet.vault._errors import VaultError, VaultKeyError
from valet.vault._keys import VaultKey, load_vault_key
from valet.vault._token import Token

FORMAT = 2
_READS = (1, 2)
_CREDENTIALS = TypeAdapter(list[Credential])
_TOKENS = TypeAdapter(list[Token])


def vault_path(home: Path) -> Path:
    return home / "vault.json"


class Vault:
    """The person's credentials (and connector tokens), decrypted in memory. Open with
    `Vault.open(home)`."""

    def __init__(
        self,
        path: Path,
        key: VaultKey,
        credentials: Iterable[Credential] = (),
        tokens: Iterable[Token] = (),
    ) -> None:
        self.path = path
        self.key = key
        self._items: dict[str, Credential] = {c.name: c for c in credentials}
        self._tokens: dict[str, Token] = {t.name: t for t in tokens}

    def __repr__(self) -> str:
        return f"Vault({str(self.path)!r}, {len(self._items)} credentials)"

    @classmethod
    def open(cls, home: Path, *, create: bool = False) -> Vault:
        """The vault of `home`. With `create`, a missing vault (and key) is made; without,
        a missing vault raises `VaultError`. A key that does not open it: `VaultKeyError`."""
        path = vault_path(home)
        if not path.is_file():
            if not create:
                raise VaultError(f"no vault yet in {home} (add a credential: valet vault add)")
            return cls(path, load_vault_key(home, create=True))
        key = load_vault_key(home)
        credentials, tokens = _decrypt(path, key)
        return cls(path, key, credentials, tokens)

    @classmethod
    def load(cls, home: Path) -> Vault | None:
        """The vault of `home`, or None when there is none (a run without secrets)."""
        if not vault_path(home).is_file():
            return None
        return cls.open(home)

    @property
    def credentials(self) -> tuple[Credential, ...]:
        return tuple(sorted(self._items.values(), key=lambda c: c.name))

    def get(self, name: str) -> Credential | None:
        return self._items.get(name)

    def add(self, credential: Credential, *, replace: bool = False) -> None:
        if credential.name in self._items and not replace:
            raise VaultError(f"the vault already has {credential.name!r} (remove it first)")
        self._items[credential.name] = credential

    def remove(self, name: str) -> None:
        if self._items.pop(name, None) is None:
            raise VaultError(f"the vault has no credential named {name!r}")

    def for_page(self, url: str) -> tuple[Credential, ...]:
        """The credentials bound to the page at `url`."""
        return tuple(c for c in self.credentials if c.bound_to(url))

    @property
    def tokens(self) -> tuple[Token, ...]:
        """Connector accounts' tokens (see `valet.connectors.Accounts`)."""
        return tuple(sorted(self._tokens.values(), key=lambda t: t.name))

    def token(self, name: str) -> Token | None:
        return self._tokens.get(name)

    def put_token(self, token: Token) -> None:
        """Store (or replace) the tokens of account `token.name`."""
        self._tokens[token.name] = token

    def remove_token(self, name: str) -> bool:
        """Forget account `name`'s tokens; False when there were none."""
        return self._tokens.pop(name, None) is not None

    def secret_values(self) -> list[str]:
        values = [value for c in self.credentials for value in c.secret_values()]
        return values + [value for t in self.tokens for value in t.secret_values()]

    def save(self) -> None:
        """Encrypt and write the vault (atomically, mode 0600)."""
        content = {
            "credentials": [_plain(c) for c in self.credentials],
            "tokens": [t.plain() for t in self.tokens],
        }
        plain = json.dumps(content).encode("utf-8")
        token = Fernet(self.key.key).encrypt(plain).decode("ascii")
        body = json.dumps({"format": FORMAT, "cipher": "fernet", "data": token}, indent=2)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.replace(tmp, self.path)


def _plain(credential: Credential) -> dict[str, object]:
    seed = credential.totp_seed
    return {
        "name": credential.name,
        "domains": list(credential.domains),
        "username": credential.username,
        "password": credential.password.get_secret_value(),
        "totp_seed": None if seed is None else seed.get_secret_value(),
    }


def _decrypt(path: Path, key: VaultKey) -> tuple[list[Credential], list[Token]]:
    try:
        outer = json.loads(path.read_text(encoding="utf-8"))
        token = str(outer["data"]).encode("ascii")
        version = outer.get("format")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VaultError(f"{path} is not a valet vault file") from exc
    if version not in _READS:
        raise VaultError(f"{path} has vault format {version!r}; this valet reads {_READS}")
    try:
        plain = Fernet(key.key).decrypt(token)
    except InvalidToken as exc:
        raise VaultKeyError(
            f"the vault key from {key.where} does not open {path}: it is the wrong key "
            "(or the file was changed)"
        ) from exc
    try:
        content = json.loads(plain)
        if version == 1:
            return _CREDENTIALS.validate_python(content), []
        credentials = _CREDENTIALS.validate_python(content["credentials"])
        return credentials, _TOKENS.validate_python(content["tokens"])
    except (ValidationError, ValueError, KeyError, TypeError) as exc:
        why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else repr(exc)
        raise VaultError(f"{path} holds an invalid entry: {why}") from exc
