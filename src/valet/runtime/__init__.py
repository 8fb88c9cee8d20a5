"""Running tasks: `run_task` wires one run; checkpoints make it durable; `DurableTasks` runs
tasks as DBOS workflows on a queue and resumes them after a restart."""

from typing import TYPE_CHECKING, Any

from valet.runtime._checkpoints import Checkpoints, DbosCheckpoints, Immediate
from valet.runtime._local import TaskResult, TaskSpec, Tee, person_setup, run_task
from valet.runtime._task_browser import BrowserUnavailable, forget_state

if TYPE_CHECKING:
    from valet.runtime._durable import DurableTasks


def __getattr__(name: str) -> Any:
    if name == "DurableTasks":  # DBOS loads only for durable tasks (it is slow to import)
        from valet.runtime._durable import DurableTasks

        return DurableTasks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BrowserUnavailable",
    "Checkpoints",
    "DbosCheckpoints",
    "DurableTasks",
    "Immediate",
    "TaskResult",
    "TaskSpec",
    "Tee",
    "forget_state",
    "person_setup",
    "run_task",
]
