"""Files between a WebDAV folder and the running task's workspace, byte for byte: the `webdav`
connector's `save_from_workspace` (a PUT of the file's bytes, with its content type) and
`copy_to_workspace` (a GET, streamed and cut at `max_transfer`)."""

from __future__ import annotations

import asyncio
import mimetypes
import posixpath
from typing import TYPE_CHECKING

from valet.connectors._files import CopyToWorkspace, SaveFromWorkspace, too_big
from valet.gateway import ToolFailure
from valet.workspace import in_workspace, put_in_workspace, workspace_file

if TYPE_CHECKING:
    from valet.connectors._webdav import WebDavFolder


class WorkspaceTransfer:
    """Copies files between one WebDAV folder and the running task's workspace."""

    def __init__(self, dav: WebDavFolder) -> None:
        self.dav = dav
        self.cap = dav.settings.max_transfer

    async def save_from_workspace(self, args: SaveFromWorkspace) -> str:
        dav = self.dav
        target = dav.relative(args.destination)
        if not target:
            raise ToolFailure("give a file path for the destination, not the root folder")
        content = await asyncio.to_thread(_workspace_bytes, args.source, self.cap)
        found = await dav.stat(target)
        if found is not None and (found.folder or not args.overwrite):
            raise _taken(args.destination, found.folder)
        headers = {"Content-Type": mimetypes.guess_type(target)[0] or "application/octet-stream"}
        if not args.overwrite:
            headers["If-None-Match"] = "*"  # made only if missing, even if a file appeared since
        response = await dav.http.put(dav.url(target), content=content, headers=headers)
        if response.status_code == 409:  # the parent folder is missing
            await dav.make_folders(posixpath.dirname(target))
            response = await dav.http.put(dav.url(target), content=content, headers=headers)
        if response.status_code == 412:
            raise _taken(args.destination, folder=False)
        if response.status_code not in (200, 201, 204):
            raise dav.failure(response, f"save {args.destination!r}")
        return f"saved {args.source} ({len(content):,} bytes) from the workspace to {target}"

    async def copy_to_workspace(self, args: CopyToWorkspace) -> str:
        dav = self.dav
        source = dav.relative(args.source)
        if not source:
            raise ToolFailure("give a file's path, not the root folder")
        destination = args.destination or posixpath.basename(source)
        await asyncio.to_thread(_free_in_workspace, destination, args.overwrite)
        found = await dav.stat(source)
        if found is None:
            raise ToolFailure(f"cannot copy {args.source!r}: it does not exist")
        if found.folder:
            raise ToolFailure(f"{args.source!r} is a folder; copy its files one by one")
        if found.size is not None and found.size > self.cap:
            raise too_big(args.source, self.cap, found.size)
        content = await self._download(source, args.source)
        await asyncio.to_thread(put_in_workspace, destination, content, overwrite=args.overwrite)
        return f"copied {source} ({len(content):,} bytes) to the workspace as {destination}"

    async def _download(self, relative: str, asked: str) -> bytes:
        """The file's bytes; a failure past the cap (a size the listing did not give)."""
        async with self.dav.http.stream("GET", self.dav.url(relative)) as response:
            if response.status_code != 200:
                await response.aread()
                raise self.dav.failure(response, f"copy {asked!r}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.cap:
                    raise too_big(asked, self.cap)
                chunks.append(chunk)
        return b"".join(chunks)


def _workspace_bytes(relative: str, cap: int) -> bytes:
    """The content of a file of the running task's workspace, at most `cap` bytes."""
    path = workspace_file(relative)
    size = path.stat().st_size
    if size > cap:
        raise too_big(relative, cap, size)
    return path.read_bytes()


def _free_in_workspace(relative: str, overwrite: bool) -> None:
    """Refuse, before downloading, a workspace path that leaves it or is taken."""
    path = in_workspace(relative)
    if path.is_dir():
        raise ToolFailure(f"{relative!r} is a folder of the workspace; nothing was copied")
    if path.exists() and not overwrite:
        raise ToolFailure(
            f"{relative!r} is already in the workspace (ask with overwrite=true to replace it); "
            "nothing was copied"
        )


def _taken(destination: str, folder: bool) -> ToolFailure:
    if folder:
        return ToolFailure(f"{destination!r} is a folder; give a file path; nothing was saved")
    return ToolFailure(
        f"{destination!r} already exists (ask with overwrite=true to replace it); nothing was saved"
    )
