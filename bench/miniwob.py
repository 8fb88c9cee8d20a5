"""MiniWoB++ tasks through valet's real loop, driven by an oracle that reads only valet's text.

Each episode is one `run_task` (the gateway, the audit log, the run record, the history and the
observation, exactly as `valet run` wires them) whose model is a scripted oracle
(`miniwob_oracle.py`): it reads the prompt valet renders for the model and answers with valet's
tool calls (element ids, coordinates, typing, keys). It never touches the page: when valet's text
lacks what a person would see, the episode fails with what was missing, so the failures list the
widgets valet's observation or tools miss.

The harness (not the oracle) serves MiniWoB's HTML from the `miniwob` package on 127.0.0.1,
seeds and starts each episode the way MiniWoB's own Python environment does (`Math.seedrandom`,
`core.startEpisodeReal()`, a long `core.EPISODE_MAX_TIME`), takes the first turn itself (it
waits until the episode has started, then asks valet's `wait_for` for a fresh page, since valet
may read the page before MiniWoB's onload handler ran; that step is left out of the figures),
and reads the reward
(`WOB_DONE_GLOBAL`, `WOB_RAW_REWARD_GLOBAL`) between turns. An episode is solved when its raw
reward is positive. The person's request is the episode's instruction (MiniWoB gives it to the
agent beside the page), read beforehand from the same seeded episode opened in a second
browser; so a password in it is the person's own, which valet may type. Asks are approved
(the person says yes), and valet's stops for the person are off: no one is there to take over
(with `--person-signs-in`, valet stops at password fields and the bench plays the person who
fills them).

Per-step figures: the observation's characters (what the model reads of the page) and the
wall time of observe + act (the oracle's turn excluded). The last line is machine-readable.
Usage: .venv/bin/python bench/miniwob.py [--seeds 5] [--tasks click-tab,enter-text-2] [--show]
       [--output-mode {tools,act}] [--person-signs-in]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

from miniwob_oracle import Oracle, as_called
from playwright.async_api import Page
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from valet.agent import Budget, HandBack, Limits, RunEnd, StepRecord
from valet.browser import BrowserSession, BrowserSettings
from valet.gateway import Approval, ApprovalRequest
from valet.runtime import TaskSpec, run_task

TASKS = [
    "click-dialog",
    "click-dialog-2",
    "click-option",
    "click-scroll-list",
    "click-tab",
    "click-menu",
    "click-collapsible",
    "click-test-2",
    "enter-password",
    "enter-text-2",
    "enter-time",
    "focus-text-2",
    "find-word",
    "read-table",
    "phone-book",
    "order-food",
    "multi-layouts",
    "email-inbox-delete",
    "email-inbox-star-reply",
    "social-media-some",
    "drag-items-grid",
    "drag-sort-numbers",
    "use-slider-2",
    "use-spinner",
    "choose-date",
    "login-user-popup",
    "text-editor",
    "number-checkboxes",
    "daily-calendar",
    "buy-ticket",
]


# Seeds and starts the episode once the page's own onload handler has run (pageshow fires
# after load), as MiniWoB's Python environment does through its driver.
START = b"""<script>
window.addEventListener('pageshow', function () {
  Math.seedrandom(new URLSearchParams(location.search).get('seed'));
  core.EPISODE_MAX_TIME = 3600 * 1000;
  core.startEpisodeReal();
});
</script>
</head>"""

REWARD = "[WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON]"
STARTED = "core.EP_TIMER !== null || WOB_DONE_GLOBAL"


def html_root() -> Path:
    """MiniWoB's HTML folder, found from the installed package's metadata (importing the
    package would need its gym dependencies, and this script's own name shadows it)."""
    try:
        root = Path(str(metadata.distribution("miniwob").locate_file("miniwob/html")))
    except metadata.PackageNotFoundError:
        sys.exit("MiniWoB++ is missing: .venv/bin/python -m pip install --no-deps miniwob")
    return root


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not (path.startswith("/miniwob/") and path.endswith(".html")):
            super().do_GET()
            return
        file = Path(self.translate_path(path))
        if not file.is_file():
            self.send_error(404)
            return
        body = file.read_bytes().replace(b"</head>", START, 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser closed mid-response (the episode ended): nothing to report


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ApproveAll:
    """The person at the desk says yes to every ask (MiniWoB's buttons are all harmless)."""

    async def decide(self, request: ApprovalRequest) -> Approval:
        return Approval.approved("bench")


@dataclass
class Steps:
    """Collects each step's figures from the loop (a `Recorder`)."""

    chars: list[int] = field(default_factory=lambda: list[int]())
    ms: list[float] = field(default_factory=lambda: list[float]())
    skip: bool = False
    """The next step is the harness's (waiting for the episode), not the oracle's."""

    def step(self, step: StepRecord) -> None:
        if self.skip:
            self.skip = False
        elif step.action is None or step.action.get("kind") != "done":
            self.chars.append(step.observation_chars)
            self.ms.append(step.timings_ms.get("observe", 0) + step.timings_ms.get("act", 0))

    def finish(self, end: RunEnd, budget: Budget) -> None:
        pass

    def handover(self, reason: str, back: HandBack) -> None:
        pass


@dataclass
class Episode:
    """One seeded episode: the harness's turn around the oracle's."""

    task: str
    request: str
    """The episode's instruction, given to valet as the person's request."""
    show: bool
    steps: Steps
    session: BrowserSession | None = None
    began: bool = False
    done: bool = False
    reward: float = 0.0
    reason: str = ""
    oracle: Oracle = field(init=False)

    def __post_init__(self) -> None:
        self.oracle = Oracle(self.task)

    def attach(self, session: BrowserSession) -> None:
        self.session = session

    def _page(self) -> Page:
        page = self.session._driver.page if self.session else None  # pyright: ignore[reportPrivateUsage]
        assert page is not None, "the episode's page is open"
        return page

    async def read_reward(self) -> None:
        page = self._page()
        if page.is_closed():
            return
        done, raw, why = await page.evaluate(REWARD)
        self.done, self.reward = bool(done), float(raw or 0)
        if done and why:
            self.reason = f"MiniWoB: {why}"

    async def turn(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await self.read_reward()
        tools = {
            tool.name: {"description": tool.description or "", **tool.parameters_json_schema}
            for tool in info.output_tools
        }
        if self.done:
            return _call(*as_called(("done", {"answer": f"reward {self.reward}"}), tools))
        if not self.began:  # valet may have read the page before MiniWoB's onload started it
            self.began = self.steps.skip = True
            await self._page().wait_for_function(STARTED, timeout=10_000)
            if await self._page().evaluate("core.getUtterance()") != self.request:
                self.reason = "the seeded episode differed from its preview (the request)"
            return _call(*as_called(("wait_for", {}), tools))
        prompt = _last_prompt(messages)
        if self.show:
            print(f"----- {self.task} step {len(self.oracle.moves) + 1}\n{prompt}\n")
        kind, args = self.oracle.next(prompt, tools)
        if self.show:
            print(f">>>>> {kind} {json.dumps(args)}")
        return _call(kind, args)


@dataclass
class Person:
    """`--person-signs-in`: the person valet stops for at a password field (valet never types
    a password itself), played the way a person at the window would: they read the password
    in the instruction on the screen, type it into the password fields (turning down a popup
    that offers to leave) and hand the browser back."""

    episode: Episode

    async def requested(self) -> str | None:
        return None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        started = time.monotonic()
        page = self.episode._page()  # pyright: ignore[reportPrivateUsage]
        await page.wait_for_function(STARTED, timeout=10_000)
        found = re.search(r'password "([^"]*)"', await page.inner_text("#query"))
        if found is None:
            return None
        for box in await page.locator("input[type=password]").all():
            for _ in range(2):
                await box.fill(found[1], timeout=2_000)
                cancel = page.locator("#popup").get_by_role("button", name="Cancel")
                if not await cancel.count():
                    break
                await cancel.click(timeout=2_000)
        return HandBack("person:bench", time.monotonic() - started, url, page.url)


def _call(kind: str, args: dict[str, Any]) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(tool_name=kind, args=args)], model_name="oracle")


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    return content if isinstance(content, str) else str(content[0])
    return ""


@dataclass
class Result:
    task: str
    seed: int
    solved: bool
    steps: int
    why: str


@dataclass
class Preview:
    """MiniWoB gives the agent each episode's instruction (its utterance) beside the page, so
    the bench gives it to valet as the person's request: it opens the same seeded episode in a
    browser of its own first and reads `core.getUtterance()`. A password in the instruction is
    then the person's own (valet types those, and no other)."""

    session: BrowserSession

    async def utterance(self, url: str) -> str:
        outcome = await self.session.goto(url)
        assert outcome.ok, outcome.message
        page = await self.session.live_page()
        await page.wait_for_function(STARTED, timeout=10_000)
        return str(await page.evaluate("core.getUtterance()"))


async def run_episode(
    base: str,
    home: Path,
    task: str,
    seed: int,
    steps: Steps,
    preview: Preview,
    options: argparse.Namespace,
) -> Result:
    url = f"{base}/miniwob/{task}.html?seed={seed}"
    episode = Episode(task, await preview.utterance(url), options.show, steps)
    spec = TaskSpec(
        task=episode.request,
        start_url=url,
        limits=Limits(max_steps=61, max_seconds=180),
        stops=frozenset({"login"}) if options.person_signs_in else frozenset(),
    )
    before = len(steps.chars)
    try:
        result = await run_task(
            spec,
            FunctionModel(episode.turn, model_name="oracle"),
            home=home,
            model_info={"model": "oracle:miniwob"},
            output_mode=options.output_mode,
            progress=steps,
            approver=ApproveAll(),
            handover=Person(episode) if options.person_signs_in else None,
            on_session=episode.attach,
        )
    except Exception as exc:  # a bug in valet: reported, and the other episodes still run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        at = f"{Path(where.filename).name}:{where.lineno}"
        why = f"valet raised {type(exc).__name__} at {at}: {exc}"
        return Result(task, seed, False, len(steps.chars) - before, why)
    solved = episode.done and episode.reward > 0
    why = ""
    if not solved:
        why = episode.oracle.gap or episode.reason or _ended(result.end, episode)
    return Result(task, seed, solved, len(steps.chars) - before, why)


def _clip(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _ended(end: RunEnd, episode: Episode) -> str:
    if not episode.done:
        return f"the episode did not end ({type(end).__name__}: {getattr(end, 'detail', end)})"
    return f"MiniWoB gave reward {episode.reward}"


async def run_tasks(
    base: str,
    home: Path,
    tasks: list[str],
    steps: Steps,
    results: list[Result],
    preview: Preview,
    options: argparse.Namespace,
) -> None:
    """Each task's seeds in turn, with one line per task and one per failure."""
    for task in tasks:
        started = time.perf_counter()
        mine = [
            await run_episode(base, home, task, seed, steps, preview, options)
            for seed in range(1, options.seeds + 1)
        ]
        results += mine
        solved = sum(r.solved for r in mine)
        seconds = time.perf_counter() - started
        print(
            f"{task:<24} {solved}/{len(mine)} "
            f"steps={statistics.median(r.steps for r in mine):g} {seconds:.1f}s",
            flush=True,
        )
        for r in mine:
            if not r.solved:
                print(f"  seed {r.seed}: {_clip(r.why)}", flush=True)


async def main(tasks: list[str], options: argparse.Namespace) -> None:
    steps = Steps()
    results: list[Result] = []
    with serve(html_root()) as base, tempfile.TemporaryDirectory() as tmp:
        preview = Preview(await BrowserSession.start(BrowserSettings(), Path(tmp) / "preview"))
        try:
            await run_tasks(base, Path(tmp), tasks, steps, results, preview, options)
        finally:
            await preview.session.close()
    solved = sum(r.solved for r in results)
    chars = statistics.median(steps.chars) if steps.chars else 0
    ms = statistics.median(steps.ms) if steps.ms else 0.0
    print(f"solved={solved}/{len(results)} chars_per_step_p50={chars:.0f} step_p50_ms={ms:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="Episodes per task.")
    parser.add_argument("--tasks", default=",".join(TASKS), help="Comma-separated task names.")
    parser.add_argument("--show", action="store_true", help="Print each prompt and answer.")
    parser.add_argument(
        "--person-signs-in",
        action="store_true",
        help="Let valet stop at password fields for a person (played by the bench) to fill.",
    )
    parser.add_argument(
        "--output-mode",
        choices=["tools", "act"],
        default="tools",
        help="How the actions reach the model: one tool each, or the one act tool.",
    )
    options = parser.parse_args()
    chosen = [t.strip() for t in options.tasks.split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(TASKS))
    if unknown:
        sys.exit(f"unknown tasks: {', '.join(unknown)}")
    asyncio.run(main(chosen, options))
