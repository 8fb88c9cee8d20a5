"""valet's own tables (tasks, the person's messages), on SQLite by default or on Postgres.

`database_url(home)` picks `VALET_DATABASE_URL` when set, else `sqlite:///<home>/valet.db`;
`TaskStore` keeps what the server must still know after a restart.
"""

from valet.store._tasks import StoredMessage, StoredTask, TaskStore, database_url

__all__ = ["StoredMessage", "StoredTask", "TaskStore", "database_url"]
