"""Incremental indexing: one file added to an indexed corpus of real paragraphs, against a full rebuild."""

from __future__ import annotations

import time
from pathlib import Path

from eval.bench.common import log, ratio


def bench_incremental(args, work: Path) -> dict:
    """Adding one file to an indexed corpus of ``--incremental-docs`` real paragraphs (one .txt each): the time
    of the incremental build against the full build, and whether the incremental index returns the same top 10
    as a full rebuild of the same folder for up to 200 questions."""
    import rag
    from eval.benchmark import load_benchmark

    bench = load_benchmark(args.text_corpus)
    n = min(args.incremental_docs, len(bench.docs) - 1)
    corpus, live, full = work / "inc-corpus", work / "inc-index", work / "inc-full"
    corpus.mkdir()
    for i, d in enumerate(bench.docs[:n]):
        (corpus / f"d{i:05d}.txt").write_text(d.text, encoding="utf-8")
    log(f"incremental: full build of {n} paragraphs")
    t0 = time.perf_counter()
    rag.build_index(corpus, live)
    t_full = time.perf_counter() - t0
    (corpus / f"d{n:05d}.txt").write_text(bench.docs[n].text, encoding="utf-8")
    t0 = time.perf_counter()
    added = rag.build_index(corpus, live)
    t_add = time.perf_counter() - t0
    log("incremental: full rebuild of the changed folder, for the comparison")
    t0 = time.perf_counter()
    rag.build_index(corpus, full)
    t_rebuild = time.perf_counter() - t0
    kept = {d.id for d in bench.docs[: n + 1]}
    questions = [q.question for q in bench.questions if set(q.gold_doc_ids) <= kept][:200]
    a, b = rag.load_retriever(live), rag.load_retriever(full)
    same = sum([p.id for p in a.search(q, k=10)] == [p.id for p in b.search(q, k=10)] for q in questions)
    return {"docs": n, "full_build_s": t_full, "add_one_s": t_add, "rebuild_s": t_rebuild, "embedded": added.embedded,
            "reused": added.reused, "questions": len(questions), "same_top10": same}


def report(inc: dict) -> list[str]:
    """The markdown table of ``bench_incremental``'s result."""
    return [
        "", f"## Incremental indexing: one file added to {inc['docs']} paragraphs (one .txt each)", "",
        "| build | seconds | / full build |", "| --- | --- | --- |",
        f"| full build | {inc['full_build_s']:.1f} | 1.00x |",
        f"| add one file (`rag index` again) | {inc['add_one_s']:.1f} | {ratio(inc['add_one_s'], inc['full_build_s'])} |",
        f"| full rebuild of the changed folder | {inc['rebuild_s']:.1f} | {ratio(inc['rebuild_s'], inc['full_build_s'])} |",
        "",
        (f"Texts embedded by the incremental build: {inc['embedded']} (reused {inc['reused']}). Same top 10 as the "
         f"full rebuild: {inc['same_top10']} of {inc['questions']} questions."),
    ]
