"""OAuth2 for connector accounts: authorization code with PKCE (S256) and state, a loopback
redirect listener for the CLI, code exchange, refresh before expiry, and revocation (RFC 7009).

    provider = oauth_provider("github", load_config())   # preset + [oauth.github] client_id…
    async with LoopbackRedirect() as redirect:
        start = authorization_request(provider, redirect.uri)
        print(start.url)                                     # the person opens it
        token = await exchange_code(provider, start, await redirect.wait(), name="github")

Presets (`google`, `microsoft`, `outlook` for Outlook mail over IMAP/SMTP, `github`) give
endpoints and default scopes (read-only where the provider allows it); the person's
`config.toml` gives the client id (and secret, for a confidential client), and may
define any other provider by its endpoints:

    [oauth.github]
    client_id = "Iv1.0123456789abcdef"
    client_secret = "…"                      # optional: PKCE works for public clients

    [oauth.intranet]                          # a provider without a preset
    authorize_url = "https://sso.example/authorize"
    token_url = "https://sso.example/token"
    revoke_url = "https://sso.example/revoke"
    userinfo_url = "https://sso.example/userinfo"
    scopes = ["read"]
    client_id = "valet"

Failures (refused consent, a wrong state, a rejected code or verifier, an unreachable server)
raise `OAuthError` with what happened and what to do.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import time
from collections.abc import Awaitable, Mapping
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, cast
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from valet.connectors._errors import ConnectorError
from valet.errors import ConfigError
from valet.vault import Token

REFRESH_LEEWAY = 60.0
"""Seconds before expiry at which an access token is refreshed before use."""


def _http_errors() -> tuple[type[Exception], ...]:
    """Transport errors of httpx and of httpx2 (which authlib's client uses when installed)."""
    errors: list[type[Exception]] = [httpx.HTTPError]
    with suppress(ImportError):
        errors.append(cast(type[Exception], importlib.import_module("httpx2").HTTPError))
    return tuple(errors)


HTTP_ERRORS = _http_errors()


class OAuthError(ConnectorError):
    """Signing in, refreshing or revoking failed (the message says why and what to do)."""


class NoRevocationEndpoint(OAuthError):
    """The provider offers no way to revoke a token by API: the person revokes valet's access on
    the provider's site, then removes the account locally (a different answer than a provider
    that failed)."""


class _Client(Protocol):
    """The part of authlib's `AsyncOAuth2Client` valet uses."""

    def create_authorization_url(
        self, url: str, state: str | None = None, code_verifier: str | None = None, **kw: str
    ) -> tuple[str, str]: ...

    async def fetch_token(self, url: str, **kw: str) -> dict[str, object]: ...

    async def refresh_token(self, url: str, refresh_token: str) -> dict[str, object]: ...

    async def revoke_token(self, url: str, token: str, token_type_hint: str) -> httpx.Response: ...

    async def aclose(self) -> None: ...


class OAuthProvider(BaseModel):
    """An OAuth2 authorization server and this valet's client registration with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    authorize_url: str
    token_url: str
    revoke_url: str | None = None
    """RFC 7009 revocation endpoint; `None` when the provider has none."""
    userinfo_url: str | None = None
    """A cheap authenticated read that names the account (`valet connectors test`); without
    one, the account is named by the OpenID `id_token` of the sign-in (scope `openid`)."""
    account_field: str = "login"
    """The userinfo field (or `id_token` claim) that names the account (`login`, `email`…)."""
    scopes: tuple[str, ...] = ()
    """Scopes asked for when the person names none (read-only where the provider allows)."""
    authorize_params: dict[str, str] = Field(default_factory=dict[str, str])
    """Extra authorization parameters (Google: `access_type=offline` for a refresh token)."""
    revoke_how: str = ""
    """Where to revoke by hand when there is no revocation endpoint."""
    client_id: str = ""
    client_secret: SecretStr | None = None

    def client(self, **kwargs: Any) -> _Client:
        """An authlib client for this provider (public client when there is no secret)."""
        from authlib.integrations.httpx_client import AsyncOAuth2Client  # slow to load: on use

        secret = None if self.client_secret is None else self.client_secret.get_secret_value()
        auth = "none" if secret is None else "client_secret_post"
        client = AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=secret,
            token_endpoint_auth_method=auth,
            revocation_endpoint_auth_method=auth,
            code_challenge_method="S256",
            timeout=30.0,
            **kwargs,
        )
        return cast(_Client, client)


PRESETS: dict[str, OAuthProvider] = {
    "google": OAuthProvider(
        name="google",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        revoke_url="https://oauth2.googleapis.com/revoke",
        userinfo_url="https://openidconnect.googleapis.com/v1/userinfo",
        account_field="email",
        scopes=(
            "openid",
            "email",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/calendar.readonly",
        ),
        authorize_params={"access_type": "offline", "prompt": "consent"},
    ),
    "microsoft": OAuthProvider(
        name="microsoft",
        authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
        userinfo_url="https://graph.microsoft.com/v1.0/me",
        account_field="userPrincipalName",
        scopes=("offline_access", "User.Read", "Mail.Read", "Calendars.Read"),
        revoke_how="https://myapps.microsoft.com (Manage your applications)",
    ),
    # Outlook's IMAP and SMTP take tokens for outlook.office.com only, which Microsoft Graph
    # (the `microsoft` preset's userinfo) refuses: the account is named by the id_token.
    "outlook": OAuthProvider(
        name="outlook",
        authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",
        account_field="preferred_username",
        scopes=(
            "openid",
            "email",
            "offline_access",
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "https://outlook.office.com/SMTP.Send",
        ),
        revoke_how="https://myapps.microsoft.com (Manage your applications)",
    ),
    "github": OAuthProvider(
        name="github",
        authorize_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        userinfo_url="https://api.github.com/user",
        account_field="login",
        scopes=("read:user",),
        revoke_how="https://github.com/settings/applications",
    ),
}
"""Endpoints and default scopes of the providers valet knows; client ids come from config."""


def oauth_provider(name: str, config: Mapping[str, Any]) -> OAuthProvider:
    """Provider `name`: its preset (if any) with `[oauth.NAME]` of `config.toml` over it."""
    tables: object = config.get("oauth", {})
    if not isinstance(tables, dict):
        raise ConfigError("config.toml: [oauth] must be a table of [oauth.NAME] tables")
    entry: object = cast(dict[str, object], tables).get(name, {})
    if not isinstance(entry, dict):
        raise ConfigError(f"config.toml: [oauth.{name}] must be a table")
    given = cast(dict[str, object], entry)
    preset = PRESETS.get(name)
    if preset is None and "authorize_url" not in given:
        known = ", ".join(PRESETS)
        raise ConfigError(
            f"no OAuth provider {name!r}: valet knows {known}; for another, give authorize_url "
            f"and token_url in [oauth.{name}] of config.toml"
        )
    base = {} if preset is None else preset.model_dump(exclude_none=True)
    try:
        provider = OAuthProvider.model_validate(base | {"name": name} | given)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config.toml: [oauth.{name}] {where}: {first['msg']}") from exc
    if not provider.client_id:
        raise ConfigError(
            f"no client id for {name}: register valet as an OAuth app with {name} (redirect "
            "URI http://127.0.0.1/callback, any port; to connect from the web app, also "
            f"valet's address + /sources/oauth/callback) and put client_id in [oauth.{name}] "
            "of config.toml"
        )
    return provider


@dataclass(frozen=True)
class AuthorizationRequest:
    """One sign-in in progress: the URL the person opens, and what checks the answer."""

    url: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]


def authorization_request(
    provider: OAuthProvider, redirect_uri: str, scopes: tuple[str, ...] = ()
) -> AuthorizationRequest:
    """The authorization URL with a PKCE S256 challenge and a random state."""
    from authlib.common.security import generate_token  # pyright: ignore[reportUnknownVariableType]

    wanted = scopes or provider.scopes
    verifier: str = generate_token(64)
    client = provider.client(redirect_uri=redirect_uri, scope=" ".join(wanted) or None)
    url, state = client.create_authorization_url(
        provider.authorize_url, code_verifier=verifier, **provider.authorize_params
    )
    return AuthorizationRequest(url, state, verifier, redirect_uri, wanted)


async def exchange_code(
    provider: OAuthProvider,
    request: AuthorizationRequest,
    callback: Mapping[str, str],
    *,
    name: str,
) -> Token:
    """Check the redirect's parameters against `request` and trade the code for tokens."""
    if "error" in callback:
        why = callback.get("error_description") or callback["error"]
        raise OAuthError(f"{provider.name} did not grant access: {why}")
    if callback.get("state") != request.state:
        raise OAuthError(
            "the sign-in answer does not match this sign-in (wrong state): start again"
        )
    code = callback.get("code")
    if not code:
        raise OAuthError(f"{provider.name} sent no authorization code")
    async with aclosing(provider.client(redirect_uri=request.redirect_uri)) as client:
        raw = await _token_call(
            provider,
            "sign in",
            client.fetch_token(
                provider.token_url,
                code=code,
                code_verifier=request.code_verifier,
                redirect_uri=request.redirect_uri,
            ),
        )
    token = token_of(name, raw, request.scopes)
    return token.model_copy(update={"subject": _id_token_subject(raw, provider.account_field)})


async def refresh(provider: OAuthProvider, token: Token) -> Token:
    """New tokens for `token` from its refresh token (which is kept when none comes back)."""
    if token.refresh_token is None:
        raise OAuthError(
            f"the {token.name} access token expired and {provider.name} gave no refresh "
            f"token: sign in again (valet connectors add {token.name} --oauth --replace)"
        )
    async with aclosing(provider.client()) as client:
        raw = await _token_call(
            provider,
            "refresh",
            client.refresh_token(
                provider.token_url, refresh_token=token.refresh_token.get_secret_value()
            ),
        )
    fresh = token_of(token.name, raw, token.scopes).model_copy(update={"subject": token.subject})
    if fresh.refresh_token is None:
        fresh = fresh.model_copy(update={"refresh_token": token.refresh_token})
    return fresh


async def revoke(provider: OAuthProvider, token: Token) -> None:
    """Revoke `token` at the provider (RFC 7009): the refresh token, then the access token."""
    if provider.revoke_url is None:
        raise NoRevocationEndpoint(
            f"{provider.name} has no revocation endpoint: revoke valet's access at "
            f"{provider.revoke_how or 'the provider'}, then remove the account with --local-only"
        )
    pairs = [(token.access_token, "access_token")]
    if token.refresh_token is not None:
        pairs.insert(0, (token.refresh_token, "refresh_token"))
    async with aclosing(provider.client()) as client:
        for secret, hint in pairs:
            try:
                answer = await client.revoke_token(
                    provider.revoke_url, token=secret.get_secret_value(), token_type_hint=hint
                )
            except HTTP_ERRORS as exc:
                raise OAuthError(f"cannot reach {provider.name} to revoke: {exc}") from exc
            if answer.status_code != 200:
                raise OAuthError(
                    f"{provider.name} refused to revoke the {hint.replace('_', ' ')} "
                    f"(HTTP {answer.status_code}: {answer.text[:200]})"
                )


async def whoami(provider: OAuthProvider, token: Token) -> str:
    """The account's name at the provider, read from its userinfo endpoint (a cheap read);
    without one, the name the sign-in's id_token gave (empty when there was none)."""
    if provider.userinfo_url is None:
        return token.subject
    headers = {
        "Authorization": f"Bearer {token.access_token.get_secret_value()}",
        "Accept": "application/json",
    }
    try:
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await client.get(provider.userinfo_url, headers=headers)
    except HTTP_ERRORS as exc:
        raise OAuthError(f"cannot reach {provider.name}: {exc}") from exc
    if response.status_code == 401:
        raise OAuthError(f"{provider.name} no longer accepts the {token.name} token (HTTP 401)")
    if response.status_code != 200:
        raise OAuthError(f"{provider.name} answered HTTP {response.status_code} to a read")
    try:
        data: object = response.json()
    except ValueError as exc:
        raise OAuthError(f"{provider.name} answered a read with invalid JSON") from exc
    if not isinstance(data, dict):
        return ""
    return str(cast(dict[str, object], data).get(provider.account_field, ""))


def token_of(name: str, raw: Mapping[str, object], asked: tuple[str, ...]) -> Token:
    """A vault `Token` from a token endpoint's answer."""
    access = raw.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuthError("the token endpoint answered without an access token")
    refresh_token = raw.get("refresh_token")
    expires_at = raw.get("expires_at")
    expires_in = raw.get("expires_in")
    if not isinstance(expires_at, int | float) and isinstance(expires_in, int | float):
        expires_at = time.time() + expires_in
    scope = raw.get("scope")
    scopes = tuple(str(scope).replace(",", " ").split()) if scope else asked
    return Token(
        name=name,
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh_token) if isinstance(refresh_token, str) else None,
        token_type=str(raw.get("token_type") or "Bearer"),
        expires_at=float(expires_at) if isinstance(expires_at, int | float) else None,
        scopes=scopes,
    )


