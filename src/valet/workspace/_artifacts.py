"""Typed helpers that make result files in the workspace without writing a program: a table
(xlsx with its formulas and an optional native chart, or csv), a chart (png or svg), a slide
deck (pptx) and a PDF report (from Markdown, printed by valet's own Chromium, offline).

They run in valet's process on data only (nothing the model writes is executed): each is a
function of its arguments and the workspace's files it names (pictures), which must be inside
the workspace. The libraries come from the `workspace` extra.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from valet.gateway import ToolFailure

Cell = str | int | float | bool | None


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableChart(_Args):
    kind: Literal["bar", "line", "pie"] = "bar"
    title: str = ""
    value_columns: list[int] = Field(
        default_factory=lambda: [2],
        description="Which columns hold the values (1 = the first column).",
    )
    label_column: int = Field(default=1, ge=1, description="Which column holds the labels.")


class Table(_Args):
    path: str = Field(description="Where, in the workspace: a name ending in .xlsx or .csv.")
    columns: list[str] = Field(min_length=1, max_length=200, description="The header row.")
    rows: list[list[Cell]] = Field(
        max_length=100_000,
        description="The rows; a text starting with '=' is a formula, kept as written "
        "(e.g. '=SUM(B2:B4)').",
    )
    sheet: str = Field(default="Sheet1", min_length=1, max_length=31)
    chart: TableChart | None = Field(
        default=None, description="xlsx only: a native chart of the table, beside it."
    )


class Series(_Args):
    name: str = ""
    values: list[float] = Field(min_length=1, max_length=10_000)


class Chart(_Args):
    path: str = Field(description="Where, in the workspace: a name ending in .png or .svg.")
    kind: Literal["bar", "line", "pie", "scatter"] = "bar"
    title: str = ""
    labels: list[str] = Field(
        default_factory=lambda: list[str](), description="The x values (categories)."
    )
    series: list[Series] = Field(min_length=1, max_length=20)
    x_label: str = ""
    y_label: str = ""


class Slide(_Args):
    title: str = Field(max_length=500)
    bullets: list[str] = Field(default_factory=lambda: list[str](), max_length=30)
    image: str = Field(default="", description="A picture of the workspace (png, jpg or gif).")
    notes: str = Field(default="", description="Speaker notes.")


class Slides(_Args):
    path: str = Field(description="Where, in the workspace: a name ending in .pptx.")
    slides: list[Slide] = Field(min_length=1, max_length=100)


class Report(_Args):
    path: str = Field(description="Where, in the workspace: a name ending in .pdf.")
    title: str = Field(min_length=1, max_length=500)
    markdown: str = Field(
        max_length=500_000,
        description="The body in Markdown; pictures of the workspace as ![caption](chart.png).",
    )


def _suffix(path: Path, *allowed: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ToolFailure(f"{path.name!r} must end in {' or '.join(allowed)}")
    return suffix


def write_table(args: Table, path: Path) -> str:
    width = len(args.columns)
    if any(len(row) > width for row in args.rows):
        raise ToolFailure(f"a row has more cells than the {width} columns")
    if _suffix(path, ".xlsx", ".csv") == ".csv":
        if args.chart is not None:
            raise ToolFailure("a chart needs an .xlsx table (or make it with the chart tool)")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(args.columns)
        writer.writerows(args.rows)
        path.write_text(out.getvalue(), encoding="utf-8")
        return f"{len(args.rows)} rows"
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet: Any = book.active
    sheet.title = args.sheet
    sheet.append(args.columns)
    for row in args.rows:
        sheet.append(row)
    for index, name in enumerate(args.columns, start=1):
        longest = max([len(str(name))] + [len(str(r[index - 1])) for r in args.rows[:200]
                                          if len(r) >= index])  # fmt: skip
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(8, longest + 2))
    if args.chart is not None:
        _add_chart(sheet, args, width)
    book.save(path)
    formulas = sum(1 for row in args.rows for c in row if isinstance(c, str) and c[:1] == "=")
    return f"{len(args.rows)} rows, {formulas} formulas" + (", a chart" if args.chart else "")


def _add_chart(sheet: Any, args: Table, width: int) -> None:
    from openpyxl.chart import BarChart, LineChart, PieChart, Reference
    from openpyxl.utils import get_column_letter

    spec = args.chart
    assert spec is not None
    columns = [spec.label_column, *spec.value_columns]
    if any(not 1 <= c <= width for c in columns) or not spec.value_columns:
        raise ToolFailure(f"the chart's columns must be between 1 and {width}")
    last = len(args.rows) + 1
    chart: Any = {"bar": BarChart, "line": LineChart, "pie": PieChart}[spec.kind]()
    chart.title = spec.title or None
    for column in spec.value_columns:
        data = Reference(sheet, min_col=column, min_row=1, max_row=last)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=spec.label_column, min_row=2, max_row=last))
    sheet.add_chart(chart, f"{get_column_letter(width + 2)}2")


def write_chart(args: Chart, path: Path) -> str:
    suffix = _suffix(path, ".png", ".svg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure: Any = Figure(figsize=(8, 4.5), dpi=120, layout="tight")
    FigureCanvasAgg(figure)
    axes: Any = figure.add_subplot()
    count = len(args.series[0].values)
    labels = args.labels or [str(i + 1) for i in range(count)]
    if any(len(s.values) != len(labels) for s in args.series):
        raise ToolFailure(f"each series needs {len(labels)} values, one per label")
    if args.kind == "pie":
        axes.pie(args.series[0].values, labels=labels, autopct="%1.0f%%")
        axes.axis("equal")
    else:
        spread = 0.8 / len(args.series)
        for index, series in enumerate(args.series):
            if args.kind == "bar":
                places = [i + (index - (len(args.series) - 1) / 2) * spread for i in range(count)]
                axes.bar(places, series.values, width=spread, label=series.name or None)
            elif args.kind == "line":
                axes.plot(range(count), series.values, marker="o", label=series.name or None)
            else:
                axes.scatter(range(count), series.values, label=series.name or None)
        axes.set_xticks(range(count), labels, rotation=30 if count > 6 else 0)
        axes.set_xlabel(args.x_label)
        axes.set_ylabel(args.y_label)
        if any(s.name for s in args.series):
            axes.legend()
    axes.set_title(args.title)
    figure.savefig(path, format=suffix[1:])
    return f"a {args.kind} chart of {len(args.series)} series"


def write_slides(args: Slides, path: Path, pictures: dict[str, Path]) -> str:
    _suffix(path, ".pptx")
    from pptx import Presentation
    from pptx.util import Inches, Pt

    deck: Any = Presentation()
    for spec in args.slides:
        layout = deck.slide_layouts[1 if spec.bullets else 5]  # title and content / title only
        slide: Any = deck.slides.add_slide(layout)
        slide.shapes.title.text = spec.title
        if spec.bullets:
            body: Any = slide.placeholders[1].text_frame
            body.text = spec.bullets[0]
            for bullet in spec.bullets[1:]:
                body.add_paragraph().text = bullet
            if len(spec.bullets) > 7:
                for paragraph in body.paragraphs:
                    paragraph.font.size = Pt(16)
        if spec.image:
            top, height = (Inches(4.3), Inches(3)) if spec.bullets else (Inches(1.6), Inches(5.4))
            picture = slide.shapes.add_picture(str(pictures[spec.image]), Inches(1), top)
            scale = min(height / picture.height, Inches(8) / picture.width)
            picture.width, picture.height = int(picture.width * scale), int(picture.height * scale)
            picture.left = int((deck.slide_width - picture.width) / 2)
        if spec.notes:
            slide.notes_slide.notes_text_frame.text = spec.notes
    deck.save(str(path))
    return f"{len(args.slides)} slides"


def report_html(args: Report, pictures: dict[str, Path]) -> str:
    """The report as one self-contained page: Markdown without raw HTML (a page or file the
    agent read cannot slip markup in), the workspace's pictures inlined."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")

    def image(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
        token = tokens[index]
        source = str(token.attrGet("src") or "")
        alt = html.escape(token.content or "")
        found = pictures.get(source)
        if found is None:
            return f"<em>[{alt or 'picture'}: {html.escape(source)} is not in the workspace]</em>"
        kind = mimetypes.guess_type(found.name)[0] or "image/png"
        data = base64.b64encode(found.read_bytes()).decode()
        picture = f'<img src="data:{kind};base64,{data}" alt="{alt}">'
        return f"<figure>{picture}<figcaption>{alt}</figcaption></figure>"

    parser.add_render_rule("image", image)
    body = parser.render(args.markdown)
    return _PAGE.format(title=html.escape(args.title), body=body)


SLIDE_PICTURES = (".png", ".jpg", ".jpeg", ".gif")
PAGE_PICTURES = (*SLIDE_PICTURES, ".svg", ".webp")


def pictures_of(
    names: list[str], inside: Callable[[str], Path], kinds: tuple[str, ...]
) -> dict[str, Path]:
    """The workspace files named as pictures (`inside` resolves and checks a name)."""
    found: dict[str, Path] = {}
    for name in names:
        path = inside(name)
        if path.suffix.lower() not in kinds:
            raise ToolFailure(f"{name!r} is not a picture ({', '.join(kinds)})")
        if not path.is_file():
            raise ToolFailure(f"there is no picture {name!r} in the workspace")
        found[name] = path
    return found


def report_pictures(markdown: str) -> list[str]:
    """The picture sources a report's Markdown names (data and web addresses are not)."""
    from markdown_it import MarkdownIt

    names: list[str] = []
    for token in MarkdownIt("commonmark").parse(markdown):
        for child in token.children or ():
            source = str(child.attrGet("src") or "") if child.type == "image" else ""
            if source and ":" not in source and source not in names:
                names.append(source)
    return names


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body {{ font: 11pt/1.5 "DejaVu Sans", sans-serif; color: #1d1d1f; }}
h1 {{ font-size: 20pt; margin: 0 0 0.6em; }} h2 {{ font-size: 14pt; margin-top: 1.4em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }}
figure {{ margin: 1em 0; text-align: center; }} img {{ max-width: 100%; max-height: 18cm; }}
figcaption {{ color: #555; font-size: 9pt; }} code, pre {{ font-family: "DejaVu Sans Mono"; }}
pre {{ background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; }}
</style></head><body><h1>{title}</h1>
{body}</body></html>"""
