"""Helpers shared by the benchmarks: paths, the run's clock and log, fresh-process workers, cold runs, gold queries."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_TEXT_CORPUS = ROOT.parent / "shared" / "benchmarks" / "squad11"
_START = time.perf_counter()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def ratio(ours: float | None, base: float | None) -> str:
    if not ours or not base or not np.isfinite(ours) or not np.isfinite(base):
        return "n/a"
    return f"{ours / base:.2f}x"


def elapsed() -> float:
    """Seconds since the benchmark was imported (the run's clock)."""
    return time.perf_counter() - _START


def log(msg: str) -> None:
    print(f"[{elapsed():7.1f}s] {msg}", file=sys.stderr, flush=True)


def worker_command(name: str, payload: dict) -> list[str]:
    """The command line of worker ``name`` (see ``eval.bench.WORKERS``): a fresh process."""
    return [sys.executable, "-m", "eval.bench", "--worker", name, "--payload", json.dumps(payload)]


def run_worker(name: str, payload: dict, timeout: float = 1800) -> dict:
    """Run worker ``name`` in a fresh process and return the JSON it prints last."""
    done = subprocess.run(worker_command(name, payload), check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold_runs(cmd: list[str], runs: int, env: dict | None = None) -> list[float]:
    """Wall time of ``runs`` runs of ``cmd``, each from process start to exit."""
    times = []
    for _ in range(runs):
        a = time.perf_counter()
        done = subprocess.run(cmd, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        times.append(time.perf_counter() - a)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])}… failed:\n{done.stderr[-2000:]}")
    return times


def rag_ask_command(index: str, question: str) -> list[str]:
    script = Path(sys.executable).with_name("rag")
    if script.is_file():
        return [str(script), "ask", question, "--index", index]
    return [sys.executable, "-c", "from rag.cli import app; app()", "ask", question, "--index", index]


def gold_queries(gold: str, corpus: str) -> list[dict]:
    """The gold questions with their rewritten query, evidence spans and answerability."""
    import rag
    from eval.gold import load_gold

    items = load_gold(gold, corpus)
    return [
        {"question": it.question, "turns": it.turns, "query": rag.rewrite_query(it.question, it.turns).text,
         "spans": [list(s) for s in it.spans], "answerable": it.answerable}
        for it in items
    ]
