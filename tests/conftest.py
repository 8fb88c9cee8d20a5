"""Shared fixtures: the local sites (real HTTP server on 127.0.0.1), valet's home folder, and
the connectors' real servers (`tests/_servers.py`: Dovecot, aiosmtpd, Radicale, WsgiDAV)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._repo import make_repo

from valet.audit import KEY_ENV, AuditLog
from valet.browser import BrowserSettings
from valet.sites import SiteServer

pytest_plugins = ("tests._servers",)


@pytest.fixture(scope="session")
def sites() -> Iterator[SiteServer]:
    """The bundled shop and test pages, served once for the whole test session."""
    with SiteServer() as server:
        yield server


@pytest.fixture
def browser_settings() -> BrowserSettings:
    return BrowserSettings()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh VALET_HOME for one test, with no model configured."""
    folder = tmp_path / "valet-home"
    folder.mkdir()
    monkeypatch.setenv("VALET_HOME", str(folder))
    for variable in (
        "VALET_MODEL",
        "VALET_MODEL_BASE_URL",
        "VALET_MODEL_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(variable, raising=False)
    return folder


@pytest.fixture
def audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditLog]:
    """A fresh audit log for one test, its key in a file (not from the environment)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    log = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    yield log
    log.close()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit and one untracked file."""
    return make_repo(tmp_path / "repo")
