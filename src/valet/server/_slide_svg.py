"""A deck's slides as SVG thumbnails, drawn from the deck's shapes as python-pptx reads them.

    svg = slide_svg(Path("sales.pptx"), 1)    # the first slide, or None when there is none

Approximate by design: each shape at its position and size (groups flattened, rotation kept),
text as lines wrapped by an estimate of the glyphs' width (the runs' font size when set, else a
default scaled to the shape), pictures embedded as data: URIs, solid fills, tables as a grid; no
gradients, effects, charts or the deck's own theme (theme colours are Office's defaults).

The deck is untrusted (a command wrote it): every string taken from it is escaped, every number
is formatted by us, and a picture is embedded only as one of the image types browsers show."""

from __future__ import annotations

import base64
import re
import textwrap
from collections.abc import Iterable, Iterator
from html import escape
from itertools import islice
from pathlib import Path
from typing import Any, cast

from pptx import Presentation
from pptx.dml.fill import FillFormat
from pptx.enum.dml import MSO_COLOR_TYPE, MSO_FILL, MSO_THEME_COLOR
from pptx.enum.shapes import MSO_SHAPE, MSO_SHAPE_TYPE, PP_PLACEHOLDER
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.shapes.autoshape import Shape
from pptx.shapes.base import BaseShape
from pptx.shapes.connector import Connector
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.shapes.picture import Picture
from pptx.slide import Slide
from pptx.text.text import TextFrame

Box = tuple[float, float, float, float]
"""A shape's left, top, width and height, in points."""

_EMU_PER_POINT = 12700
_DEFAULT_SLIDE = (9144000, 6858000)  # 10 × 7.5 in: a deck that does not say
_WEB_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GLYPH_WIDTH = 0.5  # an average glyph is about half as wide as the font size
_LINES = 60  # at most this many lines of one shape's text
_TABLE = (40, 20)  # at most this many rows and columns of a table
_INK = "#222222"
_STYLE_FILL = "#4F81BD"  # an auto shape without a fill of its own: the theme's accent 1
_THEME = {
    MSO_THEME_COLOR.DARK_1: "#000000",
    MSO_THEME_COLOR.TEXT_1: "#000000",
    MSO_THEME_COLOR.LIGHT_1: "#FFFFFF",
    MSO_THEME_COLOR.BACKGROUND_1: "#FFFFFF",
    MSO_THEME_COLOR.DARK_2: "#1F497D",
    MSO_THEME_COLOR.TEXT_2: "#1F497D",
    MSO_THEME_COLOR.LIGHT_2: "#EEECE1",
    MSO_THEME_COLOR.BACKGROUND_2: "#EEECE1",
    MSO_THEME_COLOR.ACCENT_1: "#4F81BD",
    MSO_THEME_COLOR.ACCENT_2: "#C0504D",
    MSO_THEME_COLOR.ACCENT_3: "#9BBB59",
    MSO_THEME_COLOR.ACCENT_4: "#8064A2",
    MSO_THEME_COLOR.ACCENT_5: "#4BACC6",
    MSO_THEME_COLOR.ACCENT_6: "#F79646",
}
_TITLES = (PP_PLACEHOLDER.TITLE, PP_PLACEHOLDER.CENTER_TITLE)


def slide_svgs(path: Path) -> list[str]:
    """Every slide of the deck at `path`, in order, as an SVG document."""
    deck = Presentation(str(path))
    return [_svg(slide, _slide_size(deck)) for slide in deck.slides]


def slide_svg(path: Path, number: int) -> str | None:
    """Slide `number` (counted from 1) of the deck at `path` as an SVG document; None when the
    deck has no such slide."""
    deck = Presentation(str(path))
    slides = list(deck.slides)
    if not 1 <= number <= len(slides):
        return None
    return _svg(slides[number - 1], _slide_size(deck))


def _slide_size(deck: Any) -> tuple[float, float]:  # python-pptx leaves these half typed
    width: int | None = deck.slide_width
    height: int | None = deck.slide_height
    if not width or not height:
        width, height = _DEFAULT_SLIDE
    return width / _EMU_PER_POINT, height / _EMU_PER_POINT


def _svg(slide: Slide, size: tuple[float, float]) -> str:
    width, height = size
    background = _fill_colour(slide.background.fill) or "#FFFFFF"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(width * 4 / 3)}" '
        f'height="{_n(height * 4 / 3)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        'font-family="Calibri, Carlito, Arial, Liberation Sans, sans-serif">'
        f'<rect width="{_n(width)}" height="{_n(height)}" fill="{background}"/>'
        f"{''.join(_shapes(slide.shapes))}</svg>"
    )


