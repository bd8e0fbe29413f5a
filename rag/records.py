"""Typed records passed between the stages: chunks, passages, citations and answers."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas


@dataclass(frozen=True, slots=True)
class Chunk:
    """A span of a source file: ``text == file_text[start:end]``; the paragraph it sits in is ``[para_start, para_end)``;
    ``heading`` is the Markdown heading it sits under (context, not part of the span)."""

    id: int
    source: str
    start: int
    end: int
    text: str
    para_start: int
    para_end: int
    heading: str = ""

    @property
    def indexed_text(self) -> str:
        """What is embedded and searched: the heading, then the text."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with its score and each retriever's 1-based rank (``None``: not in its candidates)."""

    id: int
    source: str
    start: int
    end: int
    text: str
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    para_start: int = 0
    para_end: int = 0
    fused_score: float | None = None
    dense_score: float | None = None
    """The cosine of question and passage under the index's model, when the learned fusion ranked it."""
    """The retrieval (fusion) score when ``score`` is the reader's; None when the passages were not reranked."""
    heading: str = ""
    """The heading of the section it sits under (set by the chain; empty: none)."""
    page: int | None = None
    """The 1-based PDF page it starts on (set by the chain; None: a file without pages)."""

    def quote(self, start: int, end: int) -> str:
        """The text at source offsets ``start:end``, which must lie within the passage."""
        return self.text[start - self.start : end - self.start]

    @property
    def place(self) -> str:
        """Where it is, in words: :func:`place`."""
        return place(self.source, self.page, self.heading)

    def to_dict(self) -> dict:
        """The JSON shape used by the CLI: source, start, end, score, text; ``heading`` and ``page`` when known."""
        d = {"source": self.source, "start": self.start, "end": self.end, "score": round(self.score, 6), "text": self.text}
        return d | ({"heading": self.heading} if self.heading else {}) | ({"page": self.page} if self.page is not None else {})


class PassageList(list[Passage]):
    """A list of passages that renders as a table in Jupyter and converts to pandas."""

    def to_pandas(self) -> pandas.DataFrame:
        """One row per passage, every field a column."""
        import pandas as pd

        return pd.DataFrame([asdict(p) for p in self])

    def _repr_html_(self) -> str:
        head = "<tr><th>#</th><th>score</th><th>source</th><th>span</th><th>text</th></tr>"
        rows = "".join(
            f"<tr><td>{i}</td><td>{p.score:.4f}</td><td>{html.escape(p.source)}</td>"
            f"<td>{p.start}–{p.end}</td><td style='text-align:left'>{html.escape(p.text)}</td></tr>"
            for i, p in enumerate(self, 1)
        )
        return f"<table>{head}{rows}</table>"


@dataclass(frozen=True, slots=True)
class Citation:
    """Marker ``[n]`` in an answer points at ``quote == file_text[start:end]`` of ``source`` (for a PDF, HTML or
    Word file, its text as extracted and stored in the index); ``page`` is the 1-based PDF page it starts on,
    ``heading`` the heading of the section it sits under."""

    n: int
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None
    heading: str = ""

    @property
    def place(self) -> str:
        """Where it is, in words: :func:`place`."""
        return place(self.source, self.page, self.heading)

    def to_dict(self) -> dict:
        """The JSON shape: n, source, start, end, quote; ``page`` for a file with pages, ``heading`` when it has one."""
        d = asdict(self)
        if self.page is None:
            del d["page"]
        if not self.heading:
            del d["heading"]
        return d


def place(source: str, page: int | None = None, heading: str = "") -> str:
    """Where a span is, in words a reader knows: the file (its path in the corpus), its page (PDF) and the heading
    it sits under; character offsets are for those who ask for them.

    Example:
        >>> place("manual.pdf", 2, "Cleaning and care")
        'manual.pdf, page 2 · Cleaning and care'
    """
    where = source + (f", page {page}" if page is not None else "")
    return f"{where} · {heading}" if heading else where


CONFIDENT = 0.6
"""At or above this confidence an answer is a confident one (twice the learned fusion's answer threshold, 0.26 to
0.30: :mod:`rag.fusion`); under :data:`UNSURE` a tentative one."""
UNSURE = 0.4


def assessment(outcome: str, confidence: float | None) -> str:
    """The outcome and confidence of an answer in words a non-expert understands (the chat, ``rag ask``, the API).

    Example:
        >>> assessment("answer", 0.83), assessment("related", 0.2)
        ('Direct answer found — high confidence', 'No direct answer — related passages to read')
    """
    if outcome == "related":
        return "No direct answer — related passages to read"
    if outcome == "none":
        return "Not found in the documents"
    if confidence is None:
        return "Direct answer found"
    if confidence >= CONFIDENT:
        return "Direct answer found — high confidence"
    if confidence >= UNSURE:
        return "Direct answer found — medium confidence"
    return "Possible answer — low confidence: check the quoted passage"


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """The short answer inside a cited sentence: ``quote == file_text[start:end]``, with the reader's confidence."""

    citation: int
    source: str
    start: int
    end: int
    quote: str
    confidence: float

    def to_dict(self) -> dict:
        return {**asdict(self), "confidence": round(self.confidence, 4)}


@dataclass(slots=True)
class Answer:
    """What the chain returns: the text with ``[n]`` markers, its citations, and what was searched."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    abstained: bool = False
    rewritten_query: str = ""
    latency_ms: float = 0.0
    short: ShortAnswer | None = None
    """The short answer inside the first citation ("Michael Collins"), when the reader is confident of one."""
    confidence: float | None = None
    """The answerer's confidence that the documents answer the question (the reader's)."""
    notice: str | None = None
    """How the answer was made when that is not as asked, e.g. the offline answer because the LLM did not answer."""
    outcome: str = "answer"
    """``answer``; ``related`` (no direct answer: the passages are the closest reading); ``none`` (nothing relevant)."""

    @property
    def assessment(self) -> str:
        """The outcome and confidence in words (:func:`assessment`)."""
        return assessment(self.outcome, self.confidence)

    def related(self, n: int = 3) -> list[Passage]:
        """The closest passages offered as related reading when there is no direct answer (none for ``none``):
        the first ``n`` that are not headings (a heading labels passages, it is never reading of its own)."""
        if not self.abstained or self.outcome == "none":
            return []
        from rag.reader.candidates import is_heading

        return [p for p in self.passages if not is_heading(p, 0, len(p.text))][:n]

    def to_dict(self) -> dict:
        """The ``rag ask --json`` object."""
        return {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "answer": self.text,
            "abstained": self.abstained,
            "outcome": self.outcome,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "related": [p.to_dict() for p in self.related()],
            "latency_ms": round(self.latency_ms, 2),
            "short_answer": self.short.to_dict() if self.short else None,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "notice": self.notice,
            "assessment": self.assessment,
        }
