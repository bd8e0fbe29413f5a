"""Report files (JSON, Markdown, PNG charts), comparisons, and the `rag eval` command line."""

import json
import shutil

import pytest
from typer.testing import CliRunner

import rag
from eval.cli import app as eval_app
from eval.report import compare_markdown, compare_rows, load_report, summary_table, write_report
from rag.cli import app as rag_app
from tests.conftest import GOLD, SEEDS
from tests.test_eval_benchmark import TINY

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def gold_report(recall=0.9, latency=100.0):
    return {
        "kind": "gold", "name": "gold.jsonl", "created": "2026-01-01T00:00:00+00:00",
        "settings": {"mode": "hybrid", "top_k": 5},
        "inputs": {"gold": "eval/gold.jsonl"},
        "metrics": {
            "overall": {"items": 3, "recall@5": recall, "keyword_accuracy": 0.5, "citation_precision": None,
                        "latency_p50_ms": latency},
            "factoid": {"items": 2, "recall@5": 1.0, "keyword_accuracy": 0.5, "latency_p50_ms": latency},
            "unanswerable": {"items": 1, "abstention_recall": 1.0, "latency_p50_ms": latency},
        },
        "notes": ["a note"],
        "latencies_ms": {"answer": [latency, latency * 2, latency * 3]},
    }


def bench_report():
    return {
        "kind": "benchmark", "name": "tiny", "settings": {"mode": "bm25"},
        "metrics": {"retrieval": {"questions": 5, "hit@1": 0.6, "hit@5": 1.0, "hit@10": 1.0, "mrr@10": 0.8, "ndcg@10": 0.85},
                    "answers": {"items": 2, "answer_containment": 0.5, "exact_match": 0.0, "token_f1": 0.3}},
        "latencies_ms": {"answer": [50.0, 60.0], "search": [1.0, 2.0, 3.0]},
    }


@pytest.mark.parametrize("report", [gold_report(), bench_report()])
def test_report_files_are_written_and_readable(tmp_path, report):
    paths = write_report(report, tmp_path / "r")
    for name in ("report.json", "report.md", "scores.png", "latency.png"):
        assert (tmp_path / "r" / name).is_file(), name
    assert (tmp_path / "r" / "scores.png").read_bytes()[:8] == PNG
    assert (tmp_path / "r" / "latency.png").read_bytes()[:8] == PNG
    loaded = load_report(paths["json"])
    assert loaded["metrics"] == report["metrics"] and loaded["charts"] == ["scores.png", "latency.png"]
    assert load_report(tmp_path / "r")["name"] == report["name"]                # a directory works too
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "![scores](scores.png)" in md and "| metric |" in md
    first_group = next(iter(report["metrics"]))
    assert first_group in md
    import matplotlib.image

    assert matplotlib.image.imread(paths["scores"]).shape[0] > 100


def test_summary_table_and_missing_values():
    table = summary_table(gold_report())
    assert [c.header for c in table.columns] == ["metric", "overall", "factoid", "unanswerable"]
    assert table.row_count == 6                                 # every metric of any group


def test_compare_rows_and_markdown():
    a, b = gold_report(0.8, 100.0), gold_report(0.9, 80.0)
    rows = {(g, m): (va, vb, d) for g, m, va, vb, d in compare_rows(a, b)}
    assert rows[("overall", "recall@5")][2] == pytest.approx(0.1)
    assert rows[("overall", "latency_p50_ms")][2] == pytest.approx(-20.0)
    assert rows[("overall", "citation_precision")][2] is None
    md = compare_markdown(a, b, "dense", "hybrid")
    assert "| group | metric | dense | hybrid | delta |" in md and "+0.100" in md and "-20.0" in md


