"""The GitHub connector's wire side: tokens, the githubkit client, and GitHub's answers turned
into what the model reads (short summaries, or a `ToolFailure` that says what went wrong).

Tokens come from a `TokenSource`: by default `VaultToken`, the password of a vault credential
bound to the API's host (so a token is never sent to a host it was not saved for). An OAuth
account's tokens plug in the same way (`account = "NAME"` in the settings): `token(renew=True)`
after a 401 gives a refreshed token, and the request is sent once more with it (a refused
request changed nothing).

Nothing is retried on its own: not after a rate limit, not after a server error. A write that
failed half-way would be repeated blindly, so the model is told what happened and decides.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import httpx
from githubkit import GitHub
from githubkit.auth.base import BaseAuthStrategy
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout
from githubkit.response import Response
from pydantic import ValidationError

from valet.connectors._account_credentials import BearerAuth, TokenSource
from valet.gateway import ToolFailure
from valet.settings import secrets_home
from valet.vault import Vault, VaultError

if TYPE_CHECKING:
    from githubkit import GitHubCore

T = TypeVar("T")


class VaultToken:
    """The password of vault credential `credential`, sent only to hosts it is bound to.

    The vault is read on every call, so a token the person replaces is used at once.
    `on_use` runs after each read (an account records its last use)."""

    def __init__(
        self,
        credential: str,
        base_url: str,
        home: Path | None = None,
        on_use: Callable[[], None] | None = None,
    ) -> None:
        self.credential = credential
        self.base_url = base_url
        self.home = home
        self.on_use = on_use

    @property
    def label(self) -> str:
        return f"the vault credential {self.credential!r}"

    async def token(self, *, renew: bool = False) -> str:
        home = self.home or secrets_home()
        try:
            vault = Vault.open(home)
        except VaultError as exc:
            raise ToolFailure(f"cannot read the GitHub token from the vault: {exc}") from exc
        found = vault.get(self.credential)
        if found is None:
            raise ToolFailure(
                f"the vault has no credential {self.credential!r} for GitHub; the person can "
                f"add the token with: valet vault add {self.credential} --domain "
                f"{_host(self.base_url)} --password-stdin"
            )
        if not found.bound_to(self.base_url):
            raise ToolFailure(
                f"{self.label} is not bound to {_host(self.base_url)} (it is bound to "
                f"{', '.join(found.domains)}), so valet does not send it there"
            )
        secret = found.password.get_secret_value()
        if not secret:
            raise ToolFailure(f"{self.label} has no token (its password is empty)")
        if self.on_use is not None:
            self.on_use()
        return secret


class TokenStrategy(BaseAuthStrategy):
    """githubkit's way in for `BearerAuth`."""

    def __init__(self, tokens: TokenSource) -> None:
        self.tokens = tokens

    def get_auth_flow(self, github: GitHubCore[BaseAuthStrategy]) -> httpx.Auth:
        return BearerAuth(self.tokens)


def client(base_url: str, tokens: TokenSource, timeout: float) -> GitHub[TokenStrategy]:
    """A githubkit client for `base_url` that never retries by itself and keeps no cache."""
    return GitHub(
        TokenStrategy(tokens),
        base_url=base_url,
        user_agent="valet (AI agent)",
        timeout=timeout,
        auto_retry=False,
        http_cache=False,
        trust_env=False,
        follow_redirects=False,
    )


