"""The sandboxed shell: a command run with bubblewrap, seeing only the system's programs (read
only) and the task's workspace (its only writable folder), with no network and hard limits.

Inside: `/usr` (and the `/bin`, `/lib` links to it), `/etc/fonts` and valet's Python
read-only, a fresh `/proc`, `/dev` and `/tmp` (where caches go), the workspace at
`/workspace` (the working folder and `$HOME`); nothing else of the machine: not valet's home
(its databases, the vault), not the person's home, not another task's workspace, nothing else
of `/etc`. Every namespace is new (no network at all: not
the internet, not 127.0.0.1), and the command runs without any capability as an unprivileged
user: valet's sandbox user (`SANDBOX_UID`) when valet runs as root, else a user of its own user
namespace. Limits, per command: CPU seconds, address space, the number of processes (a fork
bomb stops there), the size of any file written, and wall time (the whole sandbox is killed).
What the command printed is kept whole in the workspace's `.valet/shell.log` and given back
truncated. Commands never see that folder (an empty one is mounted over it): they cannot read
the log, change it, or plant a link there that valet would then write through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from valet._home import private_dir
from valet.errors import ValetError

SANDBOX_UID = 64123
"""The user commands run as when valet runs as root (no account needs to exist); otherwise
the user id they see in their own user namespace."""


class SandboxUnavailable(ValetError):
    """bubblewrap is missing or cannot make a sandbox here (the message says what to do)."""


@dataclass(frozen=True)
class SandboxLimits:
    cpu_s: int = 120
    memory_mb: int = 2048
    processes: int = 64
    file_mb: int = 1024
    wall_s: float = 300.0
    shown_chars: int = 8000
    """How much of the output the model reads (the log keeps up to `kept_bytes`)."""
    kept_bytes: int = 4 * 1024 * 1024
    """How much of each of stdout and stderr valet keeps (the log says how much more there
    was): a command printing without end cannot fill valet's memory."""


@dataclass(frozen=True)
class ShellResult:
    command: str
    exit_code: int | None
    """None when the sandbox was killed (wall time)."""
    stdout: str
    stderr: str
    seconds: float
    stopped: str = ""
    """Why it stopped early: `wall time`, a signal (`cpu time`, `file size`…), else ""."""
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.stopped

    def shown(self) -> str:
        """What the model reads."""
        head = f"exit code {self.exit_code}" if self.exit_code is not None else "killed"
        if self.stopped:
            head += f" ({self.stopped} limit reached)"
        parts = [head]
        if self.stdout:
            parts.append("stdout:\n" + self.stdout)
        if self.stderr:
            parts.append("stderr:\n" + self.stderr)
        if self.truncated:
            parts.append("(output truncated; the whole of it is in .valet/shell.log)")
        return "\n".join(parts)


_SIGNALS = {
    signal.SIGXCPU: "cpu time",
    signal.SIGXFSZ: "file size",
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "memory",
}


