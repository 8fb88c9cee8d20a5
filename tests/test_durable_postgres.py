"""The same durable tasks on PostgreSQL (`VALET_DATABASE_URL`): a throwaway cluster is started
for the session (Debian's `postgresql` package, installed by the Makefile)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from tests._postgres import running_postgres
from tests.test_durable import CART_TASK, SLOW, Server, _final, _steps, _turn, _wait

from valet.sites import SiteServer


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port, its data in a temporary folder."""
    with running_postgres() as url:
        yield url


@pytest.mark.timeout(300)
def test_a_task_killed_mid_run_resumes_on_postgres(
    tmp_path: Path, sites: SiteServer, postgres_url: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    script = [*CART_TASK[:3], SLOW, *CART_TASK[3:]]
    (home / "script.yaml").write_text(yaml.safe_dump(script), encoding="utf-8")
    server = Server(home, home / "script.yaml", database_url=postgres_url)
    try:
        server.start()
        created = server.post(
            "/api/tasks",
            {
                "task": "put two cheapest USB-C cables in the cart",
                "start_url": sites.url_for("/shop"),
            },
        )
        assert created.status_code == 201, created.text
        task = created.json()
        _turn(server, task["id"], 3, postgres_url)
        server.kill()  # while the slow action runs
        server.start()
        final = _final(server, task["id"], "the task to end after the restart")
        engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))

        def stored() -> tuple[str, str] | None:
            with engine.connect() as db:
                status = db.execute(
                    sa.text("SELECT status FROM valet_tasks WHERE id = :id"), {"id": task["id"]}
                ).scalar_one()
                workflow = db.execute(
                    sa.text("SELECT status FROM dbos.workflow_status WHERE workflow_uuid = :id"),
                    {"id": task["id"]},
                ).scalar_one()
            return (status, workflow) if workflow != "PENDING" else None

        statuses = _wait(stored, "the workflow to be recorded as ended", 30)
        engine.dispose()
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    indices = [step["index"] for step in _steps(home, task)]
    assert indices == list(range(1, len(script) + 1))  # each turn once, plus the interrupted one
    assert not (home / "valet.db").exists() and not (home / "workflows.db").exists()
    assert statuses == ("succeeded", "SUCCESS")
