"""Mouse and keyboard actions in real headless Chromium on the bundled pages under /mouse/:
drag between elements and points (a mousedown/mousemove/mouseup sortable list, HTML5 drag and
drop, a slider handle), hover at a point, press with a repeat count, wait and wait_for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from valet.audit import Redactor
from valet.browser import (
    BrowserSession,
    BrowserSettings,
    ByRole,
    Element,
    Observation,
    render_observation,
)
from valet.connectors import DidNotHappen, Unsure
from valet.gateway import GatedToolbox, Gateway, ScriptedApprover, TaskContext
from valet.policy import NavigationSettings, Policy
from valet.runtime._journal import Entry, Journal, JournalFile
from valet.runtime._recovery import Recovery
from valet.sites import SiteServer
from valet.tools import (
    BrowserToolbox,
    Drag,
    HoverAt,
    Point,
    Press,
    Wait,
    WaitFor,
)


@pytest.fixture(scope="module")
async def toolbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserToolbox]:
    session = await BrowserSession.start(BrowserSettings(), tmp_path_factory.mktemp("artifacts"))
    yield BrowserToolbox(session)
    await session.close()


async def open_page(toolbox: BrowserToolbox, url: str) -> Observation:
    outcome = await toolbox.session.goto(url)
    assert outcome.ok, outcome.message
    return await toolbox.observe()


def named(observation: Observation, name: str) -> Element:
    for element in observation.elements:
        if element.name == name:
            return element
    raise AssertionError(f"no element {name!r} in:\n{render_observation(observation)}")


async def text_of(toolbox: BrowserToolbox, selector: str) -> str:
    page = await toolbox.session.live_page()
    return await page.locator(selector).inner_text()


async def centre(toolbox: BrowserToolbox, selector: str) -> Point:
    page = await toolbox.session.live_page()
    box = await page.locator(selector).bounding_box()
    assert box is not None
    return Point(x=box["x"] + box["width"] / 2, y=box["y"] + box["height"] / 2)


async def test_a_sortable_list_is_reordered_by_dragging_one_item_onto_another(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/sortable"))
    assert await text_of(toolbox, "#order") == "3,1,4,2,5"
    outcome = await toolbox.execute(Drag(source=named(page, "5").id, target=named(page, "1").id))
    assert outcome.ok, outcome.message
    assert outcome.changed
    assert await text_of(toolbox, "#order") == "3,5,1,4,2"
    page = await toolbox.observe()
    outcome = await toolbox.execute(Drag(source=named(page, "3").id, target=named(page, "4").id))
    assert outcome.ok, outcome.message
    assert await text_of(toolbox, "#order") == "5,1,4,3,2"


async def test_a_sortable_list_is_reordered_by_dragging_between_points(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    await open_page(toolbox, sites.url_for("/mouse/sortable"))
    last = await centre(toolbox, "#list li:nth-child(5)")
    first = await centre(toolbox, "#list li:nth-child(1)")
    top_of_first = Point(x=first.x, y=first.y - 10)  # its upper half: the new item goes before
    outcome = await toolbox.execute(Drag(source=last, target=top_of_first))
    assert outcome.ok, outcome.message
    assert await text_of(toolbox, "#order") == "5,3,1,4,2"


async def test_an_html5_draggable_is_dropped_on_its_target(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/dnd"))
    outcome = await toolbox.execute(
        Drag(source=named(page, "Rock").id, target=named(page, "Archive").id)
    )
    assert outcome.ok, outcome.message
    assert outcome.changed
    assert await text_of(toolbox, "#archived") == "Rock"
    assert await text_of(toolbox, "#bin") == "Archive\nRock"


async def test_a_mouse_only_slider_is_set_by_a_drag_between_points(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    await open_page(toolbox, sites.url_for("/mouse/slider"))
    handle = await centre(toolbox, "#handle")
    page = await toolbox.session.live_page()
    track = await page.locator("#track").bounding_box()
    assert track is not None
    goal = Point(x=track["x"] + track["width"] * 0.75, y=handle.y)
    outcome = await toolbox.execute(Drag(source=handle, target=goal))
    assert outcome.ok, outcome.message
    assert await text_of(toolbox, "#volume") == "75"


async def test_a_drag_from_an_element_to_a_point_and_a_hover_at_a_point(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/sortable"))
    below_last = await centre(toolbox, "#list li:nth-child(5)")
    outcome = await toolbox.execute(
        Drag(source=named(page, "3").id, target=Point(x=below_last.x, y=below_last.y + 10))
    )
    assert outcome.ok, outcome.message
    assert await text_of(toolbox, "#order") == "1,4,2,5,3"
    hovered = await toolbox.execute(HoverAt(x=below_last.x, y=below_last.y))
    assert hovered.ok, hovered.message
    live = await toolbox.session.live_page()
    assert await live.locator("#list li:hover").inner_text() == "3"


async def test_press_repeats_a_key_on_a_spinner(toolbox: BrowserToolbox, sites: SiteServer) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/spinner"))
    tickets = named(page, "Tickets")
    outcome = await toolbox.execute(Press(keys="ArrowDown", times=3, element=tickets.id))
    assert outcome.ok, outcome.message
    assert "pressed ArrowDown 3 times on" in outcome.message
    assert named(await toolbox.observe(), "Tickets").value == "2"
    outcome = await toolbox.execute(Press(keys="ArrowUp", times=2))  # the focused spinner
    assert outcome.ok, outcome.message
    assert named(await toolbox.observe(), "Tickets").value == "4"
    with pytest.raises(ValueError):
        Press(keys="ArrowUp", times=51)


async def test_wait_and_wait_for_see_content_that_appears_late(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    await toolbox.session.goto(sites.url_for("/mouse/late"))
    outcome = await toolbox.execute(WaitFor(text="Report ready"))
    assert outcome.ok, outcome.message
    assert "Download report" in render_observation(await toolbox.observe())

    await toolbox.session.goto(sites.url_for("/mouse/late"))
    outcome = await toolbox.execute(WaitFor())  # the page settles: the button is there
    assert outcome.ok, outcome.message
    assert "settle" in outcome.message
    assert "Download report" in render_observation(await toolbox.observe())

    await toolbox.session.goto(sites.url_for("/mouse/late"))
    outcome = await toolbox.execute(Wait(seconds=1))
    assert outcome.ok, outcome.message
    assert "Download report" in render_observation(await toolbox.observe())
    with pytest.raises(ValueError):
        Wait(seconds=11)


async def test_wait_for_an_element_by_id_or_by_role_and_name(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/dnd"))
    outcome = await toolbox.execute(WaitFor(element=named(page, "Rock").id, timeout=2))
    assert outcome.ok, outcome.message
    await toolbox.session.goto(sites.url_for("/mouse/late"))
    late = ByRole(role="button", name="Download report")
    outcome = await toolbox.execute(WaitFor(element=late, timeout=5))
    assert outcome.ok, outcome.message
    assert "Download report" in render_observation(await toolbox.observe())


def gated(inner: BrowserToolbox, approver: ScriptedApprover, sites: SiteServer) -> GatedToolbox:
    task = TaskContext(task_id="t", on_behalf_of="alice", request="Tidy up the cards")
    here = NavigationSettings(allow_hosts=frozenset({urlsplit(sites.url_for("/")).netloc}))
    rules = Policy(navigation=here)
    return GatedToolbox(inner, Gateway(rules=rules, approver=approver, task=task))


async def test_the_gateway_asks_before_drops_it_cannot_tell_and_lets_slider_drags_pass(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    approver = ScriptedApprover()  # declines every ask
    box = gated(toolbox, approver, sites)
    await toolbox.session.goto(sites.url_for("/mouse/dnd"))
    page = await box.observe()
    rock, archive, trash = (named(page, n).id for n in ("Rock", "Archive", "Trash"))
    binned = await box.execute(Drag(source=rock, target=trash))
    assert not binned.ok and "builtin.ask.delete" in binned.message
    archived = await box.execute(Drag(source=rock, target=archive))
    assert not archived.ok and "builtin.unknown" in archived.message
    assert "cannot tell what dropping" in approver.requests[-1].decision.reason
    by_point = await box.execute(Drag(source=Point(x=20, y=20), target=Point(x=40, y=40)))
    assert not by_point.ok and "builtin.unknown" in by_point.message
    assert await text_of(toolbox, "#archived") == "nothing", "nothing declined ran"

    await toolbox.session.goto(sites.url_for("/mouse/slider"))
    page = await box.observe()
    handle = await centre(toolbox, "#handle")
    outcome = await box.execute(
        Drag(source=named(page, "Volume").id, target=Point(x=handle.x + 200, y=handle.y))
    )
    assert outcome.ok, outcome.message
    assert await text_of(toolbox, "#volume") == "50"
    for harmless in (HoverAt(x=5, y=5), Wait(seconds=0.1), Press(keys="ArrowDown", times=2)):
        assert (await box.execute(harmless)).ok
    assert len(approver.requests) == 3


def test_after_a_restart_a_slider_drag_is_chosen_again_and_a_drop_is_asked_about(
    tmp_path: Path,
) -> None:
    seen = Observation(
        url="http://127.0.0.1/board",
        title="Board",
        tabs=[],
        elements=[
            Element(1, "slider", "Volume"),
            Element(2, "generic", "Card 7"),
            Element(3, "generic", "Done column"),
        ],
        text="",
    )
    task = TaskContext(task_id="t", on_behalf_of="alice", request="Move card 7")
    gateway = Gateway(rules=Policy(), approver=ScriptedApprover(), task=task)
    recovery = Recovery(
        Journal(JournalFile(tmp_path / "journal")), gateway, (), None, Redactor(), seen
    )
    entry = Entry(key="act-3", kind="drag", url=seen.url)
    slider = Drag(source=1, target=Point(x=300, y=10))
    assert isinstance(recovery._on_page(slider), DidNotHappen)  # pyright: ignore[reportPrivateUsage]
    card = Drag(source=2, target=3)
    assert isinstance(recovery._on_page(card), Unsure)  # pyright: ignore[reportPrivateUsage]
    assert recovery.describe(card, entry) == (
        'drag [2] generic "Card 7" onto [3] generic "Done column" on http://127.0.0.1/board'
    )
    assert isinstance(recovery._on_page(Wait(seconds=2)), DidNotHappen)  # pyright: ignore[reportPrivateUsage]


async def test_a_drag_that_would_leave_the_viewport_is_refused_before_the_mouse_is_pressed(
    toolbox: BrowserToolbox, sites: SiteServer
) -> None:
    page = await open_page(toolbox, sites.url_for("/mouse/sortable"))
    outcome = await toolbox.execute(Drag(source=named(page, "5").id, target=Point(x=50, y=5000)))
    assert not outcome.ok
    assert "(50, 5000) is outside the" in outcome.message and "viewport" in outcome.message
    assert await text_of(toolbox, "#order") == "3,1,4,2,5"
