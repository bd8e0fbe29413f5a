"""Sentence-aware chunking that keeps exact character offsets into the source text.

Paragraphs are blocks separated by blank lines; a text with no blank line between its lines (blank lines at
its start or end do not count) has one paragraph per line.
Sentences come from pysbd; a chunk packs whole consecutive sentences of one paragraph, up to
``max_sentences`` and ``max_chars``; with ``keep_references``, a sentence that opens by pointing back ("This",
"They", "Such", ...) stays with the sentence before it, past ``max_sentences`` (a single longer sentence stays whole; only a run of text longer than
``hard_max_chars`` with no sentence boundary is split at spaces). For every chunk,
``text[chunk.start:chunk.end] == chunk.text``.

Example:
    >>> chunker = Chunker(max_sentences=1)
    >>> [c.text for c in chunker.split("a.txt", "One. Two.\\n\\nThree")]
    ['One.', 'Two.', 'Three']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

from rag.records import Chunk

VERSION = 3
"""Bumped whenever the same settings would split a text differently (a changed version rebuilds the index)."""

_LEANS_BACK = re.compile(r"(This|These|That|Those|They|Their|It|Its|Such|Both|He|She|His|Her)\b")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


def paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of each non-blank paragraph, trimmed of surrounding whitespace."""
    breaker = _BLANK_LINES if _BLANK_LINES.search(text.strip()) else re.compile(r"\n")
    pos = 0
    for m in [*breaker.finditer(text), None]:
        stop = m.start() if m else len(text)
        yield from _trim(text, pos, stop)
        pos = m.end() if m else stop


def _trim(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


@dataclass(frozen=True)
class Chunker:
    """Split a document into chunks of whole sentences; see the module docstring."""

    max_sentences: int = 2
    max_chars: int = 600
    overlap_sentences: int = 0
    hard_max_chars: int = 2000
    keep_references: bool = True

    @cached_property
    def _segmenter(self):
        import pysbd

        return pysbd.Segmenter(language="en", clean=False)

    def sentences(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Spans of the sentences of ``text[start:end]``, in order, trimmed of whitespace."""
        spans: list[tuple[int, int]] = []
        cursor = start
        for piece in self._segmenter.segment(text[start:end]):
            piece = piece.strip()
            if not piece:
                continue
            found = text.find(piece, cursor, end)
            if found < 0:  # the segmenter changed the text: keep the rest as one sentence
                break
            spans.extend(self._split_long(text, found, found + len(piece)))
            cursor = found + len(piece)
        spans.extend(s for s in self._split_long(text, *next(_trim(text, cursor, end), (end, end))) if s[0] < s[1])
        return spans

    def _split_long(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        while end - start > self.hard_max_chars:
            cut = text.rfind(" ", start + 1, start + self.hard_max_chars)
            cut = cut if cut > start else start + self.hard_max_chars
            yield from _trim(text, start, cut)
            start = cut
        yield from _trim(text, start, end)

    def split(self, source: str, text: str, first_id: int = 0) -> list[Chunk]:
        """Chunk one document; chunk ids count up from ``first_id``."""
        chunks: list[Chunk] = []
        step = max(1, self.max_sentences - self.overlap_sentences)
        for p_start, p_end in paragraphs(text):
            sents = self.sentences(text, p_start, p_end)
            i = 0
            while i < len(sents):
                j = i + 1
                while j < len(sents) and sents[j][1] - sents[i][0] <= self.max_chars and (
                    j - i < self.max_sentences or (self.keep_references and _LEANS_BACK.match(text, sents[j][0]))
                ):
                    j += 1
                s, e = sents[i][0], sents[j - 1][1]
                chunks.append(Chunk(first_id + len(chunks), source, s, e, text[s:e], p_start, p_end))
                if j == len(sents):
                    break
                i = min(i + step, j) if j - i > step else j
        return chunks
