"""The reader's judgement of candidate sentences: a learned ranking and a learned abstention decision.

Both are logistic models fitted on the validation articles by ``rag train-reader`` and stored in the model card.

- **Ranking** (:class:`Ranking`, features :data:`RANK_FEATURES`): a sentence's score combines the reader's logit
  with the cosine similarity of question and sentence under the embedding model (``dense``). The cosine is the
  same on any kind of text, so it steadies the reader on text unlike its training data. Target: the sentence
  holds an answer.
- **Decision** (:class:`Decision`, features :data:`FEATURES`) over the evidence for the best sentence:
  ``best`` and ``second``, the ranking scores of the best and second-best sentences; ``coverage_best``, the
  share of the question's content words (stemmed, stop words left out) in the best sentence with its context;
  ``coverage_all``, that share anywhere among the candidates (low when the corpus never mentions what is asked
  about); ``dense_best``, the best sentence's cosine; ``span``, the span model's best short answer in the best
  sentence against its "no answer" score (logits; a sentence that does not say what is asked has no span of
  the asked kind). A decision uses any of these; its card names them. Target: the best sentence holds an
  answer; the answer's confidence is the model's probability.

A card without them (or whose validation cases had nothing to learn from) falls back to the reader's score alone.

Example:
    >>> judge(None, None, "Who flew the command module?", np.array([0.9, 0.2]), np.array([0.7, 0.1]),
    ...       ["Collins flew the command module.", "It landed."]).confidence
    0.9
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.lexical import tokenize

RANK_FEATURES = ("reader", "dense")
FEATURES = ("best", "second", "coverage_best", "coverage_all", "dense_best", "span")
SPAN_LIMIT = 10.0
"""The span margin is clipped to ±this: beyond it the sign is all that matters."""
_ASKING = {"who", "whom", "whose", "what", "when", "where", "which", "how", "whi", "did", "doe", "do", "is", "are", "was", "were"}
"""Stemmed question and auxiliary words that bm25s's stop words keep: they say how, not what, is asked."""


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


@dataclass(frozen=True)
class _Linear:
    """``coef · x + intercept`` over the named features ``names``, stored in the model card under :attr:`key`."""

    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    key = ""
    known = ()

    def to_card(self) -> dict:
        return {"features": list(self.names), "coef": [round(w, 6) for w in self.coef], "intercept": round(self.intercept, 6)}

    @classmethod
    def accepts(cls, names) -> bool:
        return bool(names) and set(names) <= set(cls.known)

    @classmethod
    def from_card(cls, card: dict):
        """The model stored in a card; None when the card has none (or one over features this version lacks)."""
        d = card.get(cls.key)
        if not isinstance(d, dict) or not cls.accepts(d.get("features")) or len(d.get("coef", ())) != len(d["features"]):
            return None
        return cls(tuple(d["features"]), tuple(float(w) for w in d["coef"]), float(d["intercept"]))

    @classmethod
    def fit(cls, names, x: np.ndarray, labels):
        """Fit on rows ``x`` (columns in ``names`` order) with scikit-learn; None when the labels are all alike."""
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels, dtype=int)
        if len(set(y.tolist())) < 2:
            return None
        model = LogisticRegression(C=1.0, max_iter=1000).fit(np.asarray(x, dtype=np.float64), y)
        return cls(tuple(names), tuple(float(w) for w in model.coef_[0]), float(model.intercept_[0]))


class Ranking(_Linear):
    """A sentence's score: ``coef · (reader logit, cosine) + intercept`` (a logit: higher is likelier an answer)."""

    key, known = "ranking", RANK_FEATURES

    @classmethod
    def accepts(cls, names) -> bool:
        return list(names or ()) == list(RANK_FEATURES)

    def scores(self, probs: np.ndarray, dense: np.ndarray) -> np.ndarray:
        return self.coef[0] * logit(probs) + self.coef[1] * np.asarray(dense, dtype=np.float64) + self.intercept


