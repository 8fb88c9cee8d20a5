"""Choosing a model: `provider:name` from the flag, the environment or config.toml."""

from __future__ import annotations

import pytest

from valet.errors import ConfigError
from valet.models import HOW_TO_CONFIGURE, build_model, resolve_model_config


def test_no_model_lists_every_way_to_configure_one() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model_config(None, env={}, config={})
    message = str(caught.value)
    assert message == HOW_TO_CONFIGURE
    for way in (
        "--model",
        "VALET_MODEL",
        "config.toml",
        "ollama:",
        "VALET_MODEL_BASE_URL",
        "scripted:",
    ):
        assert way in message


@pytest.mark.parametrize("spec", ["gpt-4", "nosuch:model", "openai:", ":x"])
def test_malformed_spec_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="invalid model"):
        resolve_model_config(spec, env={}, config={})


def test_flag_beats_environment_beats_config_file() -> None:
    env = {"VALET_MODEL": "anthropic:claude-x", "ANTHROPIC_API_KEY": "k1", "OPENAI_API_KEY": "k2"}
    config = {"model": {"model": "google:gemini-x"}, "keys": {"google": "k3"}}
    assert resolve_model_config("openai:gpt-x", env=env, config=config).spec == "openai:gpt-x"
    assert resolve_model_config(None, env=env, config=config).spec == "anthropic:claude-x"
    chosen = resolve_model_config(None, env={}, config=config)
    assert chosen.spec == "google:gemini-x"
    assert chosen.api_key is not None and chosen.api_key.get_secret_value() == "k3"


def test_hosted_provider_without_key_says_which_variable() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        resolve_model_config("anthropic:claude-x", env={}, config={})


def test_local_servers_default_to_json_output_and_hosted_to_one_act_tool() -> None:
    ollama = resolve_model_config("ollama:qwen3:8b", env={}, config={})
    assert ollama.name == "qwen3:8b"
    assert ollama.base_url == "http://127.0.0.1:11434/v1"
    assert ollama.output_mode == "json"
    local = resolve_model_config(
        "openai-compatible:smol",
        env={"VALET_MODEL_BASE_URL": "http://127.0.0.1:8080/v1"},
        config={},
    )
    assert local.output_mode == "json"
    hosted = resolve_model_config("openai:gpt-x", env={"OPENAI_API_KEY": "k"}, config={})
    assert hosted.output_mode == "act"
    each = resolve_model_config(
        "openai:gpt-x", env={"OPENAI_API_KEY": "k", "VALET_MODEL_OUTPUT": "tools"}, config={}
    )
    assert each.output_mode == "tools"
    forced = resolve_model_config(
        "openai:gpt-x", env={"OPENAI_API_KEY": "k", "VALET_MODEL_OUTPUT": "json"}, config={}
    )
    assert forced.output_mode == "json"


def test_openai_compatible_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="VALET_MODEL_BASE_URL"):
        resolve_model_config("openai-compatible:x", env={}, config={})


def test_public_settings_never_carry_the_key_or_url_credentials() -> None:
    config = resolve_model_config(
        "openai:gpt-x",
        env={
            "VALET_MODEL_API_KEY": "sk-secret-123",
            "VALET_MODEL_BASE_URL": "https://user:pw@llm.example:8443/v1?token=abc",
        },
        config={},
    )
    public = repr(config.public()) + repr(config)
    assert "sk-secret-123" not in public
    assert "pw" not in public and "token=abc" not in public
    assert config.public()["base_url"] == "https://llm.example:8443/v1"


def test_build_model_for_each_provider_without_network() -> None:
    for spec, env in [
        ("openai:gpt-x", {"OPENAI_API_KEY": "k"}),
        ("anthropic:claude-x", {"ANTHROPIC_API_KEY": "k"}),
        ("google:gemini-x", {"GOOGLE_API_KEY": "k"}),
        ("ollama:llama3", {}),
    ]:
        model = build_model(resolve_model_config(spec, env=env, config={}))
        assert model.model_name.endswith(spec.split(":", 1)[1])


def test_scripted_model_with_missing_file(tmp_path: object) -> None:
    config = resolve_model_config("scripted:/no/such/file.yaml", env={}, config={})
    with pytest.raises(ConfigError, match="no file"):
        build_model(config)
