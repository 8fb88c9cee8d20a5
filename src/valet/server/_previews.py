"""What the files page shows of each file of a task's workspace, and the thumbnails it links.

    files = previews(folder)             # one Preview per file, with what can be shown of it
    svg = slide_thumbnail(deck, 2)       # the deck's second slide as SVG (None: no such slide)
    png = page_thumbnail(pdf, 1)         # the PDF's first page as PNG (None: not one shown)

A table for CSV and spreadsheets (formulas shown as written), the image for pictures, the slides'
titles, text and thumbnails for decks, the first pages of a PDF, the text for text files. The
files are untrusted (a command wrote them): nothing outside the workspace is read (a symbolic
link out of it is left out), its `.valet/` neither, and a file that cannot be read is said to
have no preview rather than failing the page. Nothing is kept between calls."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
SLIDES = 40
"""A deck's first this many slides get a thumbnail (all of them keep their text)."""

_ROWS = 30
_TEXT = {".txt", ".md", ".py", ".json", ".log", ".html", ".xml", ".yaml", ".yml"}
_PAGE_WIDTH = 480  # a PDF page's thumbnail is at most this many pixels wide…
_PAGE_HEIGHT = 960  # …and this many high
_PDFIUM = threading.Lock()
"""PDFium is not thread-safe, not even across documents: one call into it at a time, for the
whole process (the library is loaded once per process, so the lock is too)."""


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
    """How many rows of a CSV are not in `table`."""
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


def commands_log(folder: Path) -> Path | None:
    """The workspace's shell log (each command the task ran and its whole output), when there
    is one and it is the workspace's own file."""
    root = folder.resolve()
    log = (root / ".valet" / "shell.log").resolve()
    return log if log.is_relative_to(root) and log.is_file() else None


def slide_thumbnail(path: Path, number: int) -> str | None:
    """Slide `number` (from 1) of the deck at `path` as SVG; None past the thumbnailed slides."""
    from valet.server._slide_svg import slide_svg

    return slide_svg(path, number) if 1 <= number <= SLIDES else None


def page_thumbnail(path: Path, number: int) -> bytes | None:
    """Page `number` (from 1) of the PDF at `path` as PNG; None past the thumbnailed pages."""
    import pypdfium2  # pyright: ignore[reportMissingTypeStubs]

    if not 1 <= number <= PDF_PAGES:
        return None
    out = io.BytesIO()
    with _PDFIUM:
        document: Any = pypdfium2.PdfDocument(path)
        try:
            if number > len(document):
                return None
            page = document[number - 1]
            width, height = page.get_size()
            scale = min(2.0, _PAGE_WIDTH / max(width, 1.0), _PAGE_HEIGHT / max(height, 1.0))
            bitmap = page.render(scale=scale)
            picture = bitmap.to_pil()  # shares the bitmap's memory: saved while it lives
            picture.save(out, format="PNG")
        finally:
            document.close()
    return out.getvalue()


def _preview(path: Path, relative: str, size: int) -> Preview:
    suffix = path.suffix.lower()
    if suffix in IMAGES:
        return Preview(relative, size, image=True)
    if suffix in (".csv", ".tsv"):
        text = path.read_text(encoding="utf-8", errors="replace")
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        return Preview(relative, size, table=rows[:_ROWS], more=max(0, len(rows) - _ROWS))
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        book: Any = openpyxl.load_workbook(path, read_only=True)  # formulas as written
        sheet: Any = book.worksheets[0]
        rows = [
            ["" if v is None else str(v) for v in row]
            for row in sheet.iter_rows(max_row=_ROWS, values_only=True)
        ]
        book.close()
        return Preview(relative, size, table=rows, sheet=str(sheet.title))
    if suffix == ".pptx":
        import pptx

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
        return Preview(
            relative, size, text=path.read_text(encoding="utf-8", errors="replace")[:4000]
        )
    return Preview(relative, size)
