"""Single sign-on with OpenID Connect (multi-person mode, `[people.oidc]`).

The authorization code flow with PKCE (S256), a `state` and a `nonce` kept in the database
(any server sharing it can finish a sign-on another began; each works once, within ten
minutes). The provider is found by discovery (`<issuer>/.well-known/openid-configuration`);
its id_token is verified against the keys it publishes (`jwks_uri`): signature, issuer,
audience, expiry and the nonce. Who may sign in: an account already linked to the provider's
subject, an account whose address the provider verified (linked from then on), or, with
`join`, anyone the provider vouches for, as a member of that organization.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any, cast
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from valet.errors import StoreUnavailable
from valet.server._security import Guard, gate_page
from valet.server._settings import OidcSettings
from valet.server._signin import next_path, signed_in
from valet.store import People, PeopleError

log = logging.getLogger("valet.server")

web = APIRouter(include_in_schema=False)

START_PATH = "/signin/sso"
CALLBACK_PATH = "/signin/sso/callback"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA"]
"""Asymmetric only: a public client cannot check an HMAC-signed token."""
LEEWAY_S = 60


class SsoFailed(Exception):
    """The sign-on did not prove who the person is (the message says why, for them)."""


@dataclass
class Provider:
    """The identity provider as discovery describes it; its keys, fetched when needed."""

    settings: OidcSettings
    _metadata: dict[str, Any] | None = None
    _keys: KeySet | None = None
    _keys_at: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            issuer = self.settings.issuer.rstrip("/")
            found = await _get_json(issuer + "/.well-known/openid-configuration")
            if str(found.get("issuer", "")).rstrip("/") != issuer:
                raise SsoFailed(f"the provider at {issuer} names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise SsoFailed(f"the provider's discovery document has no {key}")
            self._metadata = found
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        async with self._lock:
            stale = time.monotonic() - self._keys_at > 3600
            if self._keys is None or stale or (refresh and time.monotonic() - self._keys_at > 10):
                document = await _get_json(str((await self.metadata())["jwks_uri"]))
                try:
                    self._keys = KeySet.import_key_set(cast(Any, document))
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise SsoFailed(f"the provider's keys cannot be read: {exc}") from exc
                self._keys_at = time.monotonic()
            return self._keys

    async def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The id_token's claims once its signature, issuer, audience, times and nonce hold."""
        try:
            token = jwt.decode(id_token, await self.keys(), algorithms=ALGORITHMS)
        except JoseError:  # a key rotated since: fetch the keys once more
            try:
                token = jwt.decode(id_token, await self.keys(True), algorithms=ALGORITHMS)
            except JoseError as exc:
                raise SsoFailed(f"the provider's id_token is not valid: {exc}") from exc
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": self.settings.issuer.rstrip("/")},
            sub={"essential": True},
            exp={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        if str(claims.get("iss", "")).rstrip("/") == self.settings.issuer.rstrip("/"):
            claims["iss"] = self.settings.issuer.rstrip("/")  # a trailing slash is the same
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SsoFailed(f"the provider's id_token does not hold: {exc}") from exc
        audience: object = claims.get("aud")
        audiences = (
            [str(a) for a in cast(list[object], audience)]
            if isinstance(audience, list)
            else [str(audience)]
        )
        if self.settings.client_id not in audiences:
            raise SsoFailed("the provider's id_token is for another application")
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise SsoFailed("the provider's id_token was issued to another application")
        return claims


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client:
            answer = await client.get(url, headers={"Accept": "application/json"})
        answer.raise_for_status()
        found = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(f"the identity provider cannot be reached ({url}): {exc}") from exc
    if not isinstance(found, dict):
        raise SsoFailed(f"the identity provider answered something else than JSON at {url}")
    return cast(dict[str, Any], found)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _provider(request: Request) -> Provider:
    provider: Provider = request.app.state.sso
    return provider


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


def _refused(problem: str, code: int) -> Response:
    body = (
        f'<p class="form-error" role="alert">{escape(problem)}</p>'
        '<p><a href="/signin">Back to sign-in</a></p>'
    )
    return gate_page(("Single sign-on did not work", body), code)


@web.get(START_PATH)
async def start(request: Request) -> Response:
    people: People = request.app.state.guard.people
    provider = _provider(request)
    try:
        metadata = await provider.metadata()
    except SsoFailed as exc:
        log.warning("single sign-on: %s", exc)
        return _refused(str(exc), 502)
    state, pending = await asyncio.to_thread(
        people.begin_sso, next_path(request.query_params.get("next"))
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": provider.settings.client_id,
            "redirect_uri": _redirect_uri(request),
            "scope": provider.settings.scopes,
            "state": state,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
    )
    return RedirectResponse(f"{metadata['authorization_endpoint']}?{query}", status_code=303)


@web.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    guard: Guard = request.app.state.guard
    people = guard.people
    assert people is not None
    provider = _provider(request)
    params = request.query_params
    pending = await asyncio.to_thread(people.take_sso, params.get("state", ""))
    if pending is None:
        return _refused("This sign-on expired or was used already: start again.", 400)
    if error := params.get("error"):
        said = params.get("error_description") or error
        return _refused(f"The identity provider refused the sign-on: {said}", 403)
    try:
        id_token = await _exchange(request, provider, params.get("code", ""), pending.verifier)
        claims = await provider.verify(id_token, pending.nonce)
        person = await asyncio.to_thread(
            people.sso_person,
            str(claims["iss"]),
            str(claims["sub"]),
            cast(str | None, claims.get("email")),
            claims.get("email_verified") is True,
            str(claims.get("name") or ""),
            provider.settings.join,
        )
    except (SsoFailed, PeopleError) as exc:
        log.warning("single sign-on refused: %s", exc)
        return _refused(str(exc), 403)
    except StoreUnavailable as exc:
        return _refused(str(exc), 503)
    if person.disabled:
        return _refused("This account is disabled: ask an admin.", 403)
    # The provider's redirect is a cross-site navigation: a SameSite=Strict cookie set now is
    # sent from the next same-site navigation on, so this page makes one.
    target = escape(pending.next)
    page = HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signed in · valet</title>'
        f'</head><body><p>Signed in. <a href="{target}">Continue</a></p></body></html>'
    )
    return await signed_in(request, person.id, page)


async def _exchange(request: Request, provider: Provider, code: str, verifier: str) -> str:
    """The authorization code for the provider's id_token."""
    metadata = await provider.metadata()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(request),
        "client_id": provider.settings.client_id,
        "code_verifier": verifier,
    }
    if provider.settings.client_secret is not None:
        form["client_secret"] = provider.settings.client_secret.get_secret_value()
    try:
        async with httpx.AsyncClient(timeout=15) as client:
            answer = await client.post(
                str(metadata["token_endpoint"]), data=form, headers={"Accept": "application/json"}
            )
        found = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoFailed(f"the identity provider's token endpoint failed: {exc}") from exc
    if answer.status_code != 200 or not isinstance(found, dict):
        raise SsoFailed(f"the identity provider refused the code: {answer.text[:200]}")
    id_token = cast(dict[str, Any], found).get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed("the identity provider sent no id_token (is `openid` a scope?)")
    return id_token
