"""External benchmarks (the ``../shared/benchmarks/squad11`` layout): load, index, retrieve, answer, score.

A benchmark directory holds ``corpus.jsonl`` (``{"id", "title", "text"}`` per document) and ``qa.jsonl``
(``{"id"?, "question", "answers", "gold_doc_ids", "is_impossible"?}`` per question). The corpus is written as
one file per document into a working folder and indexed with the run's settings; retrieval is scored at the
document level (a chunk ranking turned into a document ranking by each document's first chunk), answers with
SQuAD's normalised exact match and token F1.

Example:
    >>> bench = load_benchmark("../shared/benchmarks/squad11")          # doctest: +SKIP
    >>> result = run_benchmark(bench, bench.select(limit=100), rag.Settings())   # doctest: +SKIP
    >>> result.metrics["retrieval"]["hit@5"]                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rag
from eval.metrics import (
    abstention_scores,
    best_exact_match,
    best_token_f1,
    contains_answer,
    doc_ranking,
    doc_ranking_scores,
    percentiles,
    word_count,
)
from eval.run import torch_threads

SEARCH_DEPTH = 50
"""Passages retrieved per question to build the document ranking (enough for 10 distinct documents)."""
SAMPLE_SEED = 0
"""Seed of every random sample; ``random.Random(0).sample(qa, 200)`` is squad11's ``qa_sample200.jsonl``."""
DEFAULT_SAMPLE = 200

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


@dataclass(frozen=True)
class BenchDoc:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class BenchQuestion:
    id: str
    question: str
    answers: list[str]
    gold_doc_ids: list[str]
    is_impossible: bool | None = None
    article: str = ""
    lang: str = ""
    """The question's language, when ``qa.jsonl`` gives one (results are then also reported per language)."""


