"""The Matrix toolset's operations: their typed arguments and what each one does.

Rooms are named the way people name them: an id (`!…`), an alias (`#family:example.org`) or,
for a room the person is in, its name. Messages read from rooms are what other people wrote:
the gateway hands them to the model as untrusted data, each with its sender's Matrix id (which
nobody else can take, unlike a display name). valet does not do end-to-end encryption: it says
so for encrypted messages and refuses to post into encrypted rooms rather than post in clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import quote

from pydantic import BaseModel, Field

from valet.connectors._matrix._client import MatrixClient
from valet.gateway import ToolFailure

TASK_KEY = "org.valet.task"
"""The content key that marks what valet posts: `"org.valet.task": "<task id>"`."""

_CONCURRENT = 8  # requests at once when listing rooms
_ROOM = "A room id (!…), an alias (#name:server) or the name of a room you are in."


class ListRooms(BaseModel):
    limit: int = Field(default=50, ge=1, le=200, description="At most this many rooms.")


class RoomRef(BaseModel):
    room: str = Field(min_length=1, description=_ROOM, examples=["#family:example.org"])


class ReadMessages(RoomRef):
    limit: int = Field(
        default=20, ge=1, le=100, description="At most this many messages, the newest."
    )
    before: str | None = Field(
        default=None,
        description="The `earlier` token of a previous read, to read the messages before it.",
    )


class PostMessage(RoomRef):
    text: str = Field(min_length=1, max_length=30_000, description="The message (plain text).")


class Reply(PostMessage):
    event_id: str = Field(
        pattern=r"^\$",
        description="The id of the message to answer (from read_messages).",
        examples=["$Hq3k9Zx0:example.org"],
    )


class JoinRoom(BaseModel):
    room: str = Field(
        pattern=r"^[#!]",
        description="The room's alias (#name:server) or id (!…).",
        examples=["#family:example.org"],
    )


class Rooms:
    """The operations on one Matrix account, opened as a toolset."""

    def __init__(self, client: MatrixClient) -> None:
        self.client = client
        self.settings = client.settings
        self._posted: set[str] = set()

    # Rooms

    async def list_rooms(self, args: ListRooms) -> dict[str, object]:
        joined = await self.client.call("GET", "/joined_rooms", "list your rooms")
        ids = [str(r) for r in cast(list[object], joined.get("joined_rooms", []))]
        limit = asyncio.Semaphore(_CONCURRENT)

        async def described(room_id: str) -> dict[str, object]:
            async with limit:
                return await self._describe(room_id)

        rooms = await asyncio.gather(*(described(r) for r in ids[: args.limit]))
        result: dict[str, object] = {"rooms": list(rooms)}
        if len(ids) > args.limit:
            result["truncated"] = f"only {args.limit} of your {len(ids)} rooms"
        return result

    async def _describe(self, room_id: str) -> dict[str, object]:
        name = await self._state(room_id, "m.room.name")
        alias = await self._state(room_id, "m.room.canonical_alias")
        topic = await self._state(room_id, "m.room.topic")
        found: dict[str, object] = {"id": room_id, "name": name.get("name") or None}
        if alias.get("alias"):
            found["alias"] = alias["alias"]
        if topic.get("topic"):
            found["topic"] = _cut(str(topic["topic"]), 500)
        if await self._state(room_id, "m.room.encryption"):
            found["encrypted"] = True
        if not found["name"]:  # a direct chat: say who is in it
            members = await self.client.call(
                "GET", f"/rooms/{_q(room_id)}/joined_members", f"list the members of {room_id}"
            )
            joined = cast(dict[str, Any], members.get("joined", {}))
            found["members"] = sorted(joined)[:10]
        return found

    async def _names(self) -> list[tuple[str, str]]:
        """Each joined room's id and name (in lower case; empty when it has none)."""
        joined = await self.client.call("GET", "/joined_rooms", "list your rooms")
        ids = [str(r) for r in cast(list[object], joined.get("joined_rooms", []))]
        limit = asyncio.Semaphore(_CONCURRENT)

        async def name_of(room_id: str) -> tuple[str, str]:
            async with limit:
                state = await self._state(room_id, "m.room.name")
            return room_id, str(state.get("name") or "").strip().casefold()

        return list(await asyncio.gather(*(name_of(r) for r in ids)))

    async def _state(self, room_id: str, kind: str) -> dict[str, Any]:
        """The content of the room's current `kind` state event ({} when it has none)."""
        found = await self.client.call_or_none(
            "GET", f"/rooms/{_q(room_id)}/state/{kind}", f"read {kind} of {room_id}"
        )
        return found or {}

    async def room_id(self, room: str) -> str:
        """The id of the room the model named (an id, an alias, or a joined room's name)."""
        text = room.strip()
        if text.startswith("!"):
            return text
        if text.startswith("#"):
            found = await self.client.call(
                "GET", f"/directory/room/{_q(text)}", f"find the room {text}"
            )
            return str(found["room_id"])
        named = [room_id for room_id, name in await self._names() if name == text.casefold()]
        if len(named) == 1:
            return named[0]
        if named:
            raise ToolFailure(
                f"several of your rooms are named {room!r} ({', '.join(named)}): give its id"
            )
        raise ToolFailure(
            f"you are in no room named {room!r}: give its id (!…) or alias (#…), or list_rooms"
        )

    async def join_room(self, args: JoinRoom) -> dict[str, object]:
        joined = await self.client.call(
            "POST", f"/join/{_q(args.room)}", f"join {args.room}", body={}
        )
        return {"joined": str(joined["room_id"]), "room": args.room}

    # Messages

    async def read_messages(self, args: ReadMessages) -> dict[str, object]:
        room_id = await self.room_id(args.room)
        params = {
            "dir": "b",
            "limit": str(args.limit),
            "filter": json.dumps({"types": ["m.room.message", "m.room.encrypted"]}),
        }
        if args.before:
            params["from"] = args.before
        page = await self.client.call(
            "GET", f"/rooms/{_q(room_id)}/messages", f"read the messages of {args.room}",
            params=params,
        )  # fmt: skip
        me = (await self.client.session()).user_id
        chunk = cast(list[dict[str, Any]], page.get("chunk", []))
        messages = [self._message(event, me) for event in reversed(chunk)]
        result: dict[str, object] = {"room": room_id, "messages": messages}
        if chunk and page.get("end"):
            result["earlier"] = page["end"]
        return result

    def _message(self, event: dict[str, Any], me: str) -> dict[str, object]:
        content = cast(dict[str, Any], event.get("content") or {})
        sent = datetime.fromtimestamp(int(event.get("origin_server_ts", 0)) / 1000, UTC)
        found: dict[str, object] = {
            "id": event.get("event_id"),
            "sender": event.get("sender"),
            "time": sent.isoformat(timespec="seconds"),
        }
        if event.get("sender") == me:
            found["from_you"] = True
        if event.get("type") == "m.room.encrypted":
            found["note"] = "end-to-end encrypted: valet cannot read it"
            return found
        if not content:
            found["note"] = "deleted"
            return found
        relation = cast(dict[str, Any], content.get("m.relates_to") or {})
        if relation.get("rel_type") == "m.replace" and isinstance(
            content.get("m.new_content"), dict
        ):
            found["edit_of"] = relation.get("event_id")
            content = cast(dict[str, Any], content["m.new_content"])
        text, cut = _cap(str(content.get("body", "")), self.settings.max_text_chars)
        found["text"] = text
        if cut:
            found["cut"] = f"only the first {self.settings.max_text_chars} characters"
        if content.get("msgtype") not in (None, "m.text"):
            found["kind"] = content["msgtype"]
        reply = cast(dict[str, Any], relation.get("m.in_reply_to") or {})
        if reply.get("event_id"):
            found["reply_to"] = reply["event_id"]
        if content.get(TASK_KEY):
            found["sent_by_valet_for_task"] = content[TASK_KEY]
        return found

    async def post_message(self, args: PostMessage) -> dict[str, object]:
        room_id = await self._postable(args.room)
        return await self._send(room_id, args.room, self._content(args.text))

    async def reply(self, args: Reply) -> dict[str, object]:
        room_id = await self._postable(args.room)
        original = await self.client.call(
            "GET", f"/rooms/{_q(room_id)}/event/{_q(args.event_id)}",
            f"find the message {args.event_id} in {args.room}", sends=True,
        )  # fmt: skip
        relation: dict[str, object] = {"m.in_reply_to": {"event_id": args.event_id}}
        thread = cast(dict[str, Any], original.get("content", {}).get("m.relates_to") or {})
        if thread.get("rel_type") == "m.thread":  # answer inside the thread it is in
            relation.update(rel_type="m.thread", event_id=thread["event_id"], is_falling_back=False)
        content = {**self._content(args.text), "m.relates_to": relation}
        return {**await self._send(room_id, args.room, content), "reply_to": args.event_id}

    async def _postable(self, room: str) -> str:
        """The room's id, after checking valet can post there (a member, not encrypted)."""
        room_id = await self.room_id(room)
        encryption = await self.client.call_or_none(
            "GET", f"/rooms/{_q(room_id)}/state/m.room.encryption", f"post in {room}",
            sends=True,
        )  # fmt: skip
        if encryption:
            raise ToolFailure(
                f"{room} is end-to-end encrypted and valet cannot encrypt: it does not post "
                "there in clear; nothing was sent"
            )
        return room_id

    def _content(self, text: str) -> dict[str, object]:
        task = self.client.task_id()
        body = text
        if self.settings.footer:
            body = f"{text.rstrip()}\n\n{self.settings.note.replace('{task}', task)}"
        content: dict[str, object] = {"msgtype": "m.text", "body": body}
        if self.settings.attribution:
            content[TASK_KEY] = task
        return content

    async def _send(self, room_id: str, room: str, content: dict[str, object]) -> dict[str, object]:
        txn = transaction_id(self.client.task_id(), room_id, content)
        sent = await self.client.call(
            "PUT", f"/rooms/{_q(room_id)}/send/m.room.message/{txn}", f"post in {room}",
            body=content, sends=True,
        )  # fmt: skip
        event_id = str(sent["event_id"])
        result: dict[str, object] = {"posted": True, "room": room_id, "event_id": event_id}
        if event_id in self._posted:
            result["note"] = (
                "this same message was already posted in this room for this task; the server "
                "kept the first one and posted nothing new"
            )
        self._posted.add(event_id)
        return result


def transaction_id(task: str, room_id: str, content: dict[str, object]) -> str:
    """The transaction id of a send: the same for the same message, room and task (so a send
    tried again, even after valet restarted, is kept once by the server), else different."""
    wire = json.dumps([task, room_id, content], sort_keys=True, ensure_ascii=False)
    return "valet-" + hashlib.sha256(wire.encode()).hexdigest()[:32]


def _q(part: str) -> str:
    return quote(part, safe="")


def _cap(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
