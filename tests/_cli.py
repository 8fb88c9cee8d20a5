"""`valet` commands run in the test's own process (Typer's runner): the same command code, exit
code, stdout and stderr as `python -m valet ...`, without a new Python process's 1.5-3 s of
imports each time. For commands that read or write the home folder or talk to a running
server; `valet run`, `valet serve` and `valet worker` stay real processes in the tests."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner, Result

from valet.cli import app


def valet_here(
    home: Path,
    *args: str,
    input: str | None = None,
    columns: int | None = None,
    clear: tuple[str, ...] = ("VALET_", "OPENAI_", "ANTHROPIC_"),
) -> Result:
    """`valet ARGS` on `home`. `input`: its stdin; `columns`: the terminal width Rich lays
    tables out for; `clear`: prefixes of environment variables unset while it runs."""
    env: dict[str, str | None] = {k: None for k in os.environ if clear and k.startswith(clear)}
    env["VALET_HOME"] = str(home)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return CliRunner().invoke(app, list(args), input=input, env=env)
