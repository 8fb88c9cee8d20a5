"""The files page reads a bounded part of each file a command wrote, on every view: a huge CSV's
or log's first megabyte, a table's first rows and columns, and no spreadsheet or deck that would
unpack to gigabytes (a zip bomb), hold a million parts, or draw a million table cells."""

from __future__ import annotations

import time
import zipfile
import zlib
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Inches

from valet.server import _previews
from valet.server._previews import (
    Preview,
    TooLarge,
    page_thumbnail,
    previews,
    slide_thumbnail,
)

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def _book(path: Path, sheet: bytes, strings: bytes) -> None:
    """A minimal xlsx: one sheet (`sheet`, its <sheetData> content) and shared strings."""
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Default Extension="rels" ContentType="{RELS[:-14]}relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{XLSX}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{XLSX}.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{XLSX}.sharedStrings+xml"/></Types>'
        ).encode(),
        "_rels/.rels": (
            f'<Relationships xmlns="{RELS}"><Relationship Id="r1" '
            f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
            '<sheet name="Data" sheetId="1" r:id="r1"/></sheets></workbook>'
        ).encode(),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{RELS}">'
            f'<Relationship Id="r1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="r2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ).encode(),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}">'.encode()
        + sheet
        + b"</worksheet>",
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">'.encode() + strings + b"</sst>",
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)


def _only(folder: Path) -> Preview:
    (found,) = previews(folder)
    return found


def test_a_huge_csv_or_log_is_previewed_from_its_first_megabyte(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text("city,amount\n" + "Lyon,8\n" * 1_000_000)
    table = _only(tmp_path)
    assert table.table[:2] == [["city", "amount"], ["Lyon", "8"]] and len(table.table) == 30
    assert table.more_unknown and 100_000 < table.more < 1_000_000  # counted in the first MB
    (tmp_path / "big.csv").write_text(",".join(["x" * 1000] * 500) + "\n")
    (row,) = _only(tmp_path).table
    assert len(row) == 40 and {len(cell) for cell in row} == {300}
    (tmp_path / "big.csv").unlink()
    (tmp_path / "out.log").write_bytes(b"\xff" * 200_000_000)
    assert len(_only(tmp_path).text) == 4000


def test_a_spreadsheet_is_read_within_bounds(tmp_path: Path) -> None:
    one = b"<si><t>a</t></si>"
    path = tmp_path / "book.xlsx"
    bomb = b"<sheetData/>", one * 200_000  # 3.4 MB of shared strings, a few kB zipped
    _book(path, *bomb)
    assert _only(tmp_path).problem.startswith("no preview: the rest of it would unpack to 3.4 MB")
    cell = b'<c t="s"><v>0</v></c>'
    rows = b"".join(b'<row r="1">' + cell + b"</row>" for _ in range(400_000))
    _book(path, b"<sheetData>" + rows + b"</sheetData>", one)  # 15 MB, every row numbered 1
    assert _only(tmp_path).problem.startswith("no preview: its sheets would unpack to 15.2 MB")
    _book(path, b"<sheetData>" + (b"<row>" + cell + b"</row>") * 1000 + b"</sheetData>", one)
    assert _only(tmp_path).table == [["a"]] * 30  # the first rows
    wide = b'<dimension ref="A1:XFD3"/><sheetData><row r="1">' + cell + b"</row></sheetData>"
    _book(path, wide, one)
    assert [len(row) for row in _only(tmp_path).table] == [40]


def test_a_deck_is_read_within_bounds(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_table(200, 200, Inches(1), Inches(1), Inches(8), Inches(5))
    deck.save(str(tmp_path / "table.pptx"))
    svg = slide_thumbnail(tmp_path / "table.pptx", 1)
    assert svg is not None and svg.count("<rect") == 1 + 40 * 20  # the background, 40 × 20
    with zipfile.ZipFile(tmp_path / "table.pptx", "a", zipfile.ZIP_DEFLATED) as package:
        package.writestr("ppt/media/zeros.bin", bytes(65_000_000))
    assert _only(tmp_path).problem.startswith(
        "no preview: it would unpack to 68.0 MB, over the 64 MB"
    )
    with pytest.raises(TooLarge):  # its thumbnails neither
        slide_thumbnail(tmp_path / "table.pptx", 1)
    with zipfile.ZipFile(tmp_path / "table.pptx", "a", zipfile.ZIP_DEFLATED) as package:
        for number in range(20_000):
            package.writestr(f"ppt/media/{'x' * 40}{number}.bin", b"")
    assert _only(tmp_path).problem == (
        "no preview: it has too many parts to be read for a preview (download it to see it)"
    )


def _slow_pdf(fills: int) -> bytes:
    """A PDF of one page of a few kB that PDFium takes about `fills` / 3,000 seconds to draw."""
    data = zlib.compress(b"0 0 m 600 800 l 0 800 l 600 0 l f\n" * fills, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 600 800] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data),
    ]
    out, offsets = b"%PDF-1.4\n", list[int]()
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    end = b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % len(out)
    return out + b"xref\n0 5\n0000000000 65535 f \n" + table + end


def test_a_pdf_page_that_takes_too_long_to_draw_is_given_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawn in a child process, stopped in time: valet is not held (nor its other PDFs)."""
    (tmp_path / "slow.pdf").write_bytes(_slow_pdf(100_000))  # half a minute of drawing
    monkeypatch.setattr(_previews, "PDF_SECONDS", 1)
    assert (_only(tmp_path).pages, _only(tmp_path).page_thumbnails) == (1, 1)
    started = time.monotonic()
    with pytest.raises(TooLarge, match="its page 1 takes over 1 s to draw"):
        page_thumbnail(tmp_path / "slow.pdf", 1)
    assert time.monotonic() - started < 10
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 and nothing else")
    with pytest.raises(RuntimeError, match=r"was not drawn: .*Failed to load document"):
        page_thumbnail(tmp_path / "broken.pdf", 1)
