"""Run records (what a run did, step by step) and workflows saved from them."""

from valet.record._store import FORMAT_VERSION, RunRecorder, RunStore, new_run_id
from valet.record._workflow import load_workflow, save_workflow, workflow_from_run

__all__ = [
    "FORMAT_VERSION",
    "RunRecorder",
    "RunStore",
    "load_workflow",
    "new_run_id",
    "save_workflow",
    "workflow_from_run",
]
