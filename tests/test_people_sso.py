"""Single sign-on with OpenID Connect, against a real provider started by the tests (authlib's
server components: discovery, RS256 id_tokens, JWKS, PKCE, nonce): `valet serve` in
multi-person mode signs a person in through it; forged, replayed, unverified or foreign
sign-ons are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from tests._oauth_server import CLIENT_ID, SIGNING_KEY, OAuthServer
from tests.test_durable import Server

from valet.server._settings import OidcSettings
from valet.server._sso import Provider, SsoFailed
from valet.store import People, PeopleError

ALICE = ("alice@example.com", "alice's long password")


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuthServer]:
    with OAuthServer.start() as server:
        yield server


@pytest.fixture
def sso_server(home: Path, tmp_path: Path, idp: OAuthServer) -> Iterator[Server]:
    (home / "config.toml").write_text(
        "[people]\nenabled = true\n\n[people.oidc]\n"
        f'issuer = "{idp.base}"\nclient_id = "{CLIENT_ID}"\nlabel = "Test IdP"\n'
    )
    people = People(f"sqlite:///{home / 'valet.db'}")
    people.add_person(*ALICE)
    people.close()
    script = tmp_path / "script.yaml"
    script.write_text("- done: {answer: ok, success: true}\n")
    server = Server(home, script)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _sign_on(client: httpx.Client, idp: OAuthServer, user: dict[str, Any]) -> httpx.Response:
    """The browser's round trip: valet → provider (consents at once) → valet's callback."""
    idp.state.user = user
    started = client.get("/signin/sso", params={"next": "/tasks"})
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    asked = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(idp.base + "/authorize?")
    assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
    assert asked["scope"] == ["openid email profile"]
    back = httpx.get(authorize, timeout=10)
    assert back.status_code == 302, back.text
    return client.get(back.headers["location"])


def _user(email: str, sub: str = "u-1", verified: bool = True) -> dict[str, Any]:
    return {"sub": sub, "email": email, "email_verified": verified, "name": "Someone"}


def test_a_person_signs_on_through_the_provider(sso_server: Server, idp: OAuthServer) -> None:
    base = f"http://127.0.0.1:{sso_server.port}"
    with httpx.Client(base_url=base, timeout=15) as browser:
        page = browser.get("/signin").text
        assert 'href="/signin/sso?next=%2F">Sign in with Test IdP</a>' in page
        landed = _sign_on(browser, idp, _user(ALICE[0], sub="alice-at-idp"))
        assert landed.status_code == 200, landed.text
        assert '<meta http-equiv="refresh" content="0;url=/tasks">' in landed.text
        me = browser.get("/api/me").json()
        assert (me["email"], me["install"]) == (ALICE[0], False)
        # The sign-on's return works once.
        again = browser.get(landed.url.path + "?" + landed.url.query.decode())
        assert again.status_code == 400 and "expired or was used" in again.text

    with httpx.Client(base_url=base, timeout=15) as browser:
        # Linked now: the same subject is Alice whatever address the provider says.
        _sign_on(browser, idp, _user("alice.new@example.com", sub="alice-at-idp"))
        assert browser.get("/api/me").json()["email"] == ALICE[0]

    for user, why in (
        (_user("carol@example.com", sub="carol"), "has no account on this valet"),
        (_user(ALICE[0], sub="mallory", verified=False), "did not vouch for an e-mail"),
        (_user(ALICE[0], sub="mallory"), "linked to another identity"),
    ):
        with httpx.Client(base_url=base, timeout=15) as browser:
            refused = _sign_on(browser, idp, user)
            assert refused.status_code == 403 and why in refused.text, refused.text
            assert browser.get("/api/me").status_code == 401

    with httpx.Client(base_url=base, timeout=15) as browser:
        forged = browser.get("/signin/sso/callback", params={"state": "made-up", "code": "x"})
        assert forged.status_code == 400 and browser.get("/api/me").status_code == 401


def _token(key: RSAKey, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "u-1", "iat": now, "exp": now + 300, "nonce": "n-1", "aud": CLIENT_ID} | claims
    return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)


def test_only_the_providers_own_fresh_token_for_valet_with_the_nonce_holds(
    idp: OAuthServer,
) -> None:
    provider = Provider(OidcSettings(issuer=idp.base, client_id=CLIENT_ID))
    iss = idp.base

    async def verify(token: str, nonce: str = "n-1") -> dict[str, Any]:
        return await provider.verify(token, nonce)

    claims = asyncio.run(verify(_token(SIGNING_KEY, iss=iss)))
    assert claims["sub"] == "u-1"
    stranger = RSAKey.generate_key(2048, parameters={"kid": "test-1"})
    for token, nonce, why in (
        (_token(stranger, iss=iss), "n-1", "not valid"),  # signed by someone else
        (_token(SIGNING_KEY, iss=iss), "n-2", "nonce"),  # another sign-on's
        (_token(SIGNING_KEY, iss="https://evil.example"), "n-1", "iss"),
        (_token(SIGNING_KEY, iss=iss, aud="another-app"), "n-1", "another application"),
        (_token(SIGNING_KEY, iss=iss, exp=int(time.time()) - 3600), "n-1", "exp"),
    ):
        with pytest.raises(SsoFailed, match=why):
            asyncio.run(verify(token, nonce))


def test_join_lets_anyone_the_provider_vouches_for_in_as_a_member(tmp_path: Path) -> None:
    people = People(f"sqlite:///{tmp_path / 'valet.db'}")
    try:
        acme = people.create_org("Acme")
        with pytest.raises(PeopleError, match="no account"):
            people.sso_person("https://idp", "s-1", "dan@example.com", True)
        dan = people.sso_person("https://idp", "s-1", "dan@example.com", True, "Dan", "Acme")
        assert dan.name == "Dan"
        member = people.membership(dan.id)
        assert member is not None and (member.org.id, member.role) == (acme.id, "member")
        assert people.authenticate("dan@example.com", "") is None  # no password: SSO only
        assert people.sso_person("https://idp", "s-1", None, False) == dan  # linked
    finally:
        people.close()
