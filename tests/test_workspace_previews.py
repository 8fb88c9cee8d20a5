"""The files page's thumbnails and the log of the commands a task ran, in real Chromium: a deck's
slides as SVG images (its text escaped), a PDF's first pages as PNG images with its page count,
the shell's log downloadable as text; each served with a sandboxing CSP, nothing outside the
workspace or in its `.valet/` reachable (not through a symbolic link either)."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import pytest
from PIL import Image
from pptx import Presentation
from pptx.util import Inches
from tests._chromium import chromium
from tests.test_server_harness import running_server
from tests.test_workspace_web import ended_task

from valet.browser import print_pdf
from valet.server._previews import open_inside, page_thumbnail, previews
from valet.sites import SiteServer

TITLE = "<script>x</script> & co"
LOG = "$ python3 make_deck.py\n[exit 0]\nwrote deck.pptx\n\n"
TWO_PAGES = (
    "<html><body><h1>Page one</h1><p style='break-after: page'>First.</p>"
    "<h1>Page two</h1><p>Second.</p></body></html>"
)


def _deck(path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = TITLE  # pyright: ignore[reportOptionalMemberAccess]
    box = slide.shapes.add_textbox(Inches(1), Inches(2), Inches(5), Inches(1))
    box.text_frame.text = "Lyon sold the most"
    picture = deck.slides.add_slide(deck.slide_layouts[6])
    png = io.BytesIO()
    Image.new("RGB", (60, 30), (30, 90, 200)).save(png, "PNG")
    picture.shapes.add_picture(png, Inches(2), Inches(2), Inches(4), Inches(2))
    deck.save(str(path))


def _workspace(folder: Path, pdf: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _deck(folder / "deck.pptx")
    (folder / "report.pdf").write_bytes(pdf)
    (folder / ".valet").mkdir()
    (folder / ".valet" / "shell.log").write_text(LOG)
    (folder / ".valet" / "hidden.pptx").write_bytes((folder / "deck.pptx").read_bytes())


async def test_the_files_page_shows_thumbnails_and_the_commands_run(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv:
        task_id, folder = await ended_task(srv, sites, home)
        no_log = await srv.client.get(f"/tasks/{task_id}/commands.log")
        pdf = await print_pdf(TWO_PAGES)
        await asyncio.to_thread(_workspace, folder, pdf)
        files = f"/tasks/{task_id}/files"
        slide = await srv.client.get(f"{files}/deck.pptx?slide=1")
        page = await srv.client.get(f"{files}/report.pdf?page=2")
        log = await srv.client.get(f"/tasks/{task_id}/commands.log")
        missing = [
            (await srv.client.get(url)).status_code
            for url in (
                f"{files}/deck.pptx?slide=3",
                f"{files}/report.pdf?page=3",
                f"{files}/.valet/hidden.pptx?slide=1",
                f"{files}/.valet/shell.log",
            )
        ]
        async with chromium() as browser:
            tab = await (await browser.new_context()).new_page()
            await tab.goto(srv.sign_in_link(files))  # "load": every image has loaded or failed
            slides = await tab.locator("img.file-slide-thumb").evaluate_all(
                "images => images.map(i => i.naturalWidth)"
            )
            titles = await tab.locator(".file-slides li strong").all_inner_texts()
            pages = await tab.locator("img.file-page-thumb").evaluate_all(
                "images => images.map(i => i.naturalWidth)"
            )
            count = await tab.locator(".file-pages-count").inner_text()
            commands = await tab.locator(".workspace-commands a").get_attribute("href")
    assert no_log.status_code == 404
    assert len(slides) == 2 and all(width > 0 for width in slides)  # one image per slide
    assert titles == [TITLE, "(no text)"]
    assert len(pages) == 2 and all(width > 0 for width in pages)
    assert count == "2 pages"
    assert commands == f"/tasks/{task_id}/commands.log"
    assert slide.headers["content-type"] == "image/svg+xml"
    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in slide.text and "<script" not in slide.text
    assert "Lyon sold the most" in slide.text
    for thumbnail in (slide, page):
        policy = thumbnail.headers["content-security-policy"]
        assert policy.startswith("sandbox;") and "img-src data:" in policy
    assert page.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(page.content)).size[0] > 0
    assert log.status_code == 200 and log.text == LOG
    assert log.headers["content-type"].startswith("text/plain")
    assert log.headers["content-disposition"].startswith("attachment")
    assert log.headers["content-security-policy"].startswith("sandbox;")
    assert missing == [404, 404, 404, 404]


async def test_a_link_out_of_the_workspace_is_neither_shown_nor_served(
    home: Path, sites: SiteServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the install's secret")
    async with running_server(home) as srv:
        task_id, folder = await ended_task(srv, sites, home)
        (folder / ".valet").mkdir(parents=True)
        (folder / "notes.txt").symlink_to(secret)
        (folder / ".valet" / "shell.log").symlink_to(secret)
        (folder / "kept.txt").write_text("a file of its own")
        page = await srv.client.get(f"/tasks/{task_id}/files")
        served = await srv.client.get(f"/tasks/{task_id}/files/notes.txt")
        log = await srv.client.get(f"/tasks/{task_id}/commands.log")
    assert "a file of its own" in page.text
    assert "the install's secret" not in page.text and "notes.txt" not in page.text
    assert served.status_code == 404 and log.status_code == 404


async def test_a_pdfs_first_pages_become_png_thumbnails(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(await print_pdf(TWO_PAGES))

    [preview] = await asyncio.to_thread(previews, tmp_path)
    first = await asyncio.to_thread(page_thumbnail, tmp_path / "report.pdf", 1)
    past = await asyncio.to_thread(page_thumbnail, tmp_path / "report.pdf", 3)

    assert (preview.pages, preview.page_thumbnails, preview.problem) == (2, 2, "")
    assert first is not None and past is None
    image = Image.open(io.BytesIO(first))
    assert image.format == "PNG"
    width, height = image.size
    assert 0 < width <= 480 and height > width  # A4, portrait
    assert image.convert("L").getextrema()[0] < 128  # the heading's ink is on it


async def test_without_pypdfium2_a_pdf_has_no_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "report.pdf").write_bytes(await print_pdf(TWO_PAGES))
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # `import pypdfium2` fails: not installed

    [preview] = await asyncio.to_thread(previews, tmp_path)

    assert preview.path == "report.pdf" and preview.pages == 0
    assert preview.problem == "no preview: pypdfium2 missing"


def test_a_file_is_served_only_as_reached_without_a_link(tmp_path: Path) -> None:
    """What the download sends is opened one folder at a time, following no link: a folder a
    command swapped for a link to elsewhere (after any check) gives nothing."""
    root = tmp_path / "workspace"
    (root / "out").mkdir(parents=True)
    (root / "out" / "sum.csv").write_text("a,b\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "sum.csv").write_text("SECRET")
    os.mkfifo(root / "pipe")
    (root / ".valet").mkdir()
    (root / ".valet" / "shell.log").write_text("log")
    (root / "link.csv").symlink_to(root / "out" / "sum.csv")

    opened = open_inside(root, "out/sum.csv")
    assert opened is not None
    with os.fdopen(opened, "rb") as file:
        assert file.read() == b"a,b\n"
    (root / "out").rename(root / "gone")
    (root / "out").symlink_to(secret)  # the swap
    refused = ["out/sum.csv", "link.csv", "pipe", ".valet/shell.log", "../secret/sum.csv", "gone"]
    assert [open_inside(root, path) for path in refused] == [None] * len(refused)
