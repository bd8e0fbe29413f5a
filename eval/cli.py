"""``rag eval``: score the system on a gold file or an external benchmark, write reports, compare two reports.

    rag eval [--gold eval/gold.jsonl] [--corpus seeds] [--index index] [--out results.jsonl (none by default)] [--report DIR] [-k N] [--mode M]
    rag eval --benchmark DIR [--limit N] [--sample] [--answers N] [--report DIR]
    rag eval --feedback INDEX [--report DIR] [--out FILE]
    rag eval --compare A.json B.json [--markdown]

Every error prints one line to stderr and exits with status 1.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

import rag
from eval.report import compare_markdown, compare_table, languages_table, load_report, summary_table, write_report

app = typer.Typer(add_completion=False, rich_markup_mode=None, help="Score answers, citations, abstention and retrieval.")
out = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True)

PACKAGED_GOLD = Path(__file__).resolve().parent / "gold.jsonl"
DEFAULT_GOLD = Path("eval/gold.jsonl")


def make_settings(k: int | None = None, mode: str | None = None, overrides: list[str] | None = None, **paths) -> rag.Settings:
    """Settings from the environment, then ``--set NAME=VALUE`` pairs, then the explicit flags."""
    given: dict = {}
    for pair in overrides or []:
        name, sep, value = pair.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not sep or not name:
            raise rag.RagError(f"--set expects NAME=VALUE, not {pair!r}")
        if name not in rag.Settings.model_fields:
            raise rag.RagError(f"unknown setting {name!r} in --set (see docs/settings.md)")
        given[name] = value
    given.update({key: v for key, v in dict(paths, top_k=k, mode=mode).items() if v is not None})
    try:
        return rag.Settings(**given)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
        raise rag.RagError(f"invalid setting: {first['loc'][0]}: {first['msg']}") from None


def settings_dict(settings: rag.Settings) -> dict:
    return json.loads(settings.model_dump_json())


def progress_bar() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    return Progress(*columns, console=err, transient=True)


def write_jsonl(path: Path, records: list[dict]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise rag.RagError(f"cannot write {path}: {exc}") from None


def _base_report(kind: str, name: str, settings: rag.Settings, inputs: dict) -> dict:
    return {
        "kind": kind,
        "name": name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "rag eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if Path(sys.argv[0]).name == "rag" else "",
        "settings": settings_dict(settings),
        "inputs": inputs,
    }


def warm_up(chain: rag.Chain) -> None:
    """One untimed question first, so that loading the models lazily does not count as the first item's latency."""
    chain.ask("What is this document about?")


def run_gold_eval(gold: Path, settings: rag.Settings, fresh_index: bool, answerer: str,
                  threads: int | None = None) -> tuple[dict, list[dict]]:
    """Run the chain on every gold item (corpus and index from ``settings``); return the report and the per-item records."""
    from eval.gold import load_gold
    from eval.run import run_gold, summarize, torch_threads

    if gold == DEFAULT_GOLD and not gold.is_file() and PACKAGED_GOLD.is_file():
        gold = PACKAGED_GOLD
    corpus_dir = settings.corpus_dir
    items = load_gold(gold, corpus_dir)
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        index_dir = settings.index_dir
        if fresh_index:
            index_dir = Path(tmp) / "index"
            with progress_bar() as bar:
                task = bar.add_task("embedding corpus", total=None)
                rag.build_index(corpus_dir, index_dir, settings,
                                progress=lambda stage, done, total: bar.update(task, completed=done, total=total))
        chain = rag.load_chain(index_dir, answerer=answerer, settings=settings)
        with progress_bar() as bar, torch_threads(threads):
            warm_up(chain)
            task = bar.add_task("answering", total=len(items))
            records = run_gold(chain, items, k=settings.top_k, mode=settings.mode, on_item=lambda: bar.advance(task))
        encoder = chain.retriever.embedder.backend
    report = _base_report("gold", gold.name, settings, {
        "gold": str(gold), "corpus": str(corpus_dir), "index": "temporary (fresh)" if fresh_index else str(index_dir),
        "torch threads": threads or "default", "query encoder": encoder})
    report["metrics"] = summarize(records)
    report["notes"] = [
        f"{len(items)} items, {sum(i.answerable for i in items)} answerable; follow-ups asked with their history",
        "retrieval: a hit is a retrieved passage overlapping a gold evidence span; "
        "citation validity: share of citations whose quote equals the source slice",
    ]
    report["latencies_ms"] = {"answer": [r["latency_ms"] for r in records]}
    return report, records