def _shapes(shapes: Iterable[BaseShape]) -> Iterator[str]:
    for shape in shapes:
        box = _box(shape)
        if box is None:
            continue
        if isinstance(shape, GroupShape):
            drawn = _group(shape, box)
        elif isinstance(shape, Picture):
            drawn = _picture(shape, box)
        elif isinstance(shape, GraphicFrame):
            drawn = _frame(shape, box)
        elif isinstance(shape, Connector):
            drawn = _connector(shape)
        elif isinstance(shape, Shape):
            drawn = _shape(shape, box)
        else:
            continue
        rotation = shape.rotation if not isinstance(shape, Connector) else 0.0
        if rotation:
            x, y, w, h = box
            centre = f"{_n(x + w / 2)} {_n(y + h / 2)}"
            drawn = f'<g transform="rotate({_n(rotation)} {centre})">{drawn}</g>'
        yield drawn


def _box(shape: BaseShape) -> Box | None:
    edges: list[int | None] = [shape.left, shape.top, shape.width, shape.height]  # None: unset
    if any(edge is None for edge in edges):
        return None
    left, top, width, height = (edge / _EMU_PER_POINT for edge in edges if edge is not None)
    return left, top, width, height


def _group(group: GroupShape, box: Box) -> str:
    """The group's shapes, mapped from its children's coordinates onto its own box."""
    x, y, w, h = box
    element: Any = group.element  # a p:grpSp, its children's offset and extent untyped
    offset, extent = element.chOff, element.chExt
    scale_x = w / (extent.cx / _EMU_PER_POINT) if extent.cx else 1.0
    scale_y = h / (extent.cy / _EMU_PER_POINT) if extent.cy else 1.0
    inner = "".join(_shapes(group.shapes))
    transform = (
        f"translate({_n(x)} {_n(y)}) scale({_n(scale_x, 4)} {_n(scale_y, 4)}) "
        f"translate({_n(-offset.x / _EMU_PER_POINT)} {_n(-offset.y / _EMU_PER_POINT)})"
    )
    return f'<g transform="{transform}">{inner}</g>'


def _picture(picture: Picture, box: Box) -> str:
    try:
        image = picture.image
    except (AttributeError, KeyError, ValueError):  # a linked picture: nothing embedded
        return _placeholder(box)
    kind = image.content_type
    if kind not in _WEB_IMAGES:  # EMF, WMF, TIFF…: nothing a browser shows
        return _placeholder(box)
    data = base64.b64encode(image.blob).decode("ascii")
    return f'<image {_at(box)} preserveAspectRatio="none" href="data:{kind};base64,{data}"/>'


def _frame(frame: GraphicFrame, box: Box) -> str:
    """A table as its grid and its cells' first lines (of its first rows and columns: a deck
    may hold a table of a million cells); anything else (a chart) as a frame."""
    if not frame.has_table:
        return _placeholder(box)
    table: Any = frame.table  # python-pptx's table is half typed
    x, top, _, _ = box
    most_rows, most_columns = _TABLE
    widths = [column.width / _EMU_PER_POINT for column in islice(table.columns, most_columns)]
    rows: Iterable[Any] = table.rows
    heights: list[float] = [row.height / _EMU_PER_POINT for row in islice(rows, most_rows)]
    parts: list[str] = []
    y = top
    for row_index, height in enumerate(heights):
        size = max(4.0, min(12.0, height * 0.5))
        left = x
        for column_index, width in enumerate(widths):
            cell = table.cell(row_index, column_index)
            fill = _fill_colour(cell.fill) or "none"
            parts.append(
                f'<rect {_at((left, y, width, height))} fill="{fill}" stroke="#999999" '
                'stroke-width="0.75"/>'
            )
            first = cell.text_frame.text.split("\n")[0].split("\v")[0]
            if first.strip():
                fitted = textwrap.shorten(first, max(4, int(width / (size * _GLYPH_WIDTH))))
                parts.append(
                    f'<text x="{_n(left + 3)}" y="{_n(y + (height + size * 0.7) / 2)}" '
                    f'font-size="{_n(size)}" fill="{_INK}">{_text(fitted)}</text>'
                )
            left += width
        y += height
    return "".join(parts)


def _connector(connector: Connector) -> str:
    points = (connector.begin_x, connector.begin_y, connector.end_x, connector.end_y)
    x1, y1, x2, y2 = (value / _EMU_PER_POINT for value in points)
    colour = _colour(connector.line.color) if connector.line.fill.type == MSO_FILL.SOLID else None
    return (
        f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
        f'stroke="{colour or "#404040"}" stroke-width="1"/>'
    )


