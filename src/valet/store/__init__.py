"""valet's own tables (tasks, the person's messages and requests to the person), on SQLite by
default or on Postgres, and what guards them at the server's start.

`database_url(home)` picks `VALET_DATABASE_URL` when set, else `sqlite:///<home>/valet.db`;
`TaskStore` keeps what the server must still know after a restart; `SessionStore` keeps the
one-time sign-in links and browser sessions, `SignInStore` the connector sign-ins waiting for
their provider; `ServerLock` keeps a second server off the same home on SQLite; `Liveness`
tells the processes sharing a Postgres which of them are alive, `Bus` what they did,
`JournalTable` which consequential actions a task had under way and `StateTable` where its
browser was (for whichever process resumes it);
`check_files` finds damaged SQLite files before use; `People` keeps the accounts,
organizations, roles, API tokens and invitations of multi-person mode.
"""

from valet.store._bus import Bus, BusMessage
from valet.store._checks import DATABASE_FILES, DatabaseFile, check_files
from valet.store._columns import create_tables
from valet.store._liveness import Liveness
from valet.store._lock import ServerLock, engine_url, reason_of, shown_url, sqlite_file
from valet.store._people import (
    MIN_PASSWORD,
    ROLES,
    SCOPES,
    TOKEN_PREFIX,
    ApiToken,
    Membership,
    Org,
    PendingSso,
    People,
    PeopleError,
    Person,
    Role,
    Scope,
    normal_email,
    parse_scopes,
)
from valet.store._resume import JournalTable, StateTable, forget_resume
from valet.store._sessions import Session, SessionPolicy, SessionStore, SignedIn, install_of
from valet.store._signins import SignInStore
from valet.store._tasks import (
    StoredMessage,
    StoredRequest,
    StoredTask,
    TaskStore,
    database_url,
    shared_database,
)

__all__ = [
    "DATABASE_FILES",
    "MIN_PASSWORD",
    "ROLES",
    "SCOPES",
    "TOKEN_PREFIX",
    "ApiToken",
    "Bus",
    "BusMessage",
    "DatabaseFile",
    "JournalTable",
    "Liveness",
    "Membership",
    "Org",
    "PendingSso",
    "People",
    "PeopleError",
    "Person",
    "Role",
    "Scope",
    "ServerLock",
    "Session",
    "SessionPolicy",
    "SessionStore",
    "SignInStore",
    "SignedIn",
    "StateTable",
    "StoredMessage",
    "StoredRequest",
    "StoredTask",
    "TaskStore",
    "check_files",
    "create_tables",
    "database_url",
    "engine_url",
    "forget_resume",
    "install_of",
    "normal_email",
    "parse_scopes",
    "reason_of",
    "shared_database",
    "shown_url",
    "sqlite_file",
]
