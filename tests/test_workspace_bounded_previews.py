"""The files page reads a bounded part of each file a command wrote, on every view: a huge CSV's
or log's first megabyte, a table's first rows and columns, and no spreadsheet or deck that would
unpack to gigabytes (a zip bomb), hold a million parts, or draw a million table cells."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.util import Inches

from valet.server._previews import Preview, TooLarge, previews, slide_thumbnail

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
