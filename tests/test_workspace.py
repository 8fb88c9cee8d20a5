"""The workspace's sandboxed shell (bubblewrap): what a command can and cannot do.

A task's command works in its own folder with the system's programs. Every escape attempt
fails cleanly, and is recorded: reading /etc/shadow, valet's databases and vault, the
person's home, another task's workspace; a socket to the internet and to 127.0.0.1; a fork
bomb; a file larger than the limit; a loop that never ends (CPU time) and a command that never
returns (wall time). Through the gateway, each command is an `execute` action: asked, audited.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from valet.agent import Finished
from valet.audit import AuditLog
from valet.connectors import ToolsetConfig, open_toolsets
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import ConnectorGrant
from valet.runtime import TaskSpec, run_task
from valet.server._schemas import Step
from valet.sites import SiteServer
from valet.workspace import Sandbox, SandboxLimits

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="make test installs it")

TIGHT = SandboxLimits(
    cpu_s=2, memory_mb=512, processes=32, file_mb=5, wall_s=4, kept_bytes=1_000_000
)


@pytest.fixture
def valet_home(home: Path) -> Path:
    """valet's home, with what a command must never reach: databases, a vault, another
    task's workspace (a secret in each)."""
    (home / "valet.db").write_text("SECRET-DB")
    (home / "vault.json").write_text("SECRET-VAULT")
    other = home / "runs" / "other-task" / "workspace"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("SECRET-OTHER")
    return home


async def test_a_command_works_in_its_own_folder(valet_home: Path) -> None:
    box = Sandbox(valet_home / "runs" / "t1" / "workspace", TIGHT)
    made = await box.run(
        "printf 'city,sales\\nLyon,3\\nNice,4\\n' > sales.csv && "
        "python3 -c \"import csv; rows = list(csv.DictReader(open('sales.csv'))); "
        "print(sum(int(r['sales']) for r in rows))\""
    )
    assert made.ok and made.stdout.strip() == "7", made
    assert (box.workspace / "sales.csv").read_text().startswith("city,sales")
    assert "$ printf" in (box.workspace / ".valet" / "shell.log").read_text()


@pytest.mark.parametrize(
    "attempt",
    [
        "cat /etc/shadow",
        "cat {home}/valet.db",
        "cat {home}/vault.json",
        "cat {user_home}/.bashrc {user_home}/.profile",
        "cat {home}/runs/other-task/workspace/notes.txt",
        "cat /workspace/../runs/other-task/workspace/notes.txt",
        "find / -name notes.txt 2>/dev/null | xargs -r cat",
    ],
)
async def test_files_outside_the_workspace_cannot_be_read(valet_home: Path, attempt: str) -> None:
    box = Sandbox(valet_home / "runs" / "t1" / "workspace", TIGHT)
    command = attempt.format(home=valet_home, user_home=Path.home())
    result = await box.run(command)
    assert "SECRET" not in result.stdout + result.stderr
    if not command.startswith("find"):
        assert not result.ok
        assert "No such file or directory" in result.stderr
    assert command in (box.workspace / ".valet" / "shell.log").read_text()  # recorded


async def test_a_command_cannot_make_valet_write_its_log_elsewhere(valet_home: Path) -> None:
    """valet (root, maybe) appends each command's output to `.valet/shell.log`: a command that
    swapped that folder or file for a link would have it appended to any file of the machine."""
    box = Sandbox(valet_home / "runs" / "t1" / "workspace", TIGHT)
    victim = valet_home / "vault.json"
    swap = f"mv .valet old; mkdir -p .valet; ln -s {victim} .valet/shell.log; echo PWNED"
    swapped = await box.run(f"{swap}; ls -a .valet")
    assert victim.read_text() == "SECRET-VAULT"
    assert swapped.stdout.split() == ["PWNED", ".", ".."]  # it sees an empty folder, no log
    assert "PWNED" in (box.workspace / ".valet" / "shell.log").read_text()
    (box.workspace / ".valet" / "shell.log").unlink()  # a link left there some other way:
    (box.workspace / ".valet" / "shell.log").symlink_to(victim)
    with pytest.raises(OSError):  # not followed
        await box.run("echo PWNED")
    assert victim.read_text() == "SECRET-VAULT"


