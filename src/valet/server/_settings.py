"""Settings of the server, how it picks a model for a task, and its per-install secret token."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_ai.models import Model

from valet._home import write_private
from valet.agent import OutputMode
from valet.browser import BrowserPool, BrowserSettings
from valet.errors import ConfigError
from valet.models import build_model, resolve_model_config
from valet.settings import load_config

TOKEN_FILE = "server-token"


@dataclass(frozen=True)
class ModelChoice:
    """A model ready to run one task, with what the run record may say about it."""

    model: Model
    info: dict[str, Any]
    """Stored in the run record's settings: model name, base URL without credentials, ..."""
    output_mode: OutputMode = "tools"
    vision: bool = False
    start_url: str | None = None
    """Where the task starts when it names no page (a workflow's own start)."""
    max_steps: int | None = None
    """The task's step limit when it sets none (a workflow: its length, and room for a model)."""
    took_over: Callable[[], bool] | None = None
    """For a workflow replay: whether the model had to take over (a step no longer matched)."""


ModelFactory = Callable[[str | None], ModelChoice]
"""Builds a fresh model for one task from the spec the person asked for (None: the default).
Raises `valet.errors.ConfigError` when the spec is unusable."""


class OidcSettings(BaseModel):
    """`[people.oidc]` of config.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(pattern=r"^https?://")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    """Only for a confidential client (PKCE is used either way)."""
    label: str = "single sign-on"
    """The sign-in button says "Sign in with <label>"."""
    scopes: str = "openid email profile"
    join: str | None = None
    """Anyone the provider vouches for may sign in, joining this organization as a member;
    without it, only people with an account (or linked before) may."""


class ServerSettings(BaseModel):
    """How one valet server runs: where its files are, which model, who may talk to it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    home: Path
    """valet's home folder (`VALET_HOME`): runs, profiles, config.toml, the server token."""
    model: str | None = None
    """Default `provider:name` for tasks that name none (else VALET_MODEL / config.toml)."""
    model_factory: ModelFactory | None = None
    """Overrides how a task's model is built (tests inject scripted models here)."""
    token: str | None = Field(default=None, min_length=16, repr=False)
    """The secret every API call must carry; None: read or create `home/server-token`."""
    allowed_origins: tuple[str, ...] = ()
    """Origins (`http://127.0.0.1:8700`) allowed to change state and open websockets; a
    request that sends any other Origin is refused."""
    max_concurrent_tasks: int = Field(default=2, ge=1)
    """Tasks that run at the same time; the rest wait in the queue."""
    runs_tasks: bool = True
    """False (`valet serve --web-only`, Postgres): the server queues tasks and `valet worker`
    processes run them."""
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    """Browser settings of every task."""
    shared_browsers: int = Field(default=1, ge=0)
    """Chromium processes the tasks share, each task in an isolated context of one (a task
    whose settings name a persistent profile or a `cdp_url` keeps a browser of its own);
    0: every task launches a Chromium of its own."""
    remote_browsers: tuple[str, ...] = ()
    """CDP URLs of browsers elsewhere (`http://host:9222`, `ws://…`): when given, tasks get
    their contexts there instead of in a local Chromium."""
    default_max_steps: int = Field(default=40, ge=1)
    """Step limit of a task that does not set one."""
    durable: bool = False
    """Run tasks as durable workflows (DBOS) that survive restarts; `valet serve` turns it on.
    One durable server per process (DBOS is process-wide)."""
    people: bool = False
    """Multi-person mode (`[people] enabled = true`): people sign in with a password and
    each sees only their own tasks; the install's token and links stay the operator's."""
    oidc: OidcSettings | None = None
    """Single sign-on for multi-person mode (`[people.oidc]`)."""
    takeover_grace_s: float = Field(default=30.0, ge=0)
    """How long a takeover outlives its holder's live view (a reload, a closed tab, a dropped
    connection): the lease stays theirs and the reopened task page takes it up again; after
    this many seconds without them it ends as if they handed back. `valet serve` reads it from
    `config.toml` (`[server] takeover_grace_s`)."""


