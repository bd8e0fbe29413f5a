"""Warm answer latency per answerer (each question with the reader's score cache cleared) and cold `rag ask`.

    python -m eval.answer_speed [--index index] [--questions 40] [--cold-runs 3]

Prints p50/p95 of ``Chain.ask`` on the first N gold questions for rules, reader and reader with reranking, and
the median wall time of a fresh `rag ask` process for rules and reader.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import rag

ROOT = Path(__file__).resolve().parent.parent


def warm(index: str, answerer: str, rerank: bool, questions: list[str]) -> tuple[float, float]:
    chain = rag.load_chain(index, answerer=answerer, settings=rag.Settings(rerank=rerank))
    chain.ask(questions[0])  # models loaded
    times = []
    for q in questions:
        reader = chain.retriever.reader or (chain._get("reader").reader if answerer == "reader" else None)
        if reader is not None:
            reader.clear_cache()
        t = time.perf_counter()
        chain.ask(q)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[max(int(0.95 * len(times)) - 1, 0)]


def cold(index: str, answerer: str, runs: int) -> float:
    took = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Which port will the corridor develop?", "--index", index,
                        "--answerer", answerer], capture_output=True, check=True)
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default="index")
    ap.add_argument("--gold", default=str(ROOT / "eval" / "gold.jsonl"))
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--cold-runs", type=int, default=3)
    args = ap.parse_args(argv)
    lines = Path(args.gold).read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines][: args.questions]
    for answerer, rerank in (("rules", False), ("reader", False), ("reader", True)):
        p50, p95 = warm(args.index, answerer, rerank, questions)
        print(f"warm {answerer}{' + rerank' if rerank else ''}: p50 {p50:.0f} ms, p95 {p95:.0f} ms", flush=True)
    for answerer in ("rules", "reader"):
        print(f"cold rag ask ({answerer}): median {cold(args.index, answerer, args.cold_runs):.2f} s", flush=True)


if __name__ == "__main__":
    main()
