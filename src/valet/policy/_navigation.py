"""The navigation guard: where a browser may go, decided from a URL and its resolved addresses.

Pure: the caller resolves the host (and re-checks after redirects) and passes the addresses in;
with `must_resolve` (the egress proxy's connections) a name with no address is denied.
Denied: `file:`, `chrome:` and every scheme but http(s) (`about:blank` is fine), top-level
`data:`/`javascript:`; loopback, private, link-local and other non-public addresses; cloud
metadata endpoints. `NavigationSettings.allow_hosts` lets specific internal hosts through (the
local demo sites, an intranet), by `host` or exact `host:port`; metadata endpoints never pass.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from valet.policy._decision import Decision
from valet.policy._sites import matches_any, site_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("100.100.100.200"),
    }
)


class NavigationSettings(BaseModel):
    """Where the browser may go beyond the public web."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_hosts: frozenset[str] = frozenset()
    """Internal hosts allowed anyway: `intranet.lan` (any port) or `127.0.0.1:8765` (exact)."""


def check_navigation(
    url: str,
    resolved: Iterable[str] = (),
    settings: NavigationSettings | None = None,
    *,
    must_resolve: bool = False,
) -> Decision:
    """Allow or deny opening `url` as a top-level page; `resolved` are the host's addresses.
    `must_resolve`: `resolved` is the whole answer of a lookup, so a host name without any
    address is denied (`nav.unresolved`) rather than taken for public."""
    settings = settings or NavigationSettings()
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
        host = (parts.hostname or "").rstrip(".")
        _ = parts.port
    except ValueError:
        return Decision.deny("nav.malformed", f"{_short(url)} is not a valid URL")
    scheme = parts.scheme.lower()
    if scheme == "about" and stripped.lower() in ("about:blank", "about:srcdoc"):
        return Decision.allow("nav.blank", "an empty page")
    if scheme not in ("http", "https"):
        return Decision.deny(
            f"nav.scheme.{scheme or 'none'}",
            f"{scheme or 'scheme-less'}: URLs are never opened ({_short(url)})",
        )
    if not host:
        return Decision.deny("nav.malformed", f"{_short(url)} has no host")
    host = host.lower()
    site = site_of(stripped) or host
    addresses = _addresses(host, resolved)
    if host in METADATA_HOSTS or any(a in METADATA_ADDRESSES for a in addresses):
        return Decision.deny("nav.metadata", f"{site} is a cloud metadata endpoint")
    if must_resolve and not addresses:
        return Decision.deny("nav.unresolved", f"{site} does not resolve to any address")
    if matches_any(site, settings.allow_hosts):
        return Decision.allow("nav.allow_listed", f"{site} is on the internal allow-list")
    if host == "localhost" or host.endswith(".localhost"):
        return Decision.deny("nav.loopback", f"{site} is this machine (loopback)")
    for address in addresses:
        denied = _denied_address(address, site)
        if denied is not None:
            return denied
    return Decision.allow("nav.public", f"{site} is a public address")


def _denied_address(address: IPAddress, site: str) -> Decision | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:
        return Decision.deny("nav.loopback", f"{site} is this machine (loopback {address})")
    if address.is_link_local:
        return Decision.deny("nav.link_local", f"{site} is a link-local address ({address})")
    if address.is_private:
        return Decision.deny("nav.private", f"{site} is a private network address ({address})")
    if not address.is_global or address.is_multicast:
        return Decision.deny("nav.reserved", f"{site} is not a public address ({address})")
    return None


_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]+|\d+)(?:\.(?:0x[0-9a-f]+|\d+)){0,3}$", re.IGNORECASE)


def _addresses(host: str, resolved: Iterable[str]) -> list[IPAddress]:
    found: list[IPAddress] = []
    literal = _literal(host)
    if literal is not None:
        found.append(literal)
    for text in resolved:
        parsed = _literal(text)
        if parsed is not None:
            found.append(parsed)
    return found


def _literal(host: str) -> IPAddress | None:
    """An IP literal, including the forms browsers accept (`127.1`, `0x7f.0.0.1`, `2130706433`)."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))  # parsing only, no I/O
        except OSError:
            return None
    return None


def _short(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