def oidc_settings(config: dict[str, Any]) -> OidcSettings | None:
    """`[people.oidc]`, or None; `ConfigError` saying what is wrong."""
    from pydantic import ValidationError

    section: object = config.get("people", {})
    table: object = (
        cast(dict[str, object], section).get("oidc") if isinstance(section, dict) else None
    )
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError("config.toml: [people.oidc] must be a table (issuer, client_id…)")
    try:
        return OidcSettings.model_validate(table)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"config.toml: [people.oidc]: {problems}") from exc


def people_mode(config: dict[str, Any]) -> bool:
    """`[people] enabled` of `config.toml` (false by default). Raises `ConfigError` when it
    is not true or false."""
    section: object = config.get("people", {})
    if not isinstance(section, dict):
        raise ConfigError("config.toml: [people] must be a table (enabled = true)")
    value = cast(dict[str, object], section).get("enabled", False)
    if not isinstance(value, bool):
        raise ConfigError(f"config.toml: [people] enabled must be true or false, not {value!r}")
    return value


def tasks_per_account(config: dict[str, Any]) -> int | None:
    """`[people] tasks_at_once` of `config.toml`: how many tasks one organization (or one
    person outside any, or the installation) runs at once across every process; None: no
    limit beyond each process's `--max-tasks`. Raises `ConfigError` unless a whole number ≥ 1."""
    return _tasks_limit(config, "tasks_at_once")


def tasks_per_person(config: dict[str, Any]) -> int | None:
    """`[people] tasks_at_once_per_person` of `config.toml`: how many tasks one person (a
    member of an organization too, or the installation) runs at once across every process;
    None: no such limit. Raises `ConfigError` unless a whole number ≥ 1."""
    return _tasks_limit(config, "tasks_at_once_per_person")


def _tasks_limit(config: dict[str, Any], key: str) -> int | None:
    section: object = config.get("people", {})
    if not isinstance(section, dict):
        raise ConfigError("config.toml: [people] must be a table (enabled = true)")
    value = cast(dict[str, object], section).get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"config.toml: [people] {key} must be a whole number ≥ 1, not {value!r}")
    return value


def takeover_grace(config: dict[str, Any]) -> float:
    """`[server] takeover_grace_s` of `config.toml`, else the default (30 s). Raises
    `ConfigError` when it is not a number of seconds, zero or more."""
    server: object = config.get("server", {})
    value: object = (
        cast(dict[str, object], server).get("takeover_grace_s", 30.0)
        if isinstance(server, dict)
        else None
    )
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"config.toml: [server] takeover_grace_s must be a number of seconds (0 or more), "
            f"not {value!r}"
        )
    return float(value)


def shared_browsers(settings: ServerSettings) -> BrowserPool | None:
    """The browsers the server's tasks share (None: each task launches its own)."""
    if settings.remote_browsers:
        return BrowserPool(settings.browser, endpoints=settings.remote_browsers)
    if settings.shared_browsers == 0:
        return None
    return BrowserPool(settings.browser, size=settings.shared_browsers)


def build_model_choice(settings: ServerSettings) -> ModelFactory:
    """The model factory the server uses: the injected one, else valet's model configuration."""
    if settings.model_factory is not None:
        return settings.model_factory

    def from_config(spec: str | None) -> ModelChoice:
        config = resolve_model_config(spec or settings.model, config=load_config(settings.home))
        mode: OutputMode = config.output_mode if config.provider != "scripted" else "tools"
        return ModelChoice(build_model(config), config.public(), mode, config.vision)

    return from_config


def load_or_create_token(home: Path) -> str:
    """The install's secret token: read from `home/server-token`, created (mode 0600) on first
    start."""
    path = home / TOKEN_FILE
    if path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token
    return _write_token(home)


def rotate_token(home: Path) -> str:
    """A new install token in `home/server-token`: the old one stops working for the API, and
    every link and session made under it ends (they are bound to the token)."""
    return _write_token(home)


def _write_token(home: Path) -> str:
    token = secrets.token_urlsafe(32)
    write_private(home / TOKEN_FILE, token + "\n")
    return token
