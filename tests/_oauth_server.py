"""A real OAuth2 authorization server for the tests, built from authlib's server components
(RFC 6749 authorization code and refresh token grants, RFC 7636 PKCE, RFC 7009 revocation,
RFC 6750 bearer tokens, and OpenID Connect's id_token when `openid` is asked) in a small Flask
app, served by Werkzeug on 127.0.0.1.

    with OAuthServer.start() as server:
        server.url("/authorize")        # auto-consents for the user "octocat"

It is also an OpenID Connect provider for valet's single sign-on: discovery at
`/.well-known/openid-configuration` (its issuer is its base URL), id_tokens signed RS256 with a
key published at `/jwks`, the sign-in's nonce echoed, and `state.user` the person who signs in.

Only a loopback redirect URI (`http://127.0.0.1:<any port>/callback`, RFC 8252, or the valet
server's `/sources/oauth/callback` and `/signin/sso/callback`) is accepted.
The server keeps everything in memory and tells what it holds (`live_tokens`, `refreshes`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

CLIENT_ID = "valet-test"
USER = "octocat"
EMAIL = "octocat@example.test"
SCOPES = ("read", "write", "openid", "email", "profile")
REDIRECT_PATHS = ("/callback", "/sources/oauth/callback", "/signin/sso/callback")
"""The CLI's loopback listener and the valet server's own callback route."""


@dataclass
class Client(ClientMixin):
    client_id: str = CLIENT_ID

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return "http://127.0.0.1/callback"

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        return (
            parts.scheme == "http"
            and parts.hostname == "127.0.0.1"
            and parts.path in REDIRECT_PATHS
        )

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # a public client: PKCE instead of a secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None = None
    user: dict[str, Any] = field(default_factory=dict[str, Any])
    """Who signed in (the provider's `state.user` then)."""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return None

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "test-1", "use": "sig"})
"""The provider's id_token key (RS256); its public half is at `/jwks`."""


class IdTokens(OpenIDCode):
    """OpenID Connect: an id_token (RS256) naming `state.user`, with the sign-in's nonce."""

    def __init__(self, state: State) -> None:
        super().__init__(require_nonce=False)
        self.state = state

    def resolve_client_private_key(self, client: Any) -> RSAKey:
        return SIGNING_KEY

    def get_client_algorithm(self, client: Any) -> str:
        return "RS256"

    def get_client_claims(self, client: Any) -> dict[str, Any]:
        return {"iss": self.state.issuer, "aud": [CLIENT_ID]}

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return any(c.nonce == nonce for c in self.state.codes.values())

    def generate_user_info(self, user: Any, scope: str) -> UserInfo:
        return UserInfo(**(user if isinstance(user, dict) else self.state.user))


@dataclass
class Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    scope: str
    expires_in: int
    issued_at: float = field(default_factory=time.time)
    revoked: bool = False

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == CLIENT_ID

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return USER

    def get_client(self) -> ClientMixin:
        return Client()


