"""Sentence-aware chunking that keeps exact character offsets into the source text.

Paragraphs are blocks separated by blank lines; a text with no blank line between its lines (blank lines at
its start or end do not count) has one paragraph per line.
Sentences come from pysbd; a chunk packs whole consecutive sentences of one paragraph, up to
``max_sentences`` and ``max_chars``; with ``keep_references``, a sentence that opens by pointing back ("This",
"They", "Such", ...) stays with the sentence before it, past ``max_sentences`` (a single longer sentence stays whole; only a run of text longer than
``hard_max_chars`` with no sentence boundary is split at spaces). pysbd's time grows with the square of its
input's length, so a paragraph is fed to it in runs of at most ``sentence_run_chars``, cut after a sentence end
(else at a space), and a run without sentence punctuation is not fed to it at all. For every chunk,
``text[chunk.start:chunk.end] == chunk.text``.

A Markdown heading line (``# The Danube``) is never a chunk: it becomes the ``heading`` of the chunks under it
(until the next heading), and is indexed with them (:attr:`rag.records.Chunk.indexed_text`), so a passage
is found by what its section is about while its citation stays the passage's own text. The headings of HTML
and Word files arrive as such lines (:mod:`rag.extract`). A question alone on the first line of a paragraph
(``Can I bring my dog?``, ``Q: When do you open?``: one sentence, at most ``QUESTION_WORDS`` words) is the
question heading of an FAQ or an interview: it is a heading too, so the answer under it is what gets quoted.

A large document need not be one string: :meth:`Chunker.split_stream` takes its text as consecutive pieces
(e.g. 256 KiB blocks decoded incrementally, see :meth:`rag.corpus.Document.blocks`), cuts them at paragraph
breaks and chunks paragraph by paragraph, keeping a running offset, so it holds about one block at a time.
Which paragraph rule applies depends on the whole text; :class:`BlankLineProbe` decides it piece by piece.
The chunks equal ``split`` on the joined text, except in a paragraph longer than ``max_paragraph_chars``
(1,000,000 characters without a paragraph break), which is cut at a line break or space into several.

Example:
    >>> chunker = Chunker(max_sentences=1)
    >>> [c.text for c in chunker.split("a.txt", "One. Two.\\n\\nThree")]
    ['One.', 'Two.', 'Three']
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import chain

from rag.records import Chunk

VERSION = 6
"""Bumped whenever the same settings would split a text differently (a changed version rebuilds the index)."""

MAX_PARAGRAPH_CHARS = 1_000_000
""":meth:`Chunker.split_stream` cuts a paragraph longer than this (at a line break or space) to bound memory."""

POINTING_BACK = "This|These|That|Those|They|Their|It|Its|Such|Both"
"""Words that open a sentence leaning on the one before ("This shows ...", "They agreed ...")."""
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+([^\n]*?)[ \t#]*(?:\r?\n|$)")
QUESTION_WORDS = 25
"""A question line longer than this is not taken for a question heading."""
_QUESTION = re.compile(r"[ \t]*((?:[^\n.!?…]|[.!?…](?=\S))+\?[\"'”’)]*)[ \t]*(?:\r?\n|$)")
"""One line that is one question: no sentence end before its question mark ("e.g." and "3.5" are no end)."""
_LEANS_BACK = re.compile(rf"({POINTING_BACK}|He|She|His|Her)\b")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")
_LINE_BREAK = re.compile(r"\n")
_NON_SPACE = re.compile(r"\S")  # for str patterns, \s is exactly str.isspace()
_GAP = re.compile(r"[ \t\r\f\v]*(\n)?")
_SENTENCE_PUNCTUATION = re.compile(r"[.!?…。！？]")
_SENTENCE_END_BEFORE_NEXT = re.compile(r"[.!?…。！？][\"'”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
"""A sentence end followed by what looks like the next sentence's start: a safe place to cut a long run."""


def has_blank_lines(text: str) -> bool:
    """Whether ``text`` has a blank line between its first and last non-blank characters (then paragraphs are
    separated by blank lines; otherwise each line is a paragraph)."""
    return _BLANK_LINES.search(text.strip()) is not None


