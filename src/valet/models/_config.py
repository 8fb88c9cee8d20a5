"""Which model to use: `provider:name` from the flag, the environment or `config.toml`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr

from valet.agent import OutputMode
from valet.errors import ConfigError

HOW_TO_CONFIGURE = """no model is configured. Choose one of:
  --model openai:gpt-4.1            (with OPENAI_API_KEY)
  --model anthropic:claude-sonnet-4-5  (with ANTHROPIC_API_KEY)
  --model google:gemini-2.5-flash   (with GOOGLE_API_KEY or GEMINI_API_KEY)
  --model ollama:qwen3:8b           (a local Ollama; OLLAMA_BASE_URL or VALET_MODEL_BASE_URL)
  --model openai-compatible:NAME    with VALET_MODEL_BASE_URL=http://host:port/v1
                                    (vLLM, llama.cpp server, LM Studio, ...)
  --model scripted:actions.yaml     (a scripted list of actions, no model needed)
or set VALET_MODEL, or `model = "..."` under [model] in ~/.valet/config.toml."""

PROVIDERS = ("openai", "anthropic", "google", "ollama", "openai-compatible", "scripted")
_KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
}


class ModelConfig(BaseModel):
    """A resolved model choice. The key is a secret: it is never logged or recorded."""

    provider: str
    """openai, anthropic, google, ollama, openai-compatible or scripted."""
    name: str
    """Model name at the provider, or the script's path for `scripted`."""
    base_url: str | None = Field(default=None, repr=False)
    """OpenAI-compatible server URL (`VALET_MODEL_BASE_URL`); may hold credentials, so it is
    left out of `repr` and `public()` strips them."""
    api_key: SecretStr | None = None
    output_mode: OutputMode = "act"
    """`act` (one native tool for every browser action), `tools` (one native tool per
    action) or `json` (JSON-schema constrained output)."""
    vision: bool = False
    """Send a screenshot with numbered marks each step."""

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.name}"

    def public(self) -> dict[str, Any]:
        """What may be stored in a run record: no key, no credentials inside the URL."""
        return {
            "model": self.spec,
            "base_url": _strip_credentials(self.base_url),
            "output_mode": self.output_mode,
            "vision": self.vision,
        }


def resolve_model_config(
    flag: str | None, env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> ModelConfig:
    """The model to use, from `--model`, then `VALET_MODEL`, then `[model]` in config.toml."""
    env = os.environ if env is None else env
    table: Mapping[str, Any] = (config or {}).get("model", {})
    keys: Mapping[str, Any] = (config or {}).get("keys", {})
    spec = flag or env.get("VALET_MODEL") or table.get("model")
    if not spec:
        raise ConfigError(HOW_TO_CONFIGURE)
    provider, sep, name = str(spec).partition(":")
    if not sep or not name or provider not in PROVIDERS:
        raise ConfigError(
            f"invalid model {spec!r}: expected provider:name with provider one of "
            f"{', '.join(PROVIDERS)}\n\n{HOW_TO_CONFIGURE}"
        )
    base_url = env.get("VALET_MODEL_BASE_URL") or table.get("base_url")
    if provider == "ollama":
        base_url = base_url or env.get("OLLAMA_BASE_URL") or "http://127.0.0.1:11434/v1"
    if provider == "openai-compatible" and not base_url:
        raise ConfigError(
            "openai-compatible models need VALET_MODEL_BASE_URL (e.g. http://127.0.0.1:8080/v1)"
        )
    key = env.get("VALET_MODEL_API_KEY") or keys.get(provider)
    for variable in _KEY_VARIABLES.get(provider, ()):
        key = key or env.get(variable)
    if provider in _KEY_VARIABLES and not key and not base_url:
        names = " or ".join(_KEY_VARIABLES[provider])
        raise ConfigError(
            f"model {spec!r} needs an API key: set {names}, VALET_MODEL_API_KEY, "
            f'or `{provider} = "..."` under [keys] in ~/.valet/config.toml'
        )
    local = provider in ("ollama", "openai-compatible") or bool(base_url)
    mode = env.get("VALET_MODEL_OUTPUT") or table.get("output") or ("json" if local else "act")
    if mode not in get_args(OutputMode):
        raise ConfigError(f"VALET_MODEL_OUTPUT must be 'act', 'tools' or 'json', not {mode!r}")
    vision = (env.get("VALET_MODEL_VISION") or str(table.get("vision", ""))).lower()
    return ModelConfig(
        provider=provider,
        name=name,
        base_url=base_url,
        api_key=SecretStr(key) if key else None,
        output_mode=cast(OutputMode, mode),
        vision=vision in ("1", "true", "yes"),
    )


def _strip_credentials(url: str | None) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
