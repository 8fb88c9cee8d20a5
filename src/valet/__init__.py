"""valet: a self-hostable agent that does real work in a real browser, with the person in control.

The public API is what this module re-exports; everything else may change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from valet.agent import Finished, Limits, RunEnd, Stopped, run_loop
    from valet.browser import BrowserSession, BrowserSettings, ByRole, Observation
    from valet.errors import ConfigError, RunNotFound, ScriptError, ValetError, WorkflowError
    from valet.models import ModelConfig, build_model, resolve_model_config
    from valet.runtime import TaskResult, TaskSpec, run_task
    from valet.tools import Action, BrowserToolbox, Effect

_EXPORTS = {
    "Action": "valet.tools",
    "BrowserSession": "valet.browser",
    "BrowserSettings": "valet.browser",
    "BrowserToolbox": "valet.tools",
    "ByRole": "valet.browser",
    "ConfigError": "valet.errors",
    "Effect": "valet.tools",
    "Finished": "valet.agent",
    "Limits": "valet.agent",
    "ModelConfig": "valet.models",
    "Observation": "valet.browser",
    "RunEnd": "valet.agent",
    "RunNotFound": "valet.errors",
    "ScriptError": "valet.errors",
    "Stopped": "valet.agent",
    "TaskResult": "valet.runtime",
    "TaskSpec": "valet.runtime",
    "ValetError": "valet.errors",
    "WorkflowError": "valet.errors",
    "build_model": "valet.models",
    "resolve_model_config": "valet.models",
    "run_loop": "valet.agent",
    "run_task": "valet.runtime",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily, so `import valet.sites` does not load the browser stack."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'valet' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
