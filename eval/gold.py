"""Gold Q&A files (``eval/gold.jsonl`` schema) with each evidence string located in the corpus.

Example:
    >>> items = load_gold("eval/gold.jsonl", "seeds")   # doctest: +SKIP
    >>> items[0].spans[0]                                # doctest: +SKIP
    Span(source='china-pakistan-strategic-dialogue-2026.txt', start=48, end=240)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ValidationError

from rag import RagError, load_corpus

QuestionType = Literal["factoid", "paraphrase", "multi_hop", "list", "numeric_date", "unanswerable", "follow_up"]


class Span(NamedTuple):
    source: str
    start: int
    end: int

    def overlaps(self, source: str, start: int, end: int) -> bool:
        return self.source == source and self.start < end and start < self.end


class Turn(BaseModel):
    question: str
    answer: str


class GoldItem(BaseModel):
    """One gold question; ``spans`` are filled in by :func:`load_gold`."""

    id: str
    question: str
    answer: str | None
    evidence: list[str]
    type: QuestionType
    keywords: list[str]
    history: list[Turn] = []
    spans: list[Span] = []

    @property
    def answerable(self) -> bool:
        return self.answer is not None

    @property
    def turns(self) -> list[tuple[str, str]]:
        return [(t.question, t.answer) for t in self.history]


def corpus_texts(corpus_dir: str | Path) -> dict[str, str]:
    """The text of every document of the corpus by its id: the files :func:`rag.load_corpus` reads (as the
    index does), decoded as the index decodes them."""
    docs, _ = load_corpus(corpus_dir)
    return {doc.id: doc.text for doc in docs}


def load_gold(path: str | Path, corpus_dir: str | Path) -> list[GoldItem]:
    """Read and validate a gold file; every evidence string must occur in the corpus."""
    path = Path(path)
    if not path.is_file():
        raise RagError(f"gold file not found: {path}")
    texts = corpus_texts(corpus_dir)
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = GoldItem.model_validate_json(line)
        except ValidationError as exc:
            raise RagError(f"{path}:{n}: not a gold item ({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})") from None
        for ev in item.evidence:
            span = next((Span(src, i, i + len(ev)) for src, text in texts.items() if (i := text.find(ev)) >= 0), None)
            if span is None:
                raise RagError(f"{path}:{n}: evidence of item {item.id} not found in {corpus_dir}: {json.dumps(ev[:80], ensure_ascii=False)}")
            item.spans.append(span)
        items.append(item)
    if not items:
        raise RagError(f"gold file {path} has no items")
    return items
