"""The webdav connector against a real WsgiDAV server on 127.0.0.1 (`tests/_servers.py`), and
the local `files` connector's search and move: every operation through the gateway, reads
allowed and writes asked, a declined write leaves the server unchanged, a move never replaces
a file unless asked, and the error cases: wrong login, server down, a huge file, no share links."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from tests._servers import DAV_PASSWORD as PASSWORD
from tests._servers import DAV_USER as USER
from tests._servers import WsgiDav, free_port

from valet.audit import AuditLog
from valet.connectors import Toolset, ToolsetConfig, open_toolsets
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault


@pytest.fixture
def folder(wsgidav: WsgiDav) -> str:
    """A fresh folder on the server for one test, with a few files (written directly)."""
    name = f"t{uuid.uuid4().hex[:8]}"
    root = wsgidav.root / name
    (root / "letters" / "old").mkdir(parents=True)
    (root / "todo.txt").write_text("buy milk\n")
    (root / "letters" / "bank letter.txt").write_text("Dear bank,\n")
    (root / "letters" / "old" / "Bank 2019.txt").write_text("Dear bank, in 2019\n")
    (root / "photo.bin").write_bytes(b"\x89PNG\x00\x00" + bytes(range(256)) * 4)
    return name


def state(root: Path) -> dict[str, bytes]:
    """Every file under `root` (read from the disk the server serves, not through valet)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def vault_home(home: Path, monkeypatch: pytest.MonkeyPatch, wsgidav: WsgiDav) -> Path:
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    host = f"127.0.0.1:{wsgidav.port}"
    vault.add(Credential(name="dav", domains=(host,), username=USER, password=PASSWORD))
    vault.add(Credential(name="wrong", domains=(host,), username=USER, password="nope"))
    vault.save()
    return home


@asynccontextmanager
async def toolset_of(url: str, **settings: Any) -> AsyncIterator[Toolset]:
    config = ToolsetConfig(
        name="cloud", connector="webdav", settings={"url": url, "credential": "dav", **settings}
    )
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        yield toolset


async def test_reads_run_without_asking(
    wsgidav: WsgiDav, folder: str, vault_home: Path, audit: AuditLog
) -> None:
    approver = ScriptedApprover()
    async with toolset_of(wsgidav.url + folder + "/", max_read=100) as toolset:
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver)
        listed = await gateway.call("cloud_list", {})
        inner = await gateway.call("cloud_list", {"folder": "letters"})
        found = await gateway.call("cloud_search", {"name": "BANK"})
        shallow = await gateway.call("cloud_search", {"name": "bank*", "depth": 1})
        read = await gateway.call("cloud_read", {"path": "letters/bank letter.txt"})
        binary = await gateway.call("cloud_read", {"path": "photo.bin"})
        missing = await gateway.call("cloud_read", {"path": "nope.txt"})
        escape = await gateway.call("cloud_read", {"path": "../../etc/passwd"})
    assert toolset.scopes == ("files.read", "files.write", "files.share")
    assert listed.ok and [e["path"] for e in listed.value] == [  # type: ignore[union-attr]
        "letters/",
        "photo.bin",
        "todo.txt",
    ]
    todo = listed.value[2]  # type: ignore[index]
    assert todo["size"] == 9 and str(todo["modified"]).startswith("20")
    assert [e["path"] for e in inner.value] == [  # type: ignore[union-attr]
        "letters/bank letter.txt",
        "letters/old/",
    ]
    assert found.ok and [e["path"] for e in found.value["found"]] == [  # type: ignore[index]
        "letters/bank letter.txt",
        "letters/old/Bank 2019.txt",
    ]
    assert shallow.value == {
        "found": [],
        "incomplete": "did not look inside 1 folder(s) more than 1 level(s) down",
    }
    assert read.ok and read.value == {"path": "letters/bank letter.txt", "text": "Dear bank,\n"}
    assert binary.ok and "binary file" in binary.value["binary"]  # type: ignore[index]
    assert not missing.ok and "it does not exist" in missing.message
    assert not escape.ok and "outside the WebDAV folder" in escape.message
    assert approver.requests == []
    assert {r.verdict for r in audit.records()} == {"allow"}


async def test_a_huge_file_is_read_only_up_to_the_cap(
    wsgidav: WsgiDav, folder: str, vault_home: Path
) -> None:
    (wsgidav.root / folder / "huge.txt").write_text("x" * 5_000_000)
    async with toolset_of(wsgidav.url + folder, max_read=1000) as toolset:
        read = await Gateway(toolset.tools()).call("cloud_read", {"path": "huge.txt"})
    assert read.ok and isinstance(read.value, dict)
    assert read.value["text"] == "x" * 1000
    assert read.value["truncated"] == "only the first 1000 bytes of 5000000 bytes are shown"


