"""rag and the stock LangChain pipeline at 1k, 10k and 100k passages: build, warm search and answer, memory, cold start.

The real point: the squad11 paragraphs (``--text-corpus``), one ``.txt`` file each, indexed by rag (defaults, e5)
and by the stock pipeline (``RecursiveCharacterTextSplitter(1000, 200)`` + ``HuggingFaceEmbeddings`` on the
packaged MiniLM + ``FAISS.from_documents``), each in a fresh process (wall time, peak RSS); cold ``rag ask``.

The larger points (``--size-points`` above the real corpus): the real index plus synthetic paragraphs up to N
paragraphs, in a fresh process. Their sentences come from a unigram model of the real chunks (real word
frequencies and lengths, as many chunks per paragraph as the real corpus has), their e5 and cosine-model vectors
from Gaussian mixtures fitted to the real ones and calibrated on real questions (:mod:`eval.bench.scale`), their
paragraph vectors pooled from their chunks'; the
index is written by rag's own store backend (FAISS ``auto``, BM25) and served by rag's retriever and chain. The
stock side at each point: its real chunks plus synthetic ones (the same generator, MiniLM vectors) in a
LangChain ``FAISS`` store, searched with ``similarity_search``. The questions are real squad11 questions whose
paragraph is in the real part: warm hybrid search and dense search (k = 10) and ``chain.ask`` (defaults) p50 /
p95, and hit@5 (the question's paragraph among the first five passages) against the growing distractors.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from eval.bench.common import cold_runs, log, peak_rss_mb, rag_ask_command, ratio, run_worker
from eval.bench.scale import fit_generator, synthetic, synthetic_texts
from eval.metrics import percentiles


def write_corpus(text_corpus: Path, dest: Path) -> int:
    """The benchmark's paragraphs as ``<id>.txt`` files (title, blank line, text); how many."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (text_corpus / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    for r in rows:
        (dest / f"{r['id']}.txt").write_text(f"{r['title']}\n\n{r['text']}\n", encoding="utf-8")
    return len(rows)


