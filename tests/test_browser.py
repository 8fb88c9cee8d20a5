"""valet.browser against real headless Chromium and the bundled local sites."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from valet.browser import (
    BrowserSession,
    BrowserSettings,
    ByRole,
    Element,
    Observation,
    render_observation,
)
from valet.sites import SiteServer


@pytest.fixture(scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserSession]:
    browser = await BrowserSession.start(BrowserSettings(), tmp_path_factory.mktemp("artifacts"))
    yield browser
    await browser.close()


def by_name(obs: Observation, name: str, role: str | None = None) -> Element:
    for element in obs.elements:
        if element.name == name and (role is None or element.role == role):
            return element
    raise AssertionError(f"no element {name!r} in:\n{render_observation(obs)}")


async def open_page(session: BrowserSession, url: str) -> Observation:
    outcome = await session.goto(url)
    assert outcome.ok, outcome.message
    return await session.observe()


async def observe_until(
    session: BrowserSession, predicate: str, timeout_s: float = 5
) -> Observation:
    """Observe until `predicate` occurs in the rendered observation (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        obs = await session.observe()
        if predicate in render_observation(obs) or time.monotonic() > deadline:
            return obs
        await session.wait_for(timeout_s=0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def data_url(html: str) -> str:
    return "data:text/html," + quote(html)


async def test_ids_stay_stable_across_steps_and_clock_ticks(
    session: BrowserSession, sites: SiteServer
) -> None:
    first = await open_page(session, sites.url_for("/dynamic"))
    ids = {e.name: e.id for e in first.elements}
    clock = re.search(r"Server time: (\S+)", first.text)
    assert clock is not None
    # wait for the clock region to tick: an autonomous DOM update elsewhere on the page
    deadline = time.monotonic() + 5
    while True:
        obs = await session.observe()
        now = re.search(r"Server time: (\S+)", obs.text)
        if (now is not None and now.group(1) != clock.group(1)) or time.monotonic() > deadline:
            break
        await session.wait_for(timeout_s=0.3)
    assert now is not None and now.group(1) != clock.group(1)
    for name, element_id in ids.items():
        assert by_name(obs, name).id == element_id

    outcome = await session.click(ids["Show advanced options"])
    assert outcome.ok and outcome.changed, outcome.message
    assert outcome.target is not None and outcome.target.name == "Show advanced options"
    after = await session.observe()
    assert by_name(after, "Archive workspace").new
    toggle = after.element(ids["Show advanced options"])
    assert toggle is not None and "expanded" in toggle.states
    for name, element_id in ids.items():
        assert after.element(element_id) is not None, name
    assert "*[" in render_observation(after)
    again = await session.observe()
    assert not by_name(again, "Archive workspace").new


async def test_dead_button_reports_no_visible_change(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/dynamic"))
    dead = await session.click(by_name(obs, "Does nothing").id)
    assert dead.ok
    assert dead.changed is False
    assert "no visible change" in dead.message
    live = await session.click(by_name(obs, "Increment").id)
    assert live.changed is True, live.message
    assert "Clicked 1 times" in (await session.observe()).text


async def test_offscreen_elements_are_listed_below_the_fold(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/form"))
    submit = by_name(obs, "Submit application")
    assert submit.offscreen and not submit.above
    assert not by_name(obs, "First name").offscreen
    rendered = render_observation(obs)
    assert rendered.index("below the fold:") < rendered.index('"Submit application"')


async def test_frames_and_shadow_roots_are_listed_and_actionable(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/frames"))
    rendered = render_observation(obs)
    assert 'in frame "Coupon code":' in rendered
    coupon = by_name(obs, "Coupon code", "textbox")
    email = by_name(obs, "Email for deals")
    assert coupon.frame == "Coupon code" and email.frame == "Newsletter signup"
    assert by_name(obs, "Shadow name").frame is None

    assert (await session.type(coupon.id, "SPRING10")).ok
    applied = await session.click(by_name(obs, "Apply").id)
    assert applied.ok and applied.changed, applied.message
    assert "Coupon applied: SPRING10" in (await session.observe()).text

    assert (await session.type(email.id, "a@b.c")).ok
    subscribed = await session.click(ByRole(role="button", name="Subscribe"))
    assert subscribed.ok and subscribed.changed, subscribed.message
    assert "Subscribed a@b.c" in (await session.observe()).text

    assert (await session.type(by_name(obs, "Shadow name").id, "Ada")).ok
    shadow = await session.click(by_name(obs, "Shadow action").id)
    assert shadow.ok and shadow.changed, shadow.message
    final = await session.observe()
    assert "Shadow clicked: Ada" in final.text
    assert by_name(final, "Coupon code", "textbox").value == "SPRING10"


async def test_unnamed_controls_get_distinguishable_descriptors(session: BrowserSession) -> None:
    html = """<p>Cart</p>
      <div>USB cable <button><img src="/img/trash.svg"></button></div>
      <div>HDMI cable <button><img src="/img/trash.svg"></button></div>
      <button class="fa fa-pencil"></button>
      <label>Quantity</label> <input name="qty"><span>Note</span> <input>"""
    obs = await open_page(session, data_url(html))
    names = [e.name for e in obs.elements]
    assert len(set(names)) == len(names), names
    assert any("trash" in n and "USB cable" in n for n in names), names
    assert any("pencil" in n for n in names), names
    assert all(n.startswith("(") for n in names), names


async def test_bad_targets_are_readable_failures(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/dynamic"))
    highest = max(e.id for e in obs.elements)
    bad = await session.click(highest + 500)
    assert not bad.ok
    assert bad.message == f"no element {highest + 500}; elements go up to {highest}"
    missing = await session.resolve(ByRole(role="button", name="Buy"))
    assert isinstance(missing, str)
    assert missing.startswith('no button named "Buy"; buttons: ') and '"Load more"' in missing
    assert "roles present" in str(await session.resolve(ByRole(role="slider", name="x")))


async def test_by_role_exact_case_insensitive_and_nth(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/bench/200"))
    refunds = [e for e in obs.elements if e.role == "button" and e.name == "Refund"]
    assert len(refunds) > 2
    assert await session.resolve(ByRole(role="button", name="Refund")) == refunds[0]
    assert await session.resolve(ByRole(role="button", name="Refund", nth=2)) == refunds[2]
    folded = await session.resolve(ByRole(role="BUTTON", name="save SETTINGS"))
    assert isinstance(folded, Element) and folded.name == "Save settings"
    partial = await session.resolve(ByRole(role="checkbox", name="flagged"))
    assert isinstance(partial, Element) and partial.name == "Flagged only"
    too_far = await session.resolve(ByRole(role="button", name="Refund", nth=999))
    assert isinstance(too_far, str) and "only" in too_far


async def test_navigation_errors_are_reported(session: BrowserSession, sites: SiteServer) -> None:
    refused = await session.goto(f"http://127.0.0.1:{free_port()}/")
    assert not refused.ok and "refused" in refused.message
    port = sites.url.rsplit(":", 1)[1].split("/")[0]
    tls = await session.goto(f"https://127.0.0.1:{port}/")
    assert not tls.ok and ("TLS" in tls.message or "SSL" in tls.message), tls.message
    missing = await session.goto(sites.url_for("/edge/404"))
    assert not missing.ok and "HTTP 404" in missing.message
    loop = await session.goto(sites.url_for("/edge/redirect-loop"))
    assert not loop.ok and "redirect" in loop.message
    assert (await session.goto(sites.url_for("/dynamic"))).ok


async def test_downloads_are_saved_to_artifacts(session: BrowserSession, sites: SiteServer) -> None:
    obs = await open_page(session, sites.url_for("/edge/download"))
    link = by_name(obs, "Download orders (CSV)")
    clicked = await session.click(link.id)
    assert clicked.ok, clicked.message
    assert "downloaded voltline-orders.csv" in clicked.message
    assert len(clicked.artifacts) == 1 and clicked.artifacts[0].parent.name == "downloads"
    assert clicked.artifacts[0].read_text().strip()
    fetched = await session.download(sites.url_for("/edge/file.csv"))
    assert fetched.ok and fetched.artifacts and fetched.artifacts[0].stat().st_size > 0
    via_target = await session.download(link.id)
    assert via_target.ok and via_target.artifacts, via_target.message


async def test_ten_thousand_elements_are_truncated_with_a_marker(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/bench/10000"))
    rendered = render_observation(obs)
    assert len(rendered) <= 8000
    assert obs.truncated and obs.omitted_elements > 9000
    assert re.search(r"… [\d,]+ more controls not shown; scroll, or use find", rendered)


async def test_endless_dialog_loop_does_not_block(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/edge/dialog-loop"))
    started = time.monotonic()
    outcome = await session.click(by_name(obs, "Start alert loop").id)
    assert time.monotonic() - started < 10
    assert "dialogs" in outcome.message
    deadline = time.monotonic() + 10
    seen: list[str] = []
    while not any("kept opening dialogs" in d for d in seen) and time.monotonic() < deadline:
        seen += (await session.observe()).dialogs
    assert any("kept opening dialogs" in d for d in seen), seen
    obs = await open_page(session, sites.url_for("/edge/dialog-loop"))
    confirm = await session.click(by_name(obs, "Delete my account…").id)
    assert 'confirm "Really delete your account?' in confirm.message
    assert "Deletion cancelled." in (await session.observe()).text


async def test_password_value_is_never_shown(session: BrowserSession, sites: SiteServer) -> None:
    obs = await open_page(session, sites.url_for("/account/login"))
    password = by_name(obs, "Password")
    typed = await session.type(password.id, "hunter2-secret")
    assert "hunter2" not in typed.message
    rendered = render_observation(await session.observe())
    assert "hunter2" not in rendered
    assert '="•••"' in rendered


async def test_two_hundred_elements_fit_the_budget(
    session: BrowserSession, sites: SiteServer
) -> None:
    obs = await open_page(session, sites.url_for("/bench/200"))
    rendered = render_observation(obs)
    assert len(rendered) <= 8000
    assert len(obs.elements) == 200 and obs.omitted_elements == 0
    listed = rendered.split("\ntext:\n")[0]  # text lines may also cite an element id
    assert len(re.findall(r"^\*?\[\d+\] ", listed, re.M)) == 200


async def test_screenshot_with_marks_and_read_page(
    session: BrowserSession, sites: SiteServer
) -> None:
    await open_page(session, sites.url_for("/shop/search?q=cable"))
    obs = await session.observe(screenshot=True)
    assert obs.screenshot is not None and obs.screenshot.startswith(b"\x89PNG")
    shot = await session.screenshot()
    assert shot.ok and shot.artifacts and shot.artifacts[0].suffix == ".png"
    read = await session.read_page()
    assert read.ok and read.content and "cable" in read.content.lower()
    assert (await session.observe()).digest == obs.digest


async def test_popup_opens_a_tab_and_switches(session: BrowserSession, sites: SiteServer) -> None:
    obs = await open_page(session, sites.url_for("/edge/popup"))
    opened = await session.click(by_name(obs, "terms of service").id)
    assert opened.ok and "new tab" in opened.message, opened.message
    assert session.page_url.endswith("/edge/popup/target")
    tabs = (await session.observe()).tabs
    assert len(tabs) == 2 and tabs[1].active
    closed = await session.close_tab()
    assert closed.ok and session.page_url.endswith("/edge/popup")


async def test_form_controls(session: BrowserSession, sites: SiteServer, tmp_path: Path) -> None:
    obs = await open_page(session, sites.url_for("/form"))
    country = by_name(obs, "Country")
    assert (await session.select(country.id, "Canada")).ok
    wrong = await session.select(country.id, "Atlantis")
    assert not wrong.ok and '"Canada"' in wrong.message
    fiction = by_name(obs, "Fiction")
    assert (await session.set_checked(fiction.id, True)).ok
    proof = tmp_path / "proof.pdf"
    proof.write_bytes(b"%PDF-1.4\n")
    upload = await session.upload(ByRole(role="button", name="Proof of address"), [proof])
    assert upload.ok, upload.message
    scrolled = await session.scroll("down", 1)
    assert scrolled.ok and scrolled.changed
    after = await session.observe()
    assert by_name(after, "Country").value == "Canada"
    assert "checked" in by_name(after, "Fiction").states
    assert by_name(after, "First name").above