async def test_writes_ask_and_a_declined_write_changes_nothing(
    wsgidav: WsgiDav, folder: str, vault_home: Path, audit: AuditLog
) -> None:
    root = wsgidav.root / folder
    before = state(root)
    approver = ScriptedApprover()  # declines everything
    async with toolset_of(wsgidav.url + folder) as toolset:
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver)
        results = [
            await gateway.call("cloud_write", {"path": "todo.txt", "text": "nothing"}),
            await gateway.call("cloud_move", {"source": "todo.txt", "destination": "done.txt"}),
            await gateway.call("cloud_delete", {"path": "letters"}),
            await gateway.call("cloud_share_link", {"path": "todo.txt"}),
        ]
    assert not any(r.ok for r in results)
    assert [(r.tool, r.effect) for r in approver.requests] == [
        ("cloud_write", "update"),
        ("cloud_move", "update"),
        ("cloud_delete", "delete"),
        ("cloud_share_link", "share"),
    ]
    assert state(root) == before
    async with httpx.AsyncClient(auth=(USER, PASSWORD)) as direct_client:
        direct = await direct_client.get(wsgidav.url + folder + "/todo.txt")
    assert direct.text == "buy milk\n"
    assert [(r.verdict, r.outcome) for r in audit.records()] == [("ask", "declined")] * 4


async def test_write_move_delete_when_approved(
    wsgidav: WsgiDav, folder: str, vault_home: Path
) -> None:
    root = wsgidav.root / folder
    approver = ScriptedApprover.of([Approval.approved()] * 10)
    request = (
        "write plans/2027/q1.txt, move todo.txt over letters/bank letter.txt, rename "
        "letters/old to archive, move photo.bin into no/such/folder/p.bin, then delete archive "
        "and share photo.bin"
    )
    task = TaskContext(task_id="webdav-test", request=request)
    async with toolset_of(wsgidav.url + folder) as toolset:
        gateway = Gateway(toolset.tools(), approver=approver, task=task)
        wrote = await gateway.call("cloud_write", {"path": "plans/2027/q1.txt", "text": "go é"})
        blocked = await gateway.call(
            "cloud_move", {"source": "todo.txt", "destination": "letters/bank letter.txt"}
        )
        after_blocked = state(root)
        replaced = await gateway.call(
            "cloud_move",
            {"source": "todo.txt", "destination": "letters/bank letter.txt", "overwrite": True},
        )
        renamed = await gateway.call(
            "cloud_move", {"source": "letters/old", "destination": "archive"}
        )
        after_rename = state(root)
        nowhere = await gateway.call(
            "cloud_move", {"source": "photo.bin", "destination": "no/such/folder/p.bin"}
        )
        deleted = await gateway.call("cloud_delete", {"path": "archive"})
        gone = await gateway.call("cloud_delete", {"path": "archive"})
        share = await gateway.call("cloud_share_link", {"path": "photo.bin"})
    assert wrote.ok and (root / "plans" / "2027" / "q1.txt").read_text() == "go é"
    assert not blocked.ok and "already exists; nothing was moved" in blocked.message
    assert after_blocked["todo.txt"] == b"buy milk\n"
    assert after_blocked["letters/bank letter.txt"] == b"Dear bank,\n"
    assert replaced.ok and replaced.value == "moved todo.txt to letters/bank letter.txt"
    assert (root / "letters" / "bank letter.txt").read_text() == "buy milk\n"
    assert not (root / "todo.txt").exists()
    assert renamed.ok and after_rename["archive/Bank 2019.txt"] == b"Dear bank, in 2019\n"
    assert not any(path.startswith("letters/old") for path in after_rename)
    assert not nowhere.ok and "nothing moved" in nowhere.message
    assert (root / "photo.bin").is_file()
    assert deleted.ok and deleted.value == "deleted archive/ and everything in it"
    assert not (root / "archive").exists()
    assert not gone.ok and "it does not exist" in gone.message
    assert not share.ok
    assert share.message.startswith("share links are not supported by the WebDAV server at ")
    assert "nothing was shared" in share.message


