"""Scoring functions: retrieval, answers, citations, abstention and latency. Pure functions over plain data."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np


def first_hit(spans: Sequence, passages: Sequence[dict]) -> int | None:
    """1-based rank of the first passage (``source``/``start``/``end``) overlapping a gold span, else None."""
    for rank, p in enumerate(passages, 1):
        if any(s.overlaps(p["source"], p["start"], p["end"]) for s in spans):
            return rank
    return None


def retrieval_scores(ranks: Sequence[int | None], ks: Sequence[int] = (1, 3, 5)) -> dict[str, float]:
    """recall@k (share of questions with a hit in the top k) and MRR from first-hit ranks."""
    n = max(len(ranks), 1)
    out = {f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n for k in ks}
    out["mrr"] = sum(1.0 / r for r in ranks if r) / n
    return out


def keywords_ok(answer: str, keywords: Sequence[str]) -> bool:
    """All keywords occur in the answer, case-insensitively (curly and straight apostrophes alike)."""
    norm = answer.lower().replace("’", "'")
    return all(k.lower().replace("’", "'") in norm for k in keywords)


def normalize_answer(s: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation) | {"’", "“", "”"})
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD token F1 between two strings."""
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def abstention_scores(predicted: Sequence[bool], truth: Sequence[bool]) -> dict[str, float]:
    """Precision and recall of abstaining, where ``truth`` marks the unanswerable questions."""
    tp = sum(p and t for p, t in zip(predicted, truth))
    n_pred, n_true = sum(predicted), sum(truth)
    return {
        "abstention_precision": tp / n_pred if n_pred else 1.0,
        "abstention_recall": tp / n_true if n_true else 1.0,
    }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of ``values`` (0 when empty)."""
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}


def word_count(text: str) -> int:
    """Words of an answer, citation markers excluded."""
    return len(strip_markers(text).split())


# -- document-ranking metrics (external benchmarks) -------------------------------------------------------

def doc_ranking_scores(rankings: Sequence[Sequence[str]], golds: Sequence[Sequence[str]],
                       ks: Sequence[int] = (1, 5, 10), depth: int = 10) -> dict[str, float]:
    """hit@k, MRR@depth and nDCG@depth (binary relevance) of document rankings against gold document ids.

    ``rankings[i]`` is the ranked list of document ids for question ``i`` (best first, no repeats) and
    ``golds[i]`` its relevant ids. A question with no gold id counts as a miss.
    """
    n = max(len(rankings), 1)
    hits = {k: 0 for k in ks}
    rr = ndcg = 0.0
    for ranking, gold in zip(rankings, golds):
        gold = set(gold)
        rank = next((i for i, d in enumerate(ranking, 1) if d in gold), None)
        for k in ks:
            hits[k] += rank is not None and rank <= k
        if rank is not None and rank <= depth:
            rr += 1.0 / rank
        ideal = sum(1.0 / np.log2(i + 1) for i in range(1, min(len(gold), depth) + 1))
        if ideal:
            ndcg += sum(1.0 / np.log2(i + 1) for i, d in enumerate(ranking[:depth], 1) if d in gold) / ideal
    out = {f"hit@{k}": hits[k] / n for k in ks}
    out[f"mrr@{depth}"] = rr / n
    out[f"ndcg@{depth}"] = float(ndcg / n)
    return out


def doc_ranking(sources: Sequence[str], doc_id=lambda source: source) -> list[str]:
    """Document ids in order of their first passage: a chunk-level ranking turned into a document ranking."""
    return list(dict.fromkeys(doc_id(s) for s in sources))


# -- answer metrics against a list of acceptable answers (SQuAD style) --------------------------------------

def strip_markers(text: str) -> str:
    """The answer text without citation markers ``[n]``."""
    return " ".join(re.sub(r"\[\d+\]", " ", text).split())


def best_exact_match(prediction: str, truths: Sequence[str]) -> bool:
    """SQuAD EM against the best of several gold answers (markers removed)."""
    prediction = strip_markers(prediction)
    return any(exact_match(prediction, t) for t in truths)


def best_token_f1(prediction: str, truths: Sequence[str]) -> float:
    """SQuAD token F1 against the best of several gold answers (markers removed)."""
    prediction = strip_markers(prediction)
    return max((token_f1(prediction, t) for t in truths), default=0.0)


def contains_answer(prediction: str, truths: Sequence[str]) -> bool:
    """Some gold answer occurs in the prediction as whole words, after SQuAD normalisation."""
    norm = f" {normalize_answer(strip_markers(prediction))} "
    return any((g := normalize_answer(t)) and f" {g} " in norm for t in truths)
