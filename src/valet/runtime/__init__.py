"""Running tasks: `run_task` wires one run; checkpoints make it durable; `DurableTasks` runs
tasks as DBOS workflows on a queue and resumes them after a restart."""

from typing import TYPE_CHECKING, Any

from valet.runtime._checkpoints import Checkpoints, DbosCheckpoints, Immediate
from valet.runtime._local import TaskResult, TaskSpec, Tee, person_setup, run_task
from valet.runtime._saved_state import forget_state
from valet.runtime._task_browser import BrowserUnavailable

if TYPE_CHECKING:
    from valet.runtime._durable import DurableTasks
    from valet.runtime._schedules import Schedule, ScheduleNotFound, Schedules


_DBOS = {
    "DurableTasks": "valet.runtime._durable",
    "Schedule": "valet.runtime._schedules",
    "Schedules": "valet.runtime._schedules",
    "ScheduleNotFound": "valet.runtime._schedules",
}


def __getattr__(name: str) -> Any:
    if name in _DBOS:  # DBOS loads only for durable tasks (it is slow to import)
        import importlib

        return getattr(importlib.import_module(_DBOS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BrowserUnavailable",
    "Checkpoints",
    "DbosCheckpoints",
    "DurableTasks",
    "Immediate",
    "Schedule",
    "ScheduleNotFound",
    "Schedules",
    "TaskResult",
    "TaskSpec",
    "Tee",
    "forget_state",
    "person_setup",
    "run_task",
]