@pytest.mark.parametrize("target", ["('127.0.0.1', 22)", "('1.1.1.1', 80)", "('example.com', 443)"])
async def test_there_is_no_network(valet_home: Path, target: str) -> None:
    box = Sandbox(valet_home / "runs" / "t1" / "workspace", TIGHT)
    result = await box.run(
        f'python3 -c "import socket; socket.create_connection({target}, timeout=2)"'
    )
    assert not result.ok
    assert any(
        why in result.stderr
        for why in (
            "Connection refused",
            "Network is unreachable",
            "Name or service not known",
            "Temporary failure in name resolution",
        )
    ), result.stderr


async def test_the_limits_stop_what_would_take_the_machine(valet_home: Path) -> None:
    box = Sandbox(valet_home / "runs" / "t1" / "workspace", TIGHT)
    bomb = await box.run("python3 -c 'import os\nwhile True: os.fork()'")
    assert "Resource temporarily unavailable" in bomb.stderr and bomb.seconds < TIGHT.wall_s
    huge = await box.run("head -c 10000000000 /dev/zero > huge.bin")
    assert "File size limit exceeded" in huge.stderr or huge.stopped == "file size"
    assert (box.workspace / "huge.bin").stat().st_size <= TIGHT.file_mb * 1024 * 1024
    spin = await box.run("while :; do :; done")
    assert spin.stopped == "cpu time" and not spin.ok, spin
    log = box.workspace / ".valet" / "shell.log"
    before = log.stat().st_size
    flood = await box.run("head -c 50000000 /dev/zero | tr '\\0' x; sleep 600")
    assert flood.stopped == "wall time" and flood.truncated
    assert "(49,000,000 more bytes of output not kept)" in flood.stdout  # kept: the first MB
    assert log.stat().st_size - before < 1_100_000
    wait = await box.run("sleep 600")
    assert wait.stopped == "wall time" and wait.exit_code is None and wait.seconds < 10
    after = await box.run("echo still here")
    assert after.ok and after.stdout.strip() == "still here"  # the next command runs
    log = (box.workspace / ".valet" / "shell.log").read_text()
    assert "while :; do :; done" in log and "sleep 600" in log


