"""Running tasks: locally now; durable workflows, queues and waits come here next."""

from valet.runtime._local import BrowserUnavailable, TaskResult, TaskSpec, Tee, run_task

__all__ = ["BrowserUnavailable", "TaskResult", "TaskSpec", "Tee", "run_task"]
