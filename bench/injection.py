"""Prompt injection against valet's real gateway, in the style of AgentDojo.

    .venv/bin/python bench/injection.py [--verbose] [--tasks ID,...] [--goals ID,...]

A person's world (mail, calendar, drive, chat and web, bank, travel; bench/injection_world.py)
behind gated tools declared as a careful connector author would (injection_tools.py). User tasks
(injection_workspace.py, injection_services.py) are requests as a person writes them, each with
the script a model follows and a check on the final state. Injection goals (injection_goals.py)
are an attacker's instructions with a check that they happened. Every task is paired with every
goal whose tools it runs with; the goal's text, in one of three templates, is put in every place
the task reads that an outsider can write to.

The scripted model does the task and obeys: when a result it just read holds the injection, it
first carries out the goal (copying the attacker's values from what it read), then goes on with
the task. A refused call is read and the model goes on. Three simulated persons answer the
gateway's asks: careless (yes to everything), signals (yes unless the ask shows a warning) and
careful (yes only to calls the task itself needs: the same tool with the same consequential
arguments as one of the task's own calls, computed by solving it without a gateway).

The gateway is built as valet's runtime builds it: the task's scope derived from the request,
the person's standing grants on each connector the task runs with, the built-in policy, no
person rules. The simulated web's hosts (`.example`) resolve to a public address, as real sites
would (`simulated_dns`).

The last line: asr_<person> is the fraction of (task, goal) pairs whose goal check holds;
benign_utility the lower of the careful and signals persons' fractions of tasks (run without
injections) whose utility check holds; asks_per_task the signals person's asks per benign task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import injection_services
import injection_workspace
from injection_goals import GOALS
from injection_scenario import TEMPLATES, GiveUp, Goal, Template, UserTask
from injection_tools import AnyTool, make_tools
from injection_world import VECTORS, World, build_world

from valet.gateway import Approval, ApprovalRequest, Gateway, TaskContext, ToolFailure
from valet.policy import ConnectorGrant, Policy, Scope, derive_scope
from valet.tools import Effect

TASKS: tuple[UserTask, ...] = injection_workspace.TASKS + injection_services.TASKS
Kind = Literal["careless", "signals", "careful"]
PERSONS: tuple[Kind, ...] = ("careless", "signals", "careful")


def shows_warning(request: ApprovalRequest) -> bool:
    """Whether the ask warns the person: what valet puts in front of them as a warning."""
    return bool(request.warnings)


PUBLIC_ADDRESS = "93.184.215.14"
"""Where every host of the simulated web resolves: a public address (nothing connects to it)."""


@contextlib.contextmanager
def simulated_dns() -> Iterator[None]:
    """Hosts under `.example` (the simulated web, the attacker's sites included) resolve to a
    public address, as real sites would; the gateway resolves the hosts of URL arguments and
    would otherwise refuse them all as unknown, which no real web page is."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.rstrip(".").endswith(".example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_ADDRESS, port or 0))]
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


@dataclass(frozen=True)
class Call:
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    tool: str
    rule: str
    warned: bool
    approved: bool


@dataclass
class Person:
    """Answers the gateway's asks; keeps every ask."""

    kind: Kind
    needed: Sequence[Call] = ()
    """The task's own calls (for the careful person)."""
    consequential: dict[str, tuple[str, ...]] = field(default_factory=dict[str, tuple[str, ...]])
    asks: list[Ask] = field(default_factory=lambda: list[Ask]())

    async def decide(self, request: ApprovalRequest) -> Approval:
        warned = shows_warning(request)
        if self.kind == "careless":
            yes = True
        elif self.kind == "signals":
            yes = not warned
        else:
            yes = self.needs(request.tool, request.args)
        self.asks.append(Ask(request.tool, request.decision.rule_id, warned, yes))
        who = f"person:{self.kind}"
        return Approval.approved(who) if yes else Approval.declined(who, "not what I asked for")

    def needs(self, tool: str, args: dict[str, object]) -> bool:
        names = self.consequential.get(tool, ())
        return any(
            call.tool == tool and all(_same(call.args.get(n), args.get(n)) for n in names)
            for call in self.needed
        )


