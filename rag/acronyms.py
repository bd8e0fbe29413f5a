"""Acronyms a question may use for names the corpus spells out ("SCO" for "Shanghai Cooperation Organisation").

At index time every run of two to six capitalised words is read as a possible expansion of its initials
("Shanghai Cooperation Organisation" → SCO; "of", "of the", "and", "for" inside are skipped; a sentence's first
word and anything up to a possessive are left out); the table keeps,
per acronym, its most frequent expansion, and only acronyms that never occur in the corpus themselves.
At query time an acronym of the table is followed by its expansion in brackets, so that both BM25 and the
answerer's word overlap can match it.

Example:
    >>> table = find_acronyms(["Pakistan chairs the Shanghai Cooperation Organisation in 2026."])
    >>> expand("Who chairs the SCO?", table)
    'Who chairs the SCO (Shanghai Cooperation Organisation)?'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:of the|of|and|for|de|du|la)\s+[A-Z][\w’'-]*|\s+[A-Z][\w’'-]*){1,5}")
_SMALL = {"of", "the", "and", "for", "de", "du", "la"}
_UPPER = re.compile(r"\b[A-Z]{2,6}\b")
_ASKED = re.compile(r"\b([A-Z]{2,6})s?\b")
_SENTENCE_START = re.compile(r"(^|[.!?:][\"”’)]*\s+)$")
_POSSESSIVE = re.compile(r"[’']s$")


def _name(text: str, match: re.Match) -> str:
    """The name in a run of capitalised words: without a sentence's first word, and after a possessive."""
    words = match.group(0).split()
    if _SENTENCE_START.search(text[max(0, match.start() - 4) : match.start()]):  # an empty slice: the text's start
        words = words[1:]
    for i in range(len(words) - 1, -1, -1):
        if _POSSESSIVE.search(words[i]):
            words = words[i + 1 :]
            break
    while words and words[0] in _SMALL:
        words = words[1:]
    return " ".join(words)


def _initials(name: str) -> str:
    parts = [p for w in name.split() if w not in _SMALL for p in w.split("-") if p]
    return "".join(p[0] for p in parts).upper()


def find_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """``{acronym: expansion}`` for the capitalised names of ``texts`` whose acronym the texts never use."""
    seen: dict[str, Counter] = {}
    used: set[str] = set()
    for text in texts:
        used.update(_UPPER.findall(text))
        for m in _NAME.finditer(text):
            name = _name(text, m)
            acronym = _initials(name)
            if 2 <= len(acronym) <= 6:
                seen.setdefault(acronym, Counter())[name] += 1
    return {a: names.most_common(1)[0][0] for a, names in sorted(seen.items()) if a not in used}


def expand(query: str, table: dict[str, str]) -> str:
    """``query`` with each acronym of ``table`` followed by its expansion, unless the query already spells it."""
    def add(m: re.Match) -> str:
        name = table.get(m.group(1))
        if not name or name.lower() in query.lower():
            return m.group(0)
        return f"{m.group(0)} ({name})"

    return _ASKED.sub(add, query) if table else query