def run_feedback_eval(index_dir: Path, settings: rag.Settings, answerer: str | None,
                      threads: int | None = None) -> tuple[dict, list[dict]]:
    """Ask again every question users rated in the chat (``<index>/feedback.jsonl``) and judge the answers against
    their verdicts (:mod:`eval.feedback`); return the report and the per-record results."""
    from eval.feedback import failures, run_feedback, summarize
    from eval.run import torch_threads
    from rag import feedback

    stored = feedback.read(index_dir, settings)
    if not stored.records:
        raise rag.RagError(f"no feedback in {stored.path}: rate answers in the chat (thumbs up or down) first"
                           + (f" ({stored.skipped} unusable line(s) skipped)" if stored.skipped else ""))
    chain = rag.load_chain(index_dir, answerer=answerer, settings=settings)
    with progress_bar() as bar, torch_threads(threads):
        warm_up(chain)
        task = bar.add_task("answering", total=len(stored.records))
        records = run_feedback(chain, stored.records, on_item=lambda: bar.advance(task))
    report = _base_report("feedback", str(stored.path), settings, {
        "feedback": str(stored.path), "index": str(index_dir), "records": len(stored.records),
        "unusable lines skipped": stored.skipped, "query encoder": chain.retriever.embedder.backend})
    report["metrics"] = summarize(records)
    report["notes"] = [
        "thumbs up passes when the outcome is the same and every cited span still overlaps a cited span; thumbs down "
        "with a note when a citation holds the note (or the note names a cited file); without a note when the "
        "outcome or the cited spans changed",
        *failures(records),
    ]
    report["latencies_ms"] = {"answer": [r["latency_ms"] for r in records]}
    return report, records


def split_articles(split: str | None, settings: rag.Settings) -> set[str] | None:
    """The articles the reader's model card puts in ``split`` (train, validation or test), or None for all."""
    if split is None:
        return None
    card = rag.load_reader(settings.reader_model).card
    splits = card.get("splits") or {}
    if split not in splits:
        raise rag.RagError(f"unknown split {split!r}: the reader's model card lists {', '.join(sorted(splits)) or 'none'}")
    return set(splits[split]["articles"])


def run_benchmark_eval(bench_dir: Path, settings: rag.Settings, limit: int | None, sample: bool, answers: int | None,
                       work_dir: Path | None, answerer: str | None, threads: int | None = 1,
                       split: str | None = None) -> tuple[dict, list[dict]]:
    from eval.benchmark import load_benchmark, run_benchmark

    bench = load_benchmark(bench_dir)
    questions = bench.select(limit, sample, split_articles(split, settings))
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = run_benchmark(bench, questions, settings, answers=answers, work_dir=work_dir, answerer=answerer,
                               progress=progress, threads=threads)
    report = _base_report("benchmark", bench.name, settings, {
        "benchmark": str(bench_dir), "questions": len(questions),
        "selection": (f"random sample (seed 0) of {len(questions)}" if sample else (f"first {limit}" if limit else "all"))
        + (f" of the reader's {split} articles" if split else ""),
        "index": f"{result.build['documents']} documents, {result.build['chunks']} chunks",
        "torch threads": threads or "default", "query encoder": result.build.get("query_encoder", "?")})
    report["metrics"] = result.metrics
    if result.languages:
        report["languages"] = result.languages
    report["notes"] = result.notes
    if result.build.get("tradeoff"):
        report["tradeoff"] = result.build["tradeoff"]
    report["latencies_ms"] = {k: [round(v, 2) for v in vals] for k, vals in result.latencies.items()}
    return report, result.records


