"""The page as one outline in document order, and what is kept when it does not fit, in real
Chromium on local pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from valet.browser import (
    BrowserSession,
    BrowserSettings,
    Element,
    Observation,
    render_observation,
)


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[BrowserSession]:
    browser = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
    yield browser
    await browser.close()


def data_url(html: str) -> str:
    return "data:text/html," + quote(html)


async def page(session: BrowserSession, html: str) -> Observation:
    outcome = await session.goto(data_url(html))
    assert outcome.ok, outcome.message
    return await session.observe()


def body(rendered: str) -> list[str]:
    """The outline's lines (after the `page:` line)."""
    lines = rendered.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("page"))
    return lines[start + 1 :]


CARD = (
    '<div class="card"><h2>{}</h2><p>Depart: {}</p><p>Duration: {}</p><button>Book</button></div>'
)
CARDS = "<h1>Flights to Lisbon</h1>" + "".join(
    CARD.format(*card)
    for card in [
        ("TAP 101", "07:10", "2h 40m"),
        ("EZY 202", "14:30", "3h 05m"),
        ("RYR 303", "21:55", "2h 55m"),
    ]
)


async def test_each_card_keeps_its_repeated_labels_before_its_own_button(
    session: BrowserSession,
) -> None:
    obs = await page(session, CARDS)
    lines = body(render_observation(obs))
    books = [i for i, line in enumerate(lines) if re.fullmatch(r'\[\d+\] button "Book"', line)]
    assert len(books) == 3, lines
    second = lines[books[0] + 1 : books[1]]
    assert second == ["EZY 202", "Depart: 14:30", "Duration: 3h 05m"], lines
    third = lines[books[1] + 1 : books[2]]
    assert third == ["RYR 303", "Depart: 21:55", "Duration: 2h 55m"], lines
    # the labels repeat on every card and stay on every card
    assert sum(line.startswith("Depart:") for line in lines) == 3


async def test_a_label_stands_just_before_its_field_and_is_not_repeated(
    session: BrowserSession,
) -> None:
    html = "<p>Contact us</p><label for=e>Email</label><input id=e><p>We answer in a day.</p>"
    lines = body(render_observation(await page(session, html)))
    assert lines == ["Contact us", '[1] textbox "Email"', "We answer in a day."], lines


ROWS = "".join(
    f'<tr><td>Row {i}</td><td><a href="#r{i}">Open {i}</a></td>'
    f"<td><button>Edit {i}</button></td></tr>"
    for i in range(1, 201)
)


async def test_after_scrolling_to_the_bottom_the_controls_in_view_are_listed(
    session: BrowserSession,
) -> None:
    await page(session, f"<h1>Team</h1><table>{ROWS}</table><button>Save team</button>")
    scrolled = await session.scroll("down", 1000)
    assert scrolled.ok, scrolled.message
    obs = await session.observe()
    rendered = render_observation(obs)
    assert len(rendered) <= BrowserSettings().max_observation_chars
    names = {e.name for e in obs.elements}
    assert {"Edit 200", "Open 200", "Save team"} <= names, rendered
    assert "Edit 1" not in names  # far above the view: left out, and said where
    gap = next(line for line in body(rendered) if line.startswith("… not shown here:"))
    assert 'link "Open 1"' in gap and "controls" in gap, gap
    assert "above the fold:" in rendered


async def test_a_frame_in_view_is_listed_even_when_the_top_page_is_long(
    session: BrowserSession,
) -> None:
    frame = quote("<label for=c>Coupon code</label><input id=c><button>Apply</button>")
    html = (
        f'<iframe title="Coupon" src="data:text/html,{frame}" height=120></iframe>'
        f"<table>{ROWS}{ROWS}</table>"
    )
    obs = await page(session, html)
    rendered = render_observation(obs)
    assert len(rendered) <= BrowserSettings().max_observation_chars
    coupon = [e for e in obs.elements if e.frame == "Coupon"]
    assert {e.name for e in coupon} == {"Coupon code", "Apply"}, rendered
    assert 'in frame "Coupon":' in rendered
    assert obs.omitted_elements > 0 and "… not shown here:" in rendered


def test_short_controls_sit_on_their_own_row_each() -> None:
    """Rows of '- +' buttons: each pair goes after its own row's line, not all on the first."""
    rows = ["Caesar Salad", "Garlic bread", "Chicken wings"]
    text = "\n".join(f"{row}\n- +" for row in rows)
    controls: list[Element] = []
    for index in range(len(rows)):
        controls.append(Element(id=2 * index + 1, role="clickable", name="-"))
        controls.append(Element(id=2 * index + 2, role="clickable", name="+"))
    obs = Observation(url="http://example.test/", title="", tabs=[], elements=controls, text=text)
    lines = body(render_observation(obs))
    assert lines == [
        "Caesar Salad",
        "- +",
        '[1] clickable "-"',
        '[2] clickable "+"',
        "Garlic bread",
        "- +",
        '[3] clickable "-"',
        '[4] clickable "+"',
        "Chicken wings",
        "- +",
        '[5] clickable "-"',
        '[6] clickable "+"',
    ], lines


