"""Paragraph-level search: each paragraph embedded and BM25-indexed as a whole, to rank chunks by their context.

A chunk is a sentence or two; the paragraph around it says what the sentence is about ("the talks", "the
corridor"), which questions often name instead of the sentence's own words. Retrieval adds each chunk's
paragraph ranks to the fusion (see :mod:`rag.retrieval`). A paragraph's text is its chunks' text joined,
so it is built from the chunks alone. Its effect on retrieval is measured in docs/evaluation.md.

The index builder stores the paragraphs as the ``paragraphs`` table of the vector store (:mod:`rag.stores`).

Example:
    >>> paragraphs = Paragraphs(store, paragraph_of(chunks))   # doctest: +SKIP
    >>> paragraphs.search(query_vector, "the talks", 5)         # doctest: +SKIP
    ([3, 0, 7, 1, 2], [0, 3, 5, 1, 4])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rag.records import Chunk
from rag.stores import VectorStore


def paragraph_of(chunks: Sequence[Chunk]) -> list[int]:
    """The paragraph number of every chunk (paragraphs numbered in order of first appearance)."""
    numbers: dict[tuple[str, int, int], int] = {}
    return [numbers.setdefault((c.source, c.para_start, c.para_end), len(numbers)) for c in chunks]


def paragraph_texts(chunks: Sequence[Chunk], of: Sequence[int] | None = None) -> list[str]:
    """Each paragraph's text: its heading (if any), then its chunks joined by a space, text shared by overlapping
    chunks kept once (``of``: :func:`paragraph_of` of ``chunks``, if already known)."""
    parts: dict[int, list[str]] = {}
    covered: dict[int, int] = {}
    for c, p in zip(chunks, paragraph_of(chunks) if of is None else of):
        if p not in parts and c.heading:
            parts[p] = [c.heading]
        done = covered.get(p, c.start)
        if c.end > done:
            parts.setdefault(p, []).append(c.text[max(done - c.start, 0):].strip())
            covered[p] = c.end
    return [" ".join(filter(None, parts.get(p, []))) for p in range(len(parts))]


class Paragraphs:
    """Dense and BM25 search over paragraphs (the ``paragraphs`` table); ``of[chunk_id]`` is a chunk's paragraph number."""

    def __init__(self, store: VectorStore, of: list[int]):
        self.store, self.of = store, of

    def __len__(self) -> int:
        return len(self.store)

    def search(self, query_vector: np.ndarray, query: str, n: int) -> tuple[list[int], list[int]]:
        """Paragraph numbers best first: by dense similarity, and by BM25."""
        _, ids = self.store.search(query_vector.reshape(1, -1), n)
        _, lexical = self.store.text_search(query, n)
        return [int(i) for i in ids[0] if i >= 0], [int(i) for i in lexical]
