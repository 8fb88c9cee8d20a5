"""The workspace's typed helpers: result files made without a program, through the gateway.

A table as xlsx keeps its formulas and carries a native chart; a chart is a real picture; a
deck has its slides, bullets, picture and notes; a PDF report is printed by Chromium with the
chart inside and no raw HTML from the Markdown. Bad input is a clear failure, never a crash,
and nothing is written outside the workspace.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pptx import Presentation
from pypdf import PdfReader

from valet.audit import AuditLog
from valet.connectors import ToolsetConfig, open_toolsets
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext

SALES: dict[str, Any] = {
    "path": "sales.xlsx",
    "columns": ["city", "amount"],
    "rows": [["Lyon", 8], ["Nice", 4], ["Paris", 11], ["total", "=SUM(B2:B4)"]],
    "sheet": "Summary",
    "chart": {"kind": "bar", "title": "Sales by city", "value_columns": [2]},
}
CHART: dict[str, Any] = {
    "path": "charts/sales.png",
    "kind": "bar",
    "title": "Sales by city",
    "labels": ["Lyon", "Nice", "Paris"],
    "series": [{"name": "2026", "values": [8, 4, 11]}, {"name": "2025", "values": [5, 6, 9]}],
}


@pytest.fixture
async def gateway(home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    """The workspace toolset of task `t1`; the person allows each file it makes."""
    monkeypatch.setenv("VALET_HOME", str(home))
    config = ToolsetConfig(name="workspace", connector="workspace")
    with AuditLog.open(home / "audit.db", home / "audit.key") as log:
        async with AsyncExitStack() as stack:
            (toolset,) = await open_toolsets([config], stack)
            yield Gateway(
                toolset.tools(),
                audit=log,
                approver=ScriptedApprover.of([Approval.approved("alice")] * 10),
                task=TaskContext(task_id="t1"),
            )


def _folder(home: Path) -> Path:
    return home / "runs" / "t1" / "workspace"


async def test_a_table_keeps_its_formulas_and_its_chart(gateway: Gateway, home: Path) -> None:
    made = await gateway.call("workspace_make_table", SALES)
    assert made.ok, made.message
    assert "4 rows, 1 formulas, a chart" in str(made.value)
    sheet: Any = load_workbook(_folder(home) / "sales.xlsx")["Summary"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["city", "amount"],
        ["Lyon", 8],
        ["Nice", 4],
        ["Paris", 11],
        ["total", "=SUM(B2:B4)"],
    ]
    (chart,) = sheet._charts
    assert chart.tagname == "barChart"
    as_csv = await gateway.call(
        "workspace_make_table", SALES | {"path": "sales.csv", "chart": None}
    )
    assert as_csv.ok, as_csv.message
    text = (_folder(home) / "sales.csv").read_text()
    assert text.splitlines() == ["city,amount", "Lyon,8", "Nice,4", "Paris,11", "total,=SUM(B2:B4)"]


async def test_a_chart_is_a_real_picture(gateway: Gateway, home: Path) -> None:
    from PIL import Image

    made = await gateway.call("workspace_make_chart", CHART)
    assert made.ok, made.message
    with Image.open(_folder(home) / "charts" / "sales.png") as picture:
        assert picture.format == "PNG" and picture.size == (960, 540)
        colours = picture.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 10  # bars, axes and text: not an empty canvas
    svg = await gateway.call("workspace_make_chart", CHART | {"path": "sales.svg", "kind": "pie"})
    assert svg.ok and (_folder(home) / "sales.svg").read_text().lstrip().startswith("<?xml")


async def test_slides_have_their_titles_bullets_picture_and_notes(
    gateway: Gateway, home: Path
) -> None:
    assert (await gateway.call("workspace_make_chart", CHART)).ok
    slides = [
        {"title": "Sales by city", "bullets": ["Paris leads", "Nice trails"]},
        {"title": "The chart", "image": "charts/sales.png", "notes": "say the total"},
        {"title": "Total: 23"},
    ]
    made = await gateway.call("workspace_make_slides", {"path": "sales.pptx", "slides": slides})
    assert made.ok, made.message
    deck: Any = Presentation(str(_folder(home) / "sales.pptx"))
    assert [s.shapes.title.text for s in deck.slides] == ["Sales by city", "The chart", "Total: 23"]
    first, second, _ = deck.slides
    assert [p.text for p in first.placeholders[1].text_frame.paragraphs] == [
        "Paris leads",
        "Nice trails",
    ]
    (picture,) = [s for s in second.shapes if s.shape_type == 13]  # a picture
    assert picture.image.blob == (_folder(home) / "charts" / "sales.png").read_bytes()
    assert second.notes_slide.notes_text_frame.text == "say the total"


async def test_a_pdf_report_is_printed_with_its_chart_and_no_markup(
    gateway: Gateway, home: Path
) -> None:
    assert (await gateway.call("workspace_make_chart", CHART)).ok
    markdown = (
        "## Summary\n\nParis sold **11**, the most.\n\n"
        "| city | amount |\n|---|---|\n| Lyon | 8 |\n| Paris | 11 |\n\n"
        "![Sales by city](charts/sales.png)\n\n"
        "<script>document.title='owned'</script><b>raw</b>\n"
    )
    made = await gateway.call(
        "workspace_make_report", {"path": "report.pdf", "title": "Sales", "markdown": markdown}
    )
    assert made.ok, made.message
    pdf = PdfReader(io.BytesIO((_folder(home) / "report.pdf").read_bytes()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Sales" in text and "Paris sold 11, the most." in text and "Lyon" in text
    assert "<script>" in text  # shown as text, never run as markup
    images = [image for page in pdf.pages for image in page.images]
    assert len(images) == 1  # the chart


@pytest.mark.parametrize(
    ("tool", "args", "said"),
    [
        ("workspace_make_table", SALES | {"path": "../outside.xlsx"}, "not a file path inside"),
        ("workspace_make_table", SALES | {"path": ".valet/x.xlsx"}, "not a file path inside"),
        ("workspace_make_table", SALES | {"path": "sales.txt"}, "must end in .xlsx or .csv"),
        ("workspace_make_table", SALES | {"rows": [["a", 1, 2]]}, "more cells than the 2"),
        (
            "workspace_make_table",
            SALES | {"chart": {"value_columns": [7]}},
            "columns must be between 1 and 2",
        ),
        ("workspace_make_chart", CHART | {"labels": ["a"]}, "needs 1 values"),
        (
            "workspace_make_slides",
            {"path": "d.pptx", "slides": [{"title": "x", "image": "/etc/passwd"}]},
            "is not a picture",
        ),
        (
            "workspace_make_slides",
            {"path": "d.pptx", "slides": [{"title": "x", "image": "missing.png"}]},
            "no picture 'missing.png'",
        ),
        (
            "workspace_make_report",
            {"path": "r.pdf", "title": "t", "markdown": "![x](../../../valet.db)"},
            "not a file path inside",
        ),
        ("workspace_make_report", {"path": "r.html", "title": "t", "markdown": "x"}, ".pdf"),
    ],
)
async def test_bad_requests_fail_clearly_and_write_nothing_outside(
    gateway: Gateway, home: Path, tool: str, args: dict[str, Any], said: str
) -> None:
    before = _outside_workspaces(home)
    result = await gateway.call(tool, args)
    assert not result.ok and said in result.message, result.message
    assert _outside_workspaces(home) - before == set()


def _outside_workspaces(home: Path) -> set[Path]:
    """The files of valet's home outside workspaces (the audit log's own files aside)."""
    return {
        p
        for p in home.rglob("*")
        if p.is_file() and "workspace" not in p.parts and not p.name.startswith("audit.")
    }


async def test_a_huge_file_is_read_from_its_beginning_only(gateway: Gateway, home: Path) -> None:
    _folder(home).mkdir(parents=True)
    (_folder(home) / "out.txt").write_bytes(b"x" * 50_000_000)  # as a command may print
    tracemalloc.start()
    try:
        read = await gateway.call("workspace_read_file", {"path": "out.txt"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert read.ok and len(str(read.value)) == 100_000, read.message
    assert peak < 10_000_000


async def test_a_long_report_is_parsed_off_the_event_loop(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Other tasks and the web app go on while 500,000 characters of Markdown are parsed."""
    loop = asyncio.get_running_loop()
    markdown = "[" * 490_000 + "![chart](missing.png)"  # seconds of parsing
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.set_debug(True)  # asyncio logs each step that holds the loop longer than this:
        loop.slow_callback_duration = 0.5
        await asyncio.sleep(0)  # from the next step on…
        made = await gateway.call(
            "workspace_make_report", {"path": "r.pdf", "title": "t", "markdown": markdown}
        )
        await asyncio.sleep(0)  # …to the end of this one
        loop.set_debug(False)
    assert not made.ok and "no picture 'missing.png'" in made.message, made.message
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]


async def test_a_pipe_a_command_made_is_refused_not_written(gateway: Gateway, home: Path) -> None:
    """Writing to a named pipe would block valet until something reads it: never."""
    _folder(home).mkdir(parents=True)
    for name in ("out.txt", "sales.xlsx"):
        os.mkfifo(_folder(home) / name)  # as `mkfifo` in the sandbox would
    async with asyncio.timeout(30):
        written = await gateway.call("workspace_write_file", {"path": "out.txt", "text": "hi"})
        made = await gateway.call("workspace_make_table", SALES)
    for result, name in ((written, "out.txt"), (made, "sales.xlsx")):
        assert not result.ok
        assert result.message.endswith(
            f"{name!r} is not a plain file (a command made it a pipe or device)"
        )
