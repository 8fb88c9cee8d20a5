"""What a durable task keeps of its browser to resume after a restart (`BrowserSession.state`):
cookies, the local storage of every origin it used (open in a tab or not), the fields typed
into the active tab; and a session started from it has them back. Real headless Chromium, the
bundled sites on two origins (127.0.0.1 and localhost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valet.browser import BrowserSession, BrowserSettings
from valet.sites import SiteServer


def _local(storage: dict[str, object]) -> dict[str, dict[str, str]]:
    """The local storage in a state, by origin, then by name."""
    origins: list[dict[str, object]] = storage["origins"]  # type: ignore[assignment]
    return {
        str(o["origin"]): {i["name"]: i["value"] for i in o["localStorage"]}  # type: ignore[attr-defined]
        for o in origins
    }


async def _set(session: BrowserSession, script: str) -> None:
    page = await session.live_page()
    await page.evaluate(script)


async def test_state_keeps_cookies_storage_of_every_origin_and_typed_fields(
    tmp_path: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sites.url_for("/shop")
    second = first.replace("127.0.0.1", "localhost")
    async with await BrowserSession.start(BrowserSettings(), tmp_path / "a") as session:
        assert (await session.goto(first)).ok
        await _set(
            session,
            "() => { localStorage.setItem('cart', 'two cables'); localStorage.setItem('gone', "
            "'x'); document.cookie = 'who=ada; path=/; max-age=3600' }",
        )
        assert (await session.goto(second)).ok
        await _set(session, "() => localStorage.setItem('theme', 'dark')")
        await _set(session, "() => { document.querySelector('input').value = 'usb hub' }")
        storage, fields = await session.state()

        # The first origin is open in no tab any more, and was never read: it is read whole.
        assert _local(storage) == {
            first.removesuffix("/shop"): {"cart": "two cables", "gone": "x"},
            second.removesuffix("/shop"): {"theme": "dark"},
        }
        assert ("who", "ada") in [(c["name"], c["value"]) for c in storage["cookies"]]  # type: ignore[attr-defined]
        assert [f["value"] for f in fields] == ["usb hub"]

        # Back on the first origin, an item removed there is gone from the next state.
        assert (await session.goto(first)).ok
        await _set(session, "() => localStorage.removeItem('gone')")
        storage, _ = await session.state()
        assert _local(storage)[first.removesuffix("/shop")] == {"cart": "two cables"}
        assert _local(storage)[second.removesuffix("/shop")] == {"theme": "dark"}

        # Nothing left since: the open tab alone is read (Playwright's whole reading, which
        # loads every other origin in a hidden page, is not used), the rest kept as last read.
        page = await session.live_page()

        async def whole() -> None:
            raise AssertionError("read whole although no origin was left")

        monkeypatch.setattr(page.context, "storage_state", whole)
        await _set(session, "() => localStorage.setItem('cart', 'three cables')")
        storage, _ = await session.state()
        assert _local(storage) == {
            first.removesuffix("/shop"): {"cart": "three cables"},
            second.removesuffix("/shop"): {"theme": "dark"},
        }
        monkeypatch.undo()
        saved = tmp_path / "storage.json"
        saved.write_text(json.dumps(storage))

    # A session started from the saved state (as after a restart) has all of it back, and its
    # own next state still carries the origin it has not opened.
    async with await BrowserSession.start(
        BrowserSettings(), tmp_path / "b", storage_state=saved
    ) as again:
        assert (await again.goto(second)).ok
        page = await again.live_page()
        assert await page.evaluate("() => localStorage.getItem('theme')") == "dark"
        storage, _ = await again.state()
        assert _local(storage)[first.removesuffix("/shop")] == {"cart": "three cables"}
        assert (await again.goto(first)).ok
        page = await again.live_page()
        found = await page.evaluate("() => [localStorage.getItem('cart'), document.cookie]")
        assert found == ["three cables", "who=ada"]
