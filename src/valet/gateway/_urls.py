"""Where a tool's URL arguments may point: the browser's navigation rules, before the tool runs.

    denied = await url_denials(tool.effects, args, policy.navigation)  # [] when all may go

An argument is checked when the tool declares it (`site_arg`, `url_args`: a bare host counts
too) or when its name says it is a URL (`url`, `uri`, `link`, `endpoint`, `webhook`, `href`,
alone or as its last word: `callback_url`, `webhookUrl`) and its value is an http(s) or ws(s)
URL, in lists and nested objects too. Each host is resolved and `check_navigation` decides with
the task's `NavigationSettings`: loopback, private, link-local and metadata addresses are
denied (`nav.*`), and so is a host that does not resolve (`nav.unresolved`: the tool would
reach whatever answers for that name later); hosts the person allowed pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from pydantic_core import to_jsonable_python

from valet.gateway._documents import Resolver, resolve_host
from valet.gateway._tool import ToolEffects
from valet.policy import Decision, NavigationSettings, check_navigation

URL_WORDS = frozenset(
    {"url", "urls", "uri", "uris", "link", "links", "endpoint", "endpoints", "webhook", "href"}
)
"""An argument whose name (or its last word) is one of these holds URLs."""

_NETWORK = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
"""The schemes a tool reaches a host with, and the web scheme the navigation rules judge."""
_BARE_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+)(?::\d+)?(?:/\S*)?$")
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


async def url_denials(
    effects: ToolEffects,
    args: Mapping[str, object],
    settings: NavigationSettings,
    resolve: Resolver = resolve_host,
) -> list[Decision]:
    """The navigation rules' denials for the URLs in a call's arguments (none: all may go)."""
    denials: list[Decision] = []
    addresses: dict[str, list[str]] = {}
    for name, url in _urls(args, effects):
        host = _host(url)
        if host and host not in addresses:
            addresses[host] = await resolve(host)
        resolved = addresses.get(host, [])
        decision = check_navigation(url, resolved, settings)
        if decision.verdict == "allow" and not resolved and decision.rule_id != "nav.allow_listed":
            decision = Decision.deny("nav.unresolved", f"{host} does not resolve to an address")
        if decision.verdict == "deny":
            where = f"{host or 'no host'} ({', '.join(resolved) or 'no address'})"
            denials.append(
                Decision.deny(
                    decision.rule_id,
                    f"{name} = {_short(url)} goes to {where}: {decision.reason}; tools may not "
                    "reach local, private or unknown hosts unless the person allows the host",
                )
            )
    return denials


def is_url_name(name: str) -> bool:
    """Whether an argument named `name` holds URLs (`url`, `callback_url`, `webhookUrl`…)."""
    words = _WORD.findall(name)
    return name.lower() in URL_WORDS or (bool(words) and words[-1].lower() in URL_WORDS)


def _urls(args: Mapping[str, object], effects: ToolEffects) -> Iterator[tuple[str, str]]:
    """(argument, URL to judge) for each network URL in the arguments."""
    declared = {effects.site_arg, *effects.url_args}
    for name, value in args.items():
        plain: object = to_jsonable_python(value, fallback=str)
        if name in declared:
            values = cast(list[object], plain) if isinstance(plain, list) else [plain]
            for item in values:
                url = _network_url(item, bare=name == effects.site_arg)
                if url is not None:
                    yield name, url
        else:
            yield from _named(name, plain)


def _named(name: str, value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in cast(dict[str, object], value).items():
            yield from _named(f"{name}.{key}", inner)
    elif isinstance(value, list):
        for inner in cast(list[object], value):
            yield from _named(name, inner)
    elif is_url_name(name.rsplit(".", 1)[-1]):
        url = _network_url(value, bare=False)
        if url is not None:
            yield name, url


def _network_url(value: object, *, bare: bool) -> str | None:
    """`value` as a web URL to judge when it reaches a host over the network; a bare host
    (`shop.example`, `127.0.0.1:8080`) counts when `bare`."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "://" not in text:
        return f"http://{text}" if bare and _BARE_HOST.match(text) else None
    scheme = _NETWORK.get(text.split("://", 1)[0].lower())
    if scheme is None:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return text  # judged (and refused) as malformed
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _short(url: str, limit: int = 100) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
