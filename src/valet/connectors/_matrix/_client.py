"""The Matrix connector's wire side: signing in, requests to the client-server API (v3), and the
server's answers turned into what the model reads (values, or a `ToolFailure` saying what went
wrong and whether anything was sent).

Signing in happens at the first call, not when the toolset opens, so a toolset lists its
operations without the vault. With an access token valet asks the server whose it is
(`whoami`); with a password it signs in as a device of its own, named after the task
(`VALET…`): a task resumed after a crash signs in as the same device, so the server still
recognises the transaction ids of what the task already sent. That device is signed out when
the toolset closes, so the person's device list does not fill up with valet's: an access token
(the default) keeps one device for good.

When the server says the account sends too fast (`M_LIMIT_EXCEEDED`), valet waits as long as
it asks, up to `max_wait`, and sends the same request once more. A retried send cannot post
twice: every send carries a transaction id derived from the action, and the server keeps one
event per transaction id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import httpx

from valet.connectors._matrix._settings import MatrixSettings
from valet.gateway import ToolFailure, current_task

CLIENT_API = "/_matrix/client/v3"


@dataclass(frozen=True, slots=True)
class Secret:
    """What the vault holds for the account: a login name and an access token or password."""

    username: str
    value: str = field(repr=False)
    credential: str
    """The vault credential it came from (named in error messages, never its values)."""


SecretSource = Callable[[], Awaitable[Secret]]


@dataclass(frozen=True, slots=True)
class Session:
    """Who valet acts as on the homeserver, and with which token."""

    user_id: str
    token: str = field(repr=False)
    signed_in: bool
    """valet signed in itself (with a password): it signs out when the toolset closes."""


class MatrixClient:
    """Requests to one homeserver as one account, over one HTTP client for a task's length."""

    def __init__(self, settings: MatrixSettings, secrets: SecretSource, http: httpx.AsyncClient):
        self.settings = settings
        self.http = http
        self._secrets = secrets
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._fallback_task = uuid.uuid4().hex[:12]
        self.host = urlsplit(settings.homeserver).netloc

    def task_id(self) -> str:
        """The task the current call runs for; outside a task, one id per opened toolset (so
        one run's marks and transaction ids still belong together)."""
        task = current_task()
        return task.task_id if task is not None and task.task_id else self._fallback_task

    async def session(self) -> Session:
        async with self._lock:
            if self._session is None:
                self._session = await self._sign_in(await self._secrets())
            return self._session

    async def _sign_in(self, secret: Secret) -> Session:
        if self.settings.auth == "token":
            answer = await self._request(
                "GET", "/account/whoami", "check the access token", token=secret.value
            )
            return Session(str(answer["user_id"]), secret.value, signed_in=False)
        username = self.settings.username or secret.username
        if not username:
            raise ToolFailure(
                f"no login name: set `username` in the toolset or store one with vault "
                f"credential {secret.credential!r}"
            )
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": username},
            "password": secret.value,
            "device_id": "VALET" + hashlib.sha256(self.task_id().encode()).hexdigest()[:10].upper(),
            "initial_device_display_name": "valet",
        }
        response = await self._send("POST", "/login", "sign in", body=body)
        answer = _json(response)
        if response.status_code == 403 and answer.get("errcode") == "M_FORBIDDEN":
            raise ToolFailure(
                f"the Matrix server at {self.host} refused the sign-in of {username!r}: wrong "
                f"username or password (check vault credential {secret.credential!r})"
            )
        if response.status_code != 200:
            raise self._refused(response, answer, "sign in")
        return Session(str(answer["user_id"]), str(answer["access_token"]), signed_in=True)

    async def call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        sends: bool = False,
    ) -> dict[str, Any]:
        """The JSON answer of a request made as the account; a `ToolFailure` when it fails.
        `doing` completes "cannot …" (e.g. `post in #family:example.org`); `sends`: the
        request posts something (its failures say whether anything was sent)."""
        answer = await self.call_or_none(
            method, path, doing, body=body, params=params, sends=sends, optional=False
        )
        assert answer is not None
        return answer

    async def call_or_none(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        sends: bool = False,
        optional: bool = True,
    ) -> dict[str, Any] | None:
        """Like `call`, but None when the server has no such thing (`M_NOT_FOUND`), e.g. a
        state event a room does not have."""
        try:
            try:
                session = await self.session()
            except ToolFailure as failure:
                if sends:
                    raise ToolFailure(f"{failure}{_NOTHING}") from failure
                raise
            return await self._request(
                method, path, doing, token=session.token, body=body, params=params, sends=sends
            )
        except _NotFound as missing:
            if optional:
                return None
            raise self._refused(missing.response, missing.answer, doing, sends) from None
        except _Unauthorized:
            nothing = _NOTHING if sends else ""
            if self.settings.auth == "password":  # the server signed valet's device out
                self._session = None
                raise ToolFailure(
                    f"the Matrix server at {self.host} signed valet out; the next call signs in "
                    f"again{nothing}"
                ) from None
            name = self.settings.credential
            raise ToolFailure(
                f"the Matrix server at {self.host} refused the access token in vault credential "
                f"{name!r}: it is wrong, expired or was signed out (the person stores a current "
                f"one: valet vault add {name} --domain {self.host} --password-stdin){nothing}"
            ) from None

    async def close(self) -> None:
        """Sign out the device valet signed in as (its token then stops working)."""
        session, self._session = self._session, None
        if session is None or not session.signed_in:
            return
        # When the server is gone, the token stays until the person removes the device.
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(CLIENT_API + "/logout", json={}, headers=_bearer(session.token))

    async def _request(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        token: str,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        sends: bool = False,
    ) -> dict[str, Any]:
        response = await self._send(
            method, path, doing, token=token, body=body, params=params, sends=sends
        )
        answer = _json(response)
        if response.status_code == 401 or answer.get("errcode") == "M_UNKNOWN_TOKEN":
            raise _Unauthorized
        if answer.get("errcode") == "M_NOT_FOUND":
            raise _NotFound(response, answer)
        if response.status_code != 200:
            raise self._refused(response, answer, doing, sends)
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        token: str | None = None,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
        sends: bool = False,
    ) -> httpx.Response:
        """One request, sent once more after a rate limit (if the wait asked for is short)."""
        headers = {} if token is None else _bearer(token)
        for attempt in (1, 2):
            try:
                response = await self.http.request(
                    method, CLIENT_API + path, json=body, params=params, headers=headers
                )
            except httpx.TimeoutException as exc:
                maybe = (
                    "; it may have been posted: posting the same message again does not post "
                    "it twice"
                )
                raise ToolFailure(
                    f"the Matrix server at {self.host} did not answer within "
                    f"{self.settings.timeout:g} s when asked to {doing}{maybe if sends else ''}"
                ) from exc
            except httpx.TransportError as exc:
                reason = "connection refused" if isinstance(exc, httpx.ConnectError) else str(exc)
                raise ToolFailure(
                    f"cannot reach the Matrix server at {self.settings.homeserver}: {reason} "
                    f"(is the server running?){_NOTHING if sends else ''}"
                ) from exc
            if response.status_code != 429:
                return response
            wait = _retry_after(response)
            if attempt == 2 or wait > self.settings.max_wait:
                raise ToolFailure(
                    f"the Matrix server at {self.host} is limiting how fast this account acts "
                    f"(it asks to wait {wait:.1f} s) and did not {doing}"
                    f"{_NOTHING if sends else ''}; try again later"
                )
            await asyncio.sleep(wait + _MARGIN)
        raise AssertionError("unreachable")

    def _refused(
        self, response: httpx.Response, answer: Mapping[str, Any], doing: str, sends: bool = False
    ) -> ToolFailure:
        code, error = answer.get("errcode"), str(answer.get("error") or "").rstrip(".")
        nothing = _NOTHING if sends else ""
        if not code:
            return ToolFailure(
                f"cannot {doing}: {self.settings.homeserver} answered {response.status_code} "
                f"{response.reason_phrase} without a Matrix error (is it the homeserver's "
                f"address?){nothing}"
            )
        if code == "M_FORBIDDEN" and "not in room" in error:
            return ToolFailure(f"cannot {doing}: you are not in this room (join it first){nothing}")
        if code == "M_NOT_FOUND":
            return ToolFailure(f"cannot {doing}: {error or 'not found'}{nothing}")
        if code == "M_FORBIDDEN":
            return ToolFailure(f"the Matrix server does not let you {doing}: {error}{nothing}")
        return ToolFailure(f"the Matrix server could not {doing}: {code}: {error}{nothing}")


_NOTHING = "; nothing was sent"
_MARGIN = 0.05  # seconds past the server's wait (it rounds down to whole milliseconds)


class _Unauthorized(Exception):
    """The server did not accept the token (how to say so depends on where it came from)."""


class _NotFound(Exception):
    """The server has no such room, alias, event or state (a failure, or an answer)."""

    def __init__(self, response: httpx.Response, answer: dict[str, Any]) -> None:
        self.response = response
        self.answer = answer


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one (a proxy's error page, an empty body)."""
    try:
        data: object = response.json()
    except ValueError:
        return {}
    return cast(dict[str, Any], data) if isinstance(data, dict) else {}


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asks to wait: `retry_after_ms`, else `Retry-After`, else one."""
    millis = _json(response).get("retry_after_ms")
    if isinstance(millis, int | float) and millis >= 0:
        return float(millis) / 1000
    header = response.headers.get("Retry-After", "")
    return float(header) if header.isdigit() else 1.0
