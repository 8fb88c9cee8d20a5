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


class StartupError(ValetError):
    """`valet serve` cannot start safely; the message says why and what to do. Raised before
    the sign-in link is printed; the CLI exits with `exit_code` and no traceback."""

    exit_code = 3


class DamagedDatabase(StartupError):
    """A database file cannot be read (CLI exit code 3): the message names it, says what was
    kept and how to recover."""


class LostTasks(StartupError):
    """Unfinished workflows whose tasks the task database no longer has (CLI exit code 3)."""


class AlreadyServing(StartupError):
    """Another `valet serve` uses the same valet home or database (CLI exit code 4)."""

    exit_code = 4


class CannotListen(StartupError):
    """`valet serve` cannot listen where it was asked (a port out of range or in use, a host
    that does not resolve or is not this machine's)."""

    exit_code = 2


class StoreUnavailable(ValetError):
    """A write to valet's database failed (disk full, read-only file, database down); nothing
    was changed (the API answers 503)."""


class StartPageUnreachable(ValetError):
    """The task's start page could not be opened (refused, unreachable, not allowed): the task
    fails at once with why, instead of starting on a blank page."""
