"""The rule-based answerer (``rules``), the default before the trained reader: pick the sentences of the retrieved passages that answer the question.

Each sentence of the passages is scored by dense similarity to the question, IDF-weighted stemmed word
overlap (both with the corpus's defined acronyms spelled out: "CPEC 2.0" matches "the corridor"), and whether
it holds what the question asks for (a date for "when", a number for "how many", a place for "where"/"which
city", a name for "who"). The best sentence answers; a close second from elsewhere joins it when the question
has several parts ("which two", "... and why"). A sentence that points back ("This shows ...", "... in this
regard") is quoted with the sentence before it (when that one ends the chunk before, as a citation of its own,
and only when the question asks for an explanation). When no sentence is close enough, or none holds the
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
from dataclasses import dataclass, field, replace
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rag.acronyms import STANDS_FOR, spells
from rag.candidates import is_heading, sentence_spans
from rag.chunking import POINTING_BACK
from rag.embedding import Embedder, VectorCache
from rag.lexical import tokenize
from rag.answerers.base import ABSTAIN_TEXT, Query, Reply
from rag.records import Citation, Passage

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
    (STANDS_FOR, "name"),
    (re.compile(r"^\s*who\b|\bwho (is|was|are|were)\b|\bwhose\b|\b(called|named)\b|[’']s (first |last |full |given )?name\b", re.I), "name"),
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*[a-z][\w’'-]*")
_PLACE = re.compile(r"\b(in|at|from|near|to)\s+([A-Z][\w’']+)")
_SPECIFIC = re.compile(r"\b(\d[\d.,]*|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|\d+(st|nd|rd|th))\b", re.I)
_IDENTIFIER = re.compile(r"\b[A-Z][\w’']*(?:-[A-Z0-9][\w’']*)+")
_NAME_OF = re.compile(r"\b([A-Z][\w’'-]+)[’']s (?:first |last |full |given )?name\b")
_WHO_ROLE = re.compile(r"^\s*who (?:is|was|are|were) (?:the )?(?:[A-Z][\w’'-]*[’']s )?([a-z][a-z -]+?)\??$", re.I)
_CALLED = re.compile(r"\b(?:what|how) (?:is|was|are|were) (?:the |its |their |[A-Z][\w’'-]*[’']s )?([\w -]+?) (?:called|named|known as)\b", re.I)
_ROLE_PREFIXES = re.compile(r"\b(deputy|vice|former|acting|assistant|associate|junior|under|ex|co)[\s-]+$", re.I)
_ANAPHOR = re.compile(
    rf"^({POINTING_BACK})\b|\b(in this (regard|respect|context|sense)|to this end)\b", re.I
)
_MULTI = re.compile(r"\b(which|what) (two|three|four|five)\b|(?<!^)\band (how|why|what|when|where|who|which)\b", re.I)
"""A question in several parts: "which two ...", "... and how ...?" (not a follow-up opening "And what ...")."""


def answer_type(question: str) -> str | None:
    """The kind of thing the question asks for: date, number, duration, place, name, or None."""
    for pattern, kind in _TYPE_RULES:
        if pattern.search(question):
            return kind
    return None


def specifics(text: str) -> set[str]:
    """What a question names exactly and an answer must repeat: numbers and ordinals ("2026", "sixth", "27th")
    and hyphenated names ("China-Bangladesh-Pakistan", "COVID-19"), lower-cased."""
    return {m.group(0).lower() for m in _SPECIFIC.finditer(text)} | {m.group(0).lower() for m in _IDENTIFIER.finditer(text)}


def _names_it(sentence: str, question: str, asked: set[str]) -> bool:
    """For "What is the X called?": a new capitalised word within three words of X's last word. For "What is
    X's name?": a new capitalised word right before X. For "Who is the <role>?": the role named, and not only
    a deputy's ("Deputy Prime Minister" does not answer "prime minister"). Else: True."""
    called = _CALLED.search(question)
    if called:  # "What is the national plan called?": a new name within three words of "plan"
        head = called.group(1).split()[-1].lower()
        words = re.findall(r"[\w’'-]+", sentence)
        near = [i for i, w in enumerate(words) if w.lower().rstrip("s") == head.rstrip("s")]
        return any(w[0].isupper() and w.lower() not in asked for i in near for w in words[max(1, i - 3) : i + 4])
    name_of = _NAME_OF.search(question)
    if name_of:
        before = re.finditer(rf"\b([A-Z][\w’'-]*)\s+{re.escape(name_of.group(1))}\b", sentence)
        return any(m.group(1).lower() not in asked for m in before)
    role = _WHO_ROLE.search(question)
    if role and len(role.group(1).split()) <= 4:
        found = list(re.finditer(rf"\b{re.escape(role.group(1).strip())}\b", sentence, re.I))
        return any(not _ROLE_PREFIXES.search(sentence[: m.start()]) for m in found)
    return True


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
    stands_for = STANDS_FOR.search(question)
    if stands_for:  # "What does AFC stand for?": words with those initials (the query may spell them out too)
        return spells(sentence, stands_for.group(1))
    asked = {w.lower() for w in re.findall(r"[\w’']+", question)}
    if kind == "name" and not _names_it(sentence, question, asked):
        return False
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
    passage_rank: int
    dense: float
    overlap: float
    typed: bool
    score: float
    passage: Passage = field(repr=False, compare=False)
    lead: tuple[Passage, int, int] | None = field(default=None, repr=False, compare=False)
    """The sentence this one points back to when that one is in the chunk before: (chunk, start, end)."""

    @property
    def para_start(self) -> int:
        return self.passage.para_start