@app.command()
def main(
    gold: Annotated[Path, typer.Option("--gold", help="Gold file (eval/gold.jsonl schema).")] = DEFAULT_GOLD,
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Corpus of the gold file (default: RAG_CORPUS_DIR or seeds).")] = None,
    index: Annotated[Optional[Path], typer.Option("--index", help="Index to evaluate (default: RAG_INDEX_DIR or index).")] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Per-item results as JSON lines (default: DIR/results.jsonl with --report, else none are written).")] = None,
    report_dir: Annotated[Optional[Path], typer.Option("--report", help="Write report.md, report.json and PNG charts here.")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--k", min=1, max=100, help="Passages per question.")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="Retrieval mode: hybrid, dense or bm25.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a setting, NAME=VALUE (repeatable), e.g. --set chunk_max_sentences=2.")] = None,
    fresh_index: Annotated[bool, typer.Option("--fresh-index", help="Gold runs: index --corpus afresh with the run's settings (for chunk-size ablations) instead of using --index.")] = False,
    answerer: Annotated[Optional[str], typer.Option("--answerer", help="Answerer (default: RAG_ANSWERER or evidence). " + rag.answerers.describe())] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Benchmark: ask only the questions of the articles the reader's model card puts in this split (validation or test); the whole corpus is indexed.")] = None,
    feedback_index: Annotated[Optional[Path], typer.Option("--feedback", metavar="INDEX", help="Score the current system on the verdicts users gave in the chat, kept in INDEX/feedback.jsonl (asked through the index INDEX) instead of the gold file.")] = None,
    benchmark: Annotated[Optional[Path], typer.Option("--benchmark", help="Run an external benchmark directory (corpus.jsonl + qa.jsonl) instead of the gold file.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Benchmark: use only N questions (the first N, or a random sample with --sample).")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Benchmark: a seeded random sample of --limit questions (200 without --limit; squad11's qa_sample200).")] = False,
    answers: Annotated[int, typer.Option("--answers", min=0, help="Benchmark: run the full chain (answers, EM/F1) on a seeded sample of N of the selected questions; retrieval is scored on all of them. 0 = none; a large N answers all.")] = 200,
    bench_cache: Annotated[Optional[Path], typer.Option("--bench-cache", help="Benchmark: keep its corpus files and index here and reuse them while unchanged (default: a temporary folder).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=0, help="Torch CPU threads while the questions run (default: 1 for --benchmark, torch's default for gold runs; 0 = torch's default).")] = None,
    compare: Annotated[Optional[tuple[Path, Path]], typer.Option("--compare", help="Print the deltas between two report.json files (A then B) and exit.", show_default=False)] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="With --compare: print a Markdown table.")] = False,
) -> None:
    """Score the chain on a gold file (default) or an external benchmark; write a report; compare two reports."""
    try:
        if compare is not None and compare[0] is not None:
            a, b = load_report(compare[0]), load_report(compare[1])
            la, lb = _label(compare[0]), _label(compare[1])
            if markdown:
                sys.stdout.write(compare_markdown(a, b, la, lb) + "\n")
            else:
                out.print(compare_table(a, b, la, lb))
            return
        if feedback_index is not None and (index is not None or benchmark is not None or fresh_index):
            raise rag.RagError("--feedback INDEX names the index it scores: leave out --index, --benchmark and --fresh-index")
        settings = make_settings(k, mode, overrides, index_dir=feedback_index or index, corpus_dir=corpus)
        if answerer is not None:
            rag.answerers.check_name(answerer)
        if feedback_index is not None:
            if limit is not None or sample or split:
                raise rag.RagError("--limit, --sample and --split apply to --benchmark runs only")
            report, records = run_feedback_eval(feedback_index, settings, answerer, threads)
        elif benchmark is not None:
            report, records = run_benchmark_eval(benchmark, settings, limit, sample, answers, bench_cache, answerer,
                                                 1 if threads is None else threads, split)
        else:
            if limit is not None or sample or split:
                raise rag.RagError("--limit, --sample and --split apply to --benchmark runs only")
            report, records = run_gold_eval(gold, settings, fresh_index, answerer, threads)
        results = out_path or (report_dir / "results.jsonl" if report_dir else None)
        if results is not None:
            write_jsonl(results, records)
        out.print(summary_table(report))
        if report.get("languages"):
            out.print(languages_table(report["languages"]))
        for note in report.get("notes", []):
            out.print(f"[dim]{escape(note)}[/dim]", highlight=False)
        out.print(f"per-item results: {results}" if results else "per-item results: not written (add --out FILE or --report DIR)",
                  highlight=False)
        if report_dir:
            paths = write_report(report, report_dir)
            out.print(f"report: {paths['markdown']}, {paths['json']}" + "".join(f", {p}" for k, p in paths.items() if k not in ("json", "markdown")), highlight=False)
    except rag.RagError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def _label(path: Path) -> str:
    name = path.parent.name if path.name == "report.json" else path.stem
    return name or str(path)


if __name__ == "__main__":
    app()
