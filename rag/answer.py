"""The offline extractive answerer: pick the sentences of the retrieved passages that answer the question.

Each sentence of the passages is scored by dense similarity to the question, IDF-weighted
stemmed word overlap, and whether it holds what the question asks for (a date for "when", a number
for "how many", a place for "where"/"which city", a name for "who"). The best sentence answers; a close second
from elsewhere joins it when the question has several parts. When no sentence is close enough, or none holds
the asked-for kind of thing, the answerer abstains.

Example:
    >>> answerer = ExtractiveAnswerer(embedder)               # doctest: +SKIP
    >>> result = answerer.run("When was the dialogue held?", passages)   # doctest: +SKIP
    >>> result.abstained, result.sentences[0].text[:20]     # doctest: +SKIP
    (False, 'On January 4, 2026, ')
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from rag.chunking import Chunker
from rag.embedding import Embedder
from rag.lexical import tokenize
from rag.records import Passage

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|thousand|million|billion|dozen|several"
_PATTERNS = {
    "date": re.compile(
        rf"\b(1[5-9]\d\d|20\d\d|{_MONTHS}|last year|this year|next year|since|ago|today|yesterday|century|decade"
        r"|(days?|weeks?|months?|years?) (after|before|later|earlier))\b",
        re.I,
    ),
    "number": re.compile(rf"(\d|\b({_NUMBER_WORDS})\b)", re.I),
    "duration": re.compile(rf"(\d|\b({_NUMBER_WORDS}|a)\b)[\w\s-]{{0,12}}\b(second|minute|hour|day|week|month|year|decade|km|kilometre|kilometer|mile|metre|meter)s?\b", re.I),
}
_TYPE_RULES = (
    (re.compile(r"\bhow (long|far)\b", re.I), "duration"),
    (re.compile(r"\bhow (many|much)\b|\bwhat (number|percentage|amount)\b", re.I), "number"),
    (re.compile(r"\bwhen\b|\b(what|which) (year|month|date|day)\b|\bsince when\b", re.I), "date"),
    (re.compile(r"\bwhere\b|\b(what|which) (city|country|town|place|region|province|capital)\b", re.I), "place"),
    (re.compile(r"^\s*who\b|\bwho (is|was|are|were)\b|\bwhose\b|\b(called|named)\b", re.I), "name"),
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*[a-z][\w’'-]*")
_PLACE = re.compile(r"\b(in|at|from|near|to)\s+([A-Z][\w’']+)")
_SPECIFIC = re.compile(r"\b(\d[\d.,]*|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(st|nd|rd|th))\b", re.I)
_ANAPHOR = re.compile(r"^(This|These|That|Those|They|It|Its|Such|Both|Their)\b")
_MULTI = re.compile(r"\b(and|both|which two|which three|list|name the|what are|what were)\b|,", re.I)


def answer_type(question: str) -> str | None:
    """The kind of thing the question asks for: date, number, duration, place, name, or None."""
    for pattern, kind in _TYPE_RULES:
        if pattern.search(question):
            return kind
    return None


def specifics(text: str) -> set[str]:
    """Numbers and ordinals in ``text`` ("2026", "sixth", "27th"), lower-cased."""
    return {m.group(0).lower() for m in _SPECIFIC.finditer(text)}


def holds_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether ``sentence`` contains something of ``kind`` that the question does not already say."""
    if kind is None:
        return True
    if kind in _PATTERNS:
        if kind == "number":
            noun = re.search(r"\bhow many\s+(\w+(?:\s+\w+)?)", question, re.I)
            if noun and not set(tokenize([noun.group(1)])[0]) <= set(tokenize([sentence])[0]):
                return False
        return bool(_PATTERNS[kind].search(sentence))
    asked = {w.lower() for w in re.findall(r"[\w’']+", question)}
    if kind == "place":
        return any(m.group(2).lower() not in asked for m in _PLACE.finditer(sentence))
    return any(not set(re.findall(r"[\w’']+", m.group(0).lower())) <= asked for m in _CAPITALISED.finditer(sentence))


@dataclass(frozen=True, slots=True)
class Sentence:
    """A candidate sentence: exact span of its source, the passage it came from, and its score parts."""

    source: str
    start: int
    end: int
    text: str
    context_start: int
    para_start: int
    passage_rank: int
    dense: float
    overlap: float
    typed: bool
    score: float


@dataclass
class Extraction:
    """The answerer's decision: the chosen sentences in answer order, or an abstention."""

    abstained: bool
    sentences: list[Sentence] = field(default_factory=list)
    candidates: list[Sentence] = field(default_factory=list)


