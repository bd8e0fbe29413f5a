"""Performance benchmarks: rag against the stock LangChain pipeline, cold start, indexing, embedding, scale.

    rag bench                                 # or python -m eval.bench: the full run
    rag bench --quick                         # scale 10k and 100k, fewer repeats and texts
    rag bench --skip-scale --out /tmp/bench   # --skip-pipelines, --skip-cold, --skip-incremental likewise
    rag bench --embedders                     # only the MiniLM / e5-small comparison
    rag bench --hostile                       # only the broken and hostile files: refusals, seconds, peak RSS
    rag bench --sizes                         # only rag and stock LangChain at 1k, 10k and 100k passages

One run, one machine; figures are printed with their ratio to the baseline measured in the same run, so a busy
machine shifts both sides alike. Nothing here asserts on a time. The parts, in the order they run:

- ``pipelines``: rag against stock LangChain (build, warm latency, recall@3, memory), and cold ``ask``;
- ``incremental``: one file added to an indexed corpus, against a full rebuild;
- ``throughput``: embedding texts/s on real text, rag's paths against raw sentence-transformers;
- ``scale_out``: the same texts embedded on a local Ray (``--ray-texts``);
- ``scale``: FAISS, BM25 and Milvus Lite latency, recall and memory against corpus size, on synthetic data.

They write ``OUT/bench.json`` and ``OUT/latency_vs_size.png``; ``--embedders`` (``embedders``) runs alone and
writes ``OUT/bench_embedders.json``, ``--hostile`` (``hostile``: each hostile file through the index build's
bounded extraction, and a 10 MB upload expanding to 10 GiB) alone and writes ``OUT/bench_hostile.json``.
``--sizes`` (``sizes``: build, warm search and answers, memory and cold start at 1k, 10k and 100k paragraphs, side
by side with the stock pipeline) alone and writes ``OUT/bench_sizes.json``. ``common`` holds the shared helpers; each step that needs a fresh process runs as
``python -m eval.bench --worker NAME --payload JSON`` (``WORKERS``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from eval.bench import embedders, hostile, incremental, pipelines, scale, scale_out, sizes, throughput
from eval.bench.common import DEFAULT_TEXT_CORPUS, ROOT, elapsed, log

WORKERS = {**pipelines.WORKERS, **embedders.WORKERS, **sizes.WORKERS}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="seeds", help="corpus of the pipeline comparison [seeds]")
    ap.add_argument("--gold", default=str(ROOT / "eval" / "gold.jsonl"), help="gold questions for latency and recall@3")
    ap.add_argument("--out", default="docs", help="folder for bench.json and latency_vs_size.png (bench_embedders.json with --embedders) [docs]")
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
    ap.add_argument("--embedders", action="store_true", help="run only the MiniLM vs e5-small comparison (bench_embedders.json)")
    ap.add_argument("--embedder-paragraphs", type=int, default=300, help="--embedders: paragraphs indexed per model [300]")
    ap.add_argument("--embedder-questions", type=int, default=100, help="--embedders: questions timed per model [100]")
    ap.add_argument("--hostile", action="store_true", help="run only the hostile-files benchmark (bench_hostile.json)")
    ap.add_argument("--hostile-repeats", type=int, default=20, help="--hostile: extractions of a small file timed for the per-file cost [20]")
    ap.add_argument("--hostile-gib", type=float, default=10, help="--hostile: GiB the big bombs expand to (10: a 10 MB file) [10]")
    ap.add_argument("--sizes", action="store_true", help="run only rag and the stock pipeline at --size-points paragraphs (bench_sizes.json)")
    ap.add_argument("--size-points", default="1000,10000,100000", help="--sizes: paragraphs per point; up to the real corpus, the real corpus [1000,10000,100000]")
    ap.add_argument("--size-questions", type=int, default=100, help="--sizes: real questions timed per point [100]")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--payload", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.scale_sizes = "10000,100000" if args.scale_sizes == "10000,100000,1000000" else args.scale_sizes
        args.repeats, args.cold_runs = min(args.repeats, 1), min(args.cold_runs, 1)
        args.throughput_texts = min(args.throughput_texts, 200)
        args.scale_queries = min(args.scale_queries, 100)
    return args


def report(res: dict) -> str:
    """The markdown tables of the parts in ``res``."""
    lines = []
    if res.get("pipelines"):
        lines += pipelines.report(res["pipelines"])
    if res.get("incremental"):
        lines += incremental.report(res["incremental"])
    if res.get("throughput"):
        lines += throughput.report(res["throughput"])
    if res.get("ray"):
        lines += scale_out.report(res["ray"])
    if res.get("scale"):
        lines += scale.report(res["scale"], res.get("generator", {}).get("calibration", {}))
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.worker:
        result = WORKERS[args.worker](json.loads(args.payload or "{}"))
        print(json.dumps(result))
        return result
    out = Path(args.out)
    if args.embedders:
        res = embedders.bench_embedders(args)
        print("\n".join(embedders.report(res)))
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_embedders.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
        return res
    if args.sizes:
        with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
            res = sizes.bench_sizes(args, Path(tmp))
        print("\n".join(sizes.report(res)))
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_sizes.json").write_text(json.dumps(res, indent=1, default=float), encoding="utf-8")
        return res
    if args.hostile:
        with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
            res = hostile.bench_hostile(args, Path(tmp))
        print("\n".join(hostile.report(res)))
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench_hostile.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
        return res
    res: dict = {"argv": sys.argv[1:] if argv is None else list(argv), "machine": {"cpus": os.cpu_count()},
                 "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        work = Path(tmp)
        import rag

        if not args.skip_pipelines:
            res["pipelines"] = pipelines.bench_pipelines(args, work)
            index = work / "rag-index"
        else:
            index = work / "one"
            rag.build_index(args.corpus, index)
        if not args.skip_incremental:
            res["incremental"] = incremental.bench_incremental(args, work)
        result, vecs, qvecs, texts = throughput.bench_throughput(args, rag.load_retriever(index).embedder)
        res["throughput"] = result
        if args.ray_texts:
            res["ray"] = scale_out.bench_ray(args, texts)
        if not args.skip_scale:
            scale_sizes = [int(s) for s in args.scale_sizes.split(",") if s.strip()]
            log("fitting the synthetic vector generator to the real embeddings")
            model = scale.fit_generator(vecs, qvecs)
            res["generator"] = {"calibration": model["calibration"]}
            res["scale"] = scale.bench_scale(args, model, texts, scale_sizes, work)
    res["seconds"] = elapsed()
    print(report(res))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=1, default=float), encoding="utf-8")
    if res.get("scale"):
        scale.plot(res["scale"], out / "latency_vs_size.png")
        log(f"wrote {out / 'bench.json'} and {out / 'latency_vs_size.png'}")
    return res