@dataclass
class State:
    codes: dict[str, Code] = field(default_factory=dict[str, Code])
    tokens: list[Token] = field(default_factory=list[Token])
    expires_in: int = 3600
    """Lifetime of the access tokens issued from now on."""
    refreshes: int = 0
    consent: bool = True
    """Whether the person says yes on the consent page."""
    issuer: str = ""
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-1",
            "preferred_username": EMAIL,
            "email": EMAIL,
            "email_verified": True,
            "name": "The Octocat",
        }
    )
    """Who signs in next (the id_token's claims)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, value: str, hint: str | None = None) -> Token | None:
        for token in self.tokens:
            if hint != "refresh_token" and token.access_token == value:
                return token
            if hint != "access_token" and token.refresh_token == value:
                return token
        return None

    def live_tokens(self) -> set[str]:
        """Every access and refresh token the server still honours."""
        with self.lock:
            live = [t for t in self.tokens if not t.revoked]
        return {v for t in live for v in (t.access_token, t.refresh_token) if v}


def build(state: State) -> Flask:
    app = Flask("oauth-test-server")

    def query_client(client_id: str) -> Client | None:
        return Client() if client_id == CLIENT_ID else None

    def save_token(token: dict[str, Any], request: Any) -> None:
        with state.lock:
            state.tokens.append(
                Token(
                    token["access_token"],
                    token.get("refresh_token"),
                    token.get("scope", ""),
                    int(token["expires_in"]),
                )
            )

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)

    def expires_in(client: Any, grant_type: str) -> int:
        return state.expires_in

    server.register_token_generator(
        "default",
        BearerTokenGenerator(
            access_token_generator=lambda *a, **k: generate_token(42),
            refresh_token_generator=lambda *a, **k: generate_token(48),
            expires_generator=expires_in,
        ),
    )

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            state.codes[code] = Code(
                code,
                request.client.get_client_id(),
                request.payload.redirect_uri,
                request.payload.scope or "",
                data.get("code_challenge", ""),
                data.get("code_challenge_method", ""),
                data.get("nonce"),
                dict(state.user),
            )

        def query_authorization_code(self, code: str, client: Any) -> Code | None:
            return state.codes.get(code)

        def delete_authorization_code(self, authorization_code: Code) -> None:
            state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> Any:
            return authorization_code.user or USER

    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token works once

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            token = state.find(refresh_token, "refresh_token")
            return None if token is None or token.revoked else token

        def authenticate_user(self, refresh_token: Token) -> str:
            return USER

        def revoke_old_credential(self, refresh_token: Token) -> None:
            refresh_token.revoked = True
            state.refreshes += 1

    class Revocation(RevocationEndpoint):
        CLIENT_AUTH_METHODS = ["none"]  # noqa: RUF012

        def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
            return state.find(token_string, token_type_hint)

        def revoke_token(self, token: Token, request: Any) -> None:
            token.revoked = True

    class Validator(BearerTokenValidator):
        def authenticate_token(self, token_string: str) -> Token | None:
            return state.find(token_string, "access_token")

    server.register_grant(CodeGrant, [CodeChallenge(required=True), IdTokens(state)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Revocation)
    protect = ResourceProtector()
    protect.register_token_validator(Validator())

    @app.get("/authorize")
    def authorize() -> Any:  # the person answers at once: yes, unless `state.consent` is off
        try:
            grant = server.get_consent_grant(end_user=USER)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        user = USER if state.consent else None
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.post("/revoke")
    def revoke() -> Any:
        return server.create_endpoint_response("revocation")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        base = state.issuer
        return jsonify(
            issuer=base,
            authorization_endpoint=base + "/authorize",
            token_endpoint=base + "/token",
            jwks_uri=base + "/jwks",
            userinfo_endpoint=base + "/userinfo",
            response_types_supported=["code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            code_challenge_methods_supported=["S256"],
            scopes_supported=list(SCOPES),
        )

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(KeySet([SIGNING_KEY]).as_dict(private=False))

    @app.get("/userinfo")
    @protect()
    def userinfo() -> Any:
        return jsonify(login=USER, name="The Octocat")

    return app


@dataclass
class OAuthServer:
    base: str
    state: State

    def url(self, path: str) -> str:
        return self.base + path

    def provider_config(self) -> dict[str, Any]:
        """`[oauth.local]` of config.toml for this server."""
        return {
            "authorize_url": self.url("/authorize"),
            "token_url": self.url("/token"),
            "revoke_url": self.url("/revoke"),
            "userinfo_url": self.url("/userinfo"),
            "scopes": ["read"],
            "client_id": CLIENT_ID,
        }

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[OAuthServer]:
        state = State()
        httpd = make_server("127.0.0.1", 0, build(state), threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        state.issuer = f"http://127.0.0.1:{httpd.server_port}"
        try:
            yield cls(state.issuer, state)
        finally:
            httpd.shutdown()
            thread.join(timeout=10)
