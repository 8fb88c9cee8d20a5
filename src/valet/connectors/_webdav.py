"""The `webdav` connector: a WebDAV folder as a toolset (Nextcloud, ownCloud, Apache, WsgiDAV…).

    [[connectors]]
    name = "cloud"
    connector = "webdav"
    url = "https://cloud.example/remote.php/dav/files/ann/"
    credential = "nextcloud"         # a vault credential bound to cloud.example
    # account = "nextcloud"          # or: a connector account (valet connectors add)

With `account`, an app-password account signs in with its vault credential, an OAuth account
sends its access token as a bearer (refreshed when it expires).

Paths are relative to `url`; nothing above it can be reached. Operations: `list`, `search`,
`read`, `write`, `move`, `delete`, `share_link`, and between the folder and the task's
workspace, byte for byte (any file: a spreadsheet, slides, an image; `_webdav_transfer.py`):
`save_from_workspace` (a file the task made, into the folder) and `copy_to_workspace` (a file
of the folder, for the sandboxed shell to work on), each up to `max_transfer` bytes.

Listing, searching, reading and copying into the workspace (which changes nothing of the
person's) are allowed; writing, moving and saving from the workspace ask (`update`), deleting
asks (`delete`), a share link asks (`share`). A move or a save never replaces an existing file
unless asked; a move is checked afterwards.
Share links need a server that has them (Nextcloud and ownCloud); elsewhere the model is told
the server does not support them.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from valet.connectors._account_credentials import BearerAuth
from valet.connectors._dav_login import DavSignIn, dav_sign_in
from valet.connectors._errors import ConnectorError
from valet.connectors._files import (
    CopyToWorkspace,
    MoveFile,
    ReadFile,
    SaveFromWorkspace,
    WriteFile,
)
from valet.connectors._toolset import AuthMethod, Operation, Run, Toolset
from valet.connectors._webdav_transfer import WorkspaceTransfer
from valet.effects import Effect
from valet.gateway import ToolFailure

_DAV = "{DAV:}"
_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop>'
    "<resourcetype/><getcontentlength/><getlastmodified/><getcontenttype/>"
    "</prop></propfind>"
)


class WebDavSettings(BaseModel):
    """One WebDAV folder, as configured by the person (`[[connectors]]` in `config.toml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://")
    """The folder the toolset works in (everything is relative to it)."""
    credential: str | None = None
    """The vault credential to sign in with (bound to the server's host); None: no login."""
    account: str | None = Field(default=None, min_length=1)
    """A connector account (`valet connectors add`) to sign in with instead of `credential`."""
    max_read: int = Field(default=200_000, gt=0)
    """Bytes `read` returns at most (the rest is cut off, and the model is told)."""
    max_search: int = Field(default=2_000, gt=0)
    """Folders and files a search looks at, at most."""
    max_transfer: int = Field(default=100_000_000, gt=0)
    """Bytes one file copied between the folder and the task's workspace may have, at most."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds one request to the server may take."""

    @model_validator(mode="after")
    def _one_sign_in(self) -> WebDavSettings:
        if self.account is not None and self.credential is not None:
            raise ValueError("give either `account` or `credential`, not both")
        return self


class ListFolder(BaseModel):
    folder: str = Field(default="", description="Folder relative to the root ('' = the root).")


class SearchFiles(BaseModel):
    name: str = Field(
        min_length=1, description="Part of a name, or a pattern with * and ? (case ignored)."
    )
    folder: str = Field(default="", description="Where to search ('' = the root).")
    depth: int = Field(default=5, ge=1, le=20, description="How many folder levels to go down.")


class DeleteFile(BaseModel):
    path: str = Field(description="File or folder relative to the root.")


class ShareLink(BaseModel):
    path: str = Field(description="File or folder relative to the root.")


@dataclass(frozen=True, slots=True)
class Entry:
    """One file or folder as a PROPFIND lists it."""

    path: str
    folder: bool
    size: int | None
    modified: str | None
    content_type: str | None

    def view(self) -> dict[str, object]:
        found: dict[str, object] = {"path": self.path + ("/" if self.folder else "")}
        if self.size is not None and not self.folder:
            found["size"] = self.size
        if self.modified:
            found["modified"] = self.modified
        return found


class WebDavConnector:
    name: ClassVar[str] = "webdav"
    description: ClassVar[str] = (
        "A WebDAV folder: list, search, read, write, move and delete files; copy files to and "
        "from the task's workspace; share links where the server has them."
    )
    auth: ClassVar[AuthMethod] = "basic"
    scopes: ClassVar[tuple[str, ...]] = ("files.read", "files.write", "files.share")
    settings: ClassVar[type[BaseModel]] = WebDavSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, WebDavSettings):
            raise ConnectorError(f"toolset {name!r}: expected WebDAV settings")
        sign_in = dav_sign_in(name, settings.url, settings.credential, settings.account)
        return _open(name, settings, sign_in)


WEBDAV = WebDavConnector()


@asynccontextmanager
async def _open(name: str, settings: WebDavSettings, sign_in: DavSignIn) -> AsyncGenerator[Toolset]:
    login = sign_in.login
    auth: httpx.Auth | None = None
    if sign_in.tokens is not None:
        auth = BearerAuth(sign_in.tokens)
    elif login is not None:
        auth = httpx.BasicAuth(login.username, login.password)
    async with httpx.AsyncClient(auth=auth, timeout=settings.timeout) as http:
        folder = WebDavFolder(settings, sign_in, http)
        transfer = WorkspaceTransfer(folder)
        read, write, share = ("files.read",), ("files.write",), ("files.share",)
        run = folder.run
        operations = (
            Operation("list", "List a folder.", ListFolder, Effect.READ, run(folder.list), read),
            Operation(
                "search", "Find files and folders by name.", SearchFiles, Effect.READ,
                run(folder.search), read,
            ),
            Operation("read", "Read a text file.", ReadFile, Effect.READ, run(folder.read), read),
            Operation(
                "write", "Write a text file.", WriteFile, Effect.UPDATE, run(folder.write), write,
                idempotent=True,  # the same text written twice is the same file
            ),
            Operation(
                "move", "Move or rename a file or folder.", MoveFile, Effect.UPDATE,
                run(folder.move), write,
            ),
            Operation(
                "save_from_workspace",
                "Copy a file the task made in its workspace into the folder (any file: a "
                "spreadsheet, slides, an image).",
                SaveFromWorkspace, Effect.UPDATE, run(transfer.save_from_workspace), write,
                consequential_args=("destination",),
            ),
            Operation(
                "copy_to_workspace",
                "Copy a file of the folder into the task's workspace, for the shell to work on.",
                CopyToWorkspace, Effect.READ, run(transfer.copy_to_workspace), read,
            ),  # READ: it changes nothing of the person's, only the task's own folder
            Operation(
                "delete", "Delete a file or folder.", DeleteFile, Effect.DELETE,
                run(folder.delete), write, consequential_args=("path",),
            ),
            Operation(
                "share_link", "Make a public link to a file or folder (where supported).",
                ShareLink, Effect.SHARE, run(folder.share_link), share,
                consequential_args=("path",),
            ),
        )  # fmt: skip
        yield Toolset(name, f"the WebDAV folder {settings.url}", "basic", operations, "webdav")


class WebDavFolder:
    """The operations on one WebDAV folder, over one HTTP client for the length of a task."""

    def __init__(self, settings: WebDavSettings, sign_in: DavSignIn, http: httpx.AsyncClient):
        self.settings = settings
        self.sign_in = sign_in
        self.http = http
        self.base = settings.url.rstrip("/") + "/"
        self.base_path = unquote(urlsplit(self.base).path)

    def run(self, body: Callable[[Any], Awaitable[object]]) -> Run:
        async def call(args: Any) -> object:
            if self.sign_in.used is not None:
                self.sign_in.used()
            try:
                return await body(args)
            except httpx.TimeoutException as exc:
                raise ToolFailure(
                    f"the WebDAV server at {self.base} did not answer within "
                    f"{self.settings.timeout:g} s"
                ) from exc
            except httpx.TransportError as exc:
                reason = "connection refused" if isinstance(exc, httpx.ConnectError) else str(exc)
                raise ToolFailure(
                    f"cannot reach the WebDAV server at {self.base}: {reason}; is it running?"
                ) from exc

        return call

    # -- paths -----------------------------------------------------------------------------

    def relative(self, path: str) -> str:
        """`path` cleaned, relative to the root ('' for the root); refuses to leave it."""
        parts = [part for part in path.strip().split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ToolFailure(f"{path!r} is outside the WebDAV folder")
        return "/".join(parts)

    def url(self, relative: str, folder: bool = False) -> str:
        tail = quote(relative) + ("/" if folder and relative else "")
        return self.base + tail

    def path_of(self, href: str) -> str | None:
        """The root-relative path of a PROPFIND `href` (None when outside the root)."""
        path = unquote(urlsplit(href).path)
        if not path.startswith(self.base_path):
            return None
        return path[len(self.base_path) :].strip("/")

    # -- requests --------------------------------------------------------------------------

    def failure(self, response: httpx.Response, what: str) -> ToolFailure:
        status = response.status_code
        if status == 401:
            who = f" for {self.sign_in.username!r}" if self.sign_in.username else ""
            return ToolFailure(
                f"the WebDAV server at {self.base} refused the login{who}: {self.sign_in.refused}"
            )
        if status == 403:
            return ToolFailure(f"the WebDAV server does not allow you to {what}")
        if status == 404:
            return ToolFailure(f"cannot {what}: it does not exist")
        if status == 507:
            return ToolFailure(f"cannot {what}: the server has no space left")
        return ToolFailure(f"the WebDAV server could not {what}: {status} {response.reason_phrase}")

    async def propfind(self, relative: str, depth: str, what: str) -> list[Entry]:
        response = await self.http.request(
            "PROPFIND",
            self.url(relative, folder=True),
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            content=_PROPFIND,
        )
        if response.status_code != 207:
            raise self.failure(response, what)
        root = _listing(response)
        entries: list[Entry] = []
        for item in root.iter(f"{_DAV}response"):
            entry = self._entry(item)
            if entry is not None:
                entries.append(entry)
        return entries

    def _entry(self, item: ElementTree.Element) -> Entry | None:
        href = item.findtext(f"{_DAV}href")
        path = None if href is None else self.path_of(href)
        if path is None:
            return None
        props: dict[str, ElementTree.Element] = {}
        for propstat in item.iter(f"{_DAV}propstat"):
            if "200" not in (propstat.findtext(f"{_DAV}status") or ""):
                continue
            for prop in propstat.iter(f"{_DAV}prop"):
                props.update({child.tag: child for child in prop})
        kind = props.get(f"{_DAV}resourcetype")
        folder = kind is not None and kind.find(f"{_DAV}collection") is not None
        size_prop = props.get(f"{_DAV}getcontentlength")
        size_text = "" if size_prop is None else (size_prop.text or "").strip()
        size = int(size_text) if size_text.isdigit() else None
        modified = _iso(props.get(f"{_DAV}getlastmodified"))
        kind_text = props.get(f"{_DAV}getcontenttype")
        content_type = None if kind_text is None else kind_text.text
        return Entry(path, folder, size, modified, content_type)

    async def stat(self, relative: str) -> Entry | None:
        """The entry at `relative`, or None when nothing is there."""
        response = await self.http.request(
            "PROPFIND",
            self.url(relative),
            headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"},
            content=_PROPFIND,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 207:
            raise self.failure(response, f"look at {relative!r}")
        item = _listing(response).find(f"{_DAV}response")
        return None if item is None else self._entry(item)

    # -- operations ------------------------------------------------------------------------

    async def list(self, args: ListFolder) -> list[dict[str, object]]:
        where = self.relative(args.folder)
        entries = await self.propfind(where, "1", f"list {args.folder or 'the root'!r}")
        return [e.view() for e in sorted(entries, key=lambda e: e.path) if e.path != where]

    async def search(self, args: SearchFiles) -> dict[str, object]:
        start = self.relative(args.folder)
        pattern = args.name.lower()
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        found: list[dict[str, object]] = []
        queue: list[tuple[str, int]] = [(start, 0)]
        seen = skipped = 0
        while queue and seen < self.settings.max_search:
            folder, level = queue.pop(0)
            entries = await self.propfind(folder, "1", f"search {folder or 'the root'!r}")
            for entry in sorted(entries, key=lambda e: e.path):
                if entry.path == folder:
                    continue
                seen += 1
                if fnmatch.fnmatch(posixpath.basename(entry.path).lower(), pattern):
                    found.append(entry.view())
                if entry.folder and level + 1 < args.depth:
                    queue.append((entry.path, level + 1))
                elif entry.folder:
                    skipped += 1
        result: dict[str, object] = {"found": found}
        if queue:
            result["incomplete"] = (
                f"stopped after {seen} entries; search a smaller folder or fewer levels"
            )
        elif skipped:
            result["incomplete"] = (
                f"did not look inside {skipped} folder(s) more than {args.depth} level(s) down"
            )
        return result

    async def read(self, args: ReadFile) -> dict[str, object]:
        relative = self.relative(args.path)
        if not relative:
            raise ToolFailure("give a file's path, not the root folder")
        cap = self.settings.max_read
        async with self.http.stream("GET", self.url(relative)) as response:
            if response.status_code != 200:
                await response.aread()
                raise self.failure(response, f"read {args.path!r}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    break
            total = response.headers.get("Content-Length")
        data = b"".join(chunks)
        result: dict[str, object] = {"path": relative}
        if b"\x00" in data[:8192]:
            length = total or (f"more than {cap}" if size > cap else str(size))
            result["binary"] = f"a binary file ({length} bytes); its content is not shown"
            return result
        result["text"] = data[:cap].decode("utf-8", "replace")
        if size > cap:
            whole = f"{total} bytes" if total else "more"
            result["truncated"] = f"only the first {cap} bytes of {whole} are shown"
        return result

    async def write(self, args: WriteFile) -> str:
        relative = self.relative(args.path)
        if not relative:
            raise ToolFailure("give a file's path, not the root folder")
        body = args.text.encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        response = await self.http.put(self.url(relative), content=body, headers=headers)
        if response.status_code == 409:  # the parent folder is missing
            await self.make_folders(posixpath.dirname(relative))
            response = await self.http.put(self.url(relative), content=body, headers=headers)
        if response.status_code not in (200, 201, 204):
            raise self.failure(response, f"write {args.path!r}")
        return f"wrote {len(body)} bytes to {relative}"

    async def make_folders(self, relative: str) -> None:
        path = ""
        for part in relative.split("/"):
            path = posixpath.join(path, part)
            response = await self.http.request("MKCOL", self.url(path, folder=True))
            if response.status_code not in (201, 405):  # 405: it exists
                raise self.failure(response, f"make the folder {path!r}")

    async def move(self, args: MoveFile) -> str:
        source, target = self.relative(args.source), self.relative(args.destination)
        if not source or not target:
            raise ToolFailure("the root folder cannot be moved, nor replaced")
        if source == target:
            raise ToolFailure("the source and the destination are the same")
        found = await self.stat(source)
        if found is None:
            raise ToolFailure(f"cannot move {args.source!r}: it does not exist")
        headers = {
            "Destination": self.url(target, folder=found.folder),
            "Overwrite": "T" if args.overwrite else "F",
        }
        response = await self.http.request(
            "MOVE", self.url(source, folder=found.folder), headers=headers
        )
        if response.status_code == 412:
            raise ToolFailure(
                f"{args.destination!r} already exists; nothing was moved (ask with "
                "overwrite=true to replace it)"
            )
        if response.status_code == 409:
            raise ToolFailure(
                f"cannot move to {args.destination!r}: its folder does not exist; nothing moved"
            )
        if response.status_code not in (201, 204):
            raise self.failure(response, f"move {args.source!r}")
        moved, left = await self.stat(target), await self.stat(source)
        if moved is None or left is not None:
            raise ToolFailure(
                f"the server said the move of {args.source!r} to {args.destination!r} worked, "
                f"but the {'destination is missing' if moved is None else 'source is still there'}"
            )
        return f"moved {source} to {target}"

    async def delete(self, args: DeleteFile) -> str:
        relative = self.relative(args.path)
        if not relative:
            raise ToolFailure("the root folder cannot be deleted")
        found = await self.stat(relative)
        if found is None:
            raise ToolFailure(f"cannot delete {args.path!r}: it does not exist")
        response = await self.http.delete(self.url(relative, folder=found.folder))
        if response.status_code not in (200, 204):
            raise self.failure(response, f"delete {args.path!r}")
        return f"deleted {relative}" + ("/ and everything in it" if found.folder else "")

    async def share_link(self, args: ShareLink) -> dict[str, object]:
        relative = self.relative(args.path)
        if await self.stat(relative) is None:
            raise ToolFailure(f"cannot share {args.path!r}: it does not exist")
        shares = _ocs_shares(self.base)
        if shares is None:
            raise ToolFailure(
                f"share links are not supported by the WebDAV server at {self.base} (valet makes "
                "them on Nextcloud and ownCloud); nothing was shared"
            )
        endpoint, user_root = shares
        shared = "/" + unquote(urlsplit(self.url(relative)).path)[len(user_root) :].strip("/")
        response = await self.http.post(
            endpoint,
            data={"path": shared, "shareType": "3", "permissions": "1"},
            headers={"OCS-APIRequest": "true", "Accept": "application/json"},
        )
        if response.status_code not in (200, 201):
            raise self.failure(response, f"share {args.path!r}")
        try:
            link = str(response.json()["ocs"]["data"]["url"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ToolFailure("the server made a share but sent no link back") from exc
        return {"path": relative, "link": link, "access": "anyone with the link can read it"}


def _ocs_shares(base: str) -> tuple[str, str] | None:
    """Nextcloud/ownCloud's share API for a WebDAV URL, and the user's root path in it."""
    parts = urlsplit(base)
    path = unquote(parts.path)
    origin = f"{parts.scheme}://{parts.netloc}"
    for marker in ("/remote.php/dav/files/", "/remote.php/webdav"):
        at = path.find(marker)
        if at < 0:
            continue
        prefix = path[:at]
        if marker.endswith("/files/"):
            user = path[at + len(marker) :].split("/", 1)[0]
            root = f"{path[: at + len(marker)]}{user}"
        else:
            root = path[: at + len(marker)]
        return f"{origin}{prefix}/ocs/v2.php/apps/files_sharing/api/v1/shares", root
    return None


def _listing(response: httpx.Response) -> ElementTree.Element:
    """The XML of a PROPFIND answer; a failure the model reads when it is not XML."""
    try:
        return ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise ToolFailure(f"the WebDAV server sent an unreadable listing ({exc})") from exc


def _iso(element: ElementTree.Element | None) -> str | None:
    if element is None or not element.text:
        return None
    try:
        return parsedate_to_datetime(element.text).isoformat()
    except (TypeError, ValueError):
        return element.text
