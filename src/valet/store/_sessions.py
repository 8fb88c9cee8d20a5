"""Browser sign-ins in SQL: one-time links and the sessions they are exchanged for.

A link's secret is good for one sign-in within `SessionPolicy.link_lifetime`; the browser that
opens it gets a session, a random secret of its own held in a cookie (never the install's
token), good until `session_lifetime` passes without use. Only SHA-256 digests of the secrets
are stored. Both are bound to the install token they were made under (by its digest), so a
rotated token ends every link and session at once, whoever rotated it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from valet.store._columns import Tables

_meta = sa.MetaData()

sign_in_links = sa.Table(
    "valet_sign_in_links",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("install", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
)

sessions = sa.Table(
    "valet_sessions",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(16), nullable=False, unique=True),
    sa.Column("install", sa.String(16), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("last_used_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("agent", sa.String(200), nullable=False, default=""),
    sa.Column("person", sa.String(16)),
)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sign-in links and sessions last."""

    link_lifetime: timedelta = timedelta(hours=24)
    """A link not opened within this time no longer signs anyone in."""
    session_lifetime: timedelta = timedelta(days=30)
    """A session not used for this long ends; each use extends it (sliding expiry)."""
    touch_every: timedelta = timedelta(minutes=5)
    """A session's use is written at most this often (not on every request)."""


@dataclass(frozen=True)
class Session:
    """One signed-in browser, as listed and revoked (its secret is never shown)."""

    id: str
    created_at: str
    last_used_at: str
    expires_at: str
    agent: str
    """The browser's User-Agent when it signed in (shortened)."""
    person: str | None = None
    """Who signed in with a password or single sign-on (multi-person mode); None: the
    install's own link."""


@dataclass(frozen=True)
class SignedIn:
    """A live session as a request meets it."""

    id: str
    person: str | None


def install_of(token: str) -> str:
    """The short digest of an install token that links and sessions are bound to."""
    return _digest(token)[:16]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _stamp(moment: datetime) -> str:
    return moment.isoformat()


class SessionStore(Tables):
    """Links and sessions of one install in `url` (the server's own database). Tables are
    created on first use, so opening the store touches no file. A write that fails raises
    `StoreUnavailable`."""

    meta = _meta

    def __init__(
        self,
        url: str,
        policy: SessionPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(url, clock)
        self.policy = policy or SessionPolicy()

    def new_link(self, install: str) -> str:
        """A fresh one-time sign-in secret (to put in a link as `?token=`)."""
        secret = secrets.token_urlsafe(24)
        now = self._clock()
        with self._writing("a sign-in link") as db:
            db.execute(sign_in_links.delete().where(sign_in_links.c.expires_at < _stamp(now)))
            db.execute(
                sign_in_links.insert().values(
                    digest=_digest(secret),
                    install=install,
                    created_at=_stamp(now),
                    expires_at=_stamp(now + self.policy.link_lifetime),
                )
            )
        return secret

    def redeem(self, install: str, link_secret: str, agent: str = "") -> str | None:
        """Spend a link: its session's secret (for the cookie), or None when the link is
        unknown, used, expired or from before a token rotation."""
        now = self._clock()
        with self._writing("the new session") as db:
            spent = db.execute(
                sign_in_links.delete().where(
                    sign_in_links.c.digest == _digest(link_secret),
                    sign_in_links.c.install == install,
                    sign_in_links.c.expires_at >= _stamp(now),
                )
            )
            if spent.rowcount != 1:
                return None
            return self._open(db, install, agent, None)

    def sign_in(self, install: str, person: str, agent: str = "") -> str:
        """A session for a person who proved who they are (password, single sign-on): its
        secret, for the cookie."""
        with self._writing("the new session") as db:
            return self._open(db, install, agent, person)

    def _open(self, db: sa.Connection, install: str, agent: str, person: str | None) -> str:
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        digest = _digest(secret)
        db.execute(
            sessions.insert().values(
                digest=digest,
                id=digest[:16],
                install=install,
                created_at=_stamp(now),
                last_used_at=_stamp(now),
                expires_at=_stamp(now + self.policy.session_lifetime),
                agent=agent[:200],
                person=person,
            )
        )
        return secret

    def check(self, install: str, secret: str) -> SignedIn | None:
        """The live session with this secret (its expiry pushed on), else None."""
        now = self._clock()
        digest = _digest(secret)
        with self.engine.connect() as db:
            row = (
                db.execute(
                    sa.select(sessions.c.id, sessions.c.last_used_at, sessions.c.person).where(
                        sessions.c.digest == digest,
                        sessions.c.install == install,
                        sessions.c.expires_at >= _stamp(now),
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        last = datetime.fromisoformat(str(row["last_used_at"]))
        if now - last >= self.policy.touch_every:
            with self._writing("the session's last use") as db:
                db.execute(
                    sessions.update()
                    .where(sessions.c.digest == digest)
                    .values(
                        last_used_at=_stamp(now),
                        expires_at=_stamp(now + self.policy.session_lifetime),
                    )
                )
        return SignedIn(str(row["id"]), row["person"])

    def sessions(self, install: str, person: str | None = None) -> list[Session]:
        """Live sessions of this install (of one person, if given), most recently used
        first."""
        now = _stamp(self._clock())
        query = (
            sa.select(
                sessions.c.id,
                sessions.c.created_at,
                sessions.c.last_used_at,
                sessions.c.expires_at,
                sessions.c.agent,
                sessions.c.person,
            )
            .where(
                sessions.c.install == install,
                sessions.c.expires_at >= now,
                *([] if person is None else [sessions.c.person == person]),
            )
            .order_by(sessions.c.last_used_at.desc())
        )
        with self.engine.connect() as db:
            rows = db.execute(query).mappings().all()
        return [Session(**row) for row in rows]

    def alive(self, session_id: str) -> bool:
        """Whether the session with this id is still live (not revoked, not expired)."""
        query = sa.select(sessions.c.id).where(
            sessions.c.id == session_id, sessions.c.expires_at >= _stamp(self._clock())
        )
        with self.engine.connect() as db:
            return db.execute(query).first() is not None

    def revoke(self, session_id: str) -> bool:
        """End one session; False when there is none with that id."""
        with self._writing(f"the end of session {session_id}") as db:
            gone = db.execute(sessions.delete().where(sessions.c.id == session_id))
        return gone.rowcount == 1

    def revoke_person(self, person: str) -> int:
        """End every session of one person (disabled, password changed); how many ended."""
        with self._writing("the end of their sessions") as db:
            gone = db.execute(sessions.delete().where(sessions.c.person == person))
        return gone.rowcount

    def revoke_all(self) -> int:
        """End every session and unused link (of any install); how many sessions ended."""
        with self._writing("the end of every session") as db:
            db.execute(sign_in_links.delete())
            gone = db.execute(sessions.delete())
        return gone.rowcount
