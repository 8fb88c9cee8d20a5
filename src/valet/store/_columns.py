"""Tables as the code describes them, on a database made by an older valet.

`create_all` makes missing tables but leaves an existing table as it was. A column a newer
valet added (always nullable or with a server default, so existing rows stay valid) is added
here with `ALTER TABLE … ADD COLUMN`, which SQLite and Postgres both do in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn


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
