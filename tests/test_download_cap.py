"""The download cap (`max_download`, 100 MB by default): a download the server says is too big
is denied before it starts; one whose size it does not say is deleted after, when too big.
Real headless Chromium against the bundled sites' `/edge/blob`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from valet.agent import Finished
from valet.audit import KEY_ENV, AuditLog
from valet.browser import BrowserSession, BrowserSettings
from valet.effects import Effect
from valet.gateway import GatedToolbox, Gateway, ScriptedApprover, TaskContext
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import (
    ActionRequest,
    MaxDownload,
    NavigationSettings,
    Policy,
    RuleSet,
    Scope,
    site_of,
)
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Download, Goto

CAP = 10_000


@dataclass
class Gated:
    toolbox: GatedToolbox
    audit: AuditLog
    downloads: Path


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
async def gated(tmp_path: Path, sites: SiteServer) -> AsyncIterator[Gated]:
    local = NavigationSettings(allow_hosts=frozenset({site_of(sites.url_for("/")) or ""}))
    rules = RuleSet(rules=(MaxDownload(bytes=CAP, id="small-downloads"),))
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    gateway = Gateway(
        rules=Policy(rules=rules, navigation=local),
        audit=audit,
        approver=ScriptedApprover(),
        task=TaskContext(task_id="downloads"),
    )
    artifacts = tmp_path / "artifacts"
    async with await BrowserSession.start(BrowserSettings(), artifacts) as session:
        toolbox = GatedToolbox(BrowserToolbox(session), gateway)
        assert (await toolbox.execute(Goto(url=sites.url_for("/edge/download")))).ok
        await toolbox.observe()
        yield Gated(toolbox, audit, artifacts / "downloads")


def _saved(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_a_declared_size_over_the_cap_is_denied_before_downloading(gated: Gated) -> None:
    outcome = await gated.toolbox.execute(Download(url="/edge/blob?size=50000&length=1"))

    assert not outcome.ok
    assert outcome.message.startswith("denied by rule download.too_large:")
    assert "50,000 bytes" in outcome.message and "10,000 bytes" in outcome.message
    assert "small-downloads" in outcome.message
    assert _saved(gated.downloads) == []
    last = list(gated.audit.records())[-1]
    assert (last.tool, last.verdict, last.rule_id, last.outcome) == (
        "download",
        "deny",
        "download.too_large",
        "denied",
    )


async def test_an_undeclared_size_over_the_cap_is_deleted_after(gated: Gated) -> None:
    outcome = await gated.toolbox.execute(Download(url="/edge/blob?size=50000&length=0"))

    assert not outcome.ok
    assert outcome.message.startswith("denied by rule download.too_large:")
    assert "50,000 bytes" in outcome.message and "deleted" in outcome.message
    assert _saved(gated.downloads) == []
    last = list(gated.audit.records())[-1]
    assert (last.tool, last.verdict, last.rule_id, last.outcome) == (
        "download",
        "deny",
        "download.too_large",
        "failed",
    )
    assert gated.audit.verify().ok


@pytest.mark.parametrize("length", [1, 0])
async def test_a_file_under_the_cap_is_downloaded(gated: Gated, length: int) -> None:
    outcome = await gated.toolbox.execute(Download(url=f"/edge/blob?size=4000&length={length}"))

    assert outcome.ok, outcome.message
    assert [path.stat().st_size for path in _saved(gated.downloads)] == [4000]
    last = list(gated.audit.records())[-1]
    assert (last.verdict, last.outcome) == ("allow", "executed")


def _download(size: int | None) -> ActionRequest:
    return ActionRequest(tool="download", effect=Effect.DOWNLOAD, size_bytes=size)


def test_the_default_cap_is_100_mb_and_a_person_rule_replaces_it() -> None:
    default = Policy()
    assert default.download_cap() == (MaxDownload(bytes=100_000_000), "builtin.max_download")
    assert default.evaluate(_download(100_000_000), Scope()).verdict == "allow"
    over = default.evaluate(_download(100_000_001), Scope())
    assert (over.verdict, over.rule_id) == ("deny", "download.too_large")
    assert "valet's default" in over.reason

    raised = Policy(rules=RuleSet(rules=(MaxDownload(bytes=500_000_000),)))
    assert raised.evaluate(_download(200_000_000), Scope()).verdict == "allow"
    both = RuleSet(rules=(MaxDownload(bytes=500), MaxDownload(bytes=300)))
    assert Policy(rules=both).download_cap() == (MaxDownload(bytes=300), "person.max_download#2")


def test_an_unknown_size_is_allowed() -> None:
    assert Policy().evaluate(_download(None), Scope()).verdict == "allow"


def test_the_rule_round_trips_as_yaml() -> None:
    rules = RuleSet.from_yaml("rules:\n- kind: max_download\n  bytes: 20000000\n")
    assert rules.rules == (MaxDownload(bytes=20_000_000),)
    assert RuleSet.from_yaml(rules.to_yaml()) == rules


async def test_a_persons_higher_cap_is_the_one_the_browser_keeps(
    home: Path, sites: SiteServer
) -> None:
    """The person's `max_download` decides, not the browser's own setting: a file over the
    browser's cap but under the person's rule is downloaded (a task run the way valet runs it)."""
    player = ScriptPlayer(
        parse_steps([{"download": {"url": "/edge/blob?size=30000&length=0"}}, {"done": "saved"}])
    )
    spec = TaskSpec(
        task="download the blob",
        start_url=sites.url_for("/edge/download"),
        browser=BrowserSettings(download_max_bytes=10_000),
        rules=RuleSet(rules=(MaxDownload(bytes=50_000, id="bigger-downloads"),)),
    )
    result = await run_task(spec, scripted_model(player), home=home, model_info={})
    assert result.end == Finished("saved", True)
    saved = _saved(result.run_dir / "artifacts" / "downloads")
    assert [path.stat().st_size for path in saved] == [30000]
