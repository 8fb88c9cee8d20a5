"""Turning a `ModelConfig` into a pydantic-ai model. Wire format and credentials stay in
pydantic-ai's models and providers; this only picks them."""

from __future__ import annotations

from pathlib import Path

from pydantic_ai.models import Model

from valet.errors import ConfigError
from valet.models._config import ModelConfig
from valet.models._script import load_script
from valet.models._scripted import ScriptPlayer, scripted_model


def build_model(config: ModelConfig, params: dict[str, str] | None = None) -> Model:
    """The pydantic-ai model for `config`. Imports each provider's SDK only when used."""
    key = config.api_key.get_secret_value() if config.api_key else None
    match config.provider:
        case "scripted":
            path = Path(config.name).expanduser()
            if not path.is_file():
                raise ConfigError(f"scripted model: no file {path}")
            return scripted_model(ScriptPlayer(load_script(path, params)))
        case "openai" | "ollama" | "openai-compatible":
            from pydantic_ai.models.openai import OpenAIChatModel
            from pydantic_ai.providers.openai import OpenAIProvider

            provider = OpenAIProvider(base_url=config.base_url, api_key=key or "not-needed")
            if config.provider == "openai" and config.base_url is None:
                provider = OpenAIProvider(api_key=key)
            return OpenAIChatModel(config.name, provider=provider)
        case "anthropic":
            from pydantic_ai.models.anthropic import AnthropicModel
            from pydantic_ai.providers.anthropic import AnthropicProvider

            return AnthropicModel(
                config.name, provider=AnthropicProvider(api_key=key, base_url=config.base_url)
            )
        case "google":
            from pydantic_ai.models.google import GoogleModel
            from pydantic_ai.providers.google import GoogleProvider

            return GoogleModel(
                config.name, provider=GoogleProvider(api_key=key, base_url=config.base_url)
            )
        case other:
            raise ConfigError(f"unknown model provider {other!r}")
