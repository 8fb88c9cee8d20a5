"""Running tasks: `run_task` wires one run; checkpoints make it durable; `DurableTasks` runs
tasks as DBOS workflows on a queue and resumes them after a restart."""

from valet.runtime._checkpoints import Checkpoints, DbosCheckpoints, Immediate
from valet.runtime._durable import DurableTasks
from valet.runtime._local import BrowserUnavailable, TaskResult, TaskSpec, Tee, run_task

__all__ = [
    "BrowserUnavailable",
    "Checkpoints",
    "DbosCheckpoints",
    "DurableTasks",
    "Immediate",
    "TaskResult",
    "TaskSpec",
    "Tee",
    "run_task",
]
