"""Durable tasks on DBOS: one workflow per task, a queue with a concurrency limit, recovery.

`DurableTasks.launch(...)` starts DBOS inside the running event loop (so workflows run on it,
next to the server), registers the queue and recovers the tasks a previous process left
unfinished: each goes on from its last finished step (see `_checkpoints.py`). The workflow
itself only calls back `execute(task_id)`, which the owner (the server's task manager)
implements with `run_task(..., checkpoints=DbosCheckpoints())`.

Each process has its own DBOS executor id (`valet-<host>-<pid>-<random>`): a workflow row
says which process last ran it. A task is run by whichever process dequeues it; its definition
comes from the database (`execute(task_id)` loads it), not from one process's memory.

Taking over what a dead process left running:
- On SQLite (one process: the caller holds the `ServerLock`), at launch every workflow other
  executors left running is resumed on the queue.
- On Postgres, many processes share the queue (`valet serve` and any `valet worker`s). Each
  holds its `Liveness` lock; every `WATCH_EVERY_S` each checks it still holds its own (else it
  stops at once: another may take its tasks over) and resumes on the queue the workflows of
  executors whose lock it could take, that is, of processes that have ended.

How many run at once: `concurrency` per process and `per_account` per account (an
organization, or a person outside any) are DBOS's, kept with the queue (partitions: one per
account). With `per_person` as well, a task first waits on a second queue, `ADMISSIONS`,
partitioned by person: its admission workflow (`ADMIT` + the task's id) holds one of its
person's places there while the task itself runs on the first queue, then ends with it. A
person's extra tasks thus wait for their own, and the account's limit still binds them all.

DBOS keeps one instance per process; `close()` destroys it so a new one can be launched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dbos import (
    DBOS,
    DBOSClient,
    DBOSConfiguredInstance,
    Queue,
    SetEnqueueOptions,
    SetWorkflowID,
    WorkflowHandleAsync,
    WorkflowStatus,
)
from dbos._error import DBOSAwaitedWorkflowCancelledError
from sqlalchemy import event

from valet._home import private_dir, private_file
from valet.runtime._schedules import Schedules  # registers the schedules' workflow
from valet.store import Liveness, database_url, engine_url, sqlite_file

__all__ = ["QUEUE", "DurableTasks", "Schedules"]
"""`Schedules` is imported here so that its workflow is registered before DBOS launches."""

QUEUE = "valet-tasks"
ADMISSIONS = "valet-admissions"
"""Where a task waits for a place under its person's limit (when there is one)."""
ADMITTED_POLL_S = 0.5
"""How often a task's admission looks whether its task has ended (and frees its place)."""
ADMIT = "admit:"
"""Prefix of a task's admission workflow id (the task's own workflow id is the task's id)."""
DEFAULT_CONCURRENCY = 2
WATCH_EVERY_S = 2.0
"""Shared Postgres: how often a process proves itself alive and looks for ended ones."""
LOST_LIVENESS_EXIT = 75
"""The exit status of a process that lost its proof of life (EX_TEMPFAIL: restart it)."""

log = logging.getLogger("valet.runtime")

Execute = Callable[[str], Awaitable[str]]
"""Runs one task to its end (by id) and returns its final status."""


@DBOS.dbos_class()
class _Workflows(DBOSConfiguredInstance):
    def __init__(self, execute: Execute) -> None:
        self._execute = execute
        self.queue: Queue | None = None
        """The tasks' queue, once registered."""
        super().__init__("valet")

    @DBOS.workflow()
    async def task(self, task_id: str) -> str:
        return await self._execute(task_id)

    @DBOS.workflow()
    async def admit(self, task_id: str, account: str) -> str:
        """A task's place under its person's limit, from its turn there to its end: queue the
        task (under its account's limit) and wait for it. Run again after a crash, it finds
        the task it queued (DBOS records the child) and waits on."""
        assert self.queue is not None, "the queue is registered before any workflow runs"
        with SetWorkflowID(task_id), SetEnqueueOptions(queue_partition_key=account):
            handle = await self.queue.enqueue_async(self.task, task_id)
        try:  # polled: the person's next task waits up to this long after this one ends
            return await handle.get_result(polling_interval_sec=ADMITTED_POLL_S)
        except DBOSAwaitedWorkflowCancelledError:
            return "cancelled"


def _task_of(workflow_id: str) -> str:
    """The task a workflow is for (its own, or its admission)."""
    return workflow_id.removeprefix(ADMIT)


def _both(task_ids: set[str] | frozenset[str] | list[str]) -> list[str]:
    """The workflow ids a task may have: its admission's and its own."""
    return [w for task_id in sorted(task_ids) for w in (ADMIT + task_id, task_id)]