class Decision(_Linear):
    """``confidence = sigmoid(coef · evidence + intercept)`` over its features (some of :data:`FEATURES`)."""

    key, known = "decision", FEATURES

    def confidence(self, ev: dict[str, float]) -> float:
        return float(sigmoid(sum(w * ev[name] for w, name in zip(self.coef, self.names)) + self.intercept))


def evidence(question: str, scores: np.ndarray, dense: np.ndarray, texts: list[str], span: float | None = None) -> dict[str, float]:
    """The features of :data:`FEATURES` for ranking ``scores`` and cosines ``dense`` of the candidate ``texts``
    (non-empty); ``span`` is the best candidate's span margin (left out when None)."""
    order = np.argsort(-scores, kind="stable")
    q_words, *cand_words = (set(t) for t in tokenize([question, *texts]))
    q_words -= _ASKING
    best_words = cand_words[int(order[0])]
    anywhere = set().union(*cand_words)
    share = (lambda found: len(q_words & found) / len(q_words)) if q_words else (lambda found: 1.0)
    ev = {"best": float(scores[order[0]]), "second": float(scores[order[1]]) if len(order) > 1 else float(logit(0.0)),
          "coverage_best": share(best_words), "coverage_all": share(anywhere), "dense_best": float(dense[order[0]])}
    if span is not None:
        ev["span"] = float(np.clip(span, -SPAN_LIMIT, SPAN_LIMIT))
    return ev


@dataclass(frozen=True)
class Judgement:
    """Ranking ``scores`` of the candidates (higher is better) and the confidence that the best one answers."""

    scores: np.ndarray
    confidence: float


def judge(ranking: Ranking | None, decision: Decision | None, question: str, probs: np.ndarray, dense: np.ndarray,
          texts: list[str], span: Callable[[int], float] | None = None) -> Judgement:
    """Rank the candidates ``texts`` (reader probabilities ``probs``, cosines ``dense``) and decide; ``span(i)``
    gives candidate ``i``'s span margin, asked for the best one when the decision uses it. Without a ranking the
    reader's logit ranks, without a decision the best probability is the confidence."""
    scores = ranking.scores(probs, dense) if ranking else logit(probs)
    if decision is None:
        return Judgement(scores, float(sigmoid(scores.max())) if ranking else float(np.max(probs)))
    if "span" in decision.names and span is None:
        raise ValueError("this decision needs the span margin of the best candidate")
    margin = span(int(np.argmax(scores))) if "span" in decision.names else None
    return Judgement(scores, decision.confidence(evidence(question, scores, dense, texts, margin)))


def fit(cases: list[dict], features: tuple[str, ...] = FEATURES) -> tuple[Ranking | None, Decision | None]:
    """Fit the ranking, then the decision over ``features``, on validation ``cases``: dicts with ``question``,
    ``texts``, ``probs``, ``dense``, ``labels`` (each candidate holds an answer), ``answerable`` and, when the
    decision uses the span margin, ``span`` (a function of the candidate's number)."""
    answerable = [c for c in cases if c["answerable"]]
    ranking = None
    if answerable:
        x = np.concatenate([np.stack([logit(c["probs"]), np.asarray(c["dense"], dtype=np.float64)], 1) for c in answerable])
        ranking = Ranking.fit(RANK_FEATURES, x, np.concatenate([c["labels"] for c in answerable]))
    rows, right = [], []
    for c in cases:
        scores = ranking.scores(c["probs"], c["dense"]) if ranking else logit(c["probs"])
        best = int(np.argmax(scores))
        ev = evidence(c["question"], scores, np.asarray(c["dense"]), c["texts"], c["span"](best) if "span" in features else None)
        rows.append([ev[name] for name in features])
        right.append(c["answerable"] and bool(c["labels"][best]))
    return ranking, Decision.fit(features, np.array(rows), right) if rows else None
