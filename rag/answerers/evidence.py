"""The evidence answerer: the smallest set of fused-ranked passages that covers the question, or an honest "no".

The passages come ordered by the learned fusion (:mod:`rag.fusion`; ``score`` is its probability that a
passage answers); a heading (a whole short paragraph without sentence punctuation) is never part of an answer. The fusion's decision gives the confidence that the best one answers, and its thresholds
the outcome: ``answer``; ``related`` ("no direct answer found", the closest passages as related reading);
``none`` (nothing relevant: only when no passage reaches the index's relevance line, :mod:`rag.relevance`). An answer is
the best passage, then each next one (in fused order, among the
best few) that either scores almost as high (``close`` of the best) or brings question words the chosen
ones lack while scoring at least ``support`` of the best, within ``answer_words`` words: one passage when
one suffices, more for lists and questions of several parts. Every passage is cited as an exact span; the
shipped reader's span model marks the short answer inside the first one when it is confident.

Example:
    >>> reply = make(retriever, Settings()).answer(Query("Which port will the corridor develop?"), passages)  # doctest: +SKIP
    >>> reply.kind, reply.citations[0].quote[:30]                                                          # doctest: +SKIP
    ('answer', 'During this dialogue, the two ')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from rag.answerers.base import Query, Reply, abstention
from rag.reader.candidates import is_heading
from rag.reader.evidence import _ASKING
from rag.fusion.model import Fusion, decision_evidence
from rag.lexical import tokenize
from rag.reader import Reader
from rag.records import Citation, Passage, ShortAnswer


@dataclass
class EvidenceAnswerer:
    fusion: Fusion
    threshold: float | None = None
    """Answer at this confidence instead of the card's calibrated ``answer`` threshold."""
    load_reader: Callable[[], Reader | None] = lambda: None
    crosslingual: Callable[[str], bool] = lambda question: False
    """Whether a question is in another language than the documents (then the fusion's cross-lingual part decides)."""
    relevance: float | None = None
    """The index's "nothing relevant" line (:mod:`rag.relevance`): a question whose best passage's e5 cosine
    reaches it gets the closest passages (``related``), never ``none`` (None: the decision's thresholds alone)."""
    answer_words: int = 80
    span_threshold: float = 0.3
    close: float = 0.9
    support: float = 0.5
    depth: int = 4
    """How many of the best passages an answer may draw on."""

    @cached_property
    def reader(self) -> Reader | None:
        return self.load_reader()

    def answer(self, query: Query, passages: list[Passage]) -> Reply:
        passages = [p for p in passages if not is_heading(p, 0, len(p.text))]  # a title states nothing
        if not passages:
            return abstention(0.0, "none")
        cross = self.crosslingual(query.text)
        confidence = self.fusion.confidence(decision_evidence(query.asked, passages), cross)
        outcome = self.fusion.outcome(confidence, self.threshold, cross)
        if outcome != "answer":
            return abstention(confidence, self.relevant(passages, outcome))
        chosen = self.evidence_set(query.text, passages)
        citations = [Citation(n, p.source, p.start, p.end, p.text) for n, p in enumerate(chosen, 1)]
        short = None if cross else self._short(query.asked, citations[0])  # the span model reads English
        body = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        text = f"{short.quote} — {body}" if short and short.quote != citations[0].quote else body
        return Reply(text, citations, False, short, confidence, outcome="answer")

    def relevant(self, passages: list[Passage], outcome: str) -> str:
        """``related`` when something in the documents is relevant (the best e5 cosine reaches the index's line),
        else ``none``; the decision's ``outcome`` where the index has no line or the passages no cosines."""
        cosines = [p.dense_score for p in passages if p.dense_score is not None]
        if self.relevance is None or not cosines:
            return outcome
        return "related" if max(cosines) >= self.relevance else "none"

    def evidence_set(self, question: str, passages: list[Passage]) -> list[Passage]:
        """The best passage, then those that are nearly as good or cover more of the question (see the module)."""
        wanted = set(tokenize([question])[0]) - _ASKING
        best = passages[0]
        chosen, covered, words = [best], set(tokenize([best.text])[0]), len(best.text.split())
        for p in passages[1 : self.depth]:
            size = len(p.text.split())
            if words + size > self.answer_words:
                continue
            terms = set(tokenize([p.text])[0])
            adds = bool((wanted & terms) - covered)
            if p.score >= self.close * best.score or (adds and p.score >= self.support * best.score):
                chosen.append(p)
                covered |= terms
                words += size
        return chosen

    def _short(self, question: str, first: Citation) -> ShortAnswer | None:
        reader = self.reader
        found = reader.span(question, first.quote) if reader is not None else None
        if found is None or found.margin <= 0 or found.confidence < self.span_threshold:
            return None
        return ShortAnswer(1, first.source, first.start + found.start, first.start + found.end,
                           first.quote[found.start:found.end], found.confidence)


def make(retriever, settings, llm=None) -> EvidenceAnswerer:
    """The registry's factory: the retriever's fusion (a clear error when it has none)."""
    from rag.errors import RagError
    from rag.fusion import load_fusion
    from rag.reader import load_reader
    from rag.relevance import line as relevance_line

    if retriever.fusion is None:
        load_fusion(retriever.index.manifest["embedding_model"], settings.fusion_model)  # raises why there is none
        raise RagError("the evidence answerer ranks with the learned fusion: set fusion=true (RAG_FUSION=true)")
    return EvidenceAnswerer(retriever.fusion, settings.fusion_threshold, lambda: load_reader(settings.reader_model),
                            retriever.crosslingual, relevance=relevance_line(retriever.index.manifest), answer_words=settings.answer_words,
                            span_threshold=settings.span_threshold)
