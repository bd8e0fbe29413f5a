"""Validation figures of a trained reader and the abstention threshold chosen from them.

A case is a question with candidate sentences (see :func:`rag.reader.training.data.reader_cases`). The ranking and the
abstention decision (:mod:`rag.reader.evidence`) are fitted here on the same cases; a case's confidence is the decision's. At threshold t an answerable
case is *answered* when its confidence is at least t and its best candidate holds the answer; an unanswerable
case (SQuAD 2.0's, or an answerable one with its gold paragraph removed) is *abstained* when its confidence is
under t. The threshold maximises their mean over the validation articles.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from rag.reader.evidence import FEATURES, fit, judge

GRID = [round(x, 3) for x in np.linspace(0.02, 0.98, 49)]


def _normalise(text: str) -> list[str]:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def span_scores(reader, examples: list[tuple[str, str, int, int]]) -> dict:
    """SQuAD exact match and token F1 of the span model on ``(question, sentence, start, end)`` examples."""
    em = f1 = 0.0
    for question, sentence, a, b in examples:
        found = reader.span(question, sentence)
        pred, gold = _normalise(sentence[found.start:found.end] if found else ""), _normalise(sentence[a:b])
        em += pred == gold
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            p, r = common / len(pred), common / len(gold)
            f1 += 2 * p * r / (p + r)
    n = max(len(examples), 1)
    return {"span_em": round(em / n, 4), "span_f1": round(f1 / n, 4), "span_examples": len(examples)}


def _outcomes(scored: list[dict], judged: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per case: whether its best candidate holds the answer, whether it is answerable, whether its gold was removed."""
    correct = np.array([c["labels"][int(np.argmax(j.scores))] for c, j in zip(scored, judged)])
    ans, rem = (np.array([c[key] for c in scored], dtype=bool) for key in ("answerable", "removed"))
    return correct, ans, rem


def _curve(scored: list[dict], judged: list) -> list[dict]:
    correct_a, ans, rem = _outcomes(scored, judged)
    best_a = np.array([j.confidence for j in judged])
    unans = ~ans
    curve = []
    for t in GRID:
        answered = float(np.mean((best_a[ans] >= t) & correct_a[ans])) if ans.any() else 0.0
        abstained = float(np.mean(best_a[unans] < t)) if unans.any() else 0.0
        curve.append({"threshold": t, "answered": round(answered, 4), "abstained": round(abstained, 4),
                      "abstained_squad20": round(float(np.mean(best_a[unans & ~rem] < t)), 4) if (unans & ~rem).any() else None,
                      "abstained_removed": round(float(np.mean(best_a[rem] < t)), 4) if rem.any() else None})
    return curve


def _best_mean(curve: list[dict]) -> float:
    return round(max((c["answered"] + c["abstained"]) / 2 for c in curve), 4)


def reader_figures(reader, cases: list[dict], spans: list[tuple[str, str, int, int]], encode) -> dict:
    """Top-1 accuracy, the fitted ranking and decision, the answered/abstained curve over :data:`GRID`, and span
    EM/F1; ``encode`` embeds texts as normalised vectors (the embedding model, for the cosines).

    The decision is fitted with and without the span margin; the one with the higher best mean of answered and
    abstained is kept, and both means are reported (``decision_ablation``)."""
    scored = []
    for case in cases:
        texts = [text for text, _ in case["candidates"]]
        if not texts:
            continue
        # candidates are already reader texts (sentence [SEP] context): score them as they are
        probs = reader.score(case["question"], [(text, "") for text in texts])
        sentences = [text.split(" [SEP] ")[0] for text in texts]
        vectors = encode([case["question"], *sentences])
        scored.append({"question": case["question"], "texts": texts, "probs": probs, "dense": vectors[1:] @ vectors[0],
                       "labels": [bool(label) for _, label in case["candidates"]], "answerable": case["answerable"],
                       "removed": case["removed"],
                       "span": lambda i, q=case["question"], ss=sentences: reader.span_margin(q, ss[i])})
    fitted = {}
    for name, features in (("with span", FEATURES), ("without span", tuple(f for f in FEATURES if f != "span"))):
        ranking, decision = fit(scored, features)
        judged = [judge(ranking, decision, c["question"], c["probs"], c["dense"], c["texts"], c["span"]) for c in scored]
        fitted[name] = (ranking, decision, judged, _curve(scored, judged))
    ablation = {name: _best_mean(f[3]) for name, f in fitted.items()}
    ranking, decision, judged, curve = fitted[max(ablation, key=lambda name: (ablation[name], name == "without span"))]
    correct_a, ans, rem = _outcomes(scored, judged)
    return {"top1": round(float(np.mean(correct_a[ans])), 4) if ans.any() else 0.0,
            "cases": {"answerable": int(ans.sum()), "unanswerable": int((~ans & ~rem).sum()), "removed": int(rem.sum())},
            **span_scores(reader, spans), "decision_ablation": ablation, "curve": curve,
            "ranking": ranking.to_card() if ranking else None, "decision": decision.to_card() if decision else None}


def calibrate(curve: list[dict]) -> float:
    """The threshold with the highest mean of answered and abstained (the lower one on ties)."""
    return max(curve, key=lambda c: (c["answered"] + c["abstained"], -c["threshold"]))["threshold"]
