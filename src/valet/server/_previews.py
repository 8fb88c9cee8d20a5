"""What the files page shows of each file of a task's workspace, and the thumbnails it links.

    files = previews(folder)             # one Preview per file, with what can be shown of it
    svg = slide_thumbnail(deck, 2)       # the deck's second slide as SVG (None: no such slide)
    png = page_thumbnail(pdf, 1)         # the PDF's first page as PNG (None: not one shown)

A table for CSV and spreadsheets (formulas shown as written), the image for pictures, the slides'
titles, text and thumbnails for decks, the first pages of a PDF, the text for text files. The
files are untrusted (a command wrote them): nothing outside the workspace is read (a symbolic
link out of it is left out), its `.valet/` neither, and a file that cannot be read is said to
have no preview rather than failing the page. Nothing is kept between calls, so each page view
reads a bounded part of each file: a text's or CSV's first megabyte, a table's first rows and
columns, and a spreadsheet or deck only when it unpacks to a bounded size (a zip bomb would
otherwise take the server's memory and minutes on every view)."""

from __future__ import annotations

import csv
import io
import os
import re
import resource
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
"""Pictures, by suffix: shown as themselves."""
PDF_PAGES = 3
"""A PDF's first this many pages get a thumbnail."""
PDF_SECONDS = 20
"""A PDF's page is drawn within this many seconds, or not at all…"""
PDF_MEMORY = 2 << 30
"""…and within this many bytes of memory."""
SLIDES = 40
"""A deck's first this many slides get a thumbnail (all of them keep their text)."""

DECK_BYTES = 64_000_000
"""A deck is previewed (text, thumbnails) only when its parts unpack to at most this many bytes:
python-pptx reads them all, for the page and again for each slide's thumbnail."""
BOOK_BYTES = 2_000_000
"""A spreadsheet is previewed only when its parts other than its sheets (shared strings, styles:
parsed whole, slowly) unpack to at most this many bytes…"""
SHEETS_BYTES = 8_000_000
"""…and its sheets to at most this many (openpyxl reads a sheet whole when it does not say its
size first, or numbers its rows oddly, though only the first rows are shown)."""

_ROWS = 30
_COLUMNS = 40  # a table's first this many columns…
_CELL = 300  # …each cell's first this many characters
_HEAD = 1_000_000  # a text's or CSV's first this many bytes are read
_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
_DIRECTORY_BYTES = 1_000_000  # a zip's list of parts (some 10,000 of them) is read up to this
_TEXT = {".txt", ".md", ".py", ".json", ".log", ".html", ".xml", ".yaml", ".yml"}
_PAGE_WIDTH = 480  # a PDF page's thumbnail is at most this many pixels wide…
_PAGE_HEIGHT = 960  # …and this many high
_PDFIUM = threading.Lock()
"""PDFium is not thread-safe, not even across documents: one call into it at a time, for the
whole process (the library is loaded once per process, so the lock is too). Only counting a PDF's
pages (quick) takes it: pages are drawn in child processes."""


@dataclass
class Preview:
    """One file of a workspace as the files page shows it."""

    path: str
    """Its path inside the workspace."""
    size: int
    """Its size in bytes."""
    problem: str = ""
    """Why it has no preview (a file that cannot be read), else empty."""
    image: bool = False
    """A picture: shown as itself."""
    table: list[list[str]] = field(default_factory=list[list[str]])
    """A CSV's or spreadsheet's first rows, each cell as text (formulas as written)."""
    more: int = 0
    """How many rows of a CSV are not in `table`…"""
    more_unknown: bool = False
    """…at least: the CSV goes on past what was read."""
    sheet: str = ""
    """The name of the spreadsheet's sheet shown."""
    slides: list[list[str]] = field(default_factory=list[list[str]])
    """A deck's slides, each as the text of its shapes (the title first)."""
    slide_thumbnails: int = 0
    """How many of the deck's first slides have a thumbnail."""
    pages: int = 0
    """A PDF's number of pages."""
    page_thumbnails: int = 0
    """How many of the PDF's first pages have a thumbnail."""
    text: str = ""
    """A text file's beginning."""


