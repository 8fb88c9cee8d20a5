"""Tasks the server runs: a queue with a concurrency limit, status, cancel, steering.

One `TaskManager` per server lives on `app.state`; nothing here is module-level state. In
`valet serve` each task is a durable workflow (DBOS) and the tasks live in the task database;
without durability (tests, embedding) they run as asyncio tasks of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import Counter
from collections.abc import Coroutine
from contextvars import Context
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, assert_never, cast

from pydantic import TypeAdapter
from sqlalchemy.exc import SQLAlchemyError

from valet.agent import Finished, RunEnd, StepRecord, Stopped
from valet.billing import (
    Metering,
    QuotaExceeded,
    charge,
    refund,
    summary_of,
)
from valet.browser import BrowserPool, BrowserSettings
from valet.connectors._errors import ConnectorError
from valet.errors import (
    ConfigError,
    LostTasks,
    StartPageUnreachable,
    StartupError,
    StoreUnavailable,
)
from valet.record import new_run_id
from valet.runtime import (
    BrowserUnavailable,
    Checkpoints,
    DbosCheckpoints,
    DurableTasks,
    Schedules,
    forget_state,
    run_task,
)
from valet.server._accounts import Accounts
from valet.server._events import EventHub
from valet.server._metrics import ServerMetrics
from valet.server._notify import Notifier
from valet.server._person import PersonDesk
from valet.server._principal import INSTALL, Principal, person_principal
from valet.server._replay import choose
from valet.server._schemas import (
    Message,
    MessageEvent,
    NewTask,
    PersonRequest,
    RequestEvent,
    StatusEvent,
    Step,
    StepEvent,
    TaskEvent,
    TaskStatus,
)
from valet.server._settings import (
    ModelChoice,
    ModelFactory,
    tasks_per_account,
    tasks_per_person,
)
from valet.server._task_spec import CannotRun, prepare
from valet.server._task_state import (
    ASKS,
    BadModel,
    EventMaker,
    Progress,
    TaskFinished,
    TaskInbox,
    TaskNotFound,
    TaskState,
    lost_message,
    now,
    read_event,
)
from valet.settings import load_config, signing_in_as
from valet.store import (
    Bus,
    BusMessage,
    StoredMessage,
    StoredTask,
    TaskStore,
    check_files,
    database_url,
    reason_of,
    shown_url,
)

log = logging.getLogger("valet.server")

_EVENTS: TypeAdapter[TaskEvent] = TypeAdapter(TaskEvent)


class TaskManager:
    """Runs tasks as asyncio tasks, at most `max_concurrent` at a time, and tracks them."""

    def __init__(
        self,
        home: Path,
        models: ModelFactory,
        browser: BrowserSettings,
        max_concurrent: int,
        default_max_steps: int = 40,
        *,
        durable: bool = False,
        takeover_grace_s: float = 30.0,
        browsers: BrowserPool | None = None,
        worker: bool = False,
        runs_tasks: bool = True,
    ) -> None:
        self.home = home
        self.worker = worker
        """A `valet worker`: runs queued tasks for the server sharing its Postgres, serves
        nothing itself."""
        self.runs_tasks = runs_tasks
        """False: this server only queues tasks; workers run them (shared Postgres)."""
        self._bus: Bus | None = None
        """Shared Postgres: what this process does that the others must know, and back."""
        self.browsers = browsers
        """The browsers tasks share (a context each); None: each task launches its own."""
        self.durable = durable
        """Durable: tasks run as DBOS workflows and survive restarts (call `start` first)."""
        self._runtime: DurableTasks | None = None
        self.schedules: Schedules | None = None
        """The schedules (durable servers only, once started)."""
        self._store: TaskStore | None = None
        self.accounts = Accounts()
        """Who tasks act and pay for: the plan, the ledger, costs and budgets, people."""
        self._started = False
        self._closing = False
        self.hub = EventHub()
        self._models = models
        self._browser = browser
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._per_account: int | None = None
        """`[people] tasks_at_once`, read at start."""
        self._per_person: int | None = None
        """`[people] tasks_at_once_per_person`, read at start."""
        self._chores: set[asyncio.Task[None]] = set()
        self._default_max_steps = default_max_steps
        self._tasks: dict[str, TaskState] = {}
        self.notifier = Notifier(home)
        """Tells the person when a task ends or waits for them (`[notifications]`)."""
        self.metrics = ServerMetrics(self)
        """Prometheus metrics (`/metrics`)."""
        self.desk = PersonDesk(home, self._waiting, takeover_grace_s)
        """The person's side: live views, takeovers, approvals."""
        self.desk.book.changed = self._request_changed
        self.desk.on_behalf = self.on_behalf

    async def start(self, *, forget_lost_tasks: bool = False) -> None:
        """Durable mode: check and open the databases, load the stored tasks, start DBOS and let
        it resume unfinished ones. Raises a `StartupError` (with what to do) when a database
        is damaged or unreachable, or when unfinished workflows have lost their tasks (unless
        `forget_lost_tasks`: then their workflows are cancelled). Once started, a second call
        does nothing (`valet serve` starts the manager before it prints the link)."""
        if not self.durable or self._started:
            return
        self._started = True
        try:
            config = load_config(self.home)
            self.accounts.metering = Metering.from_config(config)
            self._per_account = tasks_per_account(config)
            self._per_person = tasks_per_person(config)
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc
        store = self._store = self.accounts.store = await asyncio.to_thread(self._open)
        await asyncio.to_thread(self._settle_lost, store, forget_lost_tasks)
        self.desk.book.persist = store.save_request
        try:
            self._runtime = await DurableTasks.launch(
                self.home,
                self._execute_durable,
                None if self.worker else self._max_concurrent,
                listen=self.runs_tasks,
                per_account=None if self.worker else self._per_account,
                per_person=None if self.worker else self._per_person,
            )
        except Exception as exc:
            log.debug("DBOS did not start", exc_info=exc)
            raise StartupError(f"cannot start the durable workflows: {reason_of(exc)}") from exc
        if self._runtime.executor_id is not None:
            self._bus = Bus(database_url(self.home), self._runtime.executor_id, self._on_bus)
            try:
                await self._bus.start()
            except (SQLAlchemyError, StoreUnavailable) as exc:
                raise StartupError(f"cannot open the bus table: {reason_of(exc)}") from exc
        self.schedules = Schedules(self._fire)
        ran = await self.schedules.catch_up()
        if ran:
            log.info("ran %d schedule(s) once for the firings missed while down", len(ran))
        if self.worker:  # what ended while no server ran is the server's to settle
            return
        alive = await self._runtime.unfinished()
        # Shared: another server may have stored a task it is about to queue (a moment).
        settled = datetime.now(UTC) - timedelta(seconds=0 if self._bus is None else 60)
        ended: list[str] = []
        for task in self._tasks.values():
            made = datetime.fromisoformat(task.created_at)
            if not task.final and task.id not in alive and made < settled:
                self._fail(task, "valet stopped while this task ran and could not resume it")
            if task.final:  # nothing will ask for its requests again, nor resume it
                self.desk.end(task.id)
                ended.append(task.id)
        await asyncio.to_thread(forget_state, self.home, *ended)

    def _open(self) -> TaskStore:
        """Check the database files, open the task store and load its tasks and requests."""
        check_files(self.home)
        url = database_url(self.home)
        try:
            store = TaskStore(url)
            self._store = store
            tasks = [self._restore(stored) for stored in store.tasks()]
            self.desk.book.restore(store.requests())
        except SQLAlchemyError as exc:
            raise StartupError(f"cannot open {shown_url(url)}: {reason_of(exc)}") from exc
        self._tasks.update((task.id, task) for task in tasks)
        for task in tasks:  # asked before the restart: it waits for the person until answered
            if not task.final and (owed := self._owed(task.id)) is not None:
                task.status, task.waiting_for = "waiting", owed
        return store

    def _settle_lost(self, store: TaskStore, forget: bool) -> None:
        """Unfinished workflows whose task the store lacks: refused (`LostTasks`), or with
        `forget` cancelled before DBOS starts, so no worker runs them."""
        try:
            lost = DurableTasks.unfinished_before_launch(self.home) - set(self._tasks)
            if lost and not forget:
                raise LostTasks(lost_message(store.url, sorted(lost)))
            for task_id in sorted(lost):
                log.warning(
                    "task %s is not in the task database: its workflow is cancelled", task_id
                )
            if lost:
                DurableTasks.unfinished_before_launch(self.home, cancel=lost)
        except SQLAlchemyError as exc:
            raise StartupError(f"cannot read the workflow database: {reason_of(exc)}") from exc

    def _load(self, task_id: str) -> TaskState | None:
        """A task another process created, as the database has it (None: no such task)."""
        stored = None if self._store is None else self._store.task(task_id)
        return None if stored is None else self._restore(stored)

    def _restore(self, stored: StoredTask) -> TaskState:
        assert self._store is not None
        task = TaskState(
            id=stored.id,
            request=NewTask.model_validate(stored.request),
            model_name=stored.model_name,
            max_steps=stored.max_steps,
            status=cast(TaskStatus, stored.status),
            owner=stored.owner,
            created_at=stored.created_at,
            started_at=stored.started_at,
            finished_at=stored.finished_at,
            run_id=stored.run_id,
            error=stored.error,
            saved_answer=stored.answer,
        )
        task.messages = [
            Message(id=m.id, text=m.text, created_at=m.created_at, delivered=m.delivered)
            for m in self._store.messages(stored.id)
        ]
        return task

    # reading ---------------------------------------------------------------------------------

    @property
    def executor_id(self) -> str | None:
        """This process's executor id on a shared Postgres (else None)."""
        return None if self._runtime is None else self._runtime.executor_id

    async def runner(self, task_id: str) -> str | None:
        """The address of the worker running this task when it is another process (its live
        view is there), else None (this process runs it, or nobody does now)."""
        task = self.get(task_id)
        if self._bus is None or self._runtime is None or task.handle is not None or task.final:
            return None
        executor = await self._runtime.executor_of(task_id)
        if executor is None or executor == self.executor_id:
            return None
        return await asyncio.to_thread(self._bus.endpoint, executor)

    def advertise(self, url: str) -> None:
        """Say where this worker serves the live views of its tasks."""
        if self._bus is not None:
            self._bus.advertise(url)

    def get(self, task_id: str) -> TaskState:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskNotFound(f"no task {task_id!r}") from None

    def on_behalf(self, task_id: str) -> str:
        """Whom the task acts for, as the audit log names them."""
        task = self._tasks.get(task_id)
        return self.accounts.on_behalf(None if task is None else task.owner)

    def record_cost(self, task: TaskState, cost_usd: float) -> None:
        """The task's model cost so far (kept for the budgets)."""
        task.cost_usd = cost_usd
        self.accounts.record_cost(task.id, task.owner, cost_usd, self._billed(task))

    def _billed(self, task: TaskState) -> tuple[str, Metering]:
        """The task's account and its month, looked up once (not at every priced step)."""
        if task.billed is None:
            task.billed = self.accounts.account_of(task.owner)
        return task.billed

    def visible(self, task_id: str, who: Principal) -> TaskState:
        """The task if `who` may see it; `TaskNotFound` as for no task at all otherwise."""
        task = self.get(task_id)
        if not who.owns(task.owner):
            raise TaskNotFound(f"no task {task_id!r}")
        return task

    def tasks(self, status: TaskStatus | None = None, who: Principal = INSTALL) -> list[TaskState]:
        """Tasks `who` may see, newest first."""
        tasks = reversed(self._tasks.values())
        return [t for t in tasks if (status is None or t.status == status) and who.owns(t.owner)]

    def counts(self, who: Principal = INSTALL) -> dict[str, int]:
        counts: dict[str, int] = {}
        for task in self._tasks.values():
            if who.owns(task.owner):
                counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    def usage(self, who: Principal = INSTALL) -> dict[str, Any]:
        """Where `who`'s account (their organization's, the install's) stands this month:
        plan, quota, used, reset, overage, model cost."""
        counted = self.accounts.usage(who)
        if counted is not None:
            return counted
        # In-process, nothing stored: nothing charged either; what it ran is said.
        metering, now = self.accounts.metering_for(who.timezone), self.accounts.clock()
        period = metering.period(now)
        ran = sum(
            1
            for t in self._tasks.values()
            if metering.period(datetime.fromisoformat(t.created_at)) == period and who.owns(t.owner)
        )
        return summary_of(metering, now, ran, 0, metered=False)

    def pending_messages(self, task_id: str) -> list[Message]:
        """Messages the person added that the agent has not taken into account yet."""
        return [m for m in self.get(task_id).messages if not m.delivered]

    # changing --------------------------------------------------------------------------------

    def create(
        self,
        request: NewTask,
        task_id: str | None = None,
        key: str | None = None,
        who: Principal = INSTALL,
    ) -> TaskState:
        """Queue a task; it starts as soon as a slot is free. Raises `BadModel`, and
        `QuotaExceeded` beyond the plan's monthly quota (each task request is charged once,
        with the task; `key`: an idempotency key, a request sent again with it gets the task
        the first made). `task_id`: the id a schedule's firing gives it (a firing creates one
        task however often run)."""
        if task_id is not None and (made := self._tasks.get(task_id)) is not None:
            return made
        if who.person is not None and request.workflow:
            raise BadModel("saved workflows are the installation's: a person cannot replay one")
        try:
            choice = choose(self.home, request, self._models)
        except ConfigError as exc:
            raise BadModel(str(exc)) from exc
        task = TaskState(
            id=task_id or new_run_id(),  # the run's id too: one id for the task everywhere
            request=request,
            model_name=str(choice.info.get("model") or request.model or ""),
            max_steps=request.max_steps or choice.max_steps or self._default_max_steps,
            owner=who.id,
        )
        plan = self.accounts.metering.plan
        if plan is not None and not plan.allows(task.model_name):
            allowed = ", ".join(plan.models or ())
            raise BadModel(
                f"the {plan.name} plan does not allow the model {task.model_name or '(none)'}: "
                f"choose one of {allowed}"
            )
        refused = self.accounts.refuses_model(self.home, who.id, task.model_name or "")
        if refused is not None:
            raise BadModel(refused)
        if self._store is not None:  # saved first: a failed save leaves no half-made task
            metering, now = self.accounts.metering_for(who.timezone), self.accounts.clock()
            charged = self._store.add_task(
                task.id,
                request.model_dump(mode="json"),
                task.model_name,
                task.max_steps,
                "queued",
                task.created_at,
                admit=lambda db: charge(db, metering, task.id, now, key, who.account),
                owner=task.owner,
            )
            if charged is not None and charged.again:
                return self.visible(charged.task_id, who)
        self._tasks[task.id] = task
        self._set_status(task, "queued")
        if self._runtime is not None:
            person = None if self._per_person is None else who.own_account
            submitted = self._runtime.submit(task.id, who.account, person)
            self._background(submitted, f"valet-submit-{task.id}")
            return task
        task.handle = asyncio.create_task(self._run(task, choice), name=f"valet-task-{task.id}")
        task.handle.add_done_callback(lambda _: self._settle(task))
        return task

    def cancel(self, task_id: str) -> TaskState:
        task = self.get(task_id)
        if task.final:
            raise TaskFinished(f"task {task_id} already ended ({task.status})")
        task.cancel_requested = True
        if self._runtime is not None:
            self._background(self._runtime.cancel(task.id), f"valet-cancel-{task.id}")
            if task.handle is None and self._bus is not None:  # it may run in another process
                self._tell("cancel", task.id, {})
            if task.handle is None and task.status == "queued":  # it will never start
                self._set_status(task, "cancelled", detail="cancelled by the person")
                if self._store is not None:  # a request cancelled before it started is free
                    now = self.accounts.clock()
                    self._store.refund(task.id, lambda db: refund(db, task.id, now))
        if task.handle is not None:
            task.handle.cancel()
        return task

    def add_message(self, task_id: str, text: str) -> Message:
        task = self.get(task_id)
        if task.final:
            raise TaskFinished(f"task {task_id} already ended ({task.status})")
        message = Message(id=secrets.token_hex(4), text=text, created_at=now())
        if self._store is not None:  # saved before the agent can see it
            self._store.add_message(
                StoredMessage(message.id, task.id, message.text, message.created_at, False)
            )
        task.messages.append(message)
        self._publish(task, lambda seq: MessageEvent(task_id=task.id, seq=seq, message=message))
        return message

    def take_messages(self, task_id: str) -> list[Message]:
        """The pending messages, now marked delivered: what the loop calls at each step."""
        pending = self.pending_messages(task_id)
        for message in pending:
            message.delivered = True
        if self._store is not None:
            self._store.deliver([message.id for message in pending])
        task = self.get(task_id)
        for message in pending:  # shown as read
            self._publish(task, read_event(task_id, message.model_copy()))
        return pending

    async def _fire(
        self,
        schedule_id: str,
        at: datetime,
        request: dict[str, Any],
        task_id: str,
        owner: str | None = None,
    ) -> str:
        """A schedule's firing: its task, created once (a firing run again finds it), as its
        person's (skipped when they can no longer sign in)."""
        if task_id in self._tasks or await asyncio.to_thread(self._load, task_id) is not None:
            return task_id
        who: Principal | None = INSTALL
        if owner is not None:
            people = self.accounts.people
            who = (
                None
                if people is None
                else await asyncio.to_thread(person_principal, people, owner, None)
            )
        if who is None:
            log.warning("schedule %s did not run: its person can no longer sign in", schedule_id)
            return ""
        log.info("schedule %s fired for %s: task %s", schedule_id, at.isoformat(), task_id)
        asking = who

        async def create() -> str:
            try:
                task = NewTask.model_validate(request)
                return self.create(task, task_id=task_id, who=asking).id
            except QuotaExceeded as exc:  # the firing is skipped, saying why (in the log)
                log.warning("schedule %s did not run its task: %s", schedule_id, exc)
                return ""

        # Outside the firing's workflow context: the task's own workflow is no child of it.
        return await asyncio.get_running_loop().create_task(create(), context=Context())

    def count_by_status(self) -> dict[str, int]:
        return dict(Counter(task.status for task in self._tasks.values()))

    async def readiness(self) -> str | None:
        """None when the server can take tasks, else why not (for `/readyz`)."""
        if self._closing:
            return "shutting down"
        if self.durable and self._runtime is None:
            return "starting: the durable runtime is not running yet"
        if self._store is not None:
            try:
                await asyncio.to_thread(self._store.ping)
            except SQLAlchemyError as exc:
                return f"the task database cannot be reached: {reason_of(exc)}"
        return None

    async def shutdown(self) -> None:
        """Cancel every unfinished task and wait for them to end. Durable tasks are not
        cancelled: they stay pending and resume when the server starts again."""
        self._closing = True
        self.desk.book.suspending = self._runtime is not None  # durable tasks will resume
        handles = [t.handle for t in self._tasks.values() if t.handle and not t.handle.done()]
        for handle in handles:
            handle.cancel()
        await asyncio.gather(*handles, return_exceptions=True)
        if self._bus is not None:
            await self._bus.close()
        if self._runtime is not None:
            self._runtime.close()
        if self._store is not None:
            self._store.close()
        if self.browsers is not None:
            await self.browsers.close()
        with contextlib.suppress(TimeoutError):  # a notification under way gets a moment
            await asyncio.wait_for(self.notifier.drain(), 15)
        self.desk.close()
        self.hub.close()

    # running ---------------------------------------------------------------------------------

    async def _run(self, task: TaskState, choice: ModelChoice) -> None:
        async with self._slots:
            await self._execute(task, choice)

    async def _execute_durable(self, task_id: str) -> str:
        """The body of a task's durable workflow (also when DBOS resumes it after a restart).
        A task this process did not create is loaded from the database."""
        task = self._tasks.get(task_id)
        if task is None:
            loaded = await asyncio.to_thread(self._load, task_id)
            if loaded is None:
                log.warning("task %s is not in the task database: its workflow ends", task_id)
                return "failed"
            task = self._tasks.setdefault(task_id, loaded)
        if task.final:
            return task.status
        task.handle = asyncio.current_task()
        try:
            choice = choose(self.home, task.request, self._models)
        except ConfigError as exc:
            self._fail(task, f"the model cannot be used: {exc}")
            return task.status
        try:
            await self._execute(task, choice, DbosCheckpoints())
        finally:
            task.handle = None
            self.desk.end(task.id)
        return task.status

    async def _execute(
        self, task: TaskState, choice: ModelChoice, checkpoints: Checkpoints | None = None
    ) -> None:
        try:
            billed = await asyncio.to_thread(self._billed, task)
            ready = await prepare(
                task,
                choice,
                home=self.home,
                accounts=self.accounts,
                browser=self._browser,
                billed=billed,
                on_behalf=await asyncio.to_thread(self.on_behalf, task.id),
            )
        except (SQLAlchemyError, StoreUnavailable) as exc:  # unknown spending: no run
            self._fail(task, f"the budgets cannot be checked: {exc}")
            return
        except CannotRun as exc:
            self._fail(task, str(exc))
            return
        spec, space, vault = ready.spec, ready.space, ready.vault
        person = self.desk.task(task.id)
        if task.started_at is None:
            task.started_at = now()
            self.metrics.started(task.created_at, task.started_at)
        self._waiting(task.id, self._owed(task.id))  # running, unless asked before a restart
        try:
            with signing_in_as(space) if space is not None else contextlib.nullcontext():
                result = await run_task(
                    spec,
                    choice.model,
                    home=self.home,
                    model_info=choice.info | {"server_task": task.id},
                    output_mode=choice.output_mode,
                    vision=choice.vision,
                    progress=Progress(self, task),
                    inbox=TaskInbox(self, task.id),
                    approver=person.approver,
                    handover=person.handover,
                    questions=person.questions,
                    on_session=person.attach,
                    watch=person,
                    checkpoints=checkpoints,
                    vault=vault,
                    run_id=task.id,
                    browsers=self.browsers,
                    spending=self.accounts.spending_for(task.id, task.owner, billed),
                )
        except asyncio.CancelledError:
            # Ended while holding the slot, so the next task starts after this one ended.
            # A durable task interrupted by the server stopping resumes at the next start.
            if not (self._closing and self._runtime is not None):
                self._set_status(task, "cancelled", detail="cancelled by the person")
            raise
        except BrowserUnavailable as exc:
            self._fail(task, f"cannot start or reach the browser: {exc}")
            return
        except ConnectorError as exc:
            self._fail(task, f"cannot open a toolset: {exc}")
            return
        except StartPageUnreachable as exc:
            self._fail(task, f"the start page could not be opened: {exc}")
            return
        except Exception as exc:  # a bug or an I/O error: this task fails, the server lives
            log.exception("task %s failed", task.id)
            self._fail(task, f"internal error: {type(exc).__name__}: {exc}")
            return
        task.run_id = result.run_id
        task.end = result.end
        task.repaired = choice.took_over is not None and choice.took_over()
        self._end(task, result.end)

    def record_step(self, task: TaskState, record: StepRecord) -> None:
        step = Step.from_record(vars(record))
        if self._bus is not None and self._store is not None:  # for servers on other machines
            try:
                self._store.put_step(task.id, step.index, step.model_dump_json())
            except StoreUnavailable as exc:  # the run record has it; the timeline may lack it
                log.warning("task %s: %s", task.id, exc)
        if _put_step(task.steps, step):  # not a step a restart replayed
            self.metrics.step(record)
            if record.cost_usd:
                self.record_cost(task, task.cost_usd + record.cost_usd)
        if task.run_id is None:
            task.run_id = self._find_run(task)
        self._publish(task, lambda seq: StepEvent(task_id=task.id, seq=seq, step=step))

    def stored_steps(self, task: TaskState) -> list[Step]:
        """The steps the database keeps of a task another process ran (on a shared database:
        its run record may be on another machine), else none."""
        if self._bus is None or self._store is None or task.handle is not None:
            return []
        try:
            return [Step.model_validate_json(text) for text in self._store.steps(task.id)]
        except (SQLAlchemyError, ValueError) as exc:
            log.warning("task %s: its steps cannot be read: %s", task.id, exc)
            return []

    def _end(self, task: TaskState, end: RunEnd) -> None:
        match end:
            case Finished(answer=answer, success=success):
                status: TaskStatus = "succeeded" if success else "failed"
                self._set_status(task, status, answer=answer)
            case Stopped(reason="cancelled", detail=detail):
                self._set_status(task, "cancelled", detail=detail)
            case Stopped(reason=reason, detail=detail):
                self._set_status(task, "stopped", detail=f"{reason}: {detail}")
            case _:
                assert_never(end)

    def _waiting(self, task_id: str, what: str | None) -> None:
        """The task waits for the person (`what`), or goes on (None)."""
        task = self._tasks.get(task_id)
        if task is None or task.final:
            return
        if self._bus is not None and task.handle is None:  # its own process says so
            return
        status: TaskStatus = "running" if what is None else "waiting"
        if (task.status, task.waiting_for) == (status, what):
            return
        task.waiting_for = what
        self._set_status(task, status, detail=what)

    def _owed(self, task_id: str) -> str | None:
        """What the task waits for while a request to the person is pending (else None)."""
        pending = self.desk.book.pending(task_id)
        return None if not pending else f"{ASKS[pending[0].kind]}: {pending[0].summary}"

    def _request_changed(self, request: PersonRequest) -> None:
        """Shown live. One answered or withdrawn that nobody here waits on (asked before a
        restart) no longer keeps its task waiting."""
        task = self._tasks.get(request.task_id)
        if task is None:
            return
        self._publish(task, lambda seq: RequestEvent(task_id=task.id, seq=seq, request=request))
        if request.state != "pending" and task.status == "waiting":
            self._waiting(task.id, self._owed(task.id))

    def _fail(self, task: TaskState, error: str) -> None:
        task.error = error
        self._set_status(task, "failed", detail=error)

    def _settle(self, task: TaskState) -> None:
        """Done callback: a task cancelled (even before it started) or crashed still ends."""
        self.desk.end(task.id)
        if task.final or task.handle is None:
            return
        if task.handle.cancelled():
            self._set_status(task, "cancelled", detail="cancelled by the person")
        elif (exc := task.handle.exception()) is not None:
            log.error("task %s crashed", task.id, exc_info=exc)
            self._fail(task, f"internal error: {type(exc).__name__}: {exc}")

    def _set_status(
        self,
        task: TaskState,
        status: TaskStatus,
        *,
        answer: str | None = None,
        detail: str | None = None,
    ) -> None:
        task.status = status
        if task.final:
            task.finished_at = now()
            # However it ended, nothing resumes it: its saved cookies and page go (the run's
            # browser has closed by now; a task cancelled while queued never saved any).
            forget_state(self.home, task.id)
        if self._store is not None:
            self._store.update_task(
                task.id,
                status=status,
                started_at=task.started_at,
                finished_at=task.finished_at,
                run_id=task.run_id,
                answer=answer if answer is not None else task.answer,
                detail=detail,
                error=task.error,
            )
        self._publish(
            task,
            lambda seq: StatusEvent(
                task_id=task.id, seq=seq, status=status, at=now(), answer=answer, detail=detail
            ),
        )
        with contextlib.suppress(RuntimeError):  # no event loop: nothing to notify from
            self.notifier.task_changed(status, task.id, task.request.task, answer or detail)

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` without waiting for it (kept referenced until done; failures logged)."""
        chore = asyncio.create_task(work, name=name)
        self._chores.add(chore)
        chore.add_done_callback(self._chore_done)

    def _chore_done(self, chore: asyncio.Task[None]) -> None:
        self._chores.discard(chore)
        if not chore.cancelled() and (exc := chore.exception()) is not None:
            log.error("%s failed", chore.get_name(), exc_info=exc)

    def _publish(self, task: TaskState, make: EventMaker) -> None:
        event = make(len(task.events) + 1)
        task.events.append(event)
        self.hub.publish(event)
        if self._bus is not None:
            self._tell("event", task.id, event.model_dump(mode="json"))

    def _tell(self, kind: str, task_id: str, body: dict[str, Any]) -> None:
        """Tell the other processes on the shared Postgres (see `_on_bus`)."""
        assert self._bus is not None
        try:
            self._bus.send(kind, task_id, body)
        except StoreUnavailable as exc:
            log.warning("task %s: %s", task_id, exc)

    def _on_bus(self, message: BusMessage) -> None:
        """What another process did: the web server mirrors the tasks workers run (status,
        steps, requests, messages: shown live); the worker running a task takes the person's
        answers, messages and cancel from the web server."""
        task = self._tasks.get(message.task_id)
        if task is None and (task := self._load(message.task_id)) is None:
            return
        task = self._tasks.setdefault(task.id, task)
        if message.kind == "cancel":
            if task.handle is not None:
                task.cancel_requested = True
                task.handle.cancel()
            return
        event = _EVENTS.validate_python(message.body)
        mine = task.handle is not None
        match event:
            case RequestEvent(request=record):
                self.desk.book.sync(record)
            case MessageEvent(message=said):
                known = {m.id: i for i, m in enumerate(task.messages)}
                if said.id in known:
                    task.messages[known[said.id]] = said
                else:
                    task.messages.append(said)
            case StatusEvent() if not mine:
                self._refresh(task)
            case StepEvent(step=step) if not mine:
                _put_step(task.steps, step)
            case _:
                pass
        if not mine:  # shown here as its own process showed it
            task.events.append(event.model_copy(update={"seq": len(task.events) + 1}))
            self.hub.publish(task.events[-1])

    def _refresh(self, task: TaskState) -> None:
        """A task another process runs, as the database has it now."""
        stored = None if self._store is None else self._store.task(task.id)
        if stored is None:
            return
        task.status = cast(TaskStatus, stored.status)
        task.started_at, task.finished_at = stored.started_at, stored.finished_at
        task.run_id, task.error = stored.run_id, stored.error
        task.saved_answer = stored.answer
        task.waiting_for = stored.detail if stored.status == "waiting" else None

    def _find_run(self, task: TaskState) -> str | None:
        """The run record of a running task (its settings carry `server_task`)."""
        runs = self.home / "runs"
        if not runs.is_dir():
            return None
        for folder in sorted(runs.iterdir(), reverse=True)[:50]:
            try:
                header = json.loads((folder / "run.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if header.get("settings", {}).get("server_task") == task.id:
                return str(header["id"])
        return None


def _put_step(steps: list[Step], step: Step) -> bool:
    """Add `step` to a task's timeline; a step a restart replayed (its index is there already)
    replaces the one shown rather than showing twice. True when it is new."""
    for at, shown in enumerate(steps):
        if shown.index == step.index:
            steps[at] = step
            return False
    steps.append(step)
    return True