async def test_find_lists_controls_left_out_of_the_view_and_they_can_be_used(
    session: BrowserSession,
) -> None:
    await page(session, f"<h1>Team</h1><table>{ROWS}</table><button>Save team</button>")
    assert (await session.scroll("down", 1000)).ok
    obs = await session.observe()
    assert "Edit 7" not in {e.name for e in obs.elements}
    found = await session.find("edit 7")
    assert found.ok and found.content is not None, found.message
    lines = found.content.splitlines()
    assert found.message == "found 11 controls matching 'edit 7'", found.message  # 7, 70-79
    first = lines[0]
    assert re.fullmatch(r'\[\d+\] button "Edit 7" \(above the fold\)', first), lines
    clicked = await session.click(int(first[1 : first.index("]")]))
    assert clicked.ok, clicked.message
    by_role = await session.find("textbox")
    assert by_role.message == "found no control matching 'textbox'"


async def test_a_shortened_control_keeps_its_link_target_and_point(
    session: BrowserSession,
) -> None:
    """Names shortened to fit the view change only what is shown: the gateway still reads the
    link a click follows from the index."""
    long = "A very long link name " * 6
    links = "".join(f'<p><a href="/doc/{i}">{long}{i}</a></p>' for i in range(120))
    obs = await page(session, links)
    shortened = [e for e in obs.elements if e.name.endswith("…")]
    assert shortened, render_observation(obs)
    assert all(e.href and "/doc/" in e.href for e in shortened)


async def test_an_old_observation_is_the_before_of_an_action_only_if_nothing_changed(
    tmp_path: Path,
) -> None:
    """The page is not read again before an action when nothing changed since the model's
    observation; when it changed by itself meanwhile, a dead button still says so."""
    html = (
        '<p id=note>waiting</p><button onclick="">Dead</button>'
        "<button onclick=\"document.getElementById('note').textContent='clicked'\">Live</button>"
        "<button onclick=\"setTimeout(() => document.getElementById('note').textContent="
        "'later', 300)\">Soon</button>"
    )
    # every observation is "old" at once; the 300 ms timer is not waited for
    settings = BrowserSettings(observation_reuse_s=0, settle_busy_max_ms=0)
    async with await BrowserSession.start(settings, tmp_path / "artifacts") as session:
        obs = await page(session, html)
        ids = {e.name: e.id for e in obs.elements}
        dead = await session.click(ids["Dead"])
        assert dead.ok and not dead.changed and "no visible change" in dead.message
        live = await session.click(ids["Live"])
        assert live.ok and live.changed, live.message
        assert (await session.click(ids["Soon"])).ok
        seen = await session.observe()
        assert "waiting" not in seen.text and "later" not in seen.text  # not yet
        # the page changes on its own after the model's observation (seen outside valet)
        await (await session.live_page()).get_by_text("later").wait_for()
        after = await session.click(ids["Dead"])
        assert after.ok and not after.changed, after.message  # the dead click did nothing


async def test_a_field_whose_label_comes_after_it_is_named_by_that_label(
    session: BrowserSession,
) -> None:
    entries = "".join(
        f'<div class="entry"><input type="text"><div class="label">{label}</div></div>'
        for label in ("Genre", "Director", "Year")
    )
    lines = body(render_observation(await page(session, f"<p>Fill the form</p>{entries}")))
    assert lines == [
        "Fill the form",
        '[1] textbox (near "Genre" after it)',
        "Genre",
        '[2] textbox (near "Director" after it)',
        "Director",
        '[3] textbox (near "Year" after it)',
        "Year",
    ], lines


async def test_small_images_that_say_something_and_colour_swatches_are_listed(
    session: BrowserSession,
) -> None:
    dot = "data:image/svg+xml," + quote(
        '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"/>'
    )
    html = (
        f'<div>Caesar Salad <img src="{dot}" alt="vegan" width=16 height=16></div>'
        f'<img src="{dot}" alt="A big photo" width=400 height=300>'
        '<div class="picker"><span data-value="#e60000" style="display:inline-block;width:12px;'
        'height:12px;background:#e60000;cursor:pointer" onclick="1"></span></div>'
    )
    obs = await page(session, html)
    images = [e for e in obs.elements if e.role == "img"]
    assert [e.name for e in images] == ["vegan"], render_observation(obs)
    swatch = [e for e in obs.elements if "color #e60000" in e.name]
    assert len(swatch) == 1, render_observation(obs)


async def test_the_same_value_shown_twice_in_a_row_is_shown_twice(
    session: BrowserSession,
) -> None:
    """Two sliders both at 14: each shows its own value, though the lines are alike."""
    html = "<p>Volume</p><p>14</p><p>Balance</p><p>14</p><p>14</p>"
    lines = body(render_observation(await page(session, html)))
    assert lines == ["Volume", "14", "Balance", "14", "14"], lines
