"""People and organizations: accounts (argon2id passwords, or single sign-on), roles, personal
API tokens and invitations. Single-person mode, the default, uses none of it."""

from valet.people._store import (
    MIN_PASSWORD,
    ROLES,
    SCOPES,
    TOKEN_PREFIX,
    ApiToken,
    Membership,
    Org,
    People,
    PeopleError,
    Person,
    Role,
    Scope,
    normal_email,
    parse_scopes,
)

__all__ = [
    "MIN_PASSWORD",
    "ROLES",
    "SCOPES",
    "TOKEN_PREFIX",
    "ApiToken",
    "Membership",
    "Org",
    "People",
    "PeopleError",
    "Person",
    "Role",
    "Scope",
    "normal_email",
    "parse_scopes",
]