def previews(folder: Path) -> list[Preview]:
    """Each file of the workspace at `folder` (not its `.valet/`), in path order."""
    if not folder.is_dir():
        return []
    root = folder.resolve()
    found: list[Preview] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        target = None if ".valet" in relative.parts else inside(root, str(relative))
        if target is None:
            continue
        size = target.stat().st_size
        try:
            found.append(_preview(target, str(relative), size))
        except TooLarge as exc:
            found.append(Preview(str(relative), size, problem=f"no preview: {exc}"))
        except ImportError as exc:  # an optional library is not installed
            found.append(Preview(str(relative), size, problem=f"no preview: {exc.name} missing"))
        except Exception as exc:  # a file a command wrote may be anything: say it, go on
            found.append(Preview(str(relative), size, problem=f"no preview: {type(exc).__name__}"))
    return found


def inside(root: Path, relative: str) -> Path | None:
    """The file at `relative` in the resolved folder `root`, resolved, when it is a file there
    and not in its `.valet/`; None for anything else (a link out of it, a folder, `..`)."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return None if ".valet" in target.relative_to(root).parts else target


def open_inside(root: Path, relative: str) -> int | None:
    """A file descriptor of the regular file at `relative` in `root`, opened one folder at a
    time without following any link (a command cannot swap a folder for a link to elsewhere
    between a check and the read); None for anything else, or for `.valet/`."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts or ".." in parts or parts[0] == ".valet":
        return None
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(root, nofollow | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, nofollow | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        found = os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(found).st_mode):
        os.close(found)
        return None
    return found


def commands_log(folder: Path) -> Path | None:
    """The workspace's shell log (each command the task ran and its whole output), when there
    is one and it is the workspace's own file."""
    root = folder.resolve()
    log = (root / ".valet" / "shell.log").resolve()
    return log if log.is_relative_to(root) and log.is_file() else None


def slide_thumbnail(path: Path, number: int) -> str | None:
    """Slide `number` (from 1) of the deck at `path` as SVG; None past the thumbnailed slides."""
    from valet.server._slide_svg import slide_svg

    if not 1 <= number <= SLIDES:
        return None
    _check_unpacked(path)
    return slide_svg(path, number)


def page_thumbnail(path: Path, number: int) -> bytes | None:
    """Page `number` (from 1) of the PDF at `path` as PNG; None past the thumbnailed pages.
    Drawn by a child process, stopped after `PDF_SECONDS` (a page of a few kB may take PDFium
    hours: `TooLarge` then) or past `PDF_MEMORY` (`RuntimeError`, as for a broken PDF)."""
    if not 1 <= number <= PDF_PAGES:
        return None
    size = str(_PAGE_WIDTH), str(_PAGE_HEIGHT)
    try:
        drawn = subprocess.run(
            [sys.executable, "-I", "-c", _DRAW_PAGE, str(path), str(number), *size],
            capture_output=True,
            timeout=PDF_SECONDS,
            preexec_fn=_memory_limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TooLarge(f"its page {number} takes over {PDF_SECONDS} s to draw") from None
    if drawn.returncode != 0:
        why = drawn.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["killed"]
        raise RuntimeError(f"page {number} of {path.name!r} was not drawn: {why[0]}")
    return drawn.stdout or None


_DRAW_PAGE = """
import io, sys
import pypdfium2
path, number, width, height = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:5])
document = pypdfium2.PdfDocument(path)
if number <= len(document):
    page = document[number - 1]
    wide, high = page.get_size()
    scale = min(2.0, width / max(wide, 1.0), height / max(high, 1.0))
    out = io.BytesIO()
    page.render(scale=scale).to_pil().save(out, format="PNG")
    sys.stdout.buffer.write(out.getvalue())
"""
"""Draws page `number` of the PDF at `path`, at most `width` × `height` pixels, as PNG on its
standard output (nothing past the last page)."""


def _memory_limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (PDF_MEMORY, PDF_MEMORY))