def test_load_report_errors(tmp_path):
    with pytest.raises(rag.RagError, match="report not found"):
        load_report(tmp_path / "none.json")
    (tmp_path / "x.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(rag.RagError, match="not an evaluation report"):
        load_report(tmp_path / "x.json")


def test_cli_compare(tmp_path):
    write_report(gold_report(0.8), tmp_path / "a")
    write_report(gold_report(0.9), tmp_path / "b")
    result = runner.invoke(rag_app, ["eval", "--compare", str(tmp_path / "a" / "report.json"), str(tmp_path / "b" / "report.json")])
    assert result.exit_code == 0, result.output
    assert "recall@5" in result.stdout and "+0.100" in result.stdout
    result = runner.invoke(eval_app, ["--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--markdown"])
    assert result.exit_code == 0 and result.stdout.startswith("| group | metric | a | b | delta |")


def small_gold(tmp_path):
    """Five items of eval/gold.jsonl: the first two, an unanswerable one, and two follow-ups."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines()]
    picked = rows[:2] + [r for r in rows if r["type"] == "unanswerable"][:1] + [r for r in rows if r["type"] == "follow_up"][:2]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
    return path, picked


def test_cli_gold_run_writes_results_and_report(tmp_path, seed_index):
    gold, picked = small_gold(tmp_path)
    args = ["eval", "--gold", str(gold), "--corpus", str(SEEDS), "--index", str(seed_index), "--report", str(tmp_path / "rep"), "-k", "3"]
    result = runner.invoke(rag_app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "rep" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in lines] == [r["id"] for r in picked]
    assert {"id", "type", "question", "rewritten_query", "answer", "abstained", "citations", "passages", "latency_ms"} <= set(lines[0])
    assert all(len(r["passages"]) <= 3 for r in lines)
    follow = [r for r in lines if r["type"] == "follow_up"]
    assert follow and all(r["rewritten_query"] for r in follow)
    report = load_report(tmp_path / "rep" / "report.json")
    assert report["kind"] == "gold" and report["settings"]["top_k"] == 3
    assert set(report["metrics"]) == {"overall", "factoid", "unanswerable", "follow_up"}
    overall = report["metrics"]["overall"]
    assert overall["items"] == 5 and overall["citation_validity"] in (1.0, None)   # the chain's quotes are exact
    for name in ("recall@1", "recall@3", "recall@5", "mrr", "keyword_accuracy", "token_f1", "citation_recall",
                 "abstention_precision", "abstention_recall", "latency_p50_ms", "latency_p95_ms"):
        assert name in overall
    assert (tmp_path / "rep" / "scores.png").is_file() and (tmp_path / "rep" / "latency.png").is_file()
    assert "recall@5" in result.stdout and "overall" in result.stdout


def test_cli_without_out_or_report_writes_no_file(tmp_path, seed_index, monkeypatch):
    gold, _ = small_gold(tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = runner.invoke(rag_app, ["eval", "--gold", str(gold), "--corpus", str(SEEDS), "--index", str(seed_index), "-k", "3"])
    assert result.exit_code == 0, result.output
    assert list(work.iterdir()) == [] and "not written" in result.stdout


def test_cli_benchmark_run(tmp_path):
    out = tmp_path / "bench.jsonl"
    tiny = shutil.copytree(TINY, tmp_path / "tiny")
    result = runner.invoke(eval_app, ["--benchmark", str(tiny), "--limit", "3", "--answers", "1", "--out", str(out), "--report", str(tmp_path / "rep"), "--mode", "bm25"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    report = load_report(tmp_path / "rep")
    assert report["kind"] == "benchmark" and report["settings"]["mode"] == "bm25"
    assert report["metrics"]["retrieval"]["questions"] == 3 and report["metrics"]["answers"]["items"] == 1
    assert "hit@5" in result.stdout


@pytest.mark.parametrize("args, needle", [
    (["--gold", "nowhere.jsonl"], "gold file not found"),
    (["--mode", "fuzzy"], "invalid setting: mode"),
    (["--set", "chunk_size=3"], "unknown setting 'chunk_size'"),
    (["--set", "top_k"], "--set expects NAME=VALUE"),
    (["--limit", "5"], "--limit, --sample and --split apply to --benchmark"),
    (["--benchmark", "no/such/dir"], "benchmark directory not found"),
    (["--compare", "a.json", "b.json"], "report not found: a.json"),
])
def test_cli_errors_are_one_line(tmp_path, args, needle):
    result = runner.invoke(eval_app, args)
    assert result.exit_code == 1, result.output
    assert needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_error_names_the_item_whose_evidence_is_missing(tmp_path, seed_index):
    gold, picked = small_gold(tmp_path)
    rows = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines()]
    rows[1]["evidence"] = ["This sentence is not in the corpus."]
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = runner.invoke(eval_app, ["--gold", str(gold), "--corpus", str(SEEDS), "--index", str(seed_index)])
    assert result.exit_code == 1 and f"evidence of item {rows[1]['id']} not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_scores_chart_labels_every_value_and_counts_the_answers():
    from eval.report import scores_figure

    report = gold_report()
    report["metrics"]["overall"].update(keyword_accuracy=0.0, answered=2, abstention_precision=1.0)
    ax = scores_figure(report).axes[0]
    labels = [t.get_text() for t in ax.texts]
    bars = [b for container in ax.containers for b in container]
    assert len(labels) == len(bars) and "0.000" in labels and "n/a" in labels    # a 0 is a value, a gap says so
    assert "abstention_precision" in ax.get_legend_handles_labels()[1]
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "overall\nanswered 2 of 3"
    bench = bench_report()
    bench["metrics"]["answers"]["abstention_rate"] = 0.5
    ax = scores_figure(bench).axes[0]
    assert "answered 1 of 2" in ax.get_title() and "0.000" in [t.get_text() for t in ax.texts]   # exact_match 0.0
