"""Sites as the rules name them: `example.com` (and its subdomains, any port) or `host:port`."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_of(url_or_host: str) -> str | None:
    """`host` or `host:port` (port only when not the scheme's default), lower case.

    Accepts a URL (`https://Shop.example:8443/x` → `shop.example:8443`) or a bare host.
    Returns None when there is no host (e.g. `about:blank`, `file:///etc/passwd`).
    """
    text = url_or_host.strip()
    if "://" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return host
    return f"{host}:{port}"


def site_matches(site: str, pattern: str) -> bool:
    """Whether `site` (from `site_of`) is covered by `pattern`.

    `example.com` covers `example.com` and `*.example.com` on any port; `host:port` covers that
    exact host and port only.
    """
    pattern = pattern.strip().lower().rstrip(".")
    if not pattern:
        return False
    site = site.lower()
    host, _, _port = site.rpartition(":") if _has_port(site) else (site, "", "")
    if _has_port(pattern):
        return site == pattern
    return host == pattern or host.endswith("." + pattern)


def _has_port(site: str) -> bool:
    head, sep, tail = site.rpartition(":")
    return bool(sep) and tail.isdigit() and (not head.startswith("[") or head.endswith("]"))


def matches_any(site: str, patterns: frozenset[str] | list[str] | tuple[str, ...]) -> bool:
    return any(site_matches(site, pattern) for pattern in patterns)
