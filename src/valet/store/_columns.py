"""Tables as the code describes them, on a database made by an older valet.

`create_all` makes missing tables but leaves an existing table as it was. A column a newer
valet added (always nullable or with a server default, so existing rows stay valid) is added
here with `ALTER TABLE … ADD COLUMN`, which SQLite and Postgres both do in place.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from valet.errors import StoreUnavailable
from valet.store._lock import engine_url, reason_of, shown_url


def create_tables(engine: sa.Engine, meta: sa.MetaData) -> None:
    """Create `meta`'s missing tables and add the columns an existing table lacks."""
    meta.create_all(engine)
    with engine.begin() as db:
        found = sa.inspect(db)
        for table in meta.sorted_tables:
            have = {c["name"] for c in found.get_columns(table.name)}
            for column in table.columns:
                if column.name in have:
                    continue
                if not column.nullable and column.server_default is None:
                    raise RuntimeError(  # a coding mistake, not a user's: say which
                        f"{table.name}.{column.name} cannot be added to existing rows: "
                        "make it nullable or give it a server default"
                    )
                spec = CreateColumn(column).compile(dialect=db.dialect)
                db.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN {spec}'))


class Tables:
    """Some of valet's tables in the database at `url`, created (or given their new columns)
    on first use, so making the store touches no file. A write that fails raises
    `StoreUnavailable` naming what could not be saved."""

    meta: ClassVar[sa.MetaData]
    passes: ClassVar[tuple[type[Exception], ...]] = ()
    """Errors a write lets through as they are (the store's own refusals)."""

    def __init__(self, url: str, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self._clock = clock or (lambda: datetime.now(UTC))
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            engine = sa.create_engine(engine_url(self.url))
            create_tables(engine, self.meta)
            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def _writing(self, what: str) -> Generator[sa.Connection]:
        try:
            with self.engine.begin() as db:
                yield db
        except self.passes:
            raise
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"could not save {what} in {shown_url(self.url)}: {reason_of(exc)}"
            ) from exc
