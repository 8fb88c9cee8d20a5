"""Turning Playwright's long error texts into one readable sentence for the model."""

from __future__ import annotations

import re

from playwright.async_api import Error

_NET_REASONS = {
    "ERR_NAME_NOT_RESOLVED": "the host name could not be resolved",
    "ERR_CONNECTION_REFUSED": "the connection was refused (nothing listens there)",
    "ERR_CONNECTION_RESET": "the connection was reset",
    "ERR_CONNECTION_CLOSED": "the connection was closed",
    "ERR_CONNECTION_TIMED_OUT": "the connection timed out",
    "ERR_ADDRESS_UNREACHABLE": "the address is unreachable",
    "ERR_INTERNET_DISCONNECTED": "there is no network connection",
    "ERR_TOO_MANY_REDIRECTS": "the site redirects endlessly (redirect loop)",
    "ERR_SSL_PROTOCOL_ERROR": "the TLS handshake failed (not an HTTPS server?)",
    "ERR_CERT_AUTHORITY_INVALID": "the TLS certificate is not trusted",
    "ERR_CERT_COMMON_NAME_INVALID": "the TLS certificate does not match the host",
    "ERR_CERT_DATE_INVALID": "the TLS certificate has expired or is not yet valid",
    "ERR_EMPTY_RESPONSE": "the server sent an empty response",
    "ERR_INVALID_URL": "the URL is invalid",
    "ERR_UNSAFE_PORT": "the browser refuses that port",
    "ERR_BLOCKED_BY_CLIENT": "valet refused to open a page it leads to (navigation rules)",
    "ERR_ABORTED": "the navigation was aborted",
    "ERR_TUNNEL_CONNECTION_FAILED": "valet's egress proxy refused the connection or could not "
    "make it (navigation rules, or the host does not resolve)",
    "ERR_PROXY_CONNECTION_FAILED": "valet's egress proxy is not running",
}

_NOISE = re.compile(r"^\s*-\s*(retrying|waiting \d+ms|attempting|scrolling|done scrolling)", re.I)


def network_reason(message: str) -> str | None:
    match = re.search(r"net::(ERR_[A-Z_]+)", message)
    if match is None:
        return None
    code = match.group(1)
    if code.startswith("ERR_CERT_") and code not in _NET_REASONS:
        return f"the TLS certificate was rejected ({code})"
    if code.startswith("ERR_SSL_") and code not in _NET_REASONS:
        return f"the TLS connection failed ({code})"
    return f"{_NET_REASONS.get(code, code)} ({code})"


def concise(error: Error) -> str:
    """One or two short sentences explaining a Playwright error."""
    message = error.message or str(error)
    reason = network_reason(message)
    if reason is not None:
        return reason
    lines = [line.rstrip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "the browser reported an error"
    head = re.sub(r"^[A-Za-z]+\.[A-Za-z_]+: ", "", lines[0])
    head = re.sub(r"Timeout (\d+)ms exceeded\.?", _timeout, head)
    detail = ""
    for line in reversed(lines[1:]):
        if line.strip().startswith("-") and not _NOISE.match(line) and "waiting for" not in line:
            detail = line.strip().lstrip("- ").strip()
            break
    if "has been closed" in head or "Target closed" in head:
        return "the tab was closed while acting"
    text = head if not detail or detail in head else f"{head} ({detail})"
    return text[:300]


def _timeout(match: re.Match[str]) -> str:
    return f"gave up after {int(match.group(1)) / 1000:g} s."