def _questions(text_corpus: Path, n: int) -> list[dict]:
    rows = [json.loads(line) for line in (text_corpus / "qa.jsonl").read_text(encoding="utf-8").splitlines()]
    step = max(1, len(rows) // n)
    return [{"question": r["question"], "sources": [f"{d}.txt" for d in r["gold_doc_ids"]]} for r in rows[::step][:n]]


def _timed(fn, items) -> tuple[list[float], list]:
    times, out = [], []
    for x in items:
        a = time.perf_counter()
        out.append(fn(x))
        times.append((time.perf_counter() - a) * 1000)
    return times, out


def _pooled(chunks, of: list[int], vectors: np.ndarray) -> np.ndarray:
    """Paragraph vectors for synthetic paragraphs: the length-weighted mean of their chunks' vectors, normalised."""
    sums = np.zeros((max(of) + 1, vectors.shape[1]))
    np.add.at(sums, np.asarray(of), vectors * np.array([len(c.text) for c in chunks], dtype=np.float64)[:, None])
    return (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)


def _documents(chunks) -> int:
    return len({c.source for c in chunks})


def _grown(real, paragraphs: int, folder: Path, questions: list[str], seed: int = 0):
    """A retriever over ``real``'s index plus synthetic one-paragraph files up to ``paragraphs`` files in all (see
    the module); ``questions`` calibrate the vector generators."""
    from dataclasses import replace

    from rag.paragraphs import Paragraphs, paragraph_of, paragraph_texts
    from rag.records import Chunk
    from rag.retrieval import Retriever
    from rag.stores import open_backend

    index = real.index
    chunks = list(index.chunks)
    extra = paragraphs - _documents(chunks)
    per = max(1, round(len(chunks) / _documents(chunks)))
    texts, _ = synthetic_texts([c.text for c in chunks], extra * per, seed=seed)
    for p in range(extra):
        offset, source = 0, f"synthetic/{p:06d}.txt"
        size = sum(len(t) + 1 for t in texts[p * per : (p + 1) * per]) - 1
        for t in texts[p * per : (p + 1) * per]:
            chunks.append(Chunk(len(chunks), source, offset, offset + len(t), t, 0, size))
            offset += len(t) + 1
    real_vectors = index.store.vectors.index.reconstruct_n(0, len(index.chunks))
    new = len(chunks) - len(index.chunks)
    model = fit_generator(real_vectors, real.embedder.encode_queries(questions), seed)
    vectors = np.concatenate([real_vectors, synthetic(model, new, 1, seed)[0]])
    real_cos = np.asarray(index.cosines)
    model = fit_generator(real_cos, real.cosine_embedder.encode(questions), seed)
    cosines = np.concatenate([real_cos, synthetic(model, new, 1, seed + 1)[0]])
    folder.mkdir(parents=True, exist_ok=True)
    backend = open_backend(real.settings, folder)
    texts_of_chunks = [c.indexed_text for c in chunks]
    of = paragraph_of(chunks)
    store = backend.build(folder, "chunks", vectors, texts_of_chunks)
    paragraph_vectors = _pooled(chunks, of, vectors)
    paragraph_vectors[: len(index.paragraphs)] = index.paragraphs.store.vectors.index.reconstruct_n(0, len(index.paragraphs))
    para = backend.build(folder, "paragraphs", paragraph_vectors, paragraph_texts(chunks, of))
    grown = replace(index, chunks=chunks, store=store, paragraphs=Paragraphs(para, of), cosines=cosines, backend=backend,
                    manifest={**index.manifest, "counts": {"chunks": len(chunks), "paragraphs": len(para)}})
    return Retriever(grown, real.embedder, real.settings, None, real.cosine_embedder, real.fusion), store.describe()


def worker_sizes_serve(p: dict) -> dict:
    """rag's warm search and answers at each size (a fresh process)."""
    import rag
    from rag.retrieval import Retriever

    chain = rag.load_chain(p["index"])
    real = chain.retriever
    questions, out = p["questions"], []
    for n in p["sizes"]:
        t0 = time.perf_counter()
        if n <= _documents(real.chunks):
            retriever, store = real, real.index.manifest["store"]["chunks"]
        else:
            retriever, store = _grown(real, n, Path(p["work"]) / f"grown-{n}", [q["question"] for q in questions])
        made_s = time.perf_counter() - t0
        # the chain gets its own retriever: no question vector cached by the searches timed before
        sized = rag.Chain(Retriever(retriever.index, real.embedder, real.settings, None, real.cosine_embedder, real.fusion),
                          settings=chain.settings)
        for q in questions[:10]:  # warm-up: models, lazy imports
            retriever.search(q["question"], k=10)
            sized.ask(q["question"])
        search_ms, found = _timed(lambda q: retriever.search(q["question"], k=10), questions)
        dense_ms, _ = _timed(lambda q: retriever.search(q["question"], k=10, mode="dense"), questions)
        ask_ms, _ = _timed(lambda q: sized.ask(q["question"]), questions)
        hit5 = float(np.mean([any(x.source in q["sources"] for x in hits[:5]) for q, hits in zip(questions, found)]))
        out.append({"paragraphs": n, "chunks": len(retriever.chunks), "made_s": made_s, "faiss": store, "search_ms": search_ms,
                    "dense_ms": dense_ms, "ask_ms": ask_ms, "hit@5": hit5, "peak_rss_mb": peak_rss_mb()})
        log(f"rag at {n:,} paragraphs ({len(retriever.chunks):,} chunks): ask p50 {statistics.median(ask_ms):.1f} ms")
    return {"points": out}


def worker_sizes_base(p: dict) -> dict:
    """The stock pipeline's warm search at each size (a fresh process): its real chunks plus synthetic ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.vectorstores import FAISS
    from eval.bench.pipelines import _base_store, _baseline_embeddings

    real = _base_store(p["index"])
    rows = [real.docstore.search(i) for _, i in sorted(real.index_to_docstore_id.items())]
    real_vectors = real.index.reconstruct_n(0, real.index.ntotal)
    embeddings = _baseline_embeddings()
    questions = [q["question"] for q in p["questions"]]
    model = fit_generator(real_vectors / np.linalg.norm(real_vectors, axis=1, keepdims=True), np.asarray(embeddings.embed_documents(questions[:100])))
    per_paragraph = len(rows) / p["real_paragraphs"]
    out = []
    for n in p["sizes"]:
        extra = max(0, round((n - p["real_paragraphs"]) * per_paragraph))
        texts = [d.page_content for d in rows]
        vectors = real_vectors
        if extra:
            texts += synthetic_texts(texts, extra)[0]
            vectors = np.concatenate([vectors, synthetic(model, extra, 1)[0]])
        store = FAISS.from_embeddings(list(zip(texts, vectors.tolist())), embeddings)
        for q in questions[:10]:
            store.similarity_search(q, k=10)
        search_ms, _ = _timed(lambda q: store.similarity_search(q, k=10), questions)
        out.append({"paragraphs": n, "chunks": len(texts), "search_ms": search_ms})
        log(f"stock pipeline at {n:,} paragraphs ({len(texts):,} chunks): search p50 {statistics.median(search_ms):.1f} ms")
    return {"points": out}


WORKERS = {"sizes-serve": worker_sizes_serve, "sizes-base": worker_sizes_base}


def bench_sizes(args, work: Path) -> dict:
    text_corpus = Path(args.text_corpus)
    files = work / "squad-files"
    real = write_corpus(text_corpus, files)
    sizes = sorted({max(real, int(s)) for s in args.size_points.split(",") if s.strip()})
    questions = _questions(text_corpus, args.size_questions)
    ours_idx, base_idx = str(work / "rag-index"), str(work / "lc-index")
    log(f"rag: building the index of {real} paragraphs (fresh process)")
    ours_build = run_worker("ours-build", {"corpus": str(files), "index": ours_idx}, timeout=7200)
    log(f"stock pipeline: building the index of {real} paragraphs (fresh process)")
    base_build = run_worker("base-build", {"corpus": str(files), "index": base_idx}, timeout=7200)
    log(f"rag: warm search and answers at {sizes} paragraphs, {len(questions)} questions")
    ours = run_worker("sizes-serve", {"index": ours_idx, "sizes": sizes, "questions": questions, "work": str(work)}, timeout=7200)
    log(f"stock pipeline: warm search at {sizes} paragraphs")
    base = run_worker("sizes-base", {"index": base_idx, "sizes": sizes, "questions": questions, "real_paragraphs": real}, timeout=7200)
    log(f"cold start: `rag ask` x {args.cold_runs}")
    cold = cold_runs(rag_ask_command(ours_idx, questions[0]["question"]), args.cold_runs)
    return {"real_paragraphs": real, "questions": len(questions), "build": {"rag": ours_build, "baseline": base_build},
            "rag": ours["points"], "baseline": base["points"], "cold_rag_ask_s": cold}


def report(r: dict) -> list[str]:
    """The markdown tables of ``bench_sizes``' result."""
    o, b = r["build"]["rag"], r["build"]["baseline"]
    lines = [
        f"## Build: {r['real_paragraphs']} squad11 paragraphs, one file each (fresh processes)",
        "",
        "| | rag (e5-small) | stock LangChain (MiniLM) | rag / stock |",
        "| --- | --- | --- | --- |",
        f"| chunks | {o['chunks']} | {b['chunks']} | |",
        f"| build wall time (s) | {o['build_s']:.1f} | {b['build_s']:.1f} | {ratio(o['build_s'], b['build_s'])} |",
        f"| build peak RSS (MB) | {o['peak_rss_mb']:.0f} | {b['peak_rss_mb']:.0f} | {ratio(o['peak_rss_mb'], b['peak_rss_mb'])} |",
        f"| cold `rag ask` (s, median of {len(r['cold_rag_ask_s'])}) | {statistics.median(r['cold_rag_ask_s']):.2f} | | |",
        "",
        f"## Warm search and answers against size ({r['questions']} squad11 questions, k = 10)",
        "",
        "| paragraphs | rag chunks | FAISS | hybrid search p50 / p95 (ms) | dense p50 (ms) | `chain.ask` p50 / p95 (ms) | hit@5 | stock chunks | stock search p50 / p95 (ms) | rag ask p50 / stock search p50 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ours, base in zip(r["rag"], r["baseline"]):
        s, d, a = (percentiles(ours[k]) for k in ("search_ms", "dense_ms", "ask_ms"))
        bs = percentiles(base["search_ms"])
        kind = ours["faiss"].get("factory") or ours["faiss"].get("kind", "")
        lines.append(f"| {ours['paragraphs']:,} | {ours['chunks']:,} | {kind} | {s['p50']:.1f} / {s['p95']:.1f} | {d['p50']:.1f} | "
                     f"{a['p50']:.1f} / {a['p95']:.1f} | {ours['hit@5']:.3f} | {base['chunks']:,} | {bs['p50']:.1f} / {bs['p95']:.1f} | "
                     f"{ratio(a['p50'], bs['p50'])} |")
    return [*lines, ""]
