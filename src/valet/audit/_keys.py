"""The checkpoint signing key: Ed25519, kept outside the log (a file or an environment variable).

`load_signing_key(path)` reads the key from `$VALET_AUDIT_KEY` (hex of the 32-byte private key)
when set, else from `path` (PEM, PKCS#8), generating it there on first use with mode 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from valet.errors import ConfigError

KEY_ENV = "VALET_AUDIT_KEY"


class AuditKeyError(ConfigError):
    """The audit signing key cannot be read."""


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
