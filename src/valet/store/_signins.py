"""OAuth sign-ins started in the web app and not yet answered by the provider, in the valet
database, so that the provider's redirect may come back to any web server sharing it.

A row holds what checks the answer (the PKCE verifier among it) for at most a few minutes, and
is deleted when its answer arrives (`take`, once) or when it expires. Its key is the SHA-256 of
the OAuth state, so the state itself (which lets the redirect in) is not stored.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from valet._home import private_file
from valet.store._lock import engine_url, sqlite_file

_meta = sa.MetaData()
pending_signins = sa.Table(
    "valet_signins",
    _meta,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SignInStore:
    """Pending sign-ins by state; each lives `within` from its start."""

    def __init__(self, url: str, within: timedelta, keep: int) -> None:
        self.url = url
        self._engine: sa.Engine | None = None
        self.within = within
        self.keep = keep
        """At most this many wait at once: the oldest go first (a page reloaded many times)."""

    @property
    def engine(self) -> sa.Engine:
        """Opened at first use (after the server's start checked the database files)."""
        if self._engine is None:
            if file := sqlite_file(self.url):
                private_file(file)
            engine = sa.create_engine(engine_url(self.url))
            _meta.create_all(engine)
            self._engine = engine
        return self._engine

    def put(self, state: str, record: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        with self.engine.begin() as db:
            db.execute(
                pending_signins.delete().where(pending_signins.c.started_at < now - self.within)
            )
            kept = (
                sa.select(pending_signins.c.digest)
                .order_by(pending_signins.c.started_at.desc())
                .limit(self.keep - 1)
            )
            db.execute(pending_signins.delete().where(pending_signins.c.digest.not_in(kept)))
            db.execute(
                pending_signins.insert().values(
                    digest=_digest(state), record=json.dumps(record), started_at=now
                )
            )

    def has(self, state: str) -> bool:
        query = sa.select(pending_signins.c.digest).where(
            pending_signins.c.digest == _digest(state),
            pending_signins.c.started_at >= datetime.now(UTC) - self.within,
        )
        with self.engine.connect() as db:
            return db.execute(query).first() is not None

    def take(self, state: str) -> dict[str, Any] | None:
        """The sign-in's record, deleted (an answer is used once); None when unknown or old."""
        key = pending_signins.c.digest == _digest(state)
        with self.engine.begin() as db:
            row = db.execute(
                sa.select(pending_signins.c.record, pending_signins.c.started_at).where(key)
            ).first()
            if row is None or db.execute(pending_signins.delete().where(key)).rowcount != 1:
                return None
        started = row.started_at if row.started_at.tzinfo else row.started_at.replace(tzinfo=UTC)
        if started < datetime.now(UTC) - self.within:
            return None
        record: dict[str, Any] = json.loads(row.record)
        return record

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
