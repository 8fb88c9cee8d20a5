"""Files between a task's workspace and the person's files, byte for byte, through the `files`
connector (a local folder) and the `webdav` connector (a real WsgiDAV server on 127.0.0.1):
`save_from_workspace` (asked, an `update`) and `copy_to_workspace` (a read: it changes only the
task's own folder). Each test runs against both connectors, through the gateway, with the task
set (so the workspace is `runs/<task id>/workspace` under a fresh VALET_HOME)."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from openpyxl import Workbook, load_workbook
from pydantic import SecretStr
from tests._servers import DAV_PASSWORD, DAV_USER, WsgiDav

from valet.audit import AuditLog
from valet.connectors import ToolsetConfig, open_toolsets
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext, ToolResult
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

TASK = "t-transfer"
BINARY = b"\x00\x01PK\x03\x04\xff\xfe" + bytes(range(256)) * 16 + b"\x00"


@dataclass(frozen=True)
class PersonFolder:
    """One of the person's folders as a toolset, and where its files are on disk (read and
    written directly by the test, never through valet)."""

    name: str
    connector: str
    settings: dict[str, object]
    disk: Path
    missing: str
    """What the connector says of a file that is not there."""

    def tool(self, operation: str) -> str:
        return f"{self.name}_{operation}"


@pytest.fixture(params=["files", "webdav"])
def person(request: pytest.FixtureRequest, tmp_path: Path, home: Path) -> PersonFolder:
    if request.param == "files":
        disk = tmp_path / "notes"
        disk.mkdir()
        return PersonFolder("notes", "files", {"root": str(disk)}, disk, "no file")
    wsgidav: WsgiDav = request.getfixturevalue("wsgidav")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    host = f"127.0.0.1:{wsgidav.port}"
    password = SecretStr(DAV_PASSWORD)
    vault.add(Credential(name="dav", domains=(host,), username=DAV_USER, password=password))
    vault.save()
    folder = f"t{uuid.uuid4().hex[:8]}"
    disk = wsgidav.root / folder
    disk.mkdir()
    settings: dict[str, object] = {"url": f"{wsgidav.url}{folder}/", "credential": "dav"}
    return PersonFolder("cloud", "webdav", settings, disk, "it does not exist")


@pytest.fixture
def workspace(home: Path) -> Path:
    """The task's workspace, with what its shell would have made there."""
    folder = home / "runs" / TASK / "workspace"
    folder.mkdir(parents=True)
    return folder


@asynccontextmanager
async def gateway_for(
    person: PersonFolder,
    approver: ScriptedApprover,
    audit: AuditLog | None = None,
    **settings: object,
) -> AsyncGenerator[Gateway]:
    config = ToolsetConfig(
        name=person.name, connector=person.connector, settings={**person.settings, **settings}
    )
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        yield Gateway(
            toolset.tools(), audit=audit, approver=approver, task=TaskContext(task_id=TASK)
        )


