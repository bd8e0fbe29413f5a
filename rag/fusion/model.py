"""The fusion model: one ranking of retrieved passages from several signals, and a calibrated three-way outcome.

Signals of each candidate passage (:data:`SIGNALS`, computed by :meth:`rag.retrieval.Retriever.pool`):
``e5`` the cosine of question (query role) and passage under the index's model; ``cosine`` the cosine under
MiniLM; ``bm25`` the BM25 score over the pool's best; ``rrf`` the reciprocal rank fusion score (chunk and
paragraph rankings) and ``para`` its paragraph part alone; ``typed`` whether the passage holds what the
question asks for (a date for "when", a place for "where": :mod:`rag.answer_types`). Each is also z-scored within the question's pool (``*_z``), so that a question whose
passages all look alike is ranked by what sets one apart. A logistic :class:`Ranking` over the card's
features orders the pool (target: the passage holds an answer).

A logistic :class:`~rag.reader.evidence.Decision` over the evidence for the best passage (its fused logit and the
runner-up's, how much of the question's content words it and the whole pool cover, its e5 cosine) gives the
confidence that it answers. Two thresholds calibrated on held-out training articles split the outcomes:
``answer`` (confidence ≥ ``answer``), ``related`` (the closest passages, clearly marked "no direct answer
found"), and ``none`` (nothing relevant). ``rag train-fusion`` fits both for one embedding model and writes
its card (``rag/fusion/cards/<model>.json``); nothing of ``eval/`` is ever used to fit them.

Example:
    >>> fusion = load_fusion("e5-small")                          # doctest: +SKIP
    >>> fusion.outcome(0.9), fusion.outcome(0.01)                 # doctest: +SKIP
    ('answer', 'none')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rag.errors import RagError
from rag.reader.evidence import Decision, _Linear, sigmoid

SIGNALS = ("e5", "cosine", "bm25", "rrf", "para", "typed")
FEATURES = (*SIGNALS, *(f"{s}_z" for s in SIGNALS))
DECISION_FEATURES = ("best", "second", "coverage_best", "coverage_all", "dense_best")
CROSS_FEATURES = ("e5_z",)
CROSS_DECISION_FEATURES = ("best", "second")
"""A question in another language than the documents is ranked and decided on the multilingual model alone, and
only on how far a passage stands out from the question's other candidates: word overlap and the English MiniLM
say nothing across languages, and cosines across languages run lower than within one (the card's
``crosslingual`` part)."""
MODEL_DIR = Path(__file__).parent / "cards"
Outcome = Literal["answer", "related", "none"]


def features(signals: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every feature of :data:`FEATURES` from the pool's raw ``signals`` (arrays of one length)."""
    out = {}
    for name in SIGNALS:
        x = np.asarray(signals[name], dtype=np.float64)
        out[name] = x
        sd = float(x.std()) if len(x) > 1 else 0.0
        out[f"{name}_z"] = (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)
    return out


class Ranking(_Linear):
    """A passage's fused score: ``coef · features + intercept`` (a logit: higher is likelier an answer)."""

    key, known = "ranking", FEATURES

    def scores(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        return sum(w * feats[name] for w, name in zip(self.coef, self.names)) + self.intercept


@dataclass(frozen=True)
class Fusion:
    """A fitted ranking and decision with their thresholds, for indexes built with ``embedding_model``; the
    ``cross_*`` pair serves questions in another language than the documents (None: the main pair does), at its
    own answer threshold when the card gives one."""

    ranking: Ranking
    decision: Decision | None
    answer: float
    related: float
    embedding_model: str
    card: dict
    cross_ranking: Ranking | None = None
    cross_decision: Decision | None = None
    cross_answer: float | None = None

    def scores(self, signals: dict[str, np.ndarray], crosslingual: bool = False) -> np.ndarray:
        ranking = self.cross_ranking if crosslingual and self.cross_ranking else self.ranking
        return ranking.scores(features(signals))

    def confidence(self, ev: dict[str, float], crosslingual: bool = False) -> float:
        """The probability that the best passage answers (its fused probability when there is no decision)."""
        decision = self.cross_decision if crosslingual and self.cross_ranking else self.decision
        return decision.confidence(ev) if decision else float(sigmoid(ev["best"]))

    def outcome(self, confidence: float, answer: float | None = None, crosslingual: bool = False) -> Outcome:
        """The outcome at this confidence (``answer``: another answer threshold than the card's)."""
        if answer is None:
            answer = self.cross_answer if crosslingual and self.cross_answer is not None else self.answer
        if confidence >= answer:
            return "answer"
        return "related" if confidence >= min(self.related, answer) else "none"

    def to_card(self) -> dict:
        return {**self.card, "embedding_model": self.embedding_model, "ranking": self.ranking.to_card(),
                **({"decision": self.decision.to_card()} if self.decision else {}),
                **({"crosslingual": {**self.card.get("crosslingual", {}), "ranking": self.cross_ranking.to_card(),
                                     **({"decision": self.cross_decision.to_card()} if self.cross_decision else {}),
                                     **({"thresholds": {"answer": self.cross_answer}} if self.cross_answer is not None else {})}}
                   if self.cross_ranking else {}),
                "thresholds": {"answer": self.answer, "related": self.related}}


def card_path(embedding_model: str, folder: str | Path | None = None) -> Path:
    return Path(folder or MODEL_DIR) / f"{Path(embedding_model).name}.json"


def load_fusion(embedding_model: str, folder: str | Path | None = None) -> Fusion:
    """The fusion fitted for ``embedding_model`` in ``folder`` (default: the shipped ones); a clear error if there
    is none or it is unusable."""
    path = card_path(embedding_model, folder)
    fix = f"run `rag train-fusion` with this embedding model, or use an index built with one that has a card in {MODEL_DIR}"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(f"no fusion model for the embedding model {embedding_model!r} ({path}): {fix}") from None
    except (OSError, ValueError) as exc:
        raise RagError(f"fusion model unreadable: {path} ({exc}): {fix}") from None
    ranking = Ranking.from_card(card) if isinstance(card, dict) else None
    if ranking is None:
        raise RagError(f"fusion model {path} has no usable ranking: {fix}")
    thresholds = card.get("thresholds") or {}
    try:
        answer, related = float(thresholds.get("answer", 0.5)), float(thresholds.get("related", 0.0))
    except (TypeError, ValueError):
        raise RagError(f"fusion model {path} has unusable thresholds: {fix}") from None
    cross = card.get("crosslingual") if isinstance(card.get("crosslingual"), dict) else {}
    try:
        cross_answer = (cross.get("thresholds") or {}).get("answer")
        cross_answer = None if cross_answer is None else float(cross_answer)
    except (AttributeError, TypeError, ValueError):
        raise RagError(f"fusion model {path} has unusable cross-lingual thresholds: {fix}") from None
    return Fusion(ranking, Decision.from_card(card), answer, related, str(card.get("embedding_model", embedding_model)), card,
                  Ranking.from_card(cross), Decision.from_card(cross), cross_answer)


def decision_evidence(question: str, passages: list) -> dict[str, float]:
    """The decision's evidence for fused passages (best first; ``score`` the fused probability, ``dense_score``
    the e5 cosine): see :func:`rag.reader.evidence.evidence`."""
    from rag.reader.evidence import evidence, logit

    scores = logit([p.score for p in passages])
    dense = np.array([p.dense_score if p.dense_score is not None else 0.0 for p in passages])
    return evidence(question, scores, dense, [p.text for p in passages])
