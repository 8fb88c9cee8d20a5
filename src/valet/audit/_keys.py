"""The checkpoint keys: an Ed25519 signing key for valet, its public key for whoever verifies.

`load_signing_key(path)` reads the private key from `$VALET_AUDIT_KEY` (hex of the 32-byte
private key) when set, else from `path` (PEM, PKCS#8), generating it there on first use with
mode 0600. Verifying needs only the public key: its fingerprint (`ed25519:` and the 32-byte
public key in hex, so the fingerprint is the key itself) can be pinned outside valet's home
(`write_pin`, `valet audit pin`) and given back to `verify` (`parse_fingerprint`, `read_pin`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from valet._home import private_dir
from valet.errors import ConfigError

KEY_ENV = "VALET_AUDIT_KEY"
FINGERPRINT_PREFIX = "ed25519:"


class AuditKeyError(ConfigError):
    """An audit key (the signing key, a pinned public key, a fingerprint) cannot be read."""


def load_signing_key(path: Path | None, *, env: str = KEY_ENV) -> Ed25519PrivateKey:
    raw = os.environ.get(env, "").strip()
    if raw:
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw))
        except ValueError as exc:
            raise AuditKeyError(f"${env} is not 64 hex digits of an Ed25519 key") from exc
    if path is None:
        raise AuditKeyError(f"no audit key: set ${env} or give a key file path")
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as exc:
            raise AuditKeyError(f"{path} is not a PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise AuditKeyError(f"{path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def fingerprint(key: Ed25519PublicKey) -> str:
    """`ed25519:<public key, hex>`: what `valet audit pin` prints and `--key` takes."""
    return f"{FINGERPRINT_PREFIX}{public_hex(key)}"


def parse_fingerprint(text: str) -> Ed25519PublicKey:
    """The public key a fingerprint names (`ed25519:` + 64 hex digits, the prefix optional)."""
    raw = text.strip().removeprefix(FINGERPRINT_PREFIX)
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw))
    except ValueError as exc:
        raise AuditKeyError(
            f"not an audit key fingerprint: {text.strip()!r} (valet audit pin prints one)"
        ) from exc


def read_pin(path: Path) -> Ed25519PublicKey:
    """The public key pinned in `path` (a file `write_pin` wrote)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditKeyError(f"cannot read the pinned audit key {path}: {exc}") from exc
    return parse_fingerprint(text)


def write_pin(path: Path, key: Ed25519PublicKey, home: Path) -> None:
    """Write `key`'s fingerprint to `path`, which must lie outside valet's `home` (a pin that
    whoever can rewrite the log can also rewrite protects nothing)."""
    target, inside = path.expanduser().resolve(), home.expanduser().resolve()
    if target == inside or inside in target.parents:
        raise AuditKeyError(f"{path} is inside valet's home {home}: pin the key somewhere else")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fingerprint(key) + "\n", encoding="utf-8")
    except OSError as exc:
        raise AuditKeyError(f"cannot write the pin {path}: {exc}") from exc
