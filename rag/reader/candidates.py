"""The sentences of retrieved passages that the reader scores, each with the sentence before it.

A passage is one chunk (one sentence, or a few when a sentence points back). Each of its sentences is a
candidate with exact source offsets; its context is the sentence before it in the same paragraph (from the
chunk before, when it opens its chunk). Headings (a whole short paragraph without sentence punctuation) are
context, never candidates.

Example:
    >>> [c.text for c in candidates(passages)]     # doctest: +SKIP
    ['On January 4, 2026, ...', 'The two sides ...']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rag.chunking import Chunker
from rag.records import Passage


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence of a passage: ``text == file_text[start:end]``; ``before`` is the sentence preceding it."""

    passage: Passage
    start: int
    end: int
    text: str
    before: str


@lru_cache(maxsize=1)
def _splitter() -> Chunker:
    return Chunker()


@lru_cache(maxsize=16384)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Sentence spans of a passage's text (cached: passages repeat across questions)."""
    return tuple(_splitter().sentences(text, 0, len(text)))


def is_heading(p: Passage, start: int, end: int) -> bool:
    """A whole paragraph of at most 15 words without sentence punctuation (a title or heading)."""
    text = p.text[start:end]
    whole = p.start + start == p.para_start and p.start + end == p.para_end
    return whole and len(text.split()) <= 15 and not re.search(r"[.!?…][\"”’)]*$", text)


def candidates(passages: list[Passage], before: Callable[[Passage], Passage | None] | None = None) -> list[Candidate]:
    """Every sentence of ``passages`` in passage order (see the module docstring)."""
    out = []
    for p in passages:
        previous = ""
        if before is not None:
            chunk = before(p)
            spans = sentence_spans(chunk.text) if chunk else ()
            previous = chunk.text[spans[-1][0]:spans[-1][1]] if spans else ""
        for s, e in sentence_spans(p.text):
            if is_heading(p, s, e):
                continue
            out.append(Candidate(p, p.start + s, p.start + e, p.text[s:e], previous))
            previous = p.text[s:e]
    return out
