"""Models: `provider:name` to a pydantic-ai model; the scripted model and workflow scripts."""

from valet.models._build import build_model
from valet.models._config import HOW_TO_CONFIGURE, ModelConfig, resolve_model_config
from valet.models._script import Expectation, ScriptStep, load_script, parse_steps
from valet.models._scripted import ScriptPlayer, resume_script, scripted_model

__all__ = [
    "HOW_TO_CONFIGURE",
    "Expectation",
    "ModelConfig",
    "ScriptPlayer",
    "ScriptStep",
    "build_model",
    "load_script",
    "parse_steps",
    "resolve_model_config",
    "resume_script",
    "scripted_model",
]
