"""The vault: site credentials and TOTP seeds, encrypted at rest, each bound to domains.

The model never sees a secret: it types a placeholder (`{{vault:shop.password}}`) and the
gateway fills the value only on a page of a bound domain. Values never reach a stored record.

- `Vault` (`open`, `load`, `add`, `remove`, `save`, `for_page`) and `Credential`; `Token`: a
  connector account's OAuth2 tokens (`put_token`, `token`, `remove_token`), never filled in pages.
- `load_vault_key` / `VaultKey`: `$VALET_VAULT_KEY`, the OS keyring, or `home/keys/vault.key`.
- `placeholders`, `available`, `check`, `fill`: the placeholder language.
- `VaultError`, `VaultKeyError`.
"""

from valet.vault._credential import FIELDS, Credential, binding_matches, normalize_domain
from valet.vault._errors import VaultError, VaultKeyError
from valet.vault._keys import KEY_ENV, VaultKey, derive_key, key_file, load_vault_key
from valet.vault._placeholders import (
    PLACEHOLDER,
    Filled,
    Placeholder,
    Refusal,
    available,
    check,
    fill,
    placeholder,
    placeholders,
)
from valet.vault._token import Token
from valet.vault._vault import Vault, vault_path

__all__ = [
    "FIELDS",
    "KEY_ENV",
    "PLACEHOLDER",
    "Credential",
    "Filled",
    "Placeholder",
    "Refusal",
    "Token",
    "Vault",
    "VaultError",
    "VaultKey",
    "VaultKeyError",
    "available",
    "binding_matches",
    "check",
    "derive_key",
    "fill",
    "key_file",
    "load_vault_key",
    "normalize_domain",
    "placeholder",
    "placeholders",
    "vault_path",
]