class Sandbox:
    """Runs commands in `workspace` (made if missing) under `limits`."""

    def __init__(
        self,
        workspace: Path,
        limits: SandboxLimits | None = None,
        downloads: Path | None = None,
    ) -> None:
        self.workspace = workspace
        self.limits = limits or SandboxLimits()
        self.downloads = downloads
        """The task's browser downloads, seen read-only at `/downloads` (when there are any)."""
        self._bwrap = shutil.which("bwrap")

    def check(self) -> None:
        """Raise `SandboxUnavailable` unless commands can run here."""
        if self._bwrap is None:
            raise SandboxUnavailable(
                "bubblewrap is not installed: install it (Debian: apt install bubblewrap)"
            )

    def prepare(self) -> None:
        """Make the workspace (private, as everything in valet's home); when valet runs as
        root, the sandbox user owns it (what commands write there is theirs already)."""
        private_dir(self.workspace / ".valet")
        self.own(self.workspace)

    def own(self, path: Path) -> None:
        """Give `path` in the workspace, and the folders above it there, to the sandbox user
        (valet running as root wrote it: commands may change it too)."""
        if os.geteuid() != 0:
            return
        root = self.workspace.resolve()
        for here in (path.resolve(), *path.resolve().parents):
            if not here.is_relative_to(root):
                break
            with contextlib.suppress(OSError):
                os.lchown(here, SANDBOX_UID, SANDBOX_UID)

    def argv(self, command: str) -> list[str]:
        """The whole command line: bwrap, then (as root: setpriv to the sandbox user) the
        shell."""
        self.check()
        assert self._bwrap is not None
        root = os.geteuid() == 0
        if root:  # a real user of its own: the process limit is then the sandbox's alone
            who = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
            who += ["--unshare-cgroup-try"]  # setpriv gets just what it needs to drop to it
            who += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            who += ["--cap-add", "CAP_SETPCAP"]
            shell = [
                "setpriv",
                f"--reuid={SANDBOX_UID}",
                f"--regid={SANDBOX_UID}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
                "/bin/sh",
            ]
        else:  # its own user namespace, without capabilities
            who = ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID)]
            who += ["--gid", str(SANDBOX_UID), "--cap-drop", "ALL"]
            shell = ["/bin/sh"]
        return [
            self._bwrap,
            *who,
            *("--die-with-parent", "--new-session"),
            *("--ro-bind", "/usr", "/usr"),
            *("--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin"),
            *("--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"),
            *("--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"),
            *("--perms", "0755", "--dir", "/etc"),  # of /etc, only the fonts' settings:
            *("--ro-bind-try", "/etc/fonts", "/etc/fonts"),  # charts find the fonts
            *_python_binds(),  # after /tmp: a Python under /tmp is not hidden by its tmpfs
            *("--bind", str(self.workspace), "/workspace"),
            *("--perms", "0555", "--tmpfs", "/workspace/.valet"),  # valet's records: hidden
            *self._downloads(),
            *("--clearenv", "--setenv", "PATH", f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin"),
            *("--setenv", "HOME", "/workspace", "--setenv", "LANG", "C.UTF-8"),
            *("--setenv", "TMPDIR", "/tmp", "--setenv", "MPLBACKEND", "Agg"),
            *("--setenv", "XDG_CACHE_HOME", "/tmp/.cache"),  # caches stay out of the results
            *("--setenv", "XDG_CONFIG_HOME", "/tmp/.config", "--setenv", "MPLCONFIGDIR", "/tmp"),
            "--",
            *shell,
            "-c",
            'cd /workspace && exec /bin/sh -c "$1"',  # entered as the sandbox user
            "sh",
            command,
        ]

    def _downloads(self) -> list[str]:
        if self.downloads is None or not self.downloads.is_dir():
            return []
        return ["--ro-bind", str(self.downloads), "/downloads"]

    async def run(self, command: str) -> ShellResult:
        """Run `command` with `/bin/sh -c` in the sandbox, to its end or a limit."""
        await asyncio.to_thread(self.prepare)
        argv = self.argv(command)
        limits = self.limits
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_limiter(limits),
        )
        assert process.stdout is not None and process.stderr is not None
        keep = limits.kept_bytes
        reading = asyncio.gather(
            _drain(process.stdout, keep), _drain(process.stderr, keep), process.wait()
        )
        stopped = ""
        try:
            (out, more_out), (err, more_err), _ = await asyncio.wait_for(
                asyncio.shield(reading), timeout=limits.wall_s
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            (out, more_out), (err, more_err), _ = await reading
            stopped = "wall time"
        seconds = time.monotonic() - started
        code = process.returncode
        if code is not None and code < 0 and not stopped:
            stopped = _SIGNALS.get(signal.Signals(-code), f"signal {-code}")
        elif code is not None and code >= 128 and not stopped:  # the shell reports a signal
            with contextlib.suppress(ValueError):
                found = _SIGNALS.get(signal.Signals(code - 128))
                stopped = found if found and found != "killed" else ""
        stdout = out.decode("utf-8", "replace") + _left_out(more_out)
        stderr = err.decode("utf-8", "replace") + _left_out(more_err)
        await asyncio.to_thread(self._log, command, code, stdout, stderr)
        shown = limits.shown_chars
        truncated = len(stdout) > shown or len(stderr) > shown
        return ShellResult(
            command,
            None if stopped == "wall time" else code,
            _cut(stdout, shown),
            _cut(stderr, shown),
            round(seconds, 3),
            stopped,
            truncated,
        )

    def _log(self, command: str, code: int | None, stdout: str, stderr: str) -> None:
        """Append to `.valet/shell.log`, never through a symbolic link (`OSError` if one is
        there): valet writes it, so a link would let a command's output land anywhere."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        folder = os.open(self.workspace / ".valet", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            log = os.open("shell.log", flags, 0o600, dir_fd=folder)
        finally:
            os.close(folder)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"$ {command}\n[exit {code}]\n{stdout}")
            if stderr:
                handle.write(f"[stderr]\n{stderr}")
            handle.write("\n")


def _python_binds() -> list[str]:
    """valet's Python (read only, at the same paths), so that `python3` in the sandbox has its
    data libraries (pandas, openpyxl, matplotlib, python-pptx: `pip install valet[workspace]`)
    but nothing of valet's (its source and home are not there)."""
    binds: list[str] = []
    made: set[Path] = set()
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        if Path(prefix).is_relative_to("/usr"):
            continue
        for parent in reversed(Path(prefix).parents):  # enterable by the sandbox user
            if parent != Path("/") and parent not in made:
                made.add(parent)
                binds += ["--perms", "0755", "--dir", str(parent)]
        binds += ["--ro-bind", prefix, prefix]
    return binds


def _limiter(limits: SandboxLimits) -> Callable[[], None]:
    """The child's limits, set before it becomes bwrap and the shell (inherited). The process
    limit counts the processes of the sandbox's real user: valet's sandbox user when valet
    runs as root (only sandboxes), else valet's own user (those running now are left room)."""
    others = 0 if os.geteuid() == 0 else sum(1 for e in os.listdir("/proc") if e.isdigit())

    def apply() -> None:
        mb = 1024 * 1024
        # SIGXCPU at the soft limit (said as "cpu time"), SIGKILL a second later
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        count = limits.processes + others
        resource.setrlimit(resource.RLIMIT_NPROC, (count, count))

    return apply


async def _drain(stream: asyncio.StreamReader, most: int) -> tuple[bytes, int]:
    """Read `stream` to its end, keeping its first `most` bytes; how many more there were."""
    kept = bytearray()
    more = 0
    while chunk := await stream.read(1 << 16):
        room = most - len(kept)
        kept += chunk[: max(room, 0)]
        more += max(len(chunk) - max(room, 0), 0)
    return bytes(kept), more


def _left_out(more: int) -> str:
    return f"\n… ({more:,} more bytes of output not kept)\n" if more else ""


def _cut(text: str, most: int) -> str:
    if len(text) <= most:
        return text
    half = most // 2
    return f"{text[:half]}\n… ({len(text) - most:,} characters left out) …\n{text[-half:]}"