@dataclass
class Benchmark:
    """A loaded benchmark: its documents and all its questions (in file order)."""

    path: Path
    docs: list[BenchDoc]
    questions: list[BenchQuestion]

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def has_impossible(self) -> bool:
        return any(q.is_impossible is not None for q in self.questions)

    def select(self, limit: int | None = None, sample: bool = False, articles: set[str] | None = None) -> list[BenchQuestion]:
        """The questions to run (only those of ``articles`` when given): the first ``limit``, or with ``sample``
        a seeded random sample of ``limit`` (200 when no limit is given); everything when neither is given."""
        if limit is not None and limit < 1:
            raise rag.RagError(f"--limit must be at least 1, not {limit}")
        pool = [q for q in self.questions if articles is None or q.article in articles]
        if not pool:
            raise rag.RagError(f"no question of {self.name} belongs to the articles {', '.join(sorted(articles or []))}")
        if sample:
            n = min(limit or DEFAULT_SAMPLE, len(pool))
            return random.Random(SAMPLE_SEED).sample(pool, n)
        return pool[:limit] if limit else pool


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise rag.RagError(f"benchmark file not found: {path}")
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise rag.RagError(f"cannot read {path}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise rag.RagError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise rag.RagError(f"{path}:{n}: expected a JSON object")
        rows.append((n, row))
    if not rows:
        raise rag.RagError(f"{path} is empty")
    return rows


def _strings(value, path: Path, n: int, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise rag.RagError(f"{path}:{n}: {name} must be a list of strings")
    return value


def load_benchmark(path: str | Path) -> Benchmark:
    """Read and validate ``corpus.jsonl`` and ``qa.jsonl`` of a benchmark directory."""
    path = Path(path)
    if not path.is_dir():
        raise rag.RagError(f"benchmark directory not found: {path}")
    docs, seen = [], set()
    corpus = path / "corpus.jsonl"
    for n, row in _read_jsonl(corpus):
        doc_id, title, text = row.get("id"), row.get("title", ""), row.get("text")
        if not isinstance(doc_id, str) or not doc_id or not isinstance(text, str) or not isinstance(title, str):
            raise rag.RagError(f"{corpus}:{n}: a document needs a string id and text (and optionally a title)")
        if doc_id in seen:
            raise rag.RagError(f"{corpus}:{n}: duplicate document id {doc_id!r}")
        seen.add(doc_id)
        docs.append(BenchDoc(doc_id, title, text))
    questions = []
    qa = path / "qa.jsonl"
    for n, row in _read_jsonl(qa):
        qid = str(row.get("id", f"line{n}"))
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise rag.RagError(f"{qa}:{n}: question {qid} has no question text")
        answers = _strings(row.get("answers", []), qa, n, "answers")
        gold = _strings(row.get("gold_doc_ids", []), qa, n, "gold_doc_ids")
        impossible = row.get("is_impossible")
        if impossible is not None and not isinstance(impossible, bool):
            raise rag.RagError(f"{qa}:{n}: is_impossible must be true or false")
        unknown = [d for d in gold if d not in seen]
        if unknown:
            raise rag.RagError(f"{qa}:{n}: question {qid} names gold document {unknown[0]!r}, which is not in {corpus.name}")
        if not impossible and not gold:
            raise rag.RagError(f"{qa}:{n}: question {qid} is answerable but has no gold_doc_ids")
        article = row.get("article") if isinstance(row.get("article"), str) else (gold[0].rsplit("__p", 1)[0] if gold else "")
        lang = row.get("lang") if isinstance(row.get("lang"), str) else ""
        questions.append(BenchQuestion(qid, question, answers, gold, impossible, article, lang))
    return Benchmark(path, docs, questions)


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,150}")


def doc_text(doc: BenchDoc) -> str:
    """The file written for a document: ``"<title>: <text>"``.

    The title is glued to the first sentence rather than written as a paragraph of its own: a title paragraph
    becomes a chunk of its own, identical for every paragraph of an article, and such chunks crowd the ranking
    (squad11, hybrid: hit@5 0.904 with a title paragraph, 0.958 glued, 0.955 without the title).
    """
    title = " ".join(doc.title.split())
    return f"{title}: {doc.text}" if title else doc.text


def write_corpus(docs: Sequence[BenchDoc], corpus_dir: str | Path) -> dict[str, str]:
    """Write one ``<id>.txt`` per document (a numbered name when the id is not a safe file name); return
    the map from file name (the index's ``source``) to document id."""
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    wanted: dict[str, str] = {}
    for i, doc in enumerate(docs):
        name = f"{doc.id}.txt" if _SAFE.fullmatch(doc.id) else f"doc{i:07d}.txt"
        if name in wanted:
            name = f"doc{i:07d}.txt"
        wanted[name] = doc.id
    for old in corpus_dir.glob("*.txt"):
        if old.name not in wanted:
            old.unlink()
    by_id = {d.id: d for d in docs}
    for name, doc_id in wanted.items():
        target, content = corpus_dir / name, doc_text(by_id[doc_id])
        if not target.is_file() or target.read_bytes() != content.encode("utf-8"):
            target.write_bytes(content.encode("utf-8"))
    return wanted


@dataclass
class BenchmarkResult:
    records: list[dict]
    metrics: dict[str, dict]
    notes: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    languages: dict[str, dict] = field(default_factory=dict)
    """Per question language (benchmarks whose questions name one): see :func:`language_metrics`."""


def run_benchmark(
    bench: Benchmark,
    questions: Sequence[BenchQuestion],
    settings: rag.Settings,
    *,
    answers: int | None = DEFAULT_SAMPLE,
    work_dir: str | Path | None = None,
    answerer: str | None = None,
    progress: Progress | None = None,
    threads: int | None = 1,
) -> BenchmarkResult:
    """Index the benchmark's corpus with ``settings``, rank documents for every question and answer
    ``answers`` of them (a seeded sample; ``None`` answers all).

    ``work_dir`` keeps the written corpus and the index for the next run (rebuilt only when the corpus or the
    index settings change); by default a temporary folder is used and removed. ``threads`` is the number of
    torch CPU threads while the questions run (None: torch's default): a single short query gains little from
    more, and on a busy machine extra threads make each query many times slower (squad11 on 2 shared cores:
    ~25 ms a search with one thread, ~450 ms with two). The corpus is embedded with torch's default.
    """
    if not questions:
        raise rag.RagError("no benchmark questions selected")
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        root = Path(work_dir) if work_dir else Path(tmp)
        corpus_dir, index_dir = root / "corpus", root / "index"
        names = write_corpus(bench.docs, corpus_dir)
        report = rag.build_index(
            corpus_dir, index_dir, settings,
            progress=(lambda stage, done, total: progress("embedding corpus", done, total)) if progress else None,
        )
        answerer = answerer or settings.answerer
        threshold = cross_threshold = None
        if answerer == "reader":  # answer everything, decide abstention afterwards: the same answers, plus the curve
            threshold = settings.reader_threshold if settings.reader_threshold is not None else rag.load_reader(settings.reader_model).threshold
            settings = settings.model_copy(update={"reader_threshold": 0.0})
        elif answerer == "evidence":  # likewise with the fusion's calibrated thresholds
            threshold = settings.fusion_threshold
            if threshold is None:
                fusion = rag.load_fusion(report.manifest["embedding_model"], settings.fusion_model)
                threshold, cross_threshold = fusion.answer, fusion.cross_answer
            settings = settings.model_copy(update={"fusion_threshold": 0.0})
        chain = rag.load_chain(index_dir, answerer=answerer, settings=settings)
        build = {"threshold": threshold, "cross_threshold": cross_threshold, "built": report.built, "documents": report.manifest["counts"]["documents"],
                 "chunks": report.manifest["counts"]["chunks"],
                 "query_encoder": chain.retriever.embedder.backend}
        with torch_threads(threads):
            return _score(chain, names, questions, settings, answers, progress, build, len(bench.questions))


def _score(chain: rag.Chain, names: dict[str, str], questions, settings, answers, progress, build, total_questions) -> BenchmarkResult:
    retriever = chain.retriever
    depth = max(SEARCH_DEPTH, settings.top_k)
    if answers is None or answers >= len(questions):
        to_answer = set(range(len(questions)))
    else:
        to_answer = set(random.Random(SAMPLE_SEED).sample(range(len(questions)), max(answers, 0)))
    records, rankings, search_ms, answer_ms = [], [], [], []
    chain.ask(questions[0].question, k=settings.top_k)       # untimed: models load lazily on the first question
    for i, q in enumerate(questions):
        t0 = time.perf_counter()
        passages = retriever.search(q.question, k=depth)
        search_ms.append((time.perf_counter() - t0) * 1000)
        ranking = doc_ranking([p.source for p in passages], lambda s: names.get(s, s))
        rankings.append(ranking)
        gold = set(q.gold_doc_ids)
        rank = next((r for r, d in enumerate(ranking, 1) if d in gold), None)
        record = {"id": q.id, "question": q.question, "gold_doc_ids": q.gold_doc_ids, "doc_ranking": ranking[:10],
                  "hit_rank": rank, "search_ms": round(search_ms[-1], 2)}
        if q.is_impossible is not None:
            record["is_impossible"] = q.is_impossible
        if i in to_answer:
            answer = chain.ask(q.question, k=settings.top_k)
            answer_ms.append(answer.latency_ms)
            record.update(answer.to_dict())
            if build.get("threshold") is not None and answer.confidence is not None:
                record["would_contain"] = bool(q.answers) and not answer.abstained and contains_answer(answer.text, q.answers)
                line = build["threshold"]
                if build.get("cross_threshold") is not None and retriever.crosslingual(q.question):
                    line = build["cross_threshold"]          # a question in another language: the card's own line
                record["abstained"] = answer.abstained or answer.confidence < line
                if record["abstained"]:
                    record.update(answer="", citations=[], short_answer=None)
            scored = bool(q.answers) and not record["abstained"]
            record["score"] = {
                "contains": contains_answer(record["answer"], q.answers) if scored else False,
                "em": best_exact_match(record["answer"], q.answers) if scored else False,
                "f1": best_token_f1(record["answer"], q.answers) if scored else 0.0,
                "words": word_count(record["answer"]),
            }
            short = record.get("short_answer")
            if scored and q.answers:
                record["score"]["short_em"] = best_exact_match(short["quote"], q.answers) if short else False
                record["score"]["short_f1"] = best_token_f1(short["quote"], q.answers) if short else 0.0
        records.append(record)
        if progress:
            progress("questions", i + 1, len(questions))
    answerable = [q for q in questions if q.gold_doc_ids]
    retrieval = {"questions": len(answerable)}
    retrieval.update(doc_ranking_scores([rk for rk, q in zip(rankings, questions) if q.gold_doc_ids],
                                        [q.gold_doc_ids for q in answerable]))
    lat = percentiles(search_ms)
    retrieval["search_p50_ms"], retrieval["search_p95_ms"] = lat["p50"], lat["p95"]
    metrics = {"retrieval": retrieval}
    answered = [(q, r) for q, r in zip(questions, records) if "score" in r]
    if answered:
        metrics["answers"] = _answer_metrics(answered)
        curve = tradeoff_curve(answered)
        if curve:
            build["tradeoff"] = {"threshold": build["threshold"], "curve": curve}
    notes = [
        f"retrieval on {len(answerable)} question(s) with gold documents"
        + (f" of the benchmark's {total_questions}" if len(questions) < total_questions else " (all of the benchmark's)")
        + f"; a document ranking is each document's first appearance in the top {depth} passages",
        f"answers on {len(answered)} of the {len(questions)} question(s)"
        + ("" if len(answered) == len(questions) else
           f" (random.Random({SAMPLE_SEED}).sample(questions, {len(answered)}))")
        + "; EM/F1/containment against the best of the gold answers, citation markers removed",
    ]
    return BenchmarkResult(records, metrics, notes, {"answer": answer_ms, "search": search_ms}, build,
                           language_metrics(questions, records))


def language_metrics(questions: Sequence[BenchQuestion], records: list[dict]) -> dict[str, dict]:
    """For each question language: questions, hit@1 and, over those answered by the chain, how many were
    answered (not abstained) and answered with a gold answer in the text. Empty when no question names one."""
    groups: dict[str, list[tuple[BenchQuestion, dict]]] = {}
    for q, r in zip(questions, records):
        if q.lang:
            groups.setdefault(q.lang, []).append((q, r))
    out = {}
    for lang, rows in sorted(groups.items()):
        found = [r.get("hit_rank") == 1 for q, r in rows if q.gold_doc_ids]
        asked = [r for q, r in rows if "score" in r and not q.is_impossible]
        out[lang] = {"questions": len(rows), "hit@1": statistics.fmean(found) if found else None,
                     "answered": len(asked),
                     "answered_rate": statistics.fmean(not r["abstained"] for r in asked) if asked else None,
                     "answered_with_answer": statistics.fmean(r["score"]["contains"] for r in asked) if asked else None}
    return out


CURVE_GRID = [round(0.02 * i, 2) for i in range(1, 50)]


def tradeoff_curve(answered: list[tuple[BenchQuestion, dict]]) -> list[dict]:
    """At each threshold: the share of answerable questions answered with the answer in the text, and the share of
    unanswerable ones abstained on (needs the reader's ``confidence`` and ``would_contain`` per record)."""
    rows = [(q, r) for q, r in answered if r.get("confidence") is not None and "would_contain" in r]
    pos = [r for q, r in rows if not q.is_impossible]
    neg = [r for q, r in rows if q.is_impossible]
    if not rows:
        return []
    out = []
    for t in CURVE_GRID:
        a = statistics.fmean(r["would_contain"] and r["confidence"] >= t for r in pos) if pos else None
        b = statistics.fmean(r["confidence"] < t for r in neg) if neg else None
        out.append({"threshold": t, "answered": a, "abstained": b,
                    "mean": None if a is None or b is None else (a + b) / 2})
    return out


def _answer_metrics(answered: list[tuple[BenchQuestion, dict]]) -> dict:
    possible = [r for q, r in answered if not q.is_impossible]
    out: dict = {"items": len(answered)}
    if possible:
        out["answer_containment"] = statistics.fmean(r["score"]["contains"] for r in possible)
        out["exact_match"] = statistics.fmean(r["score"]["em"] for r in possible)
        out["token_f1"] = statistics.fmean(r["score"]["f1"] for r in possible)
        if any("short_em" in r["score"] for r in possible):
            out["short_exact_match"] = statistics.fmean(r["score"].get("short_em", False) for r in possible)
            out["short_token_f1"] = statistics.fmean(r["score"].get("short_f1", 0.0) for r in possible)
            out["short_answer_rate"] = statistics.fmean(bool(r.get("short_answer")) for r in possible)
    impossible = [r for q, r in answered if q.is_impossible]
    if possible and impossible:
        out["answered_with_answer"] = out["answer_containment"]
        out["abstained_on_unanswerable"] = statistics.fmean(r["abstained"] for r in impossible)
        out["answered_abstained_mean"] = (out["answered_with_answer"] + out["abstained_on_unanswerable"]) / 2
    out["abstention_rate"] = statistics.fmean(r["abstained"] for _, r in answered)
    if any(q.is_impossible for q, _ in answered):          # abstention is scored only where there is something to abstain on
        out.update(abstention_scores([r["abstained"] for _, r in answered], [bool(q.is_impossible) for q, _ in answered]))
    spoken = [r["score"]["words"] for _, r in answered if not r["abstained"]]
    out["median_words"] = statistics.median(spoken) if spoken else 0
    lat = percentiles([r["latency_ms"] for _, r in answered])
    out["latency_p50_ms"], out["latency_p95_ms"] = lat["p50"], lat["p95"]
    return out
