"""A deck's slides drawn as SVG from python-pptx decks: one well-formed document per slide at
the deck's size, text at its place and size (escaped, never markup), pictures embedded, fills
and groups drawn, a picture a browser cannot show left as a frame."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.util import Emu, Inches, Pt

from valet.server._slide_svg import slide_svg, slide_svgs

SVG = "{http://www.w3.org/2000/svg}"
TITLE = "<script>x</script> & co"
MARKUP = "\"quoted\" 'single' <img src=x onerror=alert(1)>"


def _picture(kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(out, kind)
    return out.getvalue()


def _texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_each_slide_is_an_svg_document_at_the_decks_size(tmp_path: Path) -> None:
    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(12192000), Emu(6858000)  # 16:9, 13.33 × 7.5 in
    for title in ("One", "Two", "Three"):
        deck.slides.add_slide(deck.slide_layouts[5]).shapes.title.text = title  # pyright: ignore[reportOptionalMemberAccess]
    deck.save(str(tmp_path / "deck.pptx"))

    svgs = slide_svgs(tmp_path / "deck.pptx")

    roots = [ET.fromstring(svg) for svg in svgs]
    assert [root.tag for root in roots] == [f"{SVG}svg"] * 3
    assert roots[0].get("viewBox") == "0 0 960 540"  # in points
    assert roots[0].get("width") == "1280" and roots[0].get("height") == "720"  # 96 dpi
    background = roots[0].find(f"{SVG}rect")
    assert background is not None and background.get("fill") == "#FFFFFF"
    assert [_texts(svg) for svg in svgs] == [["One"], ["Two"], ["Three"]]
    assert slide_svg(tmp_path / "deck.pptx", 2) == svgs[1]
    assert slide_svg(tmp_path / "deck.pptx", 0) is None
    assert slide_svg(tmp_path / "deck.pptx", 4) is None


def test_text_is_escaped_and_never_markup(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = TITLE  # pyright: ignore[reportOptionalMemberAccess]
    box = slide.shapes.add_textbox(Inches(1), Inches(3), Inches(6), Inches(1))
    box.text_frame.text = MARKUP
    deck.save(str(tmp_path / "deck.pptx"))

    svg = slide_svgs(tmp_path / "deck.pptx")[0]

    assert "&lt;script&gt;x&lt;/script&gt; &amp; co" in svg
    assert "<script" not in svg and "<img" not in svg
    root = ET.fromstring(svg)
    assert {element.tag for element in root.iter()} <= {
        f"{SVG}{t}" for t in ("svg", "rect", "text")
    }
    assert " ".join(_texts(svg)).split() == [
        *TITLE.split(),
        *MARKUP.split(),
    ]


def test_a_picture_is_embedded_where_it_sits(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    png = _picture()
    slide.shapes.add_picture(io.BytesIO(png), Inches(1), Inches(2), Inches(3), Inches(1.5))
    deck.save(str(tmp_path / "deck.pptx"))

    image = ET.fromstring(slide_svgs(tmp_path / "deck.pptx")[0]).find(f"{SVG}image")

    assert image is not None
    place = [image.get(name) for name in ("x", "y", "width", "height")]
    assert place == ["72", "144", "216", "108"]  # points
    prefix = "data:image/png;base64,"
    href = image.get("href") or ""
    assert href.startswith(prefix) and base64.b64decode(href[len(prefix) :]) == png


def test_a_picture_browsers_cannot_show_is_a_frame(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_picture(io.BytesIO(_picture("TIFF")), Inches(1), Inches(1), Inches(2))
    deck.save(str(tmp_path / "deck.pptx"))

    root = ET.fromstring(slide_svgs(tmp_path / "deck.pptx")[0])

    assert root.find(f"{SVG}image") is None
    frames = [r for r in root.iter(f"{SVG}rect") if r.get("x") == "72" and r.get("y") == "72"]
    assert len(frames) == 1 and frames[0].get("stroke")


def test_font_size_is_the_runs_else_scaled_to_the_shape(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    sized = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
    sized.text_frame.text = "Thirty points"
    sized.text_frame.paragraphs[0].runs[0].font.size = Pt(30)
    small = slide.shapes.add_textbox(Inches(1), Inches(3), Inches(6), Inches(0.25))
    small.text_frame.text = "A short box"
    deck.save(str(tmp_path / "deck.pptx"))

    sizes = {
        t.text: float(t.get("font-size") or 0)
        for t in ET.fromstring(slide_svgs(tmp_path / "deck.pptx")[0]).iter(f"{SVG}text")
    }

    assert sizes["Thirty points"] == 30
    assert 6 <= sizes["A short box"] < 18  # a 18 pt box: smaller than the default 24


def test_long_text_wraps_inside_its_shape(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(3))
    box.text_frame.word_wrap = True
    words = "a long sentence that could never fit on one line of a three inch box at twenty"
    box.text_frame.text = words
    box.text_frame.paragraphs[0].runs[0].font.size = Pt(20)
    deck.save(str(tmp_path / "deck.pptx"))

    lines = list(ET.fromstring(slide_svgs(tmp_path / "deck.pptx")[0]).iter(f"{SVG}text"))

    assert len(lines) >= 3
    assert " ".join(line.text or "" for line in lines) == words
    assert {line.get("x") for line in lines} == {"79.2"}  # 1 in and the 0.1 in inset
    baselines = [float(line.get("y") or 0) for line in lines]
    assert baselines == sorted(baselines) and baselines[-1] < 72 + 216  # inside the box


def test_fills_and_groups_are_drawn(tmp_path: Path) -> None:
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    square = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, Inches(1), Inches(1), Inches(2), Inches(1))
    square.fill.solid()
    square.fill.fore_color.rgb = RGBColor(0x12, 0x34, 0x56)
    slide.shapes.add_shape(MSO_SHAPE.OVAL, Inches(4), Inches(1), Inches(2), Inches(2)).text = "Oval"
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(5), Inches(3), Inches(1)).text = "In a group"
    deck.save(str(tmp_path / "deck.pptx"))

    root = ET.fromstring(slide_svgs(tmp_path / "deck.pptx")[0])

    fills = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("x") == "72"]
    assert fills == ["#123456"]
    ellipse = root.find(f"{SVG}ellipse")
    assert ellipse is not None and ellipse.get("cx") == "360" and ellipse.get("rx") == "72"
    group_element = root.find(f"{SVG}g")
    assert group_element is not None and group_element.get("transform")
    assert [t.text for t in group_element.iter(f"{SVG}text")] == ["In a group"]
    oval_text = [t for t in root.iter(f"{SVG}text") if t.text == "Oval"]
    assert oval_text[0].get("text-anchor") == "middle" and oval_text[0].get("fill") == "#FFFFFF"