def _id_token_subject(raw: Mapping[str, object], field: str) -> str:
    """Who the OpenID `id_token` of a token answer names (`field`, else the usual claims).

    Its signature is not checked: it came straight from the token endpoint over the connection
    valet opened, which OpenID Connect accepts in place of the signature (Core 1.0, 3.1.3.7);
    it only names the account for the person, it grants nothing."""
    id_token = raw.get("id_token")
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return ""
    payload = id_token.split(".")[1]
    try:
        claims: object = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(claims, dict):
        return ""
    found = cast(dict[str, object], claims)
    for claim in (field, "preferred_username", "email", "sub"):
        if isinstance(value := found.get(claim), str) and value:
            return value
    return ""


async def _token_call(
    provider: OAuthProvider, what: str, call: Awaitable[dict[str, object]]
) -> Mapping[str, object]:
    from authlib.common.errors import AuthlibBaseError

    try:
        raw = await call
    except AuthlibBaseError as exc:
        error = str(exc.error or "refused")
        why = f": {exc.description}" if exc.description else ""
        raise OAuthError(f"{provider.name} refused to {what}: {error}{why}") from exc
    except HTTP_ERRORS as exc:
        raise OAuthError(f"cannot reach {provider.name} to {what}: {exc}") from exc
    except ValueError as exc:  # not JSON
        raise OAuthError(f"{provider.name} answered the {what} with invalid JSON") from exc
    return raw


