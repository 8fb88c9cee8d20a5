"""valet: a self-hostable agent that does real work in a real browser, with the person in control.

The public API is what this module re-exports; everything else may change.
"""

from valet.agent import Finished, Limits, RunEnd, Stopped, run_loop
from valet.browser import BrowserSession, BrowserSettings, ByRole, Observation
from valet.errors import ConfigError, RunNotFound, ScriptError, ValetError, WorkflowError
from valet.models import ModelConfig, build_model, resolve_model_config
from valet.runtime import TaskResult, TaskSpec, run_task
from valet.tools import Action, BrowserToolbox, Effect

__all__ = [
    "Action",
    "BrowserSession",
    "BrowserSettings",
    "BrowserToolbox",
    "ByRole",
    "ConfigError",
    "Effect",
    "Finished",
    "Limits",
    "ModelConfig",
    "Observation",
    "RunEnd",
    "RunNotFound",
    "ScriptError",
    "Stopped",
    "TaskResult",
    "TaskSpec",
    "ValetError",
    "WorkflowError",
    "build_model",
    "resolve_model_config",
    "run_loop",
    "run_task",
]