@dataclass
class ExtractiveAnswerer:
    """Choose answer sentences from passages; weights and thresholds were chosen on ``eval/gold.jsonl``."""

    embedder: Embedder
    idf: Callable[[str], float] = lambda token: 1.0
    w_overlap: float = 0.2
    w_type: float = 0.1
    min_dense: float = 0.2
    min_overlap: float = 0.1
    second_gap: float = 0.1
    adjacent_gap: float = 0.05
    max_words: int = 60
    cache_size: int = 4096
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sentences(self, passages: list[Passage]) -> list[tuple[Passage, int, int, int]]:
        """Every sentence of the passages as ``(passage, start, end, context_start)`` in source offsets.

        ``context_start`` is where the previous sentence of the passage starts when this one opens with a
        word that points back ("This", "They", ...), else ``start``: such a sentence is also matched with it.
        """
        out = []
        for p in passages:
            prev = None
            for s, e in _splitter().sentences(p.text, 0, len(p.text)):
                if _is_heading(p, s, e):
                    continue
                ctx = prev if prev is not None and _ANAPHOR.match(p.text[s:e]) else s
                out.append((p, p.start + s, p.start + e, p.start + ctx))
                prev = s
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, from a bounded cache shared by all threads."""
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, self.embedder.encode(missing)))
            with self._lock:
                self._cache.update((t, known[t]) for t in missing)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def score(self, question: str, passages: list[Passage]) -> list[Sentence]:
        """All candidate sentences, best first."""
        spans = self.sentences(passages)
        if not spans:
            return []
        texts = [p.text[s - p.start : e - p.start] for p, s, e, _ in spans]
        contexts = [p.text[c - p.start : e - p.start] for p, s, e, c in spans]
        vecs = self._embed([question, *texts, *contexts])
        sims = vecs[1:] @ vecs[0]
        dense = np.maximum(sims[: len(texts)], sims[len(texts) :])
        q_tokens = set(tokenize([question])[0])
        q_weight = sum(self.idf(t) for t in q_tokens) or 1.0
        kind = answer_type(question)
        rank = {p.id: i for i, p in enumerate(passages, 1)}
        out = []
        for (p, s, e, c), text, context, d in zip(spans, texts, contexts, dense):
            overlap = sum(self.idf(t) for t in q_tokens & set(tokenize([context])[0])) / q_weight
            typed = holds_type(kind, text, question) and specifics(question) <= specifics(context)
            score = float(d) + self.w_overlap * overlap + self.w_type * typed
            out.append(Sentence(p.source, s, e, text, c, p.para_start, rank[p.id], float(d), overlap, typed, score))
        return sorted(out, key=lambda x: -x.score)

    def run(self, question: str, passages: list[Passage]) -> Extraction:
        """Pick the answer sentences for ``question`` from ``passages`` (best first), or abstain."""
        ranked = self.score(question, passages)
        best = next((s for s in ranked if s.typed), None)
        if best is None or (best.dense < self.min_dense and best.overlap < self.min_overlap):
            return Extraction(True, [], ranked)
        chosen = [best]
        limit = self.max_words * (1.5 if _MULTI.search(question) else 1)
        for cand in ranked[1:4]:
            adjacent = (cand.source, cand.para_start) == (best.source, best.para_start) and _between(best, cand)
            gap = self.adjacent_gap if adjacent else self.second_gap if _MULTI.search(question) else -1.0
            words = sum(len(c.text.split()) for c in chosen) + len(cand.text.split())
            if cand.score >= best.score - gap and words <= limit and cand.start != best.start:
                chosen.append(cand)
                break
        return Extraction(False, sorted(chosen, key=lambda c: (c.source, c.start)), ranked)


def _is_heading(p: Passage, start: int, end: int) -> bool:
    """A short paragraph without sentence punctuation (a title or heading) is never an answer."""
    text = p.text[start:end]
    whole = p.start + start == p.para_start and p.start + end == p.para_end
    return whole and len(text.split()) <= 15 and not re.search(r"[.!?…][\"”’)]*$", text)


def _between(a: Sentence, b: Sentence) -> bool:
    """Whether two sentences of one source are separated by white space only (consecutive)."""
    first, second = sorted((a, b), key=lambda s: s.start)
    return 0 <= second.start - first.end <= 2


@lru_cache(maxsize=1)
def _splitter() -> Chunker:
    return Chunker()
