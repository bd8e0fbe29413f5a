"""Scale: search latency, recall and memory against corpus size, on synthetic data fitted to real embeddings.

For each ``--scale-sizes`` N, synthetic vectors from a generator fitted to the real embeddings of the throughput
part (a Gaussian mixture: between- and within-topic covariances estimated by k-means, the within-topic spread and
the query distance calibrated so that the mean top-1 and top-10 cosines of real questions against real chunks are
reproduced). The FAISS store rag would build for N (``auto``: exact up to 50k, IVF with PQ fast scan and SQ8
re-ranking above; ``--faiss-kind`` overrides) is timed; search latency p50/p95 (one query at a time, k=10),
recall@10 against exact search, memory per chunk (the index's size: FAISS keeps it in memory as serialised), a
sweep of ``nprobe`` around the default, and BM25 (bm25s via rag) on synthetic text of the same size (unigram model
of the real text): build time, latency, memory. Up to ``--milvus-max``, the same vectors and texts in Milvus Lite.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np

from eval.bench.common import log
from eval.metrics import percentiles


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
                            "real_vectors": n, "real_questions": len(questions), "clusters_fitted": k}
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
        exact_lat = latency(lambda v, exact=exact: exact.search(v[None], 10), q, min(50, len(q)))
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
        lat = percentiles(latency(lambda v, store=store: store.search(v[None], 10), q, len(q)))
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
                slat = percentiles(latency(lambda v, store=store: store.search(v[None], 10), q, min(100, len(q))))
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
            blat = percentiles(latency(lambda s, bm25=bm25: bm25.search(s, 10), bq, len(bq)))
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


def report(rows: list[dict], cal: dict) -> list[str]:
    """The markdown tables of ``bench_scale``'s rows and the generator's calibration ``cal`` (may be empty)."""
    lines = [
        "## Scale (synthetic vectors fitted to real embeddings; search one query at a time, k=10)",
        "",
        "| chunks | FAISS index | build (s) | µs/chunk | p50 (ms) | p95 (ms) | recall@10 vs exact | exact p50 (ms) | FAISS bytes/chunk | BM25 build (s) | BM25 p50 / p95 (ms) | BM25 bytes/chunk |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        f = r["faiss"]
        name = f.get("factory", f["kind"]) + (f" nprobe={f['nprobe']}" if "nprobe" in f else "")
        bm = (f"{r['bm25_build_s']:.1f} | {r['bm25_p50_ms']:.2f} / {r['bm25_p95_ms']:.2f} | {r['bm25_file_bytes_per_chunk']:.0f}"
              if "bm25_p50_ms" in r else "– | – | –")
        lines.append(
            f"| {r['n']:,} | {name} | {r['build_s']:.1f} | {r['build_us_per_chunk']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['recall@10']:.3f} | {r['exact_p50_ms']:.2f} | {r['file_bytes_per_chunk']:.0f} | {bm} |"
        )
    milvus = [r for r in rows if "milvus" in r]
    if milvus:
        lines += ["", "Milvus Lite (the same vectors and texts, one collection; dense and BM25 in Milvus):", "",
                  "| chunks | index | build (s) | p50 / p95 (ms) | recall@10 vs exact | BM25 p50 / p95 (ms) | FAISS p50 (ms) |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in milvus:
            m = r["milvus"]
            lines.append(f"| {r['n']:,} | {m['index']} | {m['build_s']:.1f} | {m['p50_ms']:.2f} / {m['p95_ms']:.2f} | "
                         f"{m['recall@10']:.3f} | {m['bm25_p50_ms']:.2f} / {m['bm25_p95_ms']:.2f} | {r['p50_ms']:.2f} |")
    for r in rows:
        if r.get("nprobe_sweep"):
            pts = ", ".join(f"{x['nprobe']}: {x['recall@10']:.3f} @ {x['p50_ms']:.2f} ms" for x in r["nprobe_sweep"])
            lines.append(f"\n{r['n']:,} chunks, nprobe → recall@10 @ p50: {pts}")
    if cal:
        lines += ["", (f"generator calibration (mean cosine of real questions to their top-1 / top-10 real chunk): real "
                       f"{cal['real']['top1']:.3f} / {cal['real']['top10']:.3f}, synthetic {cal['synthetic']['top1']:.3f} / "
                       f"{cal['synthetic']['top10']:.3f} ({cal['real_vectors']} real chunks, {cal['real_questions']} real questions)")]
    lines.append("")
    return lines
