"""The vault's exceptions (part of valet's one tree: both are `ConfigError`s)."""

from __future__ import annotations

from valet.errors import ConfigError


class VaultError(ConfigError):
    """The vault file cannot be read or changed as asked (unknown name, bad domain…)."""


class VaultKeyError(VaultError):
    """No vault key, a malformed key, or a key that does not open this vault."""
