"""valet's own tables (tasks, the person's messages and requests to the person), on SQLite by
default or on Postgres.

`database_url(home)` picks `VALET_DATABASE_URL` when set, else `sqlite:///<home>/valet.db`;
`TaskStore` keeps what the server must still know after a restart.
"""

from valet.store._tasks import StoredMessage, StoredRequest, StoredTask, TaskStore, database_url

__all__ = ["StoredMessage", "StoredRequest", "StoredTask", "TaskStore", "database_url"]
