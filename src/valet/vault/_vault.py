"""The vault file: every credential, encrypted together with Fernet (AES-128-CBC + HMAC-SHA256)
in `home/vault.json`, written atomically with mode 0600.

The file holds only `{"format": 1, "cipher": "fernet", "data": "<token>"}`: names and domains
are encrypted too. A wrong key fails the HMAC check and raises `VaultKeyError`; it never
decrypts to garbage.
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

FORMAT = 1
_CREDENTIALS = TypeAdapter(list[Credential])


def vault_path(home: Path) -> Path:
    return home / "vault.json"


class Vault:
    """The person's credentials, decrypted in memory. Open with `Vault.open(home)`."""

    def __init__(self, path: Path, key: VaultKey, credentials: Iterable[Credential] = ()) -> None:
        self.path = path
        self.key = key
        self._items: dict[str, Credential] = {c.name: c for c in credentials}

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
        return cls(path, key, _decrypt(path, key))

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

    def secret_values(self) -> list[str]:
        return [value for c in self.credentials for value in c.secret_values()]

    def save(self) -> None:
        """Encrypt and write the vault (atomically, mode 0600)."""
        plain = json.dumps([_plain(c) for c in self.credentials]).encode("utf-8")
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


def _decrypt(path: Path, key: VaultKey) -> list[Credential]:
    try:
        outer = json.loads(path.read_text(encoding="utf-8"))
        token = str(outer["data"]).encode("ascii")
        version = outer.get("format")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VaultError(f"{path} is not a valet vault file") from exc
    if version != FORMAT:
        raise VaultError(f"{path} has vault format {version!r}; this valet reads {FORMAT}")
    try:
        plain = Fernet(key.key).decrypt(token)
    except InvalidToken as exc:
        raise VaultKeyError(
            f"the vault key from {key.where} does not open {path}: it is the wrong key "
            "(or the file was changed)"
        ) from exc
    try:
        return _CREDENTIALS.validate_json(plain)
    except ValidationError as exc:
        raise VaultError(f"{path} holds an invalid credential: {exc.errors()[0]['msg']}") from exc