class BlankLineProbe:
    """:func:`has_blank_lines` of a text fed piece by piece, holding no more than the current piece.

    Example:
        >>> probe = BlankLineProbe()
        >>> for piece in ("One.\\n ", "\\nTwo", "."):
        ...     probe.feed(piece)
        >>> probe.result
        True
    """

    def __init__(self) -> None:
        self._started = False  # a non-space character has been seen
        self._armed = False  # a blank line has been seen after one
        self._gap = False  # the text so far ends with "\n" + [ \t\r\f\v]*, after a non-space character
        self.result = False  # a non-space character has been seen after that blank line

    def feed(self, piece: str) -> None:
        if self.result or not piece:
            return
        if self._armed:
            self.result = _NON_SPACE.search(piece) is not None
            return
        pos = 0
        if self._gap:
            gap = _GAP.match(piece)
            if gap.group(1):  # the newline that completes a blank line begun in an earlier piece
                self._armed = True
                self.result = _NON_SPACE.search(piece, gap.end()) is not None
                return
            if gap.end() == len(piece):
                return
            self._gap, pos = False, gap.end()
        if not self._started:
            first = _NON_SPACE.search(piece, pos)
            if first is None:
                return
            self._started, pos = True, first.start()
        # the first blank line after a non-space character ends earliest: if any has text after it, this one has
        blank = _BLANK_LINES.search(piece, pos)
        if blank:
            self._armed = True
            self.result = _NON_SPACE.search(piece, blank.end()) is not None
            return
        newline = piece.rfind("\n", pos)
        self._gap = newline >= 0 and _GAP.match(piece, newline + 1).end() == len(piece)


