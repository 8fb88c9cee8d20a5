"""OAuth sign-ins started in the web app, waiting for the provider to send the person back.

The CLI receives the provider's redirect on a one-shot loopback listener; the server receives
it itself, on `CALLBACK_PATH`. Between the two halves the server keeps what checks the answer
(the state and the PKCE verifier) in memory, on this object (one per app, never module state),
for a few minutes and once: a state is taken when its answer arrives.

A pending state also lets the redirect itself in. The provider sends the person's browser back
with a cross-site navigation, which carries no `SameSite=Strict` cookie; so the security
middleware accepts a GET of `CALLBACK_PATH` whose `state` is pending here in place of the
token. The state is random, unguessable, bound to a sign-in the person started with the token,
and good for that one sign-in only. Sign-ins live in one process: with several web servers
behind a balancer, the redirect must come back to the one that started it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from valet.connectors import AuthorizationRequest, OAuthProvider, authorization_request

CALLBACK_PATH = "/sources/oauth/callback"
PENDING_SECONDS = 600.0
"""How long the person has to sign in at the provider."""
MAX_PENDING = 16
"""Sign-ins waiting at once; the oldest is dropped beyond this (a page reloaded many times)."""


@dataclass(frozen=True)
class PendingSignIn:
    """One sign-in between its start and the provider's answer."""

    name: str
    """The account it creates."""
    connector: str
    provider: OAuthProvider
    start: AuthorizationRequest = field(repr=False)
    replace: bool
    started: float
    """`time.monotonic()` when it started."""


@dataclass
class SignIns:
    """The sign-ins this server is waiting for, by their OAuth state."""

    within: float = PENDING_SECONDS
    _pending: dict[str, PendingSignIn] = field(default_factory=dict[str, PendingSignIn])

    def begin(
        self,
        name: str,
        *,
        connector: str,
        provider: OAuthProvider,
        redirect_uri: str,
        scopes: tuple[str, ...] = (),
        replace: bool = False,
    ) -> PendingSignIn:
        """A new sign-in: its authorization URL (PKCE S256 and state) is `.start.url`."""
        self._expire()
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        start = authorization_request(provider, redirect_uri, scopes)
        pending = PendingSignIn(name, connector, provider, start, replace, time.monotonic())
        self._pending[start.state] = pending
        return pending

    def expects(self, state: str | None) -> bool:
        """Whether `state` belongs to a sign-in still waiting (compared in constant time)."""
        if not state:
            return False
        self._expire()
        given = state.encode()
        return any(secrets.compare_digest(given, known.encode()) for known in self._pending)

    def take(self, state: str | None) -> PendingSignIn | None:
        """The sign-in `state` belongs to, which stops waiting (an answer is used once)."""
        if not self.expects(state):
            return None
        assert state is not None
        return self._pending.pop(state, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for state in [s for s, p in self._pending.items() if now - p.started > self.within]:
            del self._pending[state]