class Span(NamedTuple):
    """A sentence of a passage in source offsets; ``context_start`` and ``lead`` as in :class:`Sentence`."""

    passage: Passage
    start: int
    end: int
    context_start: int
    lead: tuple[Passage, int, int] | None = None


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
    before: Callable[[Passage], Passage | None] | None = None
    """The chunk before a passage in its paragraph (``Retriever.before``), for sentences that point back."""
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
        """Every sentence of the passages, in source offsets.

        A sentence that points back ("This ...", "... in this regard") is also matched together with the
        sentence before it: ``context_start`` is where that one starts when it is in the same passage, else
        ``lead`` is its span in the chunk before (when ``before`` is given).
        """
        out = []
        for p in passages:
            prev = None
            for s, e in sentence_spans(p.text):
                if is_heading(p, s, e):
                    continue
                points_back = bool(_ANAPHOR.search(p.text[s:e]))
                ctx = prev if points_back and prev is not None else s
                lead = self._lead(p) if points_back and prev is None else None
                out.append(Span(p, p.start + s, p.start + e, p.start + ctx, lead))
                prev = s
        return out

    def _lead(self, passage: Passage) -> tuple[Passage, int, int] | None:
        """The last sentence of the chunk before ``passage`` in its paragraph, if there is one."""
        chunk = self.before(passage) if self.before else None
        spans = sentence_spans(chunk.text) if chunk else ()
        return (chunk, chunk.start + spans[-1][0], chunk.start + spans[-1][1]) if spans else None

    def score(self, question: str, passages: list[Passage], own: str | None = None) -> list[Sentence]:
        """All candidate sentences, best first; ``own`` is what was asked when ``question`` has follow-up context."""
        spans = self.sentences(passages)
        if not spans:
            return []
        texts = [p.quote(s, e) for p, s, e, _, _ in spans]
        contexts = [lead[0].quote(*lead[1:]) + " " + text if lead else p.quote(c, e) for (p, s, e, c, lead), text in zip(spans, texts)]
        matched = [self.spell_out(t) for t in texts + contexts]
        vecs = self._cache.encode([question, *matched])
        sims = vecs[1:] @ vecs[0]
        dense = np.maximum(sims[: len(texts)], sims[len(texts) :])
        q_tokens = set(tokenize([question])[0])
        q_weight = sum(self.idf(t) for t in q_tokens) or 1.0
        own = own or question  # what is asked; the follow-up context only helps to match
        kind, wanted = answer_type(own), specifics(own)
        rank = {p.id: i for i, p in enumerate(passages, 1)}
        out = []
        for (p, s, e, c, lead), text, context, spelled, d in zip(spans, texts, contexts, matched[len(texts) :], dense):
            overlap = sum(self.idf(t) for t in q_tokens & set(tokenize([spelled])[0])) / q_weight
            typed = holds_type(kind, text, own) and wanted <= specifics(context)
            score = float(d) + self.w_overlap * overlap + self.w_type * typed
            out.append(Sentence(p.source, s, e, text, c, rank[p.id], float(d), overlap, typed, score, p, lead))
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
        explains = multi is None and answer_type(own) is None  # a date, number, place or name needs no lead-in
        return Extraction(False, _with_context(chosen, with_leads=explains), ranked)


def make(retriever, settings, llm=None) -> RulesAnswerer:
    """The registry's factory."""
    return RulesAnswerer(retriever.embedder, idf=retriever.index.store.idf, before=retriever.before, spell_out=retriever.spell_out)


def compose(extraction: Extraction) -> Reply:
    """Answer text with a marker ``[n]`` after each chosen sentence, and the matching citations."""
    if extraction.abstained:
        return Reply(ABSTAIN_TEXT, [], True)
    citations = [Citation(n, s.source, s.start, s.end, s.text) for n, s in enumerate(extraction.sentences, 1)]
    return Reply(" ".join(f"{c.quote} [{c.n}]" for c in citations), citations, False)


def _with_context(chosen: list[Sentence], with_leads: bool) -> list[Sentence]:
    """Each sentence widened to the sentence it refers back to in its passage, or (``with_leads``) preceded by
    it when that one ends the chunk before; spans that then overlap are merged."""
    out: list[Sentence] = []
    for c in sorted(chosen, key=lambda c: (c.source, c.start)):
        if with_leads and c.lead and not any(o.source == c.source and o.start <= c.lead[1] < o.end for o in out):
            chunk, start, end = c.lead
            out.append(replace(c, start=start, end=end, text=chunk.quote(start, end), context_start=start, passage=chunk, lead=None))
        start = c.context_start
        if out and out[-1].passage.id == c.passage.id and start < out[-1].end:
            start = out.pop().start
        out.append(replace(c, start=start, text=c.passage.quote(start, c.end), context_start=start))
    return out


def _between(a: Sentence, b: Sentence) -> bool:
    """Whether two sentences of one source are separated by white space only (consecutive)."""
    first, second = sorted((a, b), key=lambda s: s.start)
    return 0 <= second.start - first.end <= 2

