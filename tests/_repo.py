"""A local git repository for the tests of the git MCP server (`repo` fixture in conftest)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def git_state(repo: Path) -> tuple[str, str, str]:
    """What a write would change: the commits, the branches and the index."""
    return git(repo, "log", "--format=%H %s"), git(repo, "branch"), git(repo, "status", "-s")


def make_repo(folder: Path) -> Path:
    """A git repository with one commit and one untracked file."""
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "person@example.com")
    git(folder, "config", "user.name", "Person")
    (folder / "README.md").write_text("hello\n")
    git(folder, "add", "README.md")
    git(folder, "commit", "-q", "-m", "first commit")
    (folder / "notes.txt").write_text("new notes\n")
    return folder