async def test_each_command_is_an_execute_action_asked_and_audited(
    valet_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALET_HOME", str(valet_home))
    config = ToolsetConfig(name="workspace", connector="workspace", settings={"wall_s": 5})
    person = ScriptedApprover.of([Approval.approved("alice"), Approval.declined("alice")])
    from contextlib import AsyncExitStack

    with AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key") as log:
        async with AsyncExitStack() as stack:
            (toolset,) = await open_toolsets([config], stack)
            gateway = Gateway(
                toolset.tools(), audit=log, approver=person, task=TaskContext(task_id="t9")
            )
            ran = await gateway.call("workspace_shell", {"command": "echo made > out.txt"})
            refused = await gateway.call("workspace_shell", {"command": "rm -rf /workspace/*"})
            listed = await gateway.call("workspace_list_files", {})
        records = [(r.tool, r.verdict, r.outcome) for r in log.records(task_id="t9")]
    assert ran.ok and "exit code 0" in str(ran.value)
    assert not refused.ok and "declined" in refused.message
    assert "out.txt" in str(listed.value)
    assert [r.decision.rule_id for r in person.requests] == ["builtin.ask.execute"] * 2
    assert records == [
        ("workspace_shell", "ask", "executed"),
        ("workspace_shell", "ask", "declined"),
        ("workspace_list_files", "allow", "executed"),
    ]
    assert (valet_home / "runs" / "t9" / "workspace" / "out.txt").read_text() == "made\n"
    assert os.listdir(valet_home / "runs" / "other-task" / "workspace") == ["notes.txt"]


SCRIPT = """
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
import matplotlib.pyplot as plt
from pptx import Presentation
from pptx.util import Inches

sales = pd.read_csv("sales.csv")
summary = sales.groupby("city", as_index=False)["amount"].sum()
book = Workbook()
sheet = book.active
sheet.title = "Summary"
sheet.append(["city", "amount"])
for row in summary.itertuples(index=False):
    sheet.append([row.city, int(row.amount)])
last = sheet.max_row
sheet.append(["total", f"=SUM(B2:B{last})"])
chart = BarChart()
chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=last), titles_from_data=True)
chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
sheet.add_chart(chart, "D2")
book.save("summary.xlsx")
summary.plot.bar(x="city", y="amount").get_figure().savefig("chart.png")
deck = Presentation()
for title in ("Sales by city", "The chart", "Total"):
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = title
deck.slides[1].shapes.add_picture("chart.png", Inches(1), Inches(1.5), width=Inches(6))
deck.save("sales.pptx")
print(int(summary["amount"].sum()))
"""


async def test_the_sandbox_makes_a_spreadsheet_a_chart_and_slides(valet_home: Path) -> None:
    from openpyxl import load_workbook
    from pptx import Presentation

    box = Sandbox(valet_home / "runs" / "t1" / "workspace", SandboxLimits(wall_s=120))
    box.prepare()
    (box.workspace / "sales.csv").write_text("city,amount\nLyon,3\nNice,4\nLyon,5\n")
    (box.workspace / "make.py").write_text(SCRIPT)
    made = await box.run("python3 make.py")
    assert made.ok and made.stdout.strip() == "12", made
    sheet = load_workbook(box.workspace / "summary.xlsx")["Summary"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["city", "amount"],
        ["Lyon", 8],
        ["Nice", 4],
        ["total", "=SUM(B2:B3)"],  # the formula is kept
    ]
    assert len(sheet._charts) == 1  # pyright: ignore[reportAttributeAccessIssue]
    assert (box.workspace / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    deck = Presentation(str(box.workspace / "sales.pptx"))
    titles = [slide.shapes.title.text for slide in deck.slides]  # pyright: ignore[reportOptionalMemberAccess]
    assert titles == ["Sales by city", "The chart", "Total"]


REPORT = """
import pandas as pd
from openpyxl import Workbook
from pptx import Presentation

orders = pd.read_csv("/downloads/voltline-orders.csv")
book = Workbook()
sheet = book.active
sheet.append(["item", "total"])
for row in orders.itertuples(index=False):
    sheet.append([row.item, float(row.total)])
sheet.append(["sum", f"=SUM(B2:B{sheet.max_row})"])
book.save("orders.xlsx")
deck = Presentation()
for title in ("Orders", "Items", "Total"):
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = title
deck.save("orders.pptx")
print(round(float(orders["total"].sum()), 2))
"""


async def test_a_task_downloads_a_csv_and_makes_files_of_it_in_the_shell(
    valet_home: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser saves the CSV; the shell reads it in /downloads and writes the files."""
    from openpyxl import load_workbook

    monkeypatch.setenv("VALET_HOME", str(valet_home))
    script: list[Any] = [
        {"download": {"url": sites.url_for("/edge/file.csv")}},
        {"raw": {"tool": "workspace_write_file", "args": {"path": "report.py", "text": REPORT}}},
        {"raw": {"tool": "workspace_shell", "args": {"command": "python3 report.py"}}},
        {"done": "made orders.xlsx and orders.pptx"},
    ]
    spec = TaskSpec(
        task="Download my orders, compute their total, and make a spreadsheet and slides",
        start_url=sites.url_for("/edge/download"),
        toolsets=(ToolsetConfig(name="workspace", connector="workspace"),),
        grants=(ConnectorGrant.of("workspace", "update", "execute"),),
    )
    person = ScriptedApprover.of([Approval.approved("alice")] * 2)
    result = await run_task(
        spec,
        scripted_model(ScriptPlayer(parse_steps(script))),
        home=valet_home,
        model_info={"model": "scripted:test"},
        approver=person,
    )
    assert isinstance(result.end, Finished), result.end
    folder = valet_home / "runs" / result.run_id / "workspace"
    sheet = load_workbook(folder / "orders.xlsx").active
    assert sheet is not None and sheet["B5"].value == "=SUM(B2:B4)"
    assert [row[0].value for row in sheet.iter_rows(min_row=2, max_row=4)] == [
        "65 W GaN USB-C Charger",
        "Braided USB-C Cable 2 m",
        "Slim Power Bank 10000 mAh",
    ]
    assert "100.96" in (folder / ".valet" / "shell.log").read_text()
    steps = [json.loads(line) for line in (folder.parent / "steps.jsonl").read_text().splitlines()]
    ran = [s for s in steps if (s["action"] or {}).get("kind") == "workspace_shell"]
    assert len(ran) == 1 and "exit code 0" in ran[0]["output"] and "100.96" in ran[0]["output"]
    shown = Step.from_record(ran[0])  # the timeline shows the command and its output
    assert shown.command == "python3 report.py" and "100.96" in shown.output
    assert [r.decision.rule_id for r in person.requests] == [
        "builtin.ask.update",
        "builtin.ask.execute",
    ]


@pytest.mark.parametrize(
    ("keep", "success", "kept"),
    [
        ("always", True, True),
        ("failed", True, False),
        ("failed", False, True),
        ("never", False, False),
    ],
)
async def test_the_workspace_is_kept_or_removed_at_the_end_as_set(
    valet_home: Path,
    sites: SiteServer,
    monkeypatch: pytest.MonkeyPatch,
    keep: str,
    success: bool,
    kept: bool,
) -> None:
    monkeypatch.setenv("VALET_HOME", str(valet_home))
    script: list[Any] = [
        {"raw": {"tool": "workspace_write_file", "args": {"path": "notes.txt", "text": "n"}}},
        {"done": {"answer": "wrote notes", "success": success}},
    ]
    spec = TaskSpec(
        task="Write notes in a file",
        start_url=sites.url_for("/"),
        toolsets=(ToolsetConfig(name="workspace", connector="workspace", settings={"keep": keep}),),
        grants=(ConnectorGrant.of("workspace", "update"),),
    )
    result = await run_task(
        spec,
        scripted_model(ScriptPlayer(parse_steps(script))),
        home=valet_home,
        model_info={"model": "scripted:test"},
        approver=ScriptedApprover.of([Approval.approved("alice")]),
    )
    assert isinstance(result.end, Finished) and result.end.success is success
    folder = valet_home / "runs" / result.run_id / "workspace"
    assert (folder / "notes.txt").is_file() is kept
    assert (valet_home / "runs" / result.run_id / "steps.jsonl").is_file()  # the record stays
    assert (valet_home / "runs" / "other-task" / "workspace" / "notes.txt").is_file()


def test_the_workspace_may_make_and_run_unless_a_grant_says_less() -> None:
    """Without `[grants]` a task may make files and run commands in its own workspace (each
    still asked); a grant that names the workspace is what it may do there."""
    workspace = ToolsetConfig(name="workspace", connector="workspace")
    notes = ToolsetConfig(name="notes", connector="files", settings={"root": "/tmp"})
    plain = TaskSpec(task="Compute a total", toolsets=(workspace, notes)).scope()
    narrowed = TaskSpec(
        task="Compute a total",
        toolsets=(workspace, notes),
        grants=(ConnectorGrant.of("workspace"),),
    ).scope()
    assert {g.connector: sorted(e.value for e in g.effects) for g in plain.grants or ()} == {
        "notes": ["read"],  # any other toolset: read only
        "workspace": ["execute", "read", "update"],
    }
    assert {g.connector: g.read_only for g in narrowed.grants or ()} == {
        "notes": True,
        "workspace": True,
    }