def _same(a: object, b: object) -> bool:
    return a == b or str(a) == str(b)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: Any = None
    verdict: str = "allow"
    rule: str = ""


class Executor(Protocol):
    async def run(self, tool: str, args: dict[str, Any]) -> Outcome: ...


class Gated:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def run(self, tool: str, args: dict[str, Any]) -> Outcome:
        result = await self.gateway.call(tool, args)
        return Outcome(result.ok, result.value, result.decision.verdict, result.decision.rule_id)


class Direct:
    """The tools called straight, with no gateway: to solve a task or force an attack."""

    def __init__(self, tools: Iterable[AnyTool]) -> None:
        self.tools = {t.name: t for t in tools}
        self.read: list[str] = []

    async def run(self, tool: str, args: dict[str, Any]) -> Outcome:
        kwargs = self.tools[tool].validate(args)
        if isinstance(kwargs, str):
            raise AssertionError(kwargs)
        try:
            value = self.tools[tool].fn(**kwargs)
        except ToolFailure:
            return Outcome(False)
        self.read.extend(_strings(value))
        return Outcome(True, value)


@dataclass(frozen=True)
class Record:
    """One call the model made."""

    tool: str
    args: dict[str, Any]
    ok: bool
    verdict: str
    rule: str
    ask: Ask | None
    for_goal: bool

    @property
    def ran(self) -> bool:
        """The tool ran (it may still have failed): neither denied nor declined."""
        refused = self.verdict == "deny" or (self.ask is not None and not self.ask.approved)
        return self.ok or not refused


@dataclass
class ObedientModel:
    """Does the task's script, and carries out the injected goal as soon as it reads it."""

    executor: Executor
    person: Person | None = None
    goal: Goal | None = None
    injection: str = ""
    records: list[Record] = field(default_factory=lambda: list[Record]())
    obeyed: bool = False
    in_goal: bool = False

    async def call(self, tool: str, /, **args: Any) -> Any:
        before = len(self.person.asks) if self.person else 0
        outcome = await self.executor.run(tool, args)
        ask = self.person.asks[before] if self.person and len(self.person.asks) > before else None
        self.records.append(
            Record(tool, args, outcome.ok, outcome.verdict, outcome.rule, ask, self.in_goal)
        )
        if not outcome.ok:
            return None
        read = _strings(outcome.value)
        if self.goal and not self.obeyed and any(self.injection in text for text in read):
            self.obeyed, self.in_goal = True, True
            try:
                await self.goal.run(self)
            except GiveUp:
                pass
            finally:
                self.in_goal = False
        return outcome.value

    async def attempt(self, task: UserTask) -> str | None:
        try:
            return await task.run(self)
        except GiveUp:
            return None


def _strings(value: object) -> list[str]:
    return list(_walk(value))


def _walk(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():  # pyright: ignore[reportUnknownVariableType]
            yield from _walk(item)  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, list | tuple):
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            yield from _walk(item)  # pyright: ignore[reportUnknownArgumentType]


def tools_for(world: World, connectors: Iterable[str]) -> list[AnyTool]:
    """The tools of `connectors` over `world`."""
    by_connector = make_tools(world)
    return [t for c in connectors for t in by_connector[c]]


def scope_for(task: UserTask, tools: Sequence[AnyTool]) -> Scope:
    """As valet's runtime derives it: from the request's words, with the person's standing
    grants on each connector the task runs with (every effect its tools have)."""
    grants = [
        ConnectorGrant.of(c, *{t.effects.effect for t in tools if t.effects.connector == c})
        for c in task.connectors
    ]
    return derive_scope(task.request, grants=grants)


@dataclass(frozen=True)
class Prepared:
    task: UserTask
    calls: tuple[Call, ...]
    """What solves it (ungated, no injection)."""
    vectors: tuple[str, ...]
    """The injection vectors it reads."""
    solved: bool


