"""Running the `git` command for the git connector: explicit arguments (no shell), a clean
environment, a timeout, and git's complaints turned into messages the model can act on.

The environment is built from scratch rather than inherited, so that nothing of the person's
own git setup changes what valet does or leaks into it: no global or system config (aliases,
hooks, credential helpers, `url.*.insteadOf` rewrites), no `GIT_DIR` or `GIT_ASKPASS` from the
calling shell, no terminal prompt that would hang a task, English messages to parse. Only the
network settings a machine may need (proxies, CA certificates) pass through.

Settings go to git through `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`, not `-c`
on the command line, so that a login header never shows up in the process list.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from valet.gateway import ToolFailure

PASSED_THROUGH = (
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
"""Environment variables a git call keeps: what reaching a server may need, nothing else."""

_CHUNK = 65_536
_MAX_MESSAGE = 600


class GitFailed(ToolFailure):
    """A git command exited with an error; the message is git's own complaint, shortened."""

    def __init__(self, command: str, code: int, stderr: str) -> None:
        self.command = command
        self.code = code
        self.stderr = stderr
        super().__init__(f"git {command} failed: {complaint(stderr) or f'exit status {code}'}")


@dataclass(frozen=True, slots=True)
class GitOutput:
    out: bytes
    code: int
    err: str
    cut: bool = False
    """The output was longer than the limit asked for (and the command was stopped)."""

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")


class Git:
    """Runs git on one bare repository (`GIT_DIR`), each command within `timeout` seconds."""

    def __init__(
        self,
        git_dir: Path,
        *,
        timeout: float,
        protocol: str,
        config: Sequence[tuple[str, str]] = (),
        executable: str,
    ) -> None:
        self.executable = executable
        self.git_dir = git_dir
        self.timeout = timeout
        settings = [
            ("core.hooksPath", os.devnull),  # nothing in the clone ever runs a hook
            ("gc.autoDetach", "false"),  # no background gc outliving the call
            *config,
        ]
        env = {key: value for key in PASSED_THROUGH if (value := os.environ.get(key))}
        env.update(
            PATH=os.environ.get("PATH", os.defpath),
            LC_ALL="C",
            GIT_DIR=str(git_dir),
            GIT_TERMINAL_PROMPT="0",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_ALLOW_PROTOCOL=protocol,
            GIT_CONFIG_COUNT=str(len(settings)),
        )
        for number, (key, value) in enumerate(settings):
            env[f"GIT_CONFIG_KEY_{number}"] = key
            env[f"GIT_CONFIG_VALUE_{number}"] = value
        self.env = env

    async def run(
        self,
        *args: str,
        input: bytes | None = None,
        limit: int | None = None,
        env: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> GitOutput:
        """Run `git <args>`; raise `GitFailed` unless its exit status is in `ok`.

        `limit`: read at most that many bytes of output, then stop the command (`cut`)."""
        process = await asyncio.create_subprocess_exec(
            self.executable,
            *args,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**self.env, **(env or {})},
            start_new_session=True,  # its helpers (git-remote-http…) can be stopped together
        )
        try:
            async with asyncio.timeout(self.timeout):
                out, err, cut = await _communicate(process, input, limit)
                code = await process.wait()
        except TimeoutError:
            _stop(process)
            await process.wait()
            raise ToolFailure(
                f"git {args[0]} did not finish within {self.timeout:g} s and was stopped"
            ) from None
        except BaseException:
            _stop(process)
            await process.wait()
            raise
        if cut:
            return GitOutput(out, 0, err, cut=True)
        if code not in ok:
            raise GitFailed(args[0], code, err)
        return GitOutput(out, code, err)


async def _communicate(
    process: asyncio.subprocess.Process, data: bytes | None, limit: int | None
) -> tuple[bytes, str, bool]:
    assert process.stdout is not None and process.stderr is not None
    feeding = asyncio.ensure_future(_feed(process.stdin, data))
    errors = asyncio.ensure_future(process.stderr.read())
    chunks: list[bytes] = []
    size = 0
    while chunk := await process.stdout.read(_CHUNK):
        chunks.append(chunk)
        size += len(chunk)
        if limit is not None and size > limit:
            _stop(process)
            feeding.cancel()
            errors.cancel()
            return b"".join(chunks)[:limit], "", True
    await feeding
    err = (await errors).decode("utf-8", "replace")
    return b"".join(chunks), err, False


async def _feed(stdin: asyncio.StreamWriter | None, data: bytes | None) -> None:
    """Write `data` to the command's input while its output is read (no pipe deadlock)."""
    if stdin is None:
        return
    try:
        stdin.write(data or b"")
        await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # it stopped reading: its exit status says why


def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)


def complaint(stderr: str) -> str:
    """git's error lines, without its hints and progress, short enough to read."""
    lines = [line.strip() for line in stderr.splitlines()]
    kept = [line for line in lines if line and not line.startswith("hint:")]
    text = " ".join(kept)
    for prefix in ("fatal: ", "error: "):
        text = text.replace(prefix, "")
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " […]"


_REFUSED = re.compile(r"connection refused|could not resolve host|unable to connect", re.I)
_MISSING = re.compile(
    r"not exported|no such repository|repository .* not found|does not appear to be a git "
    r"repository|not found|404",
    re.I,
)
_LOGIN = re.compile(r"authentication failed|could not read username|401|403", re.I)


def remote_failure(failed: GitFailed, url: str, login: str | None) -> ToolFailure:
    """What went wrong talking to the remote at `url`, said so the model can tell the person.

    `login`: the vault credential used, if any (named, never its values)."""
    said = failed.stderr
    if _REFUSED.search(said):
        return ToolFailure(
            f"cannot reach the git server at {url} ({complaint(said)}); is it running?"
        )
    if _LOGIN.search(said):
        if login is None:
            return ToolFailure(
                f"the git server at {url} wants a login: the person can set `credential` in the "
                "toolset's settings to a vault credential bound to its host"
            )
        return ToolFailure(
            f"the git server at {url} refused the login of vault credential {login!r} "
            f"(wrong username or password/token, or no access to this repository)"
        )
    if _MISSING.search(said):
        return ToolFailure(
            f"there is no git repository at {url}, or the server does not share it "
            f"({complaint(said)})"
        )
    return ToolFailure(f"git {failed.command} from {url} failed: {complaint(said)}")
