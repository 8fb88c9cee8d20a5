"""Where a durable task keeps its browser for a restart: on Postgres with the vault key, in the
shared database, sealed, so that a worker on another machine (another home) puts it back; with
another vault key nothing is put back (the restart tells the model what was lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from tests._postgres import fresh_database
from tests.test_durable_postgres import postgres_url

from valet.errors import StoreUnavailable
from valet.runtime._saved_state import (
    DatabaseState,
    FileState,
    forget_state,
    lost_state,
    read_json,
    saved_state,
)
from valet.store import StateTable
from valet.vault import KEY_ENV

__all__ = ["postgres_url"]  # a fixture used here

PAGE = json.dumps({"url": "http://shop.test/cart", "fields": []})
COOKIES = json.dumps({"cookies": [{"name": "sid", "value": "signed-in-secret"}], "origins": []})


def test_on_one_machine_the_state_folder_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VALET_DATABASE_URL", raising=False)
    kept = saved_state(tmp_path, "t1")
    assert isinstance(kept, FileState)
    kept.write(PAGE, COOKIES)
    kept.write(PAGE.replace("cart", "checkout"), None)  # cookies unchanged: kept as they were
    folder = tmp_path / "tasks" / "t1"
    assert read_json(folder / "page.json")["url"] == "http://shop.test/checkout"
    assert json.loads((folder / "storage.json").read_text()) == json.loads(COOKIES)
    assert (folder / "storage.json").stat().st_mode & 0o777 == 0o600
    assert lost_state(folder) is None
    forget_state(tmp_path, "t1")
    assert not folder.exists()
    assert lost_state(folder) is not None


def test_on_a_shared_database_another_machine_puts_it_back(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh_database(postgres_url)
    monkeypatch.setenv("VALET_DATABASE_URL", url)
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())  # every machine's vault key
    here, there = tmp_path / "machine-a", tmp_path / "machine-b"
    kept = saved_state(here, "t1")
    assert isinstance(kept, DatabaseState)
    kept.write(PAGE, COOKIES)
    kept.write(PAGE.replace("cart", "checkout"), None)
    assert not (here / "tasks").exists()  # nothing on the first machine's disk
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as db:
        row = db.execute(sa.text("SELECT page, storage FROM valet_task_state")).one()
    engine.dispose()
    assert "signed-in-secret" not in row.storage and "shop.test" not in row.page  # sealed
    saved_state(there, "t1").restore()
    folder = there / "tasks" / "t1"
    assert read_json(folder / "page.json")["url"] == "http://shop.test/checkout"
    assert json.loads((folder / "storage.json").read_text()) == json.loads(COOKIES)
    assert lost_state(folder) is None
    # A machine with another vault key opens nothing, and says what was lost.
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    elsewhere = tmp_path / "machine-c"
    saved_state(elsewhere, "t1").restore()
    assert lost_state(elsewhere / "tasks" / "t1") is not None
    # The run ends: what it kept goes, on this machine and in the database.
    forget_state(there, "t1")
    assert StateTable(url, "t1").read() == (None, None) and not folder.exists()


def test_without_the_vault_key_or_the_database_nothing_is_lost_silently(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALET_DATABASE_URL", fresh_database(postgres_url))
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert isinstance(saved_state(tmp_path, "t1"), FileState)  # no key here: this machine's
    monkeypatch.setenv("VALET_DATABASE_URL", "postgresql://valet@127.0.0.1:1/none")
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(StoreUnavailable, match="could not save the task's browser"):
        saved_state(tmp_path, "t2").write(PAGE, COOKIES)  # the step then fails: StateNotSaved