def paragraphs(text: str, blank_lines: bool | None = None, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(start, end)`` of each non-blank paragraph, trimmed of surrounding whitespace.

    ``blank_lines`` picks the rule (default: :func:`has_blank_lines` of ``text``, i.e. of a whole document);
    ``end`` restricts the scan to ``text[:end]``.
    """
    end = len(text) if end is None else end
    if blank_lines is None:
        blank_lines = has_blank_lines(text)
    breaker = _BLANK_LINES if blank_lines else _LINE_BREAK
    pos = 0
    for m in chain(breaker.finditer(text, 0, end), [None]):
        stop = m.start() if m else end
        yield from _trim(text, pos, stop)
        pos = m.end() if m else stop


def _last_break(text: str, blank_lines: bool) -> int:
    """End of the last paragraph break of ``text`` (0 if none): everything before it is whole paragraphs.

    A break found in a prefix of a text is a break of the whole text too (a match never depends on what
    follows its second newline, and an attempt cut short by the prefix's end cannot precede a found match).
    """
    if not blank_lines:
        return text.rfind("\n") + 1
    last = 0
    for m in _BLANK_LINES.finditer(text):
        last = m.end()
    return last


def _forced_cut(text: str, limit: int) -> int:
    """Where to cut a paragraph longer than ``limit``: after its last line break, else space, before ``limit``."""
    for sep in ("\n", " "):
        cut = text.rfind(sep, 0, limit) + 1
        if cut > 0:
            return cut
    return limit


def _trim(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _question(text: str, start: int, end: int) -> re.Match | None:
    """A question heading at ``start``: a line of ``text[start:end]`` that is one question (see the module)."""
    m = _QUESTION.match(text, start, end)
    return m if m and len(m.group(1).split()) <= QUESTION_WORDS else None


@dataclass(frozen=True)
class Chunker:
    """Split a document into chunks of whole sentences; see the module docstring."""

    max_sentences: int = 2
    max_chars: int = 600
    overlap_sentences: int = 0
    hard_max_chars: int = 2000
    keep_references: bool = True
    sentence_run_chars: int = 2000

    @cached_property
    def _segmenter(self):
        import pysbd

        return pysbd.Segmenter(language="en", clean=False)

    def sentences(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """Spans of the sentences of ``text[start:end]``, in order, trimmed of whitespace."""
        spans: list[tuple[int, int]] = []
        for run_start, run_end in self._runs(text, start, end):
            if _SENTENCE_PUNCTUATION.search(text, run_start, run_end):
                spans.extend(self._segment(text, run_start, run_end))
            else:
                spans.extend(self._unsplit(text, run_start, run_end))
        return spans

    def _runs(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``[start, end)`` in runs of at most ``sentence_run_chars``, each cut after the last sentence end before
        the limit (a space when there is none; the limit itself when there is no space either)."""
        limit = self.sentence_run_chars
        while end - start > limit:
            window = text[start:start + limit]
            last = None
            for last in _SENTENCE_END_BEFORE_NEXT.finditer(window):
                pass
            cut = start + last.end() if last else (text.rfind(" ", start + 1, start + limit) + 1 or start + limit)
            yield start, cut
            start = cut
        yield start, end

    def _segment(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        """pysbd's sentences of ``text[start:end]`` as trimmed spans (long ones cut by :meth:`_split_long`)."""
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
        spans.extend(self._unsplit(text, cursor, end))
        return spans

    def _unsplit(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``text[start:end]`` as one sentence, trimmed (none if blank), cut by :meth:`_split_long` when too long."""
        return (s for s in self._split_long(text, *next(_trim(text, start, end), (end, end))) if s[0] < s[1])

    def _split_long(self, text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
        while end - start > self.hard_max_chars:
            cut = text.rfind(" ", start + 1, start + self.hard_max_chars)
            cut = cut if cut > start else start + self.hard_max_chars
            yield from _trim(text, start, cut)
            start = cut
        yield from _trim(text, start, end)

    def split(self, source: str, text: str, first_id: int = 0) -> list[Chunk]:
        """Chunk one document; chunk ids count up from ``first_id``."""
        return list(self._chunks(source, text, paragraphs(text), 0, first_id, {}))

    def split_stream(
        self,
        source: str,
        pieces: Iterable[str],
        blank_lines: bool,
        first_id: int = 0,
        max_paragraph_chars: int = MAX_PARAGRAPH_CHARS,
    ) -> Iterator[Chunk]:
        """Chunk one document given as consecutive pieces of its text, yielding chunks as they are found.

        ``blank_lines`` is :func:`has_blank_lines` of the whole text (a :class:`BlankLineProbe` fed the same
        pieces). Text is held from the last paragraph break on, so memory follows the piece size, not the
        document's. The chunks (offsets into the whole text) are those of :meth:`split` on ``"".join(pieces)``,
        unless a paragraph is longer than ``max_paragraph_chars``: it is cut, after its last line break or
        space before that length, into separate paragraphs.
        """
        buf, offset, next_id, state = "", 0, first_id, {}
        for piece in pieces:
            buf = buf + piece if buf else piece
            del piece  # one copy of the text at a time
            while True:
                cut = _last_break(buf, blank_lines)
                if not cut and len(buf) > max_paragraph_chars:
                    cut = _forced_cut(buf, max_paragraph_chars)
                if not cut:
                    break
                for chunk in self._chunks(source, buf, paragraphs(buf, blank_lines, cut), offset, next_id, state):
                    next_id += 1
                    yield chunk
                buf, offset = buf[cut:], offset + cut
                if len(buf) <= max_paragraph_chars:
                    break
        yield from self._chunks(source, buf, paragraphs(buf, blank_lines), offset, next_id, state)

    def _chunks(self, source: str, text: str, spans: Iterable[tuple[int, int]], offset: int, first_id: int,
                state: dict) -> Iterator[Chunk]:
        """Chunks of the paragraphs ``spans`` of ``text``, whose first character is at ``offset`` of the document;
        ``state["heading"]`` carries the current heading from one call to the next."""
        next_id = first_id
        step = max(1, self.max_sentences - self.overlap_sentences)
        for p_start, p_end in spans:
            while p_start < p_end and (m := _HEADING.match(text, p_start, p_end) or _question(text, p_start, p_end)):
                state["heading"] = " ".join(m.group(1).split())
                p_start = m.end()
                while p_start < p_end and text[p_start].isspace():
                    p_start += 1
            if p_start >= p_end:
                continue
            sents = self.sentences(text, p_start, p_end)
            i = 0
            while i < len(sents):
                j = i + 1
                while j < len(sents) and sents[j][1] - sents[i][0] <= self.max_chars and (
                    j - i < self.max_sentences or (self.keep_references and _LEANS_BACK.match(text, sents[j][0]))
                ):
                    j += 1
                s, e = sents[i][0], sents[j - 1][1]
                yield Chunk(next_id, source, offset + s, offset + e, text[s:e], offset + p_start, offset + p_end,
                            state.get("heading", ""))
                next_id += 1
                if j == len(sents):
                    break
                i = min(i + step, j) if j - i > step else j