class Calls:
    """Runs githubkit calls for one toolset and turns failures into readable `ToolFailure`s."""

    def __init__(self, base_url: str, tokens: TokenSource) -> None:
        self.base_url = base_url
        self.tokens = tokens

    async def read(self, doing: str, call: Awaitable[Response[T]]) -> T:
        """Await a read and parse its answer."""
        return await self._run(doing, call, write=False)

    async def write(self, doing: str, call: Awaitable[Response[T]]) -> T:
        """Await a write and parse its answer; a failure says whether it may have happened."""
        return await self._run(doing, call, write=True)

    async def read_or_none(self, doing: str, call: Awaitable[Response[T]]) -> T | None:
        """Await a read; None when GitHub answers 404 (it does not exist)."""
        try:
            return await self._run(doing, call, write=False)
        except ToolFailure as failure:
            cause = failure.__cause__
            if isinstance(cause, RequestFailed) and cause.response.status_code == 404:
                return None
            raise

    async def _run(self, doing: str, call: Awaitable[Response[T]], *, write: bool) -> T:
        try:
            response = await call
        except RequestFailed as exc:
            raise ToolFailure(self._refused(doing, exc, write=write)) from exc
        except RequestTimeout as exc:
            raise ToolFailure(
                f"{doing}: GitHub at {self.base_url} did not answer in time"
                + (_MAYBE_DONE if write else "")
            ) from exc
        except RequestError as exc:  # pyright: ignore[reportUnknownVariableType]
            inner = cast(RequestError[Exception], exc).exc
            if isinstance(inner, ToolFailure):
                raise inner from exc
            raise ToolFailure(
                f"{doing}: cannot reach GitHub at {self.base_url} ({_reason(inner)}); nothing "
                "was sent. The server may be down: try again later."
            ) from exc
        try:
            return response.parsed_data
        except (ValidationError, ValueError) as exc:
            raise ToolFailure(
                f"{doing}: GitHub's answer ({response.status_code}) is not what its API "
                f"describes ({_first_problem(exc)})" + (_DONE_UNREADABLE if write else "")
            ) from exc

    def _refused(self, doing: str, exc: RequestFailed, *, write: bool) -> str:
        status = exc.response.status_code
        said = _github_message(exc.response.raw_response)
        if isinstance(exc, RateLimitExceeded) or status == 429:
            wait = exc.retry_after if isinstance(exc, RateLimitExceeded) else None
            return (
                f"{doing}: GitHub's rate limit is reached ({status}{said}); nothing was done. "
                f"{_when(wait)}"
            )
        if status == 401:
            return (
                f"{doing}: GitHub refused the token ({status}{said}): {self.tokens.label} is "
                "wrong, expired or revoked; nothing was done. The person needs to replace it."
            )
        if status == 403:
            scopes = exc.response.headers.get("x-accepted-github-permissions") or ""
            needs = f" It needs: {scopes}." if scopes else ""
            return (
                f"{doing}: GitHub does not let this token do that ({status}{said}); nothing "
                f"was done.{needs}"
            )
        if status in (404, 410):
            return (
                f"{doing}: not found ({status}{said}). Check the names; GitHub also answers "
                "404 for private repositories the token cannot see. Nothing was done."
            )
        if status == 409:
            return (
                f"{doing}: conflict ({status}{said}): it changed meanwhile; read it again "
                "before retrying. Nothing was done."
            )
        if status in (400, 422):
            return f"{doing}: GitHub rejected the request ({status}{said}); nothing was done."
        if status >= 500:
            return f"{doing}: GitHub failed ({status}{said})." + (
                _MAYBE_DONE if write else " Try again later."
            )
        return f"{doing}: GitHub answered {status}{said}." + (_MAYBE_DONE if write else "")


_MAYBE_DONE = (
    " It may or may not have happened: look (list or get it) before trying again, so that "
    "nothing is done twice."
)
_DONE_UNREADABLE = " It was probably done: look before trying again."


def _github_message(response: httpx.Response) -> str:
    """`: <GitHub's message>` from an error body (basic-error), else ''."""
    try:
        body: object = json.loads(response.content or b"null")
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    message = cast(dict[str, object], body).get("message")
    return f": {str(message)[:300]}" if message else ""


def _when(wait: timedelta | None) -> str:
    if wait is None:
        return "Try again later."
    seconds = max(0, round(wait.total_seconds()))
    at = (datetime.now(UTC) + wait).strftime("%H:%M:%S UTC")
    return f"Try again in {seconds} s (at {at})."


def _reason(exc: object) -> str:
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"][:6]) or "the body"
        return f"{where}: {first['msg']}"
    return str(exc)[:200] or type(exc).__name__


def _host(base_url: str) -> str:
    url = httpx.URL(base_url)
    return f"{url.host}:{url.port}" if url.port else url.host
