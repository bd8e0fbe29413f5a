"""The reader's abstention decision: a logistic model over the evidence for an answer, fitted on validation articles.

The evidence for a question and its scored candidate sentences (:data:`FEATURES`):
- ``best``, ``second``: the logits of the best and the second-best candidate's reader scores;
- ``coverage_best``: the share of the question's content words (stemmed, stop words left out) found in the
  best candidate with its context;
- ``coverage_all``: the share found anywhere among the candidates (low when the corpus never mentions what
  is asked about).
``rag train-reader`` fits the weights with scikit-learn's ``LogisticRegression`` on the validation articles'
cases (target: the best candidate holds an answer) and stores them in the model card; the answer's confidence
is the model's probability. A card without a decision (or a validation set whose best candidates were all right,
or all wrong) falls back to the best score alone.

Example:
    >>> ev = evidence("Who flew the command module?", np.array([0.9, 0.2]), ["Collins flew the command module.", "It landed."])
    >>> round(ev["coverage_best"], 2), round(ev["coverage_all"], 2)
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.lexical import tokenize

FEATURES = ("best", "second", "coverage_best", "coverage_all")
_ASKING = {"who", "whom", "whose", "what", "when", "where", "which", "how", "whi", "did", "doe", "do", "is", "are", "was", "were"}
"""Stemmed question and auxiliary words that bm25s's stop words keep: they say how, not what, is asked."""


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def evidence(question: str, probs: np.ndarray, texts: list[str]) -> dict[str, float]:
    """The features of :data:`FEATURES` for reader scores ``probs`` of the candidate ``texts`` (non-empty)."""
    order = np.argsort(-probs, kind="stable")
    q_words, *cand_words = (set(t) for t in tokenize([question, *texts]))
    q_words -= _ASKING
    best_words = cand_words[int(order[0])]
    anywhere = set().union(*cand_words)
    share = (lambda found: len(q_words & found) / len(q_words)) if q_words else (lambda found: 1.0)
    return {"best": _logit(probs[order[0]]), "second": _logit(probs[order[1]]) if len(order) > 1 else _logit(0.0),
            "coverage_best": share(best_words), "coverage_all": share(anywhere)}


@dataclass(frozen=True)
class Decision:
    """``confidence = sigmoid(coef · evidence + intercept)`` over :data:`FEATURES`."""

    coef: tuple[float, ...]
    intercept: float

    def confidence(self, ev: dict[str, float]) -> float:
        z = sum(w * ev[name] for w, name in zip(self.coef, FEATURES)) + self.intercept
        return float(1.0 / (1.0 + np.exp(-z)))

    def to_card(self) -> dict:
        return {"features": list(FEATURES), "coef": [round(w, 6) for w in self.coef], "intercept": round(self.intercept, 6)}

    @classmethod
    def from_card(cls, card: dict) -> Decision | None:
        """The decision stored in a model card; None when the card has none (or one over other features)."""
        d = card.get("decision")
        if not isinstance(d, dict) or d.get("features") != list(FEATURES):
            return None
        return cls(tuple(float(w) for w in d["coef"]), float(d["intercept"]))


def fit(rows: list[dict[str, float]], labels: list[bool]) -> Decision | None:
    """Fit the decision on evidence ``rows`` and whether each best candidate was right (needs scikit-learn);
    None when the labels are all alike (nothing to learn from)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(labels)) < 2:
        return None
    x = np.array([[r[name] for name in FEATURES] for r in rows], dtype=np.float64)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, np.array(labels, dtype=int))
    return Decision(tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))
