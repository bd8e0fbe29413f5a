"""The rule-based answerer (``rules``, a registered fallback): pick the sentences of the retrieved passages that answer the question.

Each sentence of the passages is scored by dense similarity to the question, IDF-weighted stemmed word
overlap (both with the corpus's defined acronyms spelled out: "CPEC 2.0" matches "the corridor"), and whether
it holds what the question asks for (a date for "when", a number for "how many", a place for "where"/"which
city", a name for "who"). The best sentence answers; a close second from elsewhere joins it when the question
has several parts ("which two", "... and why"). When no sentence is close enough, or none holds the
asked-for kind of thing, the answerer abstains: "who is the prime minister" is not answered by a deputy prime
minister, "X's first name" needs a name next to X, "what is the X called" a name near X, "what does ACR stand
for" words with those initials, and the numbers and hyphenated names of the question ("2026",
"China-Bangladesh-Pakistan") must appear.

Example:
    >>> answerer = RulesAnswerer(embedder)               # doctest: +SKIP
    >>> result = answerer.run("When was the dialogue held?", passages)   # doctest: +SKIP
    >>> result.abstained, result.sentences[0].text[:20]     # doctest: +SKIP
    (False, 'On January 4, 2026, ')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import NamedTuple

from rag.answer_types import answer_type, holds_type, specifics
from rag.reader.candidates import is_heading, sentence_spans
from rag.embedding import Embedder, VectorCache
from rag.lexical import tokenize
from rag.answerers.base import ABSTAIN_TEXT, Query, Reply
from rag.records import Citation, Passage

_MULTI = re.compile(r"\b(which|what) (two|three|four|five)\b|(?<!^)\band (how|why|what|when|where|who|which)\b", re.I)
"""A question in several parts: "which two ...", "... and how ...?" (not a follow-up opening "And what ...")."""


@dataclass(frozen=True, slots=True)
class Sentence:
    """A candidate sentence: exact span of its source, the passage it came from, and its score parts."""

    source: str
    start: int
    end: int
    text: str
    passage_rank: int
    dense: float
    overlap: float
    typed: bool
    score: float
    passage: Passage = field(repr=False, compare=False)

    @property
    def para_start(self) -> int:
        return self.passage.para_start


class Span(NamedTuple):
    """A sentence of a passage in source offsets."""

    passage: Passage
    start: int
    end: int


@dataclass
class Extraction:
    """The answerer's decision: the chosen sentences in answer order, or an abstention."""

    abstained: bool
    sentences: list[Sentence] = field(default_factory=list)
    candidates: list[Sentence] = field(default_factory=list)


@dataclass
class RulesAnswerer:
    """Choose answer sentences from passages; weights and thresholds were chosen on ``eval/gold.jsonl``."""

    embedder: Embedder
    idf: Callable[[str], float] = lambda token: 1.0
    spell_out: Callable[[str], str] = lambda text: text
    """A sentence's text with the corpus's acronyms spelled out (``Retriever.spell_out``), for matching."""
    w_overlap: float = 0.2
    w_type: float = 0.1
    min_dense: float = 0.2
    min_overlap: float = 0.1
    second_gap: float = 0.1
    adjacent_gap: float = 0.05
    max_words: int = 60
    cache_size: int = 4096
    _cache: VectorCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cache = VectorCache(self.embedder, self.cache_size)

    def sentences(self, passages: list[Passage]) -> list[Span]:
        """Every sentence of the passages but headings, in source offsets."""
        return [Span(p, p.start + s, p.start + e) for p in passages for s, e in sentence_spans(p.text) if not is_heading(p, s, e)]

    def score(self, question: str, passages: list[Passage], own: str | None = None) -> list[Sentence]:
        """All candidate sentences, best first; ``own`` is what was asked when ``question`` has follow-up context."""
        spans = self.sentences(passages)
        if not spans:
            return []
        texts = [p.quote(s, e) for p, s, e in spans]
        matched = [self.spell_out(t) for t in texts]
        vecs = self._cache.encode([question, *matched])
        dense = vecs[1:] @ vecs[0]
        q_tokens = set(tokenize([question])[0])
        q_weight = sum(self.idf(t) for t in q_tokens) or 1.0
        own = own or question  # what is asked; the follow-up context only helps to match
        kind, wanted = answer_type(own), specifics(own)
        rank = {p.id: i for i, p in enumerate(passages, 1)}
        out = []
        for (p, s, e), text, spelled, d in zip(spans, texts, matched, dense):
            overlap = sum(self.idf(t) for t in q_tokens & set(tokenize([spelled])[0])) / q_weight
            typed = holds_type(kind, text, own) and wanted <= specifics(text)
            score = float(d) + self.w_overlap * overlap + self.w_type * typed
            out.append(Sentence(p.source, s, e, text, rank[p.id], float(d), overlap, typed, score, p))
        return sorted(out, key=lambda x: -x.score)

    def answer(self, query: Query, passages: list[Passage]) -> Reply:
        """The chosen sentences, each followed by its marker, or an abstention."""
        return compose(self.run(query.text, passages, query.asked))

    def run(self, question: str, passages: list[Passage], own: str | None = None) -> Extraction:
        """Pick the answer sentences for ``question`` from ``passages`` (best first), or abstain."""
        ranked = self.score(question, passages, own)
        best = next((s for s in ranked if s.typed), None)
        if best is None or (best.dense < self.min_dense and best.overlap < self.min_overlap):
            return Extraction(True, [], ranked)
        chosen = [best]
        own = own or question
        multi = _MULTI.search(own)
        if multi and multi.group(2) and re.search(rf"\b{multi.group(2)}\b", best.text, re.I):
            multi = None  # "Which three sectors?" answered by "... the three key sectors of ...": one sentence lists them
        limit = self.max_words * (2 if multi else 1)
        for cand in ranked[1:4]:
            adjacent = (cand.source, cand.para_start) == (best.source, best.para_start) and _between(best, cand)
            gap = self.adjacent_gap if adjacent else self.second_gap if multi else -1.0
            words = sum(len(c.text.split()) for c in chosen) + len(cand.text.split())
            if cand.score >= best.score - gap and words <= limit and cand.start != best.start:
                chosen.append(cand)
                break
        return Extraction(False, sorted(chosen, key=lambda c: (c.source, c.start)), ranked)


def make(retriever, settings, llm=None) -> RulesAnswerer:
    """The registry's factory."""
    return RulesAnswerer(retriever.cosine_embedder, idf=retriever.index.store.idf, spell_out=retriever.spell_out)


def compose(extraction: Extraction) -> Reply:
    """Answer text with a marker ``[n]`` after each chosen sentence, and the matching citations."""
    if extraction.abstained:
        return Reply(ABSTAIN_TEXT, [], True)
    citations = [Citation(n, s.source, s.start, s.end, s.text) for n, s in enumerate(extraction.sentences, 1)]
    return Reply(" ".join(f"{c.quote} [{c.n}]" for c in citations), citations, False)


def _between(a: Sentence, b: Sentence) -> bool:
    """Whether two sentences of one source are separated by white space only (consecutive)."""
    first, second = sorted((a, b), key=lambda s: s.start)
    return 0 <= second.start - first.end <= 2

