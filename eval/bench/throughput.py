"""Embedding throughput on real text.

``--text-corpus`` (SQuAD paragraphs when available, else the seed corpus repeated), cut into ~3-sentence chunks:
raw ``SentenceTransformer.encode(batch_size=B)`` against rag's indexing path (``Embedder``, length-sorted batches
of B with a progress callback) and the ONNX query encoder. The vectors also feed the scale part's generator.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eval.bench.common import ROOT, gold_queries, log

if TYPE_CHECKING:
    from eval.benchmark import Benchmark

FIT_TEXTS = 1000
"""Real chunks the synthetic vector generator is fitted on (when the text corpus has them)."""


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


def report(t: dict) -> list[str]:
    """The markdown table of ``bench_throughput``'s result."""
    lines = [
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
    return lines
