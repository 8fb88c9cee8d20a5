"""valet's exceptions: one tree. Model mistakes are values, not exceptions; these are ours
or the person's configuration."""

from __future__ import annotations


class ValetError(Exception):
    """Base of every error valet raises on purpose."""


class ConfigError(ValetError):
    """The configuration is missing or invalid (CLI exit code 2)."""


class ScriptError(ConfigError):
    """A scripted-model file or a saved workflow cannot be read."""


class RunNotFound(ValetError):
    """No stored run has that id."""


class WorkflowError(ValetError):
    """A workflow cannot be saved or replayed."""