async def test_wrong_login_and_server_down_are_clear_failures(
    wsgidav: WsgiDav, folder: str, vault_home: Path
) -> None:
    async with toolset_of(wsgidav.url + folder, credential="wrong") as toolset:
        wrong = await Gateway(toolset.tools()).call("cloud_list", {})
    down_url = f"http://127.0.0.1:{free_port()}/dav/"
    async with toolset_of(down_url, credential=None) as toolset:
        down = await Gateway(toolset.tools()).call("cloud_list", {})
    assert not wrong.ok and wrong.message == (
        f"the WebDAV server at {wsgidav.url}{folder}/ refused the login for 'ann': wrong "
        "username or password, or no access (check vault credential 'wrong')"
    )
    assert not down.ok
    assert (
        down.message
        == f"cannot reach the WebDAV server at {down_url}: connection refused; is it running?"
    )


@pytest.fixture
def local(tmp_path: Path) -> Path:
    root = tmp_path / "local"
    (root / "letters" / "old").mkdir(parents=True)
    (root / "todo.txt").write_text("buy milk\n")
    (root / "letters" / "bank.txt").write_text("Dear bank,\n")
    (root / "letters" / "old" / "Bank 2019.txt").write_text("old\n")
    return root


async def test_local_files_search_and_move(local: Path) -> None:
    config = ToolsetConfig(name="notes", connector="files", settings={"root": str(local)})
    approver = ScriptedApprover.of([Approval.declined(), *[Approval.approved()] * 3])
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        gateway = Gateway(toolset.tools(), approver=approver)
        found = await gateway.call("notes_search_files", {"name": "bank"})
        declined = await gateway.call(
            "notes_move_file", {"source": "todo.txt", "destination": "done.txt"}
        )
        still_there = (local / "todo.txt").is_file()
        blocked = await gateway.call(
            "notes_move_file", {"source": "todo.txt", "destination": "letters/bank.txt"}
        )
        moved = await gateway.call(
            "notes_move_file", {"source": "todo.txt", "destination": "done/todo.txt"}
        )
        outside = await gateway.call(
            "notes_move_file", {"source": "done/todo.txt", "destination": "../x.txt"}
        )
    assert found.ok and found.value == ["letters/bank.txt", "letters/old/Bank 2019.txt"]
    assert not declined.ok and still_there and not (local / "done.txt").exists()
    assert not blocked.ok and "already exists" in blocked.message
    assert (local / "letters" / "bank.txt").read_text() == "Dear bank,\n"
    assert moved.ok and (local / "done" / "todo.txt").read_text() == "buy milk\n"
    assert not (local / "todo.txt").exists()
    assert not outside.ok and "outside the notes folder" in outside.message
    assert [r.effect for r in approver.requests] == ["update"] * 4


async def test_local_files_import_copies_a_file_in_only_from_the_folders_given(
    local: Path, tmp_path: Path
) -> None:
    attachments = tmp_path / "attachments"
    (attachments / "mail" / "INBOX-1").mkdir(parents=True)
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 8  # not text: copied byte for byte
    saved = attachments / "mail" / "INBOX-1" / "invoice.pdf"
    saved.write_bytes(pdf)
    (tmp_path / "secret.txt").write_text("not for the agent\n")
    (attachments / "escape").symlink_to(tmp_path / "secret.txt")
    settings = {"root": str(local), "import_from": [str(attachments)]}
    config = ToolsetConfig(name="notes", connector="files", settings=settings)
    approver = ScriptedApprover.of([Approval.declined(), *[Approval.approved()] * 6])
    before = state(local)
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        gateway = Gateway(toolset.tools(), approver=approver)

        async def copy(source: Path | str, destination: str, **more: object) -> str:
            args = {"source": str(source), "destination": destination, **more}
            result = await gateway.call("notes_import_file", args)
            return "ok" if result.ok else result.message

        declined = await copy(saved, "Invoices/invoice.pdf")
        unchanged = state(local)
        copied = await copy(saved, "Invoices/invoice.pdf")
        again = await copy(saved, "Invoices/invoice.pdf")
        outside = await copy(tmp_path / "secret.txt", "secret.txt")
        through_link = await copy(attachments / "escape", "secret.txt")
        out_of_root = await copy(saved, "../invoice.pdf")
        replaced = await copy(saved, "todo.txt", overwrite=True)
    assert declined.startswith("declined by person") and unchanged == before
    assert copied == "ok" and (local / "Invoices" / "invoice.pdf").read_bytes() == pdf
    assert "already exists" in again and "nothing was copied" in again
    assert "not in a folder notes may import from" in outside
    assert "not in a folder notes may import from" in through_link
    assert "outside the notes folder" in out_of_root
    assert replaced == "ok" and (local / "todo.txt").read_bytes() == pdf
    assert saved.read_bytes() == pdf  # a copy: the attachment stays where the mail put it
    assert not (local / "secret.txt").exists()
    assert [r.effect for r in approver.requests] == ["update"] * 7