def _shape(shape: Shape, box: Box) -> str:
    """An auto shape, text box or placeholder: its outline when it is filled, then its text."""
    fill_type = cast(object, shape.fill.type)  # None (typed as never): the style fills it
    styled = shape.shape_type == MSO_SHAPE_TYPE.AUTO_SHAPE and fill_type is None
    fill = _STYLE_FILL if styled else _fill_colour(shape.fill)
    outline = ""
    if fill:
        x, y, w, h = box
        geometry = shape.auto_shape_type if shape.shape_type == MSO_SHAPE_TYPE.AUTO_SHAPE else None
        if geometry == MSO_SHAPE.OVAL:
            outline = (
                f'<ellipse cx="{_n(x + w / 2)}" cy="{_n(y + h / 2)}" rx="{_n(w / 2)}" '
                f'ry="{_n(h / 2)}" fill="{fill}"/>'
            )
        else:
            rounded = geometry == MSO_SHAPE.ROUNDED_RECTANGLE
            corner = f' rx="{_n(min(w, h) / 6)}"' if rounded else ""
            outline = f'<rect {_at(box)}{corner} fill="{fill}"/>'
    if not shape.has_text_frame or not shape.text_frame.text.strip():
        return outline
    title = shape.is_placeholder and shape.placeholder_format.type in _TITLES
    subtitle = shape.is_placeholder and shape.placeholder_format.type == PP_PLACEHOLDER.SUBTITLE
    centred = title or subtitle or shape.shape_type == MSO_SHAPE_TYPE.AUTO_SHAPE
    ink = "#FFFFFF" if styled else _INK
    return outline + _text_lines(shape.text_frame, box, title=title, centred=centred, ink=ink)


def _text_lines(frame: TextFrame, box: Box, *, title: bool, centred: bool, ink: str) -> str:
    """The frame's paragraphs as <text> lines inside `box`, wrapped by an estimate of width; a
    title's text larger, a title's, a subtitle's and an auto shape's centred unless they say
    otherwise."""
    x, y, w, h = box
    left = x + (frame.margin_left or 0) / _EMU_PER_POINT
    right = x + w - (frame.margin_right or 0) / _EMU_PER_POINT
    paragraphs = list(frame.paragraphs)
    default = max(6.0, min(44.0 if title else 24.0, h / (1.3 * max(1, len(paragraphs)))))
    lines: list[tuple[str, float, str, float, str, bool]] = []  # text, size, anchor, x, ink, bold
    for paragraph in paragraphs:
        runs = list(paragraph.runs)
        sized = [run.font.size for run in runs if run.font.size] or [paragraph.font.size]
        size = sized[0].pt if sized[0] else default
        colour = next((c for run in runs if (c := _colour(run.font.color))), ink)
        bold = any(run.font.bold for run in runs) or bool(paragraph.font.bold)
        alignment = paragraph.alignment or (PP_ALIGN.CENTER if centred else PP_ALIGN.LEFT)
        indent = left + paragraph.level * 18
        anchor, at = {
            PP_ALIGN.CENTER: ("middle", (indent + right) / 2),
            PP_ALIGN.RIGHT: ("end", right),
        }.get(alignment, ("start", indent))
        per_line = max(1, int((right - indent) / (size * _GLYPH_WIDTH)))
        for part in re.split("[\v\n]", paragraph.text):
            wrapped = textwrap.wrap(part, per_line) if frame.word_wrap is not False else [part]
            lines += [(line, size, anchor, at, colour, bold) for line in wrapped or [""]]
    lines = lines[:_LINES]
    height = sum(size * 1.2 for _, size, *_ in lines)
    vertical = frame.vertical_anchor or (MSO_ANCHOR.MIDDLE if title else MSO_ANCHOR.TOP)
    top = y + (frame.margin_top or 0) / _EMU_PER_POINT
    if vertical == MSO_ANCHOR.MIDDLE:
        top = y + (h - height) / 2
    elif vertical == MSO_ANCHOR.BOTTOM:
        top = y + h - (frame.margin_bottom or 0) / _EMU_PER_POINT - height
    drawn: list[str] = []
    for text, size, anchor, at, colour, bold in lines:
        top += size * 1.2
        if text.strip():
            weight = ' font-weight="bold"' if bold else ""
            drawn.append(
                f'<text x="{_n(at)}" y="{_n(top - size * 0.25)}" font-size="{_n(size)}" '
                f'text-anchor="{anchor}" fill="{colour}"{weight}>{_text(text)}</text>'
            )
    return "".join(drawn)


def _fill_colour(fill: FillFormat) -> str | None:
    return _colour(fill.fore_color) if fill.type == MSO_FILL.SOLID else None


def _colour(colour: Any) -> str | None:  # a ColorFormat, half typed
    """`#RRGGBB` for an RGB or theme colour; None when the colour is not set."""
    if colour.type == MSO_COLOR_TYPE.RGB:
        return f"#{colour.rgb}"
    if colour.type == MSO_COLOR_TYPE.SCHEME:
        return _THEME.get(colour.theme_color)
    return None


def _placeholder(box: Box) -> str:
    return f'<rect {_at(box)} fill="#F2F2F2" stroke="#BFBFBF" stroke-width="0.75"/>'


def _at(box: Box) -> str:
    x, y, w, h = box
    return f'x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}"'


def _text(text: str) -> str:
    """`text` as XML character data: escaped, without the characters XML cannot hold."""
    return escape(_NOT_XML.sub("", text), quote=True)


def _n(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"
