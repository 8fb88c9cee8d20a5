"""Sending over SMTP with `smtplib` (blocking: run it in a worker thread). Each failure says
whether anything went out."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage

from valet.connectors.mail._imap import Login, xoauth2
from valet.connectors.mail._settings import MailSettings
from valet.gateway import ToolFailure


def send(
    settings: MailSettings,
    login: Login,
    message: EmailMessage,
    before_data: Callable[[], None] | None = None,
) -> dict[str, str]:
    """Send `message` to its To, Cc and Bcc; returns the recipients the server refused (the
    others got it). Raises `ToolFailure` when nothing was sent, or when that is unsure.
    `before_data` is called once the server accepted the envelope, just before the message
    itself goes (the point from which it may have been sent)."""
    host, port = settings.smtp_address
    where = f"the SMTP server {host}:{port}"
    timeout = settings.timeout
    try:
        if settings.smtp_tls == "ssl":
            context = ssl.create_default_context()
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except ssl.SSLError as exc:
        raise ToolFailure(
            f"TLS with {where} failed: {exc.reason or exc}; nothing was sent"
        ) from exc
    except TimeoutError as exc:
        raise ToolFailure(f"{where} did not answer within {timeout:g} s; nothing was sent") from exc
    except ConnectionRefusedError as exc:
        raise ToolFailure(
            f"cannot reach {where}: connection refused (is the server running?); nothing was sent"
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise ToolFailure(f"cannot reach {where}: {exc}; nothing was sent") from exc
    with smtp:
        try:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            _sign_in(smtp, login)
        except smtplib.SMTPAuthenticationError as exc:
            raise ToolFailure(
                f"{where} refused the sign-in of {login.username!r}: {_said(exc)} "
                f"({login.advice}); nothing was sent"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ToolFailure(f"{where} failed before sending: {exc}; nothing was sent") from exc
        if before_data is not None:
            _call_before_data(smtp, before_data)
        try:
            refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            who = "; ".join(f"{r}: {_said(e)}" for r, e in exc.recipients.items())
            raise ToolFailure(f"{where} refused every recipient ({who}); nothing was sent") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise ToolFailure(
                f"{where} refused the sender {exc.sender}: {_said(exc)}; nothing was sent"
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise ToolFailure(
                f"{where} refused the message: {_said(exc)}; nothing was sent"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ToolFailure(
                f"the connection to {where} failed while sending ({exc}): the message may or may "
                "not have gone out; check the Sent folder or ask the recipients before resending"
            ) from exc
    return {recipient: _said(answer) for recipient, answer in refused.items()}


def _call_before_data(smtp: smtplib.SMTP, before: Callable[[], None]) -> None:
    """Have `smtp` call `before` just before its DATA command (after MAIL FROM and RCPT TO,
    which `send_message` issues first and which send nothing yet)."""
    data = smtp.data

    def data_after(msg: bytes | str) -> tuple[int, bytes]:
        before()
        return data(msg)

    smtp.data = data_after  # type: ignore[method-assign]


def _sign_in(smtp: smtplib.SMTP, login: Login) -> None:
    smtp.ehlo_or_helo_if_needed()
    if login.mechanism == "xoauth2":
        initial = xoauth2(login.username, login.secret)

        def respond(challenge: bytes | None = None) -> str:
            return initial if challenge is None else ""  # an error challenge: end the exchange

        smtp.auth("XOAUTH2", respond)
        return
    # One attempt with one mechanism (smtplib's `login` would try each in turn, which costs
    # lockout strikes and hangs some servers after a refusal).
    offered = (smtp.esmtp_features.get("auth") or "").upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError(
            f"it offers no password sign-in (AUTH {' '.join(offered) or 'nothing'})"
        )
    smtp.user, smtp.password = login.username, login.secret
    respond = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
    smtp.auth(mechanism, respond, initial_response_ok=True)


def _said(answer: smtplib.SMTPResponseException | tuple[int, bytes]) -> str:
    """What the server answered (`535 Authentication failed`), from an exception or the
    `(code, text)` pair of a refused recipient."""
    if isinstance(answer, tuple):
        code, text = answer
    else:
        code, text = answer.smtp_code, answer.smtp_error
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {shown}"