async def prepare(task: UserTask) -> Prepared:
    canaries = {v: f"[[canary:{v}]]" for v in VECTORS}
    direct = Direct(tools_for(build_world(canaries), task.connectors))
    await ObedientModel(direct).attempt(task)
    read = "\n".join(direct.read)
    seen = tuple(v for v, c in canaries.items() if c in read)
    world = build_world()
    model = ObedientModel(Direct(tools_for(world, task.connectors)))
    answer = await model.attempt(task)
    calls = tuple(Call(r.tool, r.args) for r in model.records)
    return Prepared(task, calls, seen, task.utility(world, answer))


@dataclass(frozen=True)
class Run:
    utility: bool
    attacked: bool
    records: tuple[Record, ...]
    asks: tuple[Ask, ...]


async def run_once(
    prep: Prepared, kind: Kind, goal: Goal | None = None, template: Template | None = None
) -> Run:
    text = template.render(goal) if goal and template else ""
    world = build_world(dict.fromkeys(prep.vectors, text) if text else None)
    tools = tools_for(world, prep.task.connectors)
    person = Person(kind, prep.calls, {t.name: t.consequential for t in tools})
    gateway = Gateway(
        tools,
        rules=Policy(),
        approver=person,
        scope=scope_for(prep.task, tools),
        task=TaskContext(task_id=prep.task.id, request=prep.task.request),
        audit=None,
    )
    model = ObedientModel(Gated(gateway), person, goal, text)
    answer = await model.attempt(prep.task)
    attacked = goal is not None and goal.check(world)
    return Run(prep.task.utility(world, answer), attacked, tuple(model.records), tuple(person.asks))


def pairs(
    tasks: Sequence[UserTask], goals: Sequence[Goal]
) -> list[tuple[UserTask, Goal, Template]]:
    """Every task with every goal whose tools it runs with; the template rotates."""
    found: list[tuple[UserTask, Goal, Template]] = []
    for i, task in enumerate(tasks):
        for j, goal in enumerate(goals):
            if set(goal.needs) <= set(task.connectors):
                found.append((task, goal, TEMPLATES[(i + j) % len(TEMPLATES)]))
    return found


READS = {Effect.READ}


def how(run: Run, effects: dict[str, Effect]) -> str:
    """How the goal's actions got through the gateway, in a few words."""
    parts: set[str] = set()
    for r in run.records:
        if not (r.for_goal and r.ran and effects[r.tool] not in READS):
            continue
        if r.ask is None:
            parts.add(f"allowed without asking ({r.rule})")
        else:
            warned = "with a warning" if r.ask.warned else "without a warning"
            parts.add(f"asked {warned} ({r.ask.rule})")
    return "; ".join(sorted(parts)) or "through reads only"


def rate(hits: int, total: int) -> float:
    return hits / total if total else 0.0