_DONE = b"""<!doctype html><meta charset="utf-8"><title>valet</title>
<p>%s</p><p>You can close this tab and go back to valet.</p>"""


class LoopbackRedirect:
    """A one-shot HTTP listener on 127.0.0.1 for the authorization redirect (RFC 8252)."""

    def __init__(self, port: int = 0, path: str = "/callback", within: float = 300.0) -> None:
        self.port = port
        self.path = path
        self.within = within
        """Seconds `wait` waits for the person to sign in."""
        self._answer: asyncio.Future[dict[str, str]] | None = None
        self._server: asyncio.Server | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> Self:
        self._answer = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        except OSError as exc:
            raise OAuthError(
                f"cannot listen on 127.0.0.1:{self.port} for the sign-in: {exc}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            with suppress(Exception):
                await self._server.wait_closed()

    async def wait(self) -> dict[str, str]:
        """The redirect's query parameters; `OAuthError` when none came in time."""
        assert self._answer is not None, "use LoopbackRedirect as an async context manager"
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), self.within)
        except TimeoutError as exc:
            raise OAuthError(f"no sign-in answer within {self.within:.0f} s: start again") from exc

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            target = urlsplit(parts[1]) if len(parts) >= 2 else None
            answer = self._answer
            if (
                target is None
                or target.path != self.path
                or answer is None
                or answer.done()
                or not target.query
            ):
                writer.write(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            else:
                params = dict(parse_qsl(target.query))
                answer.set_result(params)
                said = b"valet has the answer." if "code" in params else b"Access not granted."
                body = _DONE % said
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                )
                writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()
