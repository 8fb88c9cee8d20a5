"""One vault entry: a site login and/or a TOTP seed, bound to the domains it may be filled on.

Domain binding is strict, checked against the live page's URL when a placeholder is filled:

- `shop.example` matches the host `shop.example` exactly, on any port: not `www.shop.example`,
  not `shop.example.evil.test`, not `evil-shop.example`.
- `*.shop.example` matches every subdomain (`www.shop.example`, `a.b.shop.example`) but not
  `shop.example` itself: bind both when both are used.
- `host:port` (`127.0.0.1:8765`) matches that host on that port only.
- Only `http:` and `https:` pages match; hosts compare in lower case (IDNA/punycode as the
  browser shows them).
"""

from __future__ import annotations

import re
import time
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pyotp.totp import TOTP

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9\-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]*[a-z0-9])?)*$")

Field_ = Literal["username", "password", "totp"]
FIELDS: tuple[Field_, ...] = ("username", "password", "totp")


def normalize_domain(domain: str) -> str:
    """`Shop.Example.` → `shop.example`; keeps `*.` and `:port`. Raises ValueError when the
    text is not a host pattern (a URL, a path, a bare `*`)."""
    text = domain.strip().lower().rstrip(".")
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    if sep and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{domain!r} is not a domain (write shop.example or host:port)")
    ip = re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", host) is not None
    if not ip and not _HOST.fullmatch(host.encode("idna").decode("ascii") if host else "-"):
        raise ValueError(
            f"{domain!r} is not a domain (write shop.example, *.shop.example or host:port)"
        )
    if not ip:
        host = host.encode("idna").decode("ascii")
    return f"{host}:{port}" if sep else host


def binding_matches(binding: str, url: str) -> bool:
    """Whether the page at `url` is covered by the domain `binding` (rules: module docstring)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not host:
        return False
    pattern, sep, want_port = binding.rpartition(":") if ":" in binding else (binding, "", "")
    if sep and str(port) != want_port:
        return False
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


class Credential(BaseModel):
    """A login (username and password) and/or a TOTP seed, for the domains it is bound to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    """What placeholders call it: `{{vault:NAME.password}}`."""
    domains: tuple[str, ...] = Field(min_length=1)
    """Where it may be filled (see the module's binding rules)."""
    username: str = ""
    password: SecretStr = SecretStr("")
    totp_seed: SecretStr | None = None
    """Base32 seed of a time-based one-time password (RFC 6238, 6 digits, 30 s)."""

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalize_domain(domain) for domain in value))

    @field_validator("totp_seed")
    @classmethod
    def _seed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        seed = re.sub(r"[\s\-]", "", value.get_secret_value()).upper()
        try:
            TOTP(seed).now()
        except (ValueError, TypeError) as exc:
            raise ValueError("the TOTP seed is not base32 text") from exc
        return SecretStr(seed)

    def bound_to(self, url: str) -> bool:
        return any(binding_matches(domain, url) for domain in self.domains)

    def fields(self) -> tuple[Field_, ...]:
        """The placeholders this credential can fill."""
        has = {
            "username": bool(self.username),
            "password": bool(self.password.get_secret_value()),
            "totp": self.totp_seed is not None,
        }
        return tuple(f for f in FIELDS if has[f])

    def value(self, field: Field_, at: float | None = None) -> str:
        """The value of `field` (the TOTP code of time `at`, default now). Empty when unset."""
        match field:
            case "username":
                return self.username
            case "password":
                return self.password.get_secret_value()
            case "totp":
                if self.totp_seed is None:
                    return ""
                moment = time.time() if at is None else at
                return TOTP(self.totp_seed.get_secret_value()).at(int(moment))

    def secret_values(self) -> list[str]:
        """Everything stored that must never be stored elsewhere (the redactor's list)."""
        values = [self.username, self.password.get_secret_value()]
        if self.totp_seed is not None:
            values.append(self.totp_seed.get_secret_value())
        return [v for v in values if v]
