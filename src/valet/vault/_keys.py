"""Where the vault's key comes from: `$VALET_VAULT_KEY`, the OS keyring, or a key file.

Order: `$VALET_VAULT_KEY` when set; else the key stored in the OS keyring for this valet home;
else the key file `home/keys/vault.key` when it exists. A new key goes to the OS keyring when
one works, and to the key file (mode 0600) on a machine without a keyring backend (a headless
server): then `VaultKey.note` says so, and whoever can read that file can open the vault.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
import keyring.errors
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from valet._home import install_of, private_dir
from valet.vault._errors import VaultKeyError

KEY_ENV = "VALET_VAULT_KEY"
KEYRING_SERVICE = "valet-vault"

KeySource = Literal["env", "keyring", "file"]


@dataclass(frozen=True, slots=True)
class VaultKey:
    """A Fernet key (url-safe base64 of 32 bytes) and where it was found."""

    key: bytes
    source: KeySource
    where: str
    """`$VALET_VAULT_KEY`, `OS keyring (<backend>)` or the key file's path."""
    note: str = ""
    """Something the person should know, e.g. that the key was put in a file."""

    def __repr__(self) -> str:
        return f"VaultKey(source={self.source!r}, where={self.where!r})"


def key_file(home: Path) -> Path:
    return home / "keys" / "vault.key"


def load_vault_key(home: Path, *, create: bool = False) -> VaultKey:
    """The vault key for `home` (see the module's order); with `create`, make one if none
    exists. Raises `VaultKeyError` when there is none (or `$VALET_VAULT_KEY` is malformed).

    A person's space (`valet._home.person_space`) has no key of its own: its key is derived
    from the installation's (HKDF-SHA256, the person's id as context), so each person's vault
    opens only with their own key, and the installation's key is the one secret to keep."""
    install = install_of(home)
    if install is not None:
        return _derived(load_vault_key(install, create=create), home.name)
    raw = os.environ.get(KEY_ENV, "").strip()
    if raw:
        return VaultKey(
            _checked(raw.encode("ascii", "replace"), f"${KEY_ENV}"), "env", f"${KEY_ENV}"
        )
    account = str(home.expanduser().resolve())
    stored = _keyring_get(account)
    if stored is not None:
        return VaultKey(
            _checked(stored.encode("ascii", "replace"), "the OS keyring"), "keyring", _backend()
        )
    path = key_file(home)
    if path.is_file():
        return VaultKey(_checked(path.read_bytes().strip(), str(path)), "file", str(path))
    if not create:
        raise VaultKeyError(
            f"no vault key: set ${KEY_ENV}, or keep the key in the OS keyring or in {path}"
        )
    key = Fernet.generate_key()
    if _keyring_set(account, key.decode("ascii")):
        return VaultKey(key, "keyring", _backend())
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    note = (
        f"no OS keyring is available, so the vault key was written to {path} (mode 0600); "
        f"anyone who can read that file can open the vault. Set ${KEY_ENV} to keep it elsewhere."
    )
    return VaultKey(key, "file", str(path), note)


def _derived(base: VaultKey, person: str) -> VaultKey:
    derived = derive_key(base.key, f"valet person vault {person}")
    where = f"derived for person {person} from {base.where}"
    return VaultKey(derived, base.source, where)


def derive_key(key: bytes, purpose: str) -> bytes:
    """A Fernet key for `purpose` derived from the Fernet key `key` (HKDF-SHA256, `purpose` as
    context): what opens with one never opens with another."""
    raw = base64.urlsafe_b64decode(key)
    info = purpose.encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)
    return base64.urlsafe_b64encode(derived)


def _checked(key: bytes, where: str) -> bytes:
    try:
        Fernet(key)
    except ValueError as exc:
        raise VaultKeyError(
            f"{where} is not a vault key (44 characters of url-safe base64, as made by "
            "cryptography's Fernet.generate_key())"
        ) from exc
    return key


def _backend() -> str:
    return f"OS keyring ({type(keyring.get_keyring()).__name__})"


def _keyring_get(account: str) -> str | None:
    try:
        return keyring.get_password(KEYRING_SERVICE, account)
    except (keyring.errors.KeyringError, RuntimeError):
        return None


def _keyring_set(account: str, secret: str) -> bool:
    """Store the key in the OS keyring; False when no working keyring took it."""
    try:
        keyring.set_password(KEYRING_SERVICE, account, secret)
        return keyring.get_password(KEYRING_SERVICE, account) == secret
    except (keyring.errors.KeyringError, RuntimeError):
        return False
