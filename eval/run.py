"""Run the chain over a gold file and score it: one record per item, then the summary metrics.

Example:
    >>> chain = rag.load_chain("index")                            # doctest: +SKIP
    >>> records = run_gold(chain, load_gold("eval/gold.jsonl", "seeds"))   # doctest: +SKIP
    >>> summarize(records)["overall"]["keyword_accuracy"]           # doctest: +SKIP
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import rag
from eval.gold import GoldItem
from eval.metrics import abstention_scores, first_hit, keywords_ok, percentiles, retrieval_scores, token_f1, word_count


def run_gold(chain: rag.Chain, items: Sequence[GoldItem], k: int | None = None, mode: str | None = None,
             on_item: Callable[[], None] | None = None) -> list[dict]:
    """Answer every item (with its history) and return one ``rag ask --json`` record per item, plus gold fields."""
    records = []
    for item in items:
        answer = chain.ask(item.question, item.turns, k=k, mode=mode)
        record = {"id": item.id, "type": item.type, **answer.to_dict()}
        record["score"] = score_item(item, record)
        records.append(record)
        if on_item:
            on_item()
    return records


def score_item(item: GoldItem, record: dict) -> dict:
    """Per-item figures: first-hit rank, keyword match, F1, citation hits and validity, abstention."""
    cites = record["citations"]
    cite_hits = [any(s.overlaps(c["source"], c["start"], c["end"]) for s in item.spans) for c in cites]
    return {
        "answerable": item.answerable,
        "hit_rank": first_hit(item.spans, record["passages"]) if item.answerable else None,
        "keywords_ok": keywords_ok(record["answer"], item.keywords) and not record["abstained"] if item.answerable else None,
        "f1": token_f1(record["answer"], item.answer) if item.answerable else None,
        "words": word_count(record["answer"]),
        "citation_hits": cite_hits,
        "citations_valid": all(_valid(c) for c in cites),
        "abstained": record["abstained"],
    }


def _valid(citation: dict) -> bool:
    return citation["quote"] == citation.get("_source_text", citation["quote"])


def summarize(records: Sequence[dict]) -> dict:
    """Metrics overall and per question type."""
    groups: dict[str, list[dict]] = {"overall": list(records)}
    for r in records:
        groups.setdefault(r["type"], []).append(r)
    return {name: _metrics(rs) for name, rs in groups.items()}


def _metrics(records: Sequence[dict]) -> dict:
    scores = [r["score"] for r in records]
    answerable = [s for s in scores if s["answerable"]]
    answered = [s for s in scores if not s["abstained"]]
    all_hits = [h for s in scores for h in s["citation_hits"]]
    out = {"items": len(records)}
    if answerable:
        out.update(retrieval_scores([s["hit_rank"] for s in answerable]))
        out["keyword_accuracy"] = statistics.fmean(s["keywords_ok"] for s in answerable)
        out["token_f1"] = statistics.fmean(s["f1"] for s in answerable)
        out["citation_recall"] = statistics.fmean(any(s["citation_hits"]) for s in answerable)
    out["citation_precision"] = statistics.fmean(all_hits) if all_hits else None
    out["citation_validity"] = statistics.fmean(s["citations_valid"] for s in scores)
    out.update(abstention_scores([s["abstained"] for s in scores], [not s["answerable"] for s in scores]))
    out["median_words"] = statistics.median(s["words"] for s in answered) if answered else 0
    lat = percentiles([r["latency_ms"] for r in records])
    out["latency_p50_ms"], out["latency_p95_ms"] = lat["p50"], lat["p95"]
    return out
