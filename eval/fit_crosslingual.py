"""Fit the answer threshold of the fusion's cross-lingual decision on part of a cross-lingual benchmark.

``python -m eval.fit_crosslingual ../shared/benchmarks/xquad_xling`` uses only the articles outside the
reader's test split (:func:`eval.cli.split_articles`), so the test articles stay for reporting. Of each
fitting article's paragraphs every other one from the second on is left out of the index: questions about a
kept paragraph are answerable, those about a left-out one are on-topic and unanswerable (the case the decision
must tell apart). Each question (a seeded sample per language) goes through the chain's retrieval; the
threshold is the lowest at which the mean of "answerable and answered with a gold answer in the text" and
"unanswerable and not answered" is within ``tolerance`` of its best, as ``rag train-fusion`` chooses the main
one. It is written into the card's ``crosslingual.thresholds`` with the data it came from.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

import rag
from eval.benchmark import load_benchmark, write_corpus
from eval.cli import split_articles
from eval.metrics import contains_answer
from rag.fusion.model import card_path

GRID = [round(0.01 * i, 2) for i in range(1, 60)]


@dataclass(frozen=True)
class Row:
    lang: str
    crosslingual: bool
    answerable: bool
    confidence: float
    right: bool
    """Answerable, and the answer (the evidence set) holds a gold answer."""


def collect(bench_dir: Path, per_language: int, work: Path, settings: rag.Settings) -> tuple[list[Row], dict]:
    """The decision's confidence and outcome for a seeded sample of each language's fitting questions."""
    bench = load_benchmark(bench_dir)
    held_out = split_articles("test", settings) or set()
    docs = sorted((d for d in bench.docs if d.id.rsplit("__p", 1)[0] not in held_out), key=lambda d: d.id)
    by_article: dict[str, list] = {}
    for d in docs:
        by_article.setdefault(d.id.rsplit("__p", 1)[0], []).append(d)
    kept = [d for members in by_article.values() for i, d in enumerate(members) if i % 2 == 0]
    names = write_corpus(kept, work / "corpus")
    rag.build_index(work / "corpus", work / "index", settings)
    # every question answered (threshold 0): the decision is taken here, at each threshold of the grid
    chain = rag.load_chain(work / "index", settings=settings.model_copy(update={"fusion_threshold": 0.0}))
    kept_ids = set(names.values())
    questions = [q for q in bench.questions if q.article in by_article and q.gold_doc_ids]
    rng = random.Random(0)
    rows = []
    for lang in sorted({q.lang for q in questions}):
        pool = [q for q in questions if q.lang == lang]
        for q in rng.sample(pool, min(per_language, len(pool))):
            answer = chain.ask(q.question)
            if answer.outcome != "answer":  # no passage at all
                continue
            answerable = q.gold_doc_ids[0] in kept_ids
            rows.append(Row(lang, chain.retriever.crosslingual(q.question), answerable, answer.confidence,
                            answerable and contains_answer(answer.text, q.answers)))
    data = {"benchmark": bench.name, "articles": sorted(by_article), "held_out_articles": sorted(held_out),
            "paragraphs_indexed": len(kept), "paragraphs_left_out": len(docs) - len(kept),
            "questions_per_language": per_language}
    return rows, data


def curve(rows: list[Row]) -> list[dict]:
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    out = []
    for t in GRID:
        answered = statistics.fmean(r.right and r.confidence >= t for r in answerable)
        abstained = statistics.fmean(r.confidence < t for r in unanswerable)
        out.append({"threshold": t, "answered": round(answered, 4), "abstained": round(abstained, 4),
                    "mean": round((answered + abstained) / 2, 4)})
    return out


def choose(points: list[dict], tolerance: float = 0.01) -> dict:
    top = max(p["mean"] for p in points)
    return min((p for p in points if p["mean"] >= top - tolerance), key=lambda p: p["threshold"])


def main(
    benchmark: Path = typer.Argument(..., help="A cross-lingual benchmark directory (qa.jsonl rows name their lang)."),
    per_language: int = typer.Option(120, "--per-language", min=10, help="Questions sampled per language."),
    card: Path = typer.Option(None, "--card", help="The card to update (default: the shipped e5-small card)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the curve and the choice; write nothing."),
) -> None:
    """Fit the cross-lingual answer threshold and write it into the fusion card."""
    settings = rag.Settings()
    path = card or card_path(settings.embedding_model, settings.fusion_model)
    try:
        with tempfile.TemporaryDirectory(prefix="fit-crosslingual-") as work:
            rows, data = collect(benchmark, per_language, Path(work), settings)
    except rag.RagError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    cross = [r for r in rows if r.crosslingual]
    if not any(r.answerable for r in cross) or all(r.answerable for r in cross):
        typer.echo("error: the sample needs answerable and unanswerable cross-lingual questions", err=True)
        raise typer.Exit(1)
    points = curve(cross)
    best = choose(points)
    for p in points[::3]:
        typer.echo(f"{p['threshold']:.2f}  answered {p['answered']:.3f}  abstained {p['abstained']:.3f}  mean {p['mean']:.3f}")
    typer.echo(f"chosen: {best} on {len(cross)} cross-lingual questions")
    if dry_run:
        return
    found = json.loads(path.read_text(encoding="utf-8"))
    found.setdefault("crosslingual", {})["thresholds"] = {"answer": best["threshold"]}
    found["crosslingual"]["fitted_on"] = {**data, "questions": len(cross), "at_threshold": best,
                                          "command": f"python -m eval.fit_crosslingual {benchmark} --per-language {per_language}"}
    path.write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"written to {path}")


if __name__ == "__main__":
    typer.run(main)
