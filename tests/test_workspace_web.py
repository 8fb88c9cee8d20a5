"""A task's workspace files in the web app, in real Chromium: the spreadsheet previewed as a
table (its formula as written), the chart as an image, the deck's slides, and every file
downloadable; a file a command wrote cannot run as the site's page (attachment, sandbox CSP)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from openpyxl import Workbook
from pptx import Presentation
from tests._chromium import chromium
from tests.test_server_harness import Harness, running_server

from valet.sites import SiteServer


def _make_files(folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sales.csv").write_text("city,amount\nLyon,8\nNice,4\n")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Summary"
    for row in (["city", "amount"], ["Lyon", 8], ["Nice", 4], ["total", "=SUM(B2:B3)"]):
        sheet.append(row)
    book.save(folder / "summary.xlsx")
    figure, axes = plt.subplots()
    axes.bar(["Lyon", "Nice"], [8, 4])
    figure.savefig(folder / "chart.png")
    deck = Presentation()
    for title in ("Sales by city", "The chart", "Total"):
        deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = title  # pyright: ignore[reportOptionalMemberAccess]
    deck.save(str(folder / "sales.pptx"))
    (folder / "evil.html").write_text("<script>document.title = 'owned'</script>")
    (folder / ".valet").mkdir(exist_ok=True)
    (folder / ".valet" / "shell.log").write_text("$ secret command\n")


async def ended_task(srv: Harness, sites: SiteServer, home: Path) -> tuple[str, Path]:
    """A task that ended (its run record exists), and where its workspace is."""
    task_id = (await srv.create("quick", sites))["id"]
    await srv.final_events(task_id)
    task = (await srv.client.get(f"/api/tasks/{task_id}")).json()
    return task_id, home / "runs" / task["run_id"] / "workspace"


async def test_the_files_page_previews_and_serves_the_workspace(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv:
        task_id, folder = await ended_task(srv, sites, home)
        await asyncio.to_thread(_make_files, folder)
        evil = await srv.client.get(f"/tasks/{task_id}/files/evil.html")
        hidden = await srv.client.get(f"/tasks/{task_id}/files/.valet/shell.log")
        outside = await srv.client.get(f"/tasks/{task_id}/files/..%2Frun.json")
        async with chromium() as browser:
            page = await (await browser.new_context()).new_page()
            await page.goto(srv.sign_in_link(f"/tasks/{task_id}/files"))
            cells = await page.locator(".file-table td").all_inner_texts()
            loaded = await page.locator("img.file-image").evaluate("i => i.naturalWidth")
            slides = await page.locator(".file-slides li strong").all_inner_texts()
            links = await page.locator(".workspace-file h2 a").all_inner_texts()
            title = await page.title()
    assert "=SUM(B2:B3)" in cells and "Lyon" in cells and "8" in cells
    assert loaded > 0  # the chart shows
    assert slides == ["Sales by city", "The chart", "Total"]
    assert sorted(links) == ["chart.png", "evil.html", "sales.csv", "sales.pptx", "summary.xlsx"]
    assert "owned" not in title
    assert evil.status_code == 200
    assert evil.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in evil.headers["content-security-policy"]
    assert hidden.status_code == 404 and outside.status_code == 404
