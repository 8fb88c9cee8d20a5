"""Run records on disk: `runs/<id>/run.json`, `steps.jsonl` and `artifacts/`.

`run.json` is written when the run starts and rewritten (atomically) when it ends; each step is
appended to `steps.jsonl` and flushed as soon as it happens, so a crash loses nothing that was
done. Everything written passes the run's `Redactor` first (secret shapes and the vault's
values). The format is documented in the README ("Run records").
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, assert_never

from valet._home import private_dir
from valet.agent import Budget, Finished, HandBack, RunEnd, StepRecord, Stopped
from valet.audit import Redactor
from valet.errors import RunNotFound

FORMAT_VERSION = 1


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class RunRecorder:
    """Writes one run's record as it happens. A `Recorder` for the loop."""

    def __init__(
        self,
        runs_dir: Path,
        task: str,
        settings: dict[str, Any],
        redactor: Redactor | None = None,
        run_id: str | None = None,
    ) -> None:
        """A new run's record, under `run_id` when given (a server task's id; a durable task
        that restarts before its first checkpoint writes it afresh), else under a new id."""
        self.redactor = redactor or Redactor()
        self.run_id = run_id or new_run_id()
        self.dir = runs_dir / self.run_id
        self.artifacts = self.dir / "artifacts"
        if self.artifacts.exists() and run_id is None:
            raise FileExistsError(f"run {self.run_id} already exists")
        private_dir(self.artifacts)
        self.header: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "id": self.run_id,
            "task": task,
            "created_at": datetime.now(UTC).isoformat(),
            "finished_at": None,
            "status": "running",
            "settings": settings,
            "end": None,
            "totals": None,
        }
        self._write_header()
        self._steps = (self.dir / "steps.jsonl").open("a", encoding="utf-8")
        self._last_step: int | None = None

    @property
    def steps_written(self) -> bool:
        return self._last_step is not None

    @classmethod
    def resume(
        cls,
        runs_dir: Path,
        run_id: str,
        redactor: Redactor | None = None,
        *,
        task: str = "",
        settings: dict[str, Any] | None = None,
    ) -> RunRecorder:
        """Go on writing a run that was interrupted (a durable task restarted after a crash):
        the steps it replays are already in the record and are not written twice. A run
        another machine began (a worker there died) has no record here: it is begun afresh
        with `task` and `settings`, marked `continued`, and the steps replayed are written
        to it."""
        if not (runs_dir / run_id / "run.json").is_file():
            fresh = cls(runs_dir, task, settings or {}, redactor, run_id)
            fresh.header["continued"] = True
            fresh.header["restarts"] = 1
            fresh._write_header()
            return fresh
        recorder = cls.__new__(cls)
        recorder.redactor = redactor or Redactor()
        recorder.run_id = run_id
        recorder.dir = runs_dir / run_id
        recorder.artifacts = recorder.dir / "artifacts"
        recorder.artifacts.mkdir(parents=True, exist_ok=True)
        recorder.header = json.loads((recorder.dir / "run.json").read_text(encoding="utf-8"))
        recorder.header["restarts"] = int(recorder.header.get("restarts") or 0) + 1
        recorder.header.update(status="running", end=None, finished_at=None, totals=None)
        recorder._last_step = _last_index(recorder.dir / "steps.jsonl")
        recorder._write_header()
        recorder._steps = (recorder.dir / "steps.jsonl").open("a", encoding="utf-8")
        return recorder

    def step(self, step: StepRecord) -> None:
        if self._last_step is not None and step.index <= self._last_step:
            return  # replayed after a restart: recorded the first time
        data = asdict(step)
        image = data.pop("screenshot")
        data["screenshot"] = None
        if isinstance(image, bytes):
            path = self.artifacts / f"step-{step.index:03d}.png"
            path.write_bytes(image)
            data["screenshot"] = str(path.relative_to(self.dir))
        data = self.redactor.data(data)
        self._steps.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._steps.flush()
        self._last_step = step.index

    def finish(self, end: RunEnd, budget: Budget) -> None:
        match end:
            case Finished(answer=answer, success=success):
                self.header["status"] = "succeeded" if success else "failed"
                self.header["end"] = {"kind": "finished", "answer": answer, "success": success}
            case Stopped(reason=reason, detail=detail):
                self.header["status"] = "stopped"
                self.header["end"] = {"kind": "stopped", "reason": reason, "detail": detail}
            case _:
                assert_never(end)
        self.header["finished_at"] = datetime.now(UTC).isoformat()
        self.header["totals"] = {
            "steps": budget.steps,
            "input_tokens": budget.input_tokens,
            "output_tokens": budget.output_tokens,
            "cost_usd": round(budget.cost_usd, 6) if budget.cost_known else None,
            "elapsed_s": round(budget.elapsed, 3),
        }
        self._write_header()
        self._steps.close()

    def handover(self, reason: str, back: HandBack) -> None:
        """Keep that a takeover happened (who, how long, the URL before and after), nothing
        of what the person typed or clicked."""
        self.header.setdefault("handovers", []).append(
            {
                "after_step": self._last_step,
                "reason": reason,
                "by": back.by,
                "seconds": round(back.seconds, 1),
                "url_before": back.url_before,
                "url_after": back.url_after,
            }
        )
        self._write_header()

    def discard(self) -> None:
        """Remove a record of a run that never started (e.g. the browser was unreachable)."""
        self._steps.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _write_header(self) -> None:
        tmp = self.dir / "run.json.tmp"
        header = self.redactor.data(self.header)
        tmp.write_text(json.dumps(header, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.dir / "run.json")


def _last_index(steps_file: Path) -> int | None:
    """The index of the last complete step line (a line cut by a crash is dropped)."""
    if not steps_file.is_file():
        return None
    last: int | None = None
    complete: list[str] = []
    for line in steps_file.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            index = int(json.loads(line)["index"])
        except (ValueError, KeyError, TypeError):
            break
        last = index
        complete.append(line)
    steps_file.write_text("".join(complete), encoding="utf-8")
    return last


class RunStore:
    """Reads stored runs."""

    def __init__(self, runs_dir: Path) -> None:
        self.dir = runs_dir

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Run headers, newest first."""
        if not self.dir.is_dir():
            return []
        runs: list[dict[str, Any]] = []
        for path in sorted(self.dir.iterdir(), reverse=True):
            header = path / "run.json"
            if header.is_file():
                runs.append(json.loads(header.read_text(encoding="utf-8")))
            if limit is not None and len(runs) >= limit:
                break
        return runs

    def resolve(self, run_id: str) -> Path:
        """The run's folder; `last` or a unique prefix of an id also work."""
        if run_id == "last":
            runs = self.list(limit=1)
            if not runs:
                raise RunNotFound("there are no runs yet")
            run_id = str(runs[0]["id"])
        exact = self.dir / run_id
        if (exact / "run.json").is_file():
            return exact
        matches = (
            [p for p in self.dir.glob(f"{run_id}*") if (p / "run.json").is_file()]
            if self.dir.is_dir()
            else []
        )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(f"no run {run_id!r} (see `valet runs list`)")
        raise RunNotFound(f"{run_id!r} matches {len(matches)} runs; give more of the id")

    def load(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A run's header and its steps."""
        folder = self.resolve(run_id)
        header: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        steps: list[dict[str, Any]] = []
        steps_file = folder / "steps.jsonl"
        if steps_file.is_file():
            for line in steps_file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    steps.append(json.loads(line))
        header["dir"] = str(folder)
        return header, steps
