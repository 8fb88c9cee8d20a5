"""A mail attachment put in the task's workspace (no attachments folder) gets past whatever a
command left where it would go: a named pipe, a folder or a link at its name is not read (a pipe
would block the read for ever), and a file where its folder goes leaves the attachment out with
a note, the message still read."""

from __future__ import annotations

import os
from pathlib import Path

from tests._servers import Dovecot
from tests.test_mail import TASK, Account, account, letter, opened  # noqa: F401 (a fixture)

from valet.audit import AuditLog

CSV = b"name,qty\ntea,2\n"


async def test_what_a_command_left_in_the_way_is_neither_read_nor_written(
    account: Account,  # noqa: F811
    dovecot: Dovecot,
    audit: AuditLog,
    home: Path,
) -> None:
    data = letter("Data", attachment=("list.csv", CSV, "text/csv"))
    dovecot.append(account.user, "INBOX", data)
    dovecot.append(account.user, "INBOX", data)
    folder = home / "runs" / TASK / "workspace" / "attachments" / "mail"
    (folder / "INBOX-1").mkdir(parents=True)
    os.mkfifo(folder / "INBOX-1" / "list.csv")  # as `mkfifo` in the sandbox would
    (folder / "INBOX-1" / "list-2.csv").mkdir()
    outside = home / "secret.csv"
    outside.write_bytes(CSV)
    (folder / "INBOX-1" / "list-3.csv").symlink_to(outside)
    (folder / "INBOX-2").write_text("a file where the message's folder goes")
    async with opened(account, audit, attachments_dir=None) as mail:
        first = await mail.call("read_message", uid=1)
        second = await mail.call("read_message", uid=2)
    (attachment,) = first["attachments"]
    assert attachment["in_workspace"] == "attachments/mail/INBOX-1/list-4.csv"
    assert (folder / "INBOX-1" / "list-4.csv").read_bytes() == CSV
    (attachment,) = second["attachments"]
    assert "in_workspace" not in attachment and attachment["text"] == CSV.decode()
    assert attachment["note"] == (
        "not put in the workspace: 'attachments/mail/INBOX-2/list.csv' cannot be made: a file "
        "of the workspace is in its way"
    )
