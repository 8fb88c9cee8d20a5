"""The person's account changes in the audit log: connecting and revoking are the person's acts
(actor `person`, like an edit of their rules), whether made in the CLI or the web app.

The records say which account, connector and provider, and whether the provider revoked the
tokens; never a secret, and not the login either (the audit log outlives the account).
"""

from __future__ import annotations

from pathlib import Path

from valet._rules_file import record_change
from valet.connectors._accounts import Account


def _facts(account: Account) -> dict[str, object]:
    return {
        "account": account.name,
        "connector": account.connector,
        "auth": account.auth,
        "provider": account.provider or "",
        "scopes": list(account.scopes),
    }


def record_connect(home: Path, account: Account, *, person: str = "person") -> None:
    """The person (`person`: who, in multi-person mode) connected `account`."""
    how = f"signed in at {account.provider}" if account.auth == "oauth2" else "with a secret"
    record_change(
        home,
        "connectors.add",
        _facts(account),
        f"{_who(person)} connected {account.name} ({account.connector}, {how})",
        person=person,
    )


def record_removal(
    home: Path, account: Account, *, local_only: bool, person: str = "person"
) -> None:
    """The person revoked `account`: tokens revoked at the provider unless `local_only`, vault
    entries deleted, account forgotten."""
    revoked = account.auth == "oauth2" and not local_only
    if revoked:
        what = f"revoked at {account.provider} and deleted its tokens"
    elif account.auth == "oauth2":
        what = "deleted its tokens (revoked at the provider by the person)"
    elif account.credential_owned:
        what = "deleted its vault credential"
    else:
        what = f"kept the vault credential {account.credential}"
    record_change(
        home,
        "connectors.remove",
        _facts(account) | {"revoked_at_provider": revoked},
        f"{_who(person)} revoked valet's access to {account.name}: {what}",
        person=person,
    )


def _who(person: str) -> str:
    return "the person" if person == "person" else person