async def _resume(workflows: list[WorkflowStatus]) -> None:
    """Resume workflows of ended processes, each on the queue it came from."""
    by_queue: dict[str, list[str]] = {}
    for workflow in workflows:
        by_queue.setdefault(workflow.queue_name or QUEUE, []).append(workflow.workflow_id)
    for queue, ids in sorted(by_queue.items()):
        await DBOS.resume_workflows_async(ids, queue_name=queue)


UNFINISHED = ["PENDING", "ENQUEUED"]


def _system_database(home: Path) -> str:
    url = database_url(home)
    if url.startswith("sqlite:///"):
        return f"sqlite:///{(home / 'workflows.db').resolve()}"
    return url


def _sqlite_engine(url: str) -> sa.Engine:
    """The workflow database on SQLite, as DBOS would open it (IMMEDIATE transactions, a long
    busy timeout, foreign keys) and in WAL mode with `synchronous=NORMAL`: a checkpoint is one
    append to the write-ahead log, flushed to disk at the log's checkpoints rather than at each
    commit. A killed process loses nothing (the log is in the system's cache); a power cut may
    lose the last steps' checkpoints, which then run again, and the action journal (flushed
    before each consequential action) still keeps those from running twice blindly."""
    engine = sa.create_engine(url)

    def _setup(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.isolation_level = "IMMEDIATE"
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    event.listen(engine, "connect", _setup)
    return engine


def _executor_id() -> str:
    """This process's DBOS executor id: unique per process, readable in the database."""
    return f"valet-{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


def _app_version() -> str:
    """Tasks recover across restarts of the same valet version."""
    return f"valet-{version('valet')}"


class DurableTasks:
    """Submits tasks as durable workflows and cancels them."""

    def __init__(
        self, workflows: _Workflows, queues: tuple[Queue, Queue], liveness: Liveness | None
    ) -> None:
        self._workflows = workflows
        self._queue, self._admissions = queues
        self._liveness = liveness
        self._watch: asyncio.Task[None] | None = None
        self.executor_id = None if liveness is None else liveness.executor_id
        """This process's executor id when it shares a Postgres with others (else None)."""

    @classmethod
    async def launch(
        cls,
        home: Path,
        execute: Execute,
        concurrency: int | None,
        *,
        listen: bool = True,
        per_account: int | None = None,
        per_person: int | None = None,
    ) -> DurableTasks:
        """Start DBOS on `home`'s database (or `VALET_DATABASE_URL`) and recover unfinished
        tasks. Call from the event loop the tasks should run on.

        `concurrency`: how many tasks one process runs at once. DBOS keeps it with the queue,
        in the database, for every process on it: the server sets it; a worker passes None
        and takes what is there (`DEFAULT_CONCURRENCY` on a database no server set yet).
        `listen=False`: this process queues tasks but runs none (a web-only server).
        `per_account`: how many tasks of one account (`submit`'s) run at once over every
        process (DBOS queue partitions, one per account); kept with the queue like
        `concurrency`, and set by the process that sets it. `per_person`: the same for one
        person's tasks (the `ADMISSIONS` queue's partitions), used by `submit(..., person=)`."""
        await asyncio.to_thread(private_dir, home)
        if file := sqlite_file(url := _system_database(home)):
            await asyncio.to_thread(private_file, file)
        executor = _executor_id()
        liveness = None
        if not url.startswith("sqlite"):  # shared: proven alive before it takes any task
            liveness = await asyncio.to_thread(Liveness.acquire, url, executor)
        DBOS(
            config={
                "name": "valet",
                "system_database_url": url,
                "system_database_engine": _sqlite_engine(url) if url.startswith("sqlite") else None,
                "log_level": "WARNING",
                "notification_listener_polling_interval_sec": 0.2,
                "application_version": _app_version(),
                "executor_id": executor,
            }
        )
        workflows = _Workflows(execute)
        if not listen:
            DBOS.listen_queues([])
        try:
            DBOS.launch()
            update = "always_update" if concurrency else "never_update"
            queue = await DBOS.register_queue_async(
                QUEUE,
                worker_concurrency=concurrency or DEFAULT_CONCURRENCY,
                partition_concurrency=per_account,
                polling_interval_sec=0.2,
                on_conflict=update,
            )
            admissions = await DBOS.register_queue_async(
                ADMISSIONS,
                partition_concurrency=per_person,
                polling_interval_sec=0.2,
                on_conflict=update,
            )
            workflows.queue = queue
            if liveness is None:
                await _take_over_abandoned()
        except BaseException:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            if liveness is not None:
                liveness.close()
            raise
        tasks = cls(workflows, (queue, admissions), liveness)
        if liveness is not None:
            await tasks._take_over_dead(liveness)
            tasks._watch = asyncio.create_task(tasks._keep_watch(liveness), name="valet-liveness")
        return tasks

    async def _keep_watch(self, liveness: Liveness) -> None:
        """Shared Postgres: prove this process alive, and take over after those that ended."""
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            if not await asyncio.to_thread(liveness.check):
                log.critical(
                    "lost the database connection that proves this process alive; stopping "
                    "now, since another process may take its tasks over (restart it)"
                )
                os._exit(LOST_LIVENESS_EXIT)
            try:
                await self._take_over_dead(liveness)
            except Exception as exc:  # the database is briefly away: next time
                log.warning("cannot look for ended processes: %s", exc)

    async def _take_over_dead(self, liveness: Liveness) -> None:
        """Resume on the queue the workflows of executors that have ended."""
        running = await DBOS.list_workflows_async(
            status="PENDING", app_version=_app_version(), load_input=False, load_output=False
        )
        owners = {w.executor_id for w in running if w.executor_id}
        dead = await asyncio.to_thread(liveness.dead, owners)
        orphans = [w for w in running if w.executor_id in dead]
        if orphans:
            log.warning(
                "resuming %d task(s) of ended process(es) %s",
                len({_task_of(w.workflow_id) for w in orphans}),
                ", ".join(sorted(dead)),
            )
            await _resume(orphans)

    @staticmethod
    def unfinished_before_launch(
        home: Path, *, cancel: set[str] | frozenset[str] = frozenset()
    ) -> set[str]:
        """Ids of the unfinished workflows in `home`'s system database, read without launching
        DBOS (nor creating the database when there is none yet); those in `cancel` are
        cancelled first (so no worker starts them) and not returned."""
        with _client(home) as client:
            if client is None:
                return set()
            for workflow_id in _both(cancel):
                client.cancel_workflow(workflow_id)
            found = client.list_workflows(status=UNFINISHED, load_input=False, load_output=False)
        return {_task_of(w.workflow_id) for w in found}

    async def submit(
        self, task_id: str, account: str = "install", person: str | None = None
    ) -> None:
        """Queue a task of `account` (its partition: `per_account` of them run at once). With
        `person`, it first waits for a place among that person's (`per_person` at once)."""
        if person is not None:
            with SetWorkflowID(ADMIT + task_id), SetEnqueueOptions(queue_partition_key=person):
                await self._admissions.enqueue_async(self._workflows.admit, task_id, account)
            return
        with SetWorkflowID(task_id), SetEnqueueOptions(queue_partition_key=account):
            await self._queue.enqueue_async(self._workflows.task, task_id)

    async def result(self, task_id: str) -> str:
        """Wait for a task's workflow to end; its final status."""
        handle: WorkflowHandleAsync[str] = await DBOS.retrieve_workflow_async(task_id)
        return await handle.get_result()

    async def executor_of(self, task_id: str) -> str | None:
        """The executor id of the process running the task's workflow (None: not running)."""
        status = await DBOS.get_workflow_status_async(task_id)
        if status is None or status.status != "PENDING":
            return None
        return status.executor_id

    async def cancel(self, task_id: str) -> None:
        """Cancel a task's workflow and its admission (first: it queues no task after this)."""
        await DBOS.cancel_workflows_async(_both([task_id]))

    async def unfinished(self) -> set[str]:
        """Ids of the tasks DBOS will still run (waiting for admission, queued, running or
        recovering)."""
        pending = await DBOS.list_workflows_async(status=UNFINISHED)
        return {_task_of(w.workflow_id) for w in pending}

    def close(self) -> None:
        """Stop DBOS; running workflows stay pending and resume at the next launch (on a
        shared Postgres: at once, in another process)."""
        if self._watch is not None:
            self._watch.cancel()
        DBOS.destroy(workflow_completion_timeout_sec=0)
        if self._liveness is not None:
            self._liveness.close()


@contextmanager
def _client(home: Path) -> Generator[DBOSClient | None]:
    """A DBOS client on `home`'s system database, or None when it has no workflows table."""
    url = _system_database(home)
    if (file := sqlite_file(url)) and not file.exists():
        yield None
        return
    engine = sa.create_engine(engine_url(url), poolclass=sa.NullPool)
    try:
        schema = None if url.startswith("sqlite") else "dbos"
        if not sa.inspect(engine).has_table("workflow_status", schema=schema):
            yield None
            return
        client = DBOSClient(system_database_engine=engine, retry_connection_errors=False)
        try:
            yield client
        finally:
            client.destroy()
    finally:
        engine.dispose()


async def _take_over_abandoned() -> None:
    """Resume, on this process's queue, the workflows other executors left running (a dead
    process's, or valet's before executor ids were per process). Only under the server lock:
    then no other live process runs any of them."""
    running = await DBOS.list_workflows_async(
        status="PENDING", app_version=_app_version(), load_input=False, load_output=False
    )
    mine = DBOS.executor_id
    abandoned = [w for w in running if w.executor_id != mine]
    if abandoned:
        tasks = len({_task_of(w.workflow_id) for w in abandoned})
        log.info("resuming %d task(s) a previous process left unfinished", tasks)
        await _resume(abandoned)