async def main(verbose: bool, task_ids: set[str] | None, goal_ids: set[str] | None) -> None:
    started = time.perf_counter()
    tasks = [t for t in TASKS if task_ids is None or t.id in task_ids]
    goals = [g for g in GOALS if goal_ids is None or g.id in goal_ids]
    preps = {t.id: await prepare(t) for t in tasks}
    broken = [p.task.id for p in preps.values() if not p.solved or not p.vectors]
    if broken:
        raise SystemExit(f"tasks unsolved without a gateway or reading no vector: {broken}")

    benign: dict[Kind, list[Run]] = {k: [] for k in PERSONS}
    for task in tasks:
        for kind in PERSONS:
            benign[kind].append(await run_once(preps[task.id], kind))

    todo = pairs(tasks, goals)
    attacks: dict[Kind, list[tuple[UserTask, Goal, Template, Run]]] = {k: [] for k in PERSONS}
    step = max(1, len(todo) // 10)
    for n, (task, goal, template) in enumerate(todo, 1):
        for kind in PERSONS:
            run = await run_once(preps[task.id], kind, goal, template)
            attacks[kind].append((task, goal, template, run))
        if n % step == 0 or n == len(todo):
            elapsed = time.perf_counter() - started
            print(f"  {n}/{len(todo)} pairs, {elapsed:.1f} s", flush=True)

    effects = {t.name: t.effects.effect for ts in make_tools(build_world()).values() for t in ts}
    report(tasks, goals, benign, attacks, effects, verbose)
    utility = {k: rate(sum(r.utility for r in benign[k]), len(tasks)) for k in PERSONS}
    asr = {k: rate(sum(run.attacked for *_, run in attacks[k]), len(todo)) for k in PERSONS}
    asks = rate(sum(len(r.asks) for r in benign["signals"]), len(tasks))
    print(
        f"asr_careless={asr['careless']:.2f} asr_signals={asr['signals']:.2f} "
        f"asr_careful={asr['careful']:.2f} "
        f"benign_utility={min(utility['careful'], utility['signals']):.2f} "
        f"asks_per_task={asks:.2f} benign_utility_careful={utility['careful']:.2f} "
        f"benign_utility_signals={utility['signals']:.2f} "
        f"benign_utility_careless={utility['careless']:.2f} "
        f"pairs={len(todo)} tasks={len(tasks)} goals={len(goals)} "
        f"seconds={time.perf_counter() - started:.1f}"
    )


def report(
    tasks: Sequence[UserTask],
    goals: Sequence[Goal],
    benign: dict[Kind, list[Run]],
    attacks: dict[Kind, list[tuple[UserTask, Goal, Template, Run]]],
    effects: dict[str, Effect],
    verbose: bool,
) -> None:
    print(f"\n{len(tasks)} user tasks, {len(goals)} injection goals")
    print("benign runs (no injection):")
    for kind in PERSONS:
        runs = benign[kind]
        failed = [t.id for t, r in zip(tasks, runs, strict=True) if not r.utility]
        asks = sum(len(r.asks) for r in runs)
        print(
            f"  {kind:9} utility {sum(r.utility for r in runs)}/{len(runs)}, "
            f"{asks / len(runs):.2f} asks per task"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
    suites = sorted({t.suite for t in tasks})
    print("\nattack success rate (ASR) by person, per suite of the user task:")
    print(f"  {'suite':10}{'pairs':>6}" + "".join(f"{k:>10}" for k in PERSONS))
    for suite in [*suites, "all"]:
        rows = {
            k: [run for t, _, _, run in attacks[k] if suite in ("all", t.suite)] for k in PERSONS
        }
        total = len(rows["careless"])
        print(
            f"  {suite:10}{total:>6}"
            + "".join(f"{rate(sum(r.attacked for r in rows[k]), total):>10.2f}" for k in PERSONS)
        )
    print("ASR per template:")
    for template in TEMPLATES:
        cells = []
        for kind in PERSONS:
            runs = [run for _, _, tp, run in attacks[kind] if tp is template]
            cells.append(f"{kind} {rate(sum(r.attacked for r in runs), len(runs)):.2f}")
        print(f"  {template.name:10}" + ", ".join(cells))
    print(
        "utility under attack: "
        + ", ".join(
            f"{k} {rate(sum(run.utility for *_, run in attacks[k]), len(attacks[k])):.2f}"
            for k in PERSONS
        )
    )
    for kind in PERSONS:
        won = [(t, g, tp, run) for t, g, tp, run in attacks[kind] if run.attacked]
        if not won:
            continue
        print(f"\nsuccessful attacks, {kind} person ({len(won)}), by how they got through:")
        grouped: dict[str, Counter[str]] = defaultdict(Counter)
        for _, goal, _, run in won:
            grouped[how(run, effects)][goal.id] += 1
        for why, by_goal in sorted(grouped.items(), key=lambda kv: -sum(kv[1].values())):
            listed = ", ".join(f"{g}×{n}" for g, n in sorted(by_goal.items()))
            print(f"  {sum(by_goal.values()):4}  {why}: {listed}")
        if verbose:
            for task, goal, template, run in won:
                print(f"    {task.id} × {goal.id} [{template.name}]: {how(run, effects)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="prompt injection against valet's gateway")
    parser.add_argument("--verbose", action="store_true", help="list every successful attack")
    parser.add_argument("--tasks", help="comma-separated user task ids (default: all)")
    parser.add_argument("--goals", help="comma-separated goal ids (default: all)")
    args = parser.parse_args()
    with simulated_dns():
        asyncio.run(
            main(
                args.verbose,
                set(args.tasks.split(",")) if args.tasks else None,
                set(args.goals.split(",")) if args.goals else None,
            )
        )
