"""Durable tasks on DBOS: one workflow per task, a queue with a concurrency limit, recovery.

`DurableTasks.launch(...)` starts DBOS inside the running event loop (so workflows run on it,
next to the server), registers the queue and recovers the tasks a previous process left
unfinished: each goes on from its last finished step (see `_checkpoints.py`). The workflow
itself only calls back `execute(task_id)`, which the owner (the server's task manager)
implements with `run_task(..., checkpoints=DbosCheckpoints())`.

DBOS keeps one instance per process; `close()` destroys it so a new one can be launched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path

from dbos import DBOS, DBOSConfiguredInstance, Queue, SetWorkflowID, WorkflowHandleAsync

from valet.store import database_url

QUEUE = "valet-tasks"

log = logging.getLogger("valet.runtime")

Execute = Callable[[str], Awaitable[str]]
"""Runs one task to its end (by id) and returns its final status."""


@DBOS.dbos_class()
class _Workflows(DBOSConfiguredInstance):
    def __init__(self, execute: Execute) -> None:
        self._execute = execute
        super().__init__("valet")

    @DBOS.workflow()
    async def task(self, task_id: str) -> str:
        return await self._execute(task_id)


def _system_database(home: Path) -> str:
    url = database_url(home)
    if url.startswith("sqlite:///"):
        return f"sqlite:///{(home / 'workflows.db').resolve()}"
    return url


class DurableTasks:
    """Submits tasks as durable workflows and cancels them."""

    def __init__(self, workflows: _Workflows, queue: Queue) -> None:
        self._workflows = workflows
        self._queue = queue

    @classmethod
    async def launch(cls, home: Path, execute: Execute, concurrency: int) -> DurableTasks:
        """Start DBOS on `home`'s database (or `VALET_DATABASE_URL`) and recover unfinished
        tasks. Call from the event loop the tasks should run on."""
        await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
        DBOS(
            config={
                "name": "valet",
                "system_database_url": _system_database(home),
                "log_level": "WARNING",
                "notification_listener_polling_interval_sec": 0.2,
                # Tasks recover across restarts of the same valet version.
                "application_version": f"valet-{version('valet')}",
            }
        )
        workflows = _Workflows(execute)
        DBOS.launch()
        queue = await DBOS.register_queue_async(
            QUEUE, worker_concurrency=concurrency, polling_interval_sec=0.2
        )
        return cls(workflows, queue)

    async def submit(self, task_id: str) -> None:
        with SetWorkflowID(task_id):
            await self._queue.enqueue_async(self._workflows.task, task_id)

    async def result(self, task_id: str) -> str:
        """Wait for a task's workflow to end; its final status."""
        handle: WorkflowHandleAsync[str] = await DBOS.retrieve_workflow_async(task_id)
        return await handle.get_result()

    async def cancel(self, task_id: str) -> None:
        await DBOS.cancel_workflow_async(task_id)

    async def unfinished(self) -> set[str]:
        """Ids of the tasks DBOS will still run (queued, running or recovering)."""
        pending = await DBOS.list_workflows_async(status=["PENDING", "ENQUEUED"])
        return {w.workflow_id for w in pending}

    def close(self) -> None:
        """Stop DBOS; running workflows stay pending and resume at the next launch."""
        DBOS.destroy(workflow_completion_timeout_sec=0)