def spreadsheet() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sales"
    sheet.append(["city", "amount"])
    sheet.append(["Lyon", 8])
    sheet.append(["total", "=SUM(B2:B2)"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def message(result: ToolResult) -> str:
    return "ok" if result.ok else result.message


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


async def test_a_binary_file_and_a_spreadsheet_round_trip_byte_for_byte(
    person: PersonFolder, workspace: Path
) -> None:
    xlsx = spreadsheet()
    (workspace / "data.bin").write_bytes(BINARY)
    (workspace / "out").mkdir()
    (workspace / "out" / "sales.xlsx").write_bytes(xlsx)
    approver = ScriptedApprover.of([Approval.approved()] * 2)
    async with gateway_for(person, approver) as gateway:
        saved_bin = await gateway.call(
            person.tool("save_from_workspace"),
            {"source": "data.bin", "destination": "Reports/2026/data.bin"},
        )
        saved_xlsx = await gateway.call(
            person.tool("save_from_workspace"),
            {"source": "out/sales.xlsx", "destination": "Reports/sales.xlsx"},
        )
        (workspace / "data.bin").unlink()
        back_bin = await gateway.call(
            person.tool("copy_to_workspace"), {"source": "Reports/2026/data.bin"}
        )
        back_xlsx = await gateway.call(
            person.tool("copy_to_workspace"),
            {"source": "Reports/sales.xlsx", "destination": "back/sales.xlsx"},
        )
    assert saved_bin.value == (
        f"saved data.bin ({len(BINARY):,} bytes) from the workspace to Reports/2026/data.bin"
    )
    assert saved_xlsx.ok, saved_xlsx.message
    assert (person.disk / "Reports" / "2026" / "data.bin").read_bytes() == BINARY
    assert (person.disk / "Reports" / "sales.xlsx").read_bytes() == xlsx
    assert back_bin.value == (
        f"copied Reports/2026/data.bin ({len(BINARY):,} bytes) to the workspace as data.bin"
    )
    assert back_xlsx.ok, back_xlsx.message
    assert (workspace / "data.bin").read_bytes() == BINARY
    assert (workspace / "back" / "sales.xlsx").read_bytes() == xlsx
    sheet = load_workbook(workspace / "back" / "sales.xlsx")["Sales"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["city", "amount"],
        ["Lyon", 8],
        ["total", "=SUM(B2:B2)"],
    ]


async def test_saving_is_asked_and_copying_in_is_not(
    person: PersonFolder, workspace: Path, audit: AuditLog
) -> None:
    (workspace / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n" + BINARY)
    (person.disk / "invoice.pdf").write_bytes(b"%PDF-1.7\n" + BINARY)
    approver = ScriptedApprover()  # declines every ask
    async with gateway_for(person, approver, audit) as gateway:
        declined = await gateway.call(
            person.tool("save_from_workspace"), {"source": "chart.png", "destination": "chart.png"}
        )
        copied = await gateway.call(person.tool("copy_to_workspace"), {"source": "invoice.pdf"})
    assert "declined" in message(declined)
    assert files_under(person.disk) == {"invoice.pdf": b"%PDF-1.7\n" + BINARY}
    assert copied.ok and (workspace / "invoice.pdf").read_bytes() == b"%PDF-1.7\n" + BINARY
    assert [(r.tool, r.effect) for r in approver.requests] == [
        (person.tool("save_from_workspace"), "update")
    ]
    assert [(r.tool, r.effect, r.verdict, r.outcome) for r in audit.records(task_id=TASK)] == [
        (person.tool("save_from_workspace"), "update", "ask", "declined"),
        (person.tool("copy_to_workspace"), "read", "allow", "executed"),
    ]


async def test_nothing_is_replaced_unless_asked(person: PersonFolder, workspace: Path) -> None:
    (workspace / "report.xlsx").write_bytes(b"new\x00report")
    (workspace / "notes.txt").write_bytes(b"the task's notes\n")
    (person.disk / "report.xlsx").write_bytes(b"old\x00report")
    (person.disk / "notes.txt").write_bytes(b"the person's notes\n")
    (person.disk / "Archive").mkdir()
    approver = ScriptedApprover.of([Approval.approved()] * 3)
    async with gateway_for(person, approver) as gateway:

        async def save(destination: str, **more: object) -> str:
            args = {"source": "report.xlsx", "destination": destination, **more}
            return message(await gateway.call(person.tool("save_from_workspace"), args))

        async def copy(**more: object) -> str:
            args = {"source": "notes.txt", **more}
            return message(await gateway.call(person.tool("copy_to_workspace"), args))

        kept = await save("report.xlsx")
        kept_disk = (person.disk / "report.xlsx").read_bytes()
        on_a_folder = await save("Archive", overwrite=True)
        replaced = await save("report.xlsx", overwrite=True)
        kept_in_workspace = await copy()
        kept_workspace = (workspace / "notes.txt").read_bytes()
        replaced_in_workspace = await copy(overwrite=True)
    assert kept == (
        "'report.xlsx' already exists (ask with overwrite=true to replace it); nothing was saved"
    )
    assert kept_disk == b"old\x00report"
    assert "'Archive' is a folder" in on_a_folder and (person.disk / "Archive").is_dir()
    assert replaced == "ok" and (person.disk / "report.xlsx").read_bytes() == b"new\x00report"
    assert "'notes.txt' is already in the workspace" in kept_in_workspace
    assert kept_workspace == b"the task's notes\n"
    assert replaced_in_workspace == "ok"
    assert (workspace / "notes.txt").read_bytes() == b"the person's notes\n"


async def test_paths_outside_the_folder_or_the_workspace_are_refused(
    person: PersonFolder, workspace: Path
) -> None:
    run_folder = workspace.parent
    (run_folder / "secret.txt").write_text("the run's own record")
    (workspace / ".valet").mkdir()
    (workspace / ".valet" / "shell.log").write_text("$ ls")
    (workspace / "link.txt").symlink_to(run_folder / "secret.txt")  # a command could make it
    (workspace / "ok.bin").write_bytes(BINARY)
    (person.disk.parent / f"{person.disk.name}-secret.txt").write_text("not in the folder")
    (person.disk / "mine.bin").write_bytes(BINARY)
    before = files_under(person.disk)
    approver = ScriptedApprover.of([Approval.approved()] * 5)
    async with gateway_for(person, approver) as gateway:

        async def save(source: str, destination: str) -> str:
            args = {"source": source, "destination": destination}
            return message(await gateway.call(person.tool("save_from_workspace"), args))

        async def copy(source: str, destination: str = "") -> str:
            args = {"source": source, "destination": destination}
            return message(await gateway.call(person.tool("copy_to_workspace"), args))

        refused = {
            "save ..": await save("../secret.txt", "secret.txt"),
            "save .valet": await save(".valet/shell.log", "shell.log"),
            "save link": await save("link.txt", "secret.txt"),
            "save missing": await save("nope.bin", "nope.bin"),
            "save out": await save("ok.bin", "../escape.bin"),
            "copy ..": await copy(f"../{person.disk.name}-secret.txt"),
            "copy missing": await copy("nope.bin"),
            "copy to ..": await copy("mine.bin", "../mine.bin"),
            "copy to .valet": await copy("mine.bin", ".valet/mine.bin"),
        }
    inside_workspace = "is not a file path inside the workspace"
    assert refused["save .."] == f"'../secret.txt' {inside_workspace}"
    assert refused["save .valet"] == f"'.valet/shell.log' {inside_workspace}"
    assert refused["save link"] == f"'link.txt' {inside_workspace}"
    assert refused["save missing"] == "there is no file 'nope.bin' in the workspace"
    assert "'../escape.bin' is outside the" in refused["save out"]
    assert "is outside the" in refused["copy .."]
    assert person.missing in refused["copy missing"] and "'nope.bin'" in refused["copy missing"]
    assert refused["copy to .."] == f"'../mine.bin' {inside_workspace}"
    assert refused["copy to .valet"] == f"'.valet/mine.bin' {inside_workspace}"
    assert files_under(person.disk) == before
    assert not (person.disk.parent / "escape.bin").exists()
    assert not (run_folder / "mine.bin").exists()
    assert not (workspace / ".valet" / "mine.bin").exists()
    assert sorted(files_under(workspace)) == [".valet/shell.log", "link.txt", "ok.bin"]
    assert len(approver.requests) == 5  # every save was asked; no copy was


async def test_a_file_over_the_cap_is_refused_both_ways(
    person: PersonFolder, workspace: Path
) -> None:
    (workspace / "big.bin").write_bytes(BINARY * 2)
    (person.disk / "big.bin").write_bytes(BINARY * 3)
    approver = ScriptedApprover.of([Approval.approved()])
    async with gateway_for(person, approver, max_transfer=len(BINARY)) as gateway:
        saved = await gateway.call(
            person.tool("save_from_workspace"), {"source": "big.bin", "destination": "out.bin"}
        )
        copied = await gateway.call(
            person.tool("copy_to_workspace"), {"source": "big.bin", "destination": "in.bin"}
        )
    cap = f"more than the {len(BINARY):,} bytes valet copies between a folder and the workspace"
    assert message(saved) == (
        f"'big.bin' is {2 * len(BINARY):,} bytes, {cap} (max_transfer); nothing was copied"
    )
    assert message(copied) == (
        f"'big.bin' is {3 * len(BINARY):,} bytes, {cap} (max_transfer); nothing was copied"
    )
    assert not (person.disk / "out.bin").exists() and not (workspace / "in.bin").exists()
