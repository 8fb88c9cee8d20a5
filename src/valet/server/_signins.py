"""OAuth sign-ins started in the web app, waiting for the provider to send the person back.

The CLI receives the provider's redirect on a one-shot loopback listener; the server receives
it itself, on `CALLBACK_PATH`. Between the two halves the server keeps what checks the answer
(the state and the PKCE verifier) for a few minutes and once: a state is taken when its answer
arrives.

A pending state also lets the redirect itself in. The provider sends the person's browser back
with a cross-site navigation, which carries no `SameSite=Strict` cookie; so the security
middleware accepts a GET of `CALLBACK_PATH` whose `state` is pending here in place of the
token. The state is random, unguessable, bound to a sign-in the person started with the token,
and good for that one sign-in only. Sign-ins are kept in the valet database
(`SignInStore`), so the redirect may come back to any web server sharing it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from valet.connectors import AuthorizationRequest, OAuthProvider, authorization_request
from valet.store import SignInStore

log = logging.getLogger("valet.server")

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
    owner: str | None = None
    """The person who started it (their space gets the account); None: the installation."""


class SignIns:
    """The sign-ins the web servers of this database are waiting for, by their OAuth state."""

    def __init__(self, url: str, within: float = PENDING_SECONDS) -> None:
        self.within = within
        self._store = SignInStore(url, timedelta(seconds=within), MAX_PENDING)

    def begin(
        self,
        name: str,
        *,
        connector: str,
        provider: OAuthProvider,
        redirect_uri: str,
        scopes: tuple[str, ...] = (),
        replace: bool = False,
        owner: str | None = None,
    ) -> PendingSignIn:
        """A new sign-in: its authorization URL (PKCE S256 and state) is `.start.url`."""
        start = authorization_request(provider, redirect_uri, scopes)
        pending = PendingSignIn(name, connector, provider, start, replace, owner)
        record = {
            "name": name,
            "connector": connector,
            "provider": provider.model_dump(mode="json"),
            "start": asdict(start),
            "replace": replace,
            "owner": owner,
        }
        self._store.put(start.state, record)
        return pending

    def expects(self, state: str | None) -> bool:
        """Whether `state` belongs to a sign-in still waiting (False when the database cannot
        tell: the redirect then needs the token, which it lacks)."""
        try:
            return bool(state) and self._store.has(str(state))
        except SQLAlchemyError as exc:
            log.warning("cannot read the pending sign-ins: %s", exc)
            return False

    def take(self, state: str | None) -> PendingSignIn | None:
        """The sign-in `state` belongs to, which stops waiting (an answer is used once)."""
        record = None if not state else self._store.take(state)
        if record is None:
            return None
        start = dict(record["start"])
        start["scopes"] = tuple(start["scopes"])
        return PendingSignIn(
            name=record["name"],
            connector=record["connector"],
            provider=OAuthProvider.model_validate(record["provider"]),
            start=AuthorizationRequest(**start),
            replace=bool(record["replace"]),
            owner=record.get("owner"),
        )

    def close(self) -> None:
        self._store.close()
