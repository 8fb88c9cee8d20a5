"""Controls made of plain elements, the way a sighted person finds them, in real Chromium.

The page (/widgets of the bundled sites) has no ARIA: spans and divs made clickable by
listeners, icon-only trash and star buttons, a folder tree, a mouse-only sortable list and
slider, a debounced autocomplete, a textarea next to a text input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from valet.browser import BrowserSession, BrowserSettings, Element, Observation, render_observation
from valet.sites import SiteServer


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[BrowserSession]:
    browser = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
    yield browser
    await browser.close()


async def widgets(session: BrowserSession, sites: SiteServer) -> Observation:
    outcome = await session.goto(sites.url_for("/widgets"))
    assert outcome.ok, outcome.message
    return await session.observe()


def named(obs: Observation, text: str, role: str | None = None) -> list[Element]:
    """The elements whose name (or descriptor) contains `text`."""
    return [e for e in obs.elements if text in e.name and (role is None or e.role == role)]


def one(obs: Observation, text: str, role: str | None = None) -> Element:
    found = named(obs, text, role)
    assert len(found) == 1, f"{len(found)} elements {text!r} in:\n{render_observation(obs)}"
    return found[0]


async def result(session: BrowserSession) -> str:
    obs = await session.observe()
    line = next(line for line in obs.text.splitlines() if line.startswith("Result:"))
    return line.removeprefix("Result:").strip()


async def test_a_span_with_a_click_listener_is_a_control(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    link = one(obs, "Open report")
    assert link.role == "clickable"
    assert (await session.click(link.id)).ok
    assert await result(session) == "report opened"


async def test_icon_only_trash_and_star_are_told_apart_by_their_text(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    trash = named(obs, "icon: trash")
    stars = named(obs, "icon: star")
    assert len(trash) == 2 and len(stars) == 2, render_observation(obs)
    bobs = [e for e in trash if "Report" in e.name]  # the one next to Bob's mail
    assert len(bobs) == 1, render_observation(obs)
    assert (await session.click(bobs[0].id)).ok
    assert await result(session) == "deleted Bob"
    # the mail rows themselves are controls too (they open the mail), named by their text
    assert one(await session.observe(), "Ann Lee Lunch?").extra == "(mail)"


async def test_a_folder_and_a_file_are_told_apart_and_the_folder_opens(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    folder = one(obs, "Documents")
    assert folder.extra == "(folder)"
    assert one(obs, "readme.md").extra == "(file)"
    assert not named(obs, "notes.txt")  # inside the closed folder
    outcome = await session.click(folder.id)
    assert outcome.ok and outcome.changed, outcome.message
    opened = await session.observe()
    notes = one(opened, "notes.txt")
    assert notes.new and notes.extra == "(file)"


async def test_sortable_items_and_a_drawn_slider_are_listed_with_what_they_are(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    items = [e for e in obs.elements if e.role == "listitem" and "draggable" in e.states]
    assert [e.name for e in items] == ["Three", "One", "Two"]
    [slider] = [e for e in obs.elements if e.role == "slider"]
    assert slider.extra == "handle at 30% of its track"


async def test_a_tab_drawn_with_divs_says_which_is_selected(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    assert "selected" in one(obs, "Overview").states
    details = one(obs, "Details")
    assert "selected" not in details.states
    assert (await session.click(details.id)).ok
    after = await session.observe()
    assert "selected" in one(after, "Details").states
    assert "selected" not in one(after, "Overview").states


async def test_a_textarea_and_a_text_input_print_differently(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    assert one(obs, "Note", "textbox").extra == "multi-line"
    assert one(obs, "Subject", "textbox").extra is None


async def test_an_autocomplete_that_appears_200_ms_after_typing_is_in_the_next_observation(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    city = one(obs, "City", "textbox")
    typed = await session.type(city.id, "Pa")
    assert typed.ok and typed.changed, typed.message
    after = await session.observe()  # the observation taken right after typing
    suggestion = one(after, "Paris")
    assert suggestion.new and suggestion.role == "listitem"
    assert (await session.click(suggestion.id)).ok
    assert await result(session) == "picked Paris"


async def test_without_waiting_for_the_typing_s_timers_the_list_shows_up_a_step_late(
    tmp_path: Path, sites: SiteServer
) -> None:
    """What the wait for timers set off by the action buys (and that the test above is not
    passing by luck): with it switched off, the observation after typing has no list yet."""
    settings = BrowserSettings(settle_busy_max_ms=0)
    async with await BrowserSession.start(settings, tmp_path / "artifacts") as session:
        obs = await widgets(session, sites)
        typed = await session.type(one(obs, "City", "textbox").id, "Pa")
        assert typed.ok, typed.message
        assert not named(await session.observe(), "Paris")


async def test_each_control_carries_the_link_a_click_on_it_follows(
    session: BrowserSession, sites: SiteServer
) -> None:
    """The gateway checks a click's destination from the index, with no extra trip."""
    obs = await widgets(session, sites)
    assert one(obs, "valet demo sites").href == sites.url_for("/")
    assert one(obs, "Open report").href == ""  # in no link


async def test_a_menu_that_opens_300_ms_after_hovering_is_in_the_next_observation(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    assert not named(obs, "Open recent")
    hovered = await session.hover(one(obs, "File").id)
    assert hovered.ok and hovered.changed, hovered.message
    item = one(await session.observe(), "Open recent")
    assert item.new and item.role == "listitem"
    assert (await session.click(item.id)).ok
    assert await result(session) == "menu Open recent"


async def test_with_the_screenshot_each_control_in_view_shows_its_point(
    session: BrowserSession, sites: SiteServer
) -> None:
    """A model that sees the screenshot also reads where each control is, for click_at."""
    assert (await session.goto(sites.url_for("/widgets"))).ok
    plain = await session.observe()
    assert "@" not in render_observation(plain).split("page:", 1)[1]
    seen = await session.observe(screenshot=True)
    assert seen.screenshot is not None
    link = one(seen, "Open report")
    assert link.point is not None
    line = next(x for x in render_observation(seen).splitlines() if "Open report" in x)
    assert line.endswith(f" @{link.point[0]},{link.point[1]}"), line
    assert (await session.click_at(*link.point)).ok
    assert await result(session) == "report opened"


async def test_a_multiple_choice_list_takes_several_options_and_a_single_one_says_no(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await widgets(session, sites)
    toppings = one(obs, "Toppings")
    picked = await session.select(toppings.id, ["cheese", "Olives"])
    assert picked.ok, picked.message
    assert one(await session.observe(), "Toppings").value == "Cheese, Olives"
    again = await session.select(toppings.id, ["Ham"])  # exactly those: the others are unset
    assert again.ok and one(await session.observe(), "Toppings").value == "Ham"
    size = one(obs, "Size")
    refused = await session.select(size.id, ["Small", "Large"])
    assert not refused.ok and "takes one option" in refused.message
    assert (await session.select(size.id, "large")).ok
