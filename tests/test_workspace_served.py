"""The workspace through `valet serve` (durable, as people run it): a scripted task downloads
a CSV from a local page, computes a summary in the sandboxed shell, makes an xlsx with a
formula and a native chart, a chart picture, a 3-slide pptx and a PDF report; the files hold
the expected values; the task page shows each command with its output and the files page
previews them in real Chromium."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook
from pptx import Presentation
from tests.test_durable import FINAL, Server, _wait
from tests.test_research_run import _valet

from valet.sites import SiteServer

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="make test installs it")

SUMMARY = """python3 - <<'END'
import matplotlib
matplotlib.use("Agg")
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from pptx import Presentation
from pptx.util import Inches

orders = pd.read_csv("/downloads/voltline-orders.csv")
summary = orders.groupby("order_id", as_index=False)["total"].sum()
book = Workbook()
sheet = book.active
sheet.title = "Orders"
sheet.append(["order", "total"])
for row in summary.itertuples(index=False):
    sheet.append([row.order_id, round(float(row.total), 2)])
last = sheet.max_row
sheet.append(["sum", f"=SUM(B2:B{last})"])
chart = BarChart()
chart.add_data(Reference(sheet, min_col=2, min_row=1, max_row=last), titles_from_data=True)
chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
sheet.add_chart(chart, "D2")
book.save("orders.xlsx")
summary.plot.bar(x="order_id", y="total").get_figure().savefig("orders.png")
deck = Presentation()
for title in ("Orders", "By order", "Total"):
    deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = title
deck.slides[1].shapes.add_picture("orders.png", Inches(1), Inches(1.5), width=Inches(6))
deck.save("orders.pptx")
print("orders", len(summary), "total", round(float(summary["total"].sum()), 2))
END"""

REPORT = "## Orders\n\nTwo orders, **100.96** in all.\n\n![Orders](orders.png)\n"


@pytest.mark.timeout(400)
def test_a_served_task_makes_files_the_person_sees_and_previews(
    home: Path, sites: SiteServer, tmp_path: Path
) -> None:
    (home / "config.toml").write_text(
        '[[connectors]]\nname = "workspace"\nconnector = "workspace"\n'
    )
    script: list[Any] = [
        {"download": {"url": sites.url_for("/edge/file.csv")}},
        {"raw": {"tool": "workspace_shell", "args": {"command": SUMMARY}}},
        {
            "raw": {
                "tool": "workspace_make_report",
                "args": {"path": "orders.pdf", "title": "My orders", "markdown": REPORT},
            }
        },
        {"done": "made orders.xlsx, orders.pptx and orders.pdf"},
    ]
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    server = Server(home, path)
    server.start()
    try:
        made = server.post(
            "/api/tasks",
            {
                "task": "Download my orders, compute their totals, and make a spreadsheet, "
                "a chart, slides and a PDF report",
                "start_url": sites.url_for("/edge/download"),
            },
        )
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]
        asked: list[str] = []
        final = _wait(lambda: _approve_until_end(server, task_id, asked), "the task's end", 180)
        link = _valet(home, "link").stdout.strip().split()[-1]
        shown = asyncio.run(_in_chromium(link, f"http://127.0.0.1:{server.port}", task_id))
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    folder = home / "runs" / task_id / "workspace"
    sheet: Any = load_workbook(folder / "orders.xlsx")["Orders"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["order", "total"],
        ["VL-100231", 44.99],
        ["VL-100874", 55.97],
        ["sum", "=SUM(B2:B3)"],
    ]
    assert len(sheet._charts) == 1
    deck: Any = Presentation(str(folder / "orders.pptx"))
    assert [s.shapes.title.text for s in deck.slides] == ["Orders", "By order", "Total"]
    assert (folder / "orders.pdf").read_bytes().startswith(b"%PDF-")
    assert shown["commands"] == [f"$ {SUMMARY}"]
    assert "orders 2 total 100.96" in shown["output"] and "stderr" not in shown["output"]
    assert "=SUM(B2:B3)" in shown["cells"] and "VL-100874" in shown["cells"]
    assert shown["chart"] > 0  # the picture loads
    assert shown["slides"] == ["Orders", "By order", "Total"]
    assert len(shown["thumbs"]) == 3 and all(w > 0 for w in shown["thumbs"])  # each slide drawn
    assert len(shown["pages"]) == 1 and shown["pages"][0] > 0  # the report's page
    assert sorted(shown["files"]) == ["orders.pdf", "orders.png", "orders.pptx", "orders.xlsx"]


def _approve_until_end(server: Server, task_id: str, asked: list[str]) -> dict[str, Any] | None:
    """Approve what the task asks (each tool once), until it ends: its final state."""
    for request in server.get(f"/api/requests?task_id={task_id}").json():
        asked.append(request["id"])
        server.post(f"/api/requests/{request['id']}/approve", {})
    task: dict[str, Any] = server.get(f"/api/tasks/{task_id}").json()
    return task if task["status"] in FINAL else None


async def _in_chromium(link: str, base: str, task_id: str) -> dict[str, Any]:
    """The task page's timeline and the files page, in real Chromium."""
    from tests._chromium import chromium

    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(link)
        await page.goto(f"{base}/tasks/{task_id}")
        commands = await page.locator(".step-command").all_inner_texts()
        output = await page.locator(".step-output pre").first.inner_text()
        await page.goto(f"{base}/tasks/{task_id}/files")
        return {
            "commands": commands,
            "output": output,
            "cells": await page.locator(".file-table td").all_inner_texts(),
            "chart": await page.locator("img.file-image").first.evaluate("i => i.naturalWidth"),
            "slides": await page.locator(".file-slides li strong").all_inner_texts(),
            "thumbs": await page.locator("img.file-slide-thumb").evaluate_all(
                "all => all.map(i => i.naturalWidth)"
            ),
            "pages": await page.locator("img.file-page-thumb").evaluate_all(
                "all => all.map(i => i.naturalWidth)"
            ),
            "files": await page.locator(".workspace-file h2 a").all_inner_texts(),
        }
