"""What every answerer takes and gives: a typed :class:`Query`, passages, and a :class:`Reply`.

An answerer is any object with ``answer(query, passages) -> Reply``; it may also have
``stream(query, passages)`` (text pieces, then the :class:`Reply`) and ``condense(question, history) -> str``
(its own way of making a follow-up standalone). Register a new one in :mod:`rag.answerers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rag.records import Citation, Passage, ShortAnswer

ABSTAIN_TEXT = "The documents do not contain an answer to this question."
RELATED_TEXT = "No direct answer found in the documents. The closest passages are listed as related reading."
REQUEST_TEXTS = {
    "summary": "I can only quote the documents, not write a summary of them. The passages that best match your "
               "request are listed as related reading.",
    "opinion": "I can only quote what the documents say, not give an opinion. The passages that best match your "
               "question are listed as related reading.",
}
"""What an answerer that only quotes says to a request for a summary or an opinion (:func:`rag.answer_types.request_kind`)."""
OUTCOMES = ("answer", "related", "none")
"""A confident answer; no direct answer, with the closest passages marked as such; nothing relevant."""


@dataclass(frozen=True, slots=True)
class Query:
    """What was asked, and the earlier turn it was completed with when it is a follow-up."""

    asked: str
    context: str = ""
    maybe: bool = False
    """The question may stand alone too (the chain then keeps the reading with the stronger evidence)."""

    def alone(self) -> Query:
        return Query(self.asked)

    @property
    def text(self) -> str:
        """The standalone query that is searched and read: the question, then its context."""
        return f"{self.asked} {self.context}" if self.context else self.asked


@dataclass(slots=True)
class Reply:
    """An answerer's result: text with ``[n]`` markers and their citations, or an abstention."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    short: ShortAnswer | None = None
    confidence: float | None = None
    notice: str | None = None
    """Something the user should know about how the answer was made (e.g. the LLM did not answer)."""
    outcome: str | None = None
    """One of :data:`OUTCOMES`; None: ``related`` when abstained (the passages are shown), else ``answer``."""

    @property
    def kind(self) -> str:
        return self.outcome or ("related" if self.abstained else "answer")


def abstention(confidence: float | None = None, outcome: str | None = None) -> Reply:
    """No answer: ``related`` says so and points at the closest passages, ``none`` says nothing relevant was found."""
    return Reply(RELATED_TEXT if outcome == "related" else ABSTAIN_TEXT, [], True, None, confidence, outcome=outcome)


@runtime_checkable
class Answerer(Protocol):
    def answer(self, query: Query, passages: list[Passage]) -> Reply: ...


def stream_words(reply: Reply) -> Iterator[str | Reply]:
    """The default stream: the finished reply's text word by word, then the reply."""
    import re

    yield from re.findall(r"\S+\s*", reply.text)
    yield reply