def _preview(path: Path, relative: str, size: int) -> Preview:
    suffix = path.suffix.lower()
    if suffix in IMAGES:
        return Preview(relative, size, image=True)
    if suffix in (".csv", ".tsv"):
        text, cut = _head(path)
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        if cut:  # its last row may be cut short: left out, and the rows after it not counted
            rows = rows[:-1]
        table = [_cells(row) for row in rows[:_ROWS]]
        more = max(0, len(rows) - _ROWS)
        return Preview(relative, size, table=table, more=more, more_unknown=cut)
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        _check_unpacked(path)
        book: Any = openpyxl.load_workbook(path, read_only=True)  # formulas as written
        try:
            sheet: Any = book.worksheets[0]
            columns: int | None = sheet.max_column  # None: the sheet does not say
            width = min(columns, _COLUMNS) if columns else None  # rows padded to it
            found = sheet.iter_rows(max_row=_ROWS, max_col=width, values_only=True)
            rows = [_cells(row) for row in found]
        finally:
            book.close()
        return Preview(relative, size, table=rows, sheet=str(sheet.title))
    if suffix == ".pptx":
        import pptx

        _check_unpacked(path)
        deck: Any = pptx.Presentation(str(path))
        slides: list[list[str]] = []
        for slide in deck.slides:
            shapes: list[Any] = list(slide.shapes)
            slides.append(
                [str(s.text_frame.text) for s in shapes if s.has_text_frame and s.text_frame.text]
            )
        return Preview(relative, size, slides=slides, slide_thumbnails=min(len(slides), SLIDES))
    if suffix == ".pdf":
        import pypdfium2  # pyright: ignore[reportMissingTypeStubs]

        with _PDFIUM:
            document: Any = pypdfium2.PdfDocument(path)
            pages = len(document)
            document.close()
        return Preview(relative, size, pages=pages, page_thumbnails=min(pages, PDF_PAGES))
    if suffix in _TEXT:
        return Preview(relative, size, text=_head(path)[0][:4000])
    return Preview(relative, size)


class TooLarge(Exception):
    """A file too large or too slow to preview: a spreadsheet or deck that unpacks to more than
    a preview reads, a PDF page that takes too long to draw (the message says)."""


def _check_unpacked(path: Path) -> None:
    """Raise `TooLarge` unless the xlsx or pptx at `path` unpacks within the preview's bounds
    (zipfile never inflates a part past the size its entry declares): its list of parts, then
    a deck's parts, a spreadsheet's sheets and its other parts."""
    if _directory_size(path) > _DIRECTORY_BYTES:  # ZipFile would read it all, at once
        raise TooLarge("it has too many parts to be read for a preview (download it to see it)")
    with zipfile.ZipFile(path) as package:
        entries = package.infolist()
    if path.suffix.lower() == ".pptx":
        bounds = [("it", sum(e.file_size for e in entries), DECK_BYTES)]
    else:
        sheets = sum(e.file_size for e in entries if _SHEET.match(e.filename))
        rest = sum(e.file_size for e in entries) - sheets
        bounds = [("its sheets", sheets, SHEETS_BYTES), ("the rest of it", rest, BOOK_BYTES)]
    for what, unpacked, most in bounds:
        if unpacked > most:
            raise TooLarge(
                f"{what} would unpack to {unpacked / 1e6:,.1f} MB, over the "
                f"{most / 1e6:,.0f} MB read for a preview (download it to see it)"
            )


def _directory_size(path: Path) -> int:
    """The size of the zip's list of parts, from the end record ZipFile reads it by."""
    find_end: Callable[[BinaryIO], list[Any] | None] = vars(zipfile)["_EndRecData"]  # untyped
    with path.open("rb") as file:
        end: list[Any] | None = find_end(file)
    if end is None:
        raise zipfile.BadZipFile("File is not a zip file")
    return int(end[5])  # zipfile._ECD_SIZE: the size of the list


def _head(path: Path) -> tuple[str, bool]:
    """The file's first `_HEAD` bytes as text; whether there is more."""
    with path.open("rb") as file:
        data = file.read(_HEAD + 1)
    return data[:_HEAD].decode("utf-8", errors="replace"), len(data) > _HEAD


def _cells(row: Iterable[object]) -> list[str]:
    """A table row's first `_COLUMNS` cells, each as its first `_CELL` characters."""
    return ["" if v is None else str(v)[:_CELL] for v in islice(row, _COLUMNS)]
