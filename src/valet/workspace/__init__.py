"""The workspace: each task's own folder, kept with its run record, and a sandboxed shell in it.

- `Sandbox` / `SandboxLimits` / `ShellResult`: a command run with bubblewrap, seeing only the
  system's programs (read only) and the workspace, with no network and hard limits (CPU,
  memory, processes, file size, wall time); `SandboxUnavailable` when bubblewrap is missing.
- The `workspace` connector (`workspace_shell`, `workspace_list_files`, `workspace_read_file`,
  `workspace_write_file`): every command passes the gateway as an `execute` effect.
- `current_workspace()`, `in_workspace(path)`, `workspace_file(path)`, `put_in_workspace(path,
  bytes)`: the running task's workspace, for connectors that move files in and out of it.
"""

from valet.workspace._folder import (
    current_workspace,
    in_workspace,
    put_in_workspace,
    workspace_file,
    workspace_of,
)
from valet.workspace._sandbox import (
    SANDBOX_UID,
    Sandbox,
    SandboxLimits,
    SandboxUnavailable,
    ShellResult,
)

__all__ = [
    "SANDBOX_UID",
    "Sandbox",
    "SandboxLimits",
    "SandboxUnavailable",
    "ShellResult",
    "current_workspace",
    "in_workspace",
    "put_in_workspace",
    "workspace_file",
    "workspace_of",
]
