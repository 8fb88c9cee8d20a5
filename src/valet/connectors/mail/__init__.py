"""The `mail` connector: a mailbox over IMAP (list folders, search, read with attachments,
move, flag, draft) and SMTP (send).

    [[connectors]]
    name = "work"
    connector = "mail"
    imap_host = "imap.example.com"      # imap_port, imap_tls = "ssl" | "starttls" | "none"
    smtp_host = "smtp.example.com"      # smtp_port, smtp_tls
    credential = "work-mail"            # the vault credential: username and password
    # account = "google"                # or: a connector account (valet connectors add);
                                        # an OAuth one signs in with XOAUTH2 (Gmail, Outlook)

Reading is allowed; moving and flagging (`update`), drafting (`create`) and sending (`send`)
ask the person unless a grant or rule allows them. Every sent mail and draft carries
`X-Valet-Task: <task id>` and, unless `footer = false`, a line saying valet sent it.

For other code that uses a configured mailbox (the audit log's mail witness):
`MailConnector.login`, `ImapSession` (blocking IMAP), `send` (blocking SMTP), `Login`.
"""

from valet.connectors.mail._connector import MAIL, MailConnector, TokenSource
from valet.connectors.mail._imap import ImapSession, Login
from valet.connectors.mail._mime import TASK_HEADER
from valet.connectors.mail._settings import MailSettings, TlsMode
from valet.connectors.mail._smtp import send

__all__ = [
    "MAIL",
    "TASK_HEADER",
    "ImapSession",
    "Login",
    "MailConnector",
    "MailSettings",
    "TlsMode",
    "TokenSource",
    "send",
]
