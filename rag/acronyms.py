"""Acronyms and the names they stand for, found in the corpus at index time.

Every run of two to six capitalised words is read as a possible name with its initials as acronym
("Shanghai Cooperation Organisation" → SCO; "of", "of the", "and", "for" inside are skipped; a sentence's first
word and anything up to a possessive are left out). Two tables are kept, each with an acronym's most frequent
name:

- ``unused``: acronyms the corpus never writes. A question may still use one ("the SCO chair"); it is expanded
  in the query so that BM25 and the answerer's word overlap can match the name. A defined one is expanded only
  in a question for its name ("What does CPEC stand for?").
- ``defined``: acronyms the corpus writes and defines in brackets after the name ("China-Pakistan Economic
  Corridor (CPEC)"). A sentence that uses one ("CPEC 2.0 requires …") is matched against a question as if the
  name were spelled out there ("… the second phase of the corridor …").

Example:
    >>> acronyms = find_acronyms(["Pakistan chairs the Shanghai Cooperation Organisation in 2026.",
    ...                           "The China-Pakistan Economic Corridor (CPEC) grows. CPEC 2.0 starts."])
    >>> acronyms.expand("Who chairs the SCO?")
    'Who chairs the SCO (Shanghai Cooperation Organisation)?'
    >>> acronyms.spell_out("CPEC 2.0 starts.")
    'CPEC (China-Pakistan Economic Corridor) 2.0 starts.'
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:of the|of|and|for|de|du|la)\s+[A-Z][\w’'-]*|\s+[A-Z][\w’'-]*){1,5}")
_SMALL = {"of", "the", "and", "for", "de", "du", "la"}
_UPPER = re.compile(r"\b[A-Z]{2,6}\b")
_ASKED = re.compile(r"\b([A-Z]{2,6})s?\b")
_BRACKETED = re.compile(r"\s*\(([A-Z]{2,6})s?\)")
STANDS_FOR = re.compile(r"\b([A-Z]{2,6})s?\b.*\b(?:stands? for|short for)\b")
"""A question for an acronym's name: "What does AFC stand for?" (not "What does China stand for?")."""
_SENTENCE_START = re.compile(r"(^|[.!?:][\"”’)]*\s+)$")
_POSSESSIVE = re.compile(r"[’']s$")


@dataclass(frozen=True, slots=True)
class Acronyms:
    """The corpus's acronym tables, ``{acronym: name}`` each (see the module docstring)."""

    unused: dict[str, str] = field(default_factory=dict)
    defined: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"unused": self.unused, "defined": self.defined}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Acronyms:
        """The tables written by :meth:`to_json`; ValueError for anything else."""
        tables = json.loads(text)
        if not (isinstance(tables, dict) and set(tables) == {"unused", "defined"} and all(
            isinstance(t, dict) and all(isinstance(v, str) for v in t.values()) for t in tables.values()
        )):
            raise ValueError("not two tables of names")
        return cls(**tables)

    def expand(self, query: str) -> str:
        """``query`` with each acronym the corpus never writes followed by its name in brackets, and the one it
        defines when the query asks what that stands for (so that the definition is found)."""
        asked = STANDS_FOR.search(query)
        if asked and asked.group(1) in self.defined:
            return _add_names(query, {**self.unused, asked.group(1): self.defined[asked.group(1)]})
        return _add_names(query, self.unused)

    def spell_out(self, text: str) -> str:
        """``text`` with each acronym the corpus defines followed by its name in brackets (for matching only)."""
        return _add_names(text, self.defined)


def find_acronyms(texts: Iterable[str]) -> Acronyms:
    """The acronym tables of ``texts``."""
    seen: dict[str, Counter] = {}
    defined: dict[str, Counter] = {}
    used: set[str] = set()
    for text in texts:
        used.update(_UPPER.findall(text))
        for m in _NAME.finditer(text):
            name = _name(text, m)
            acronym = _initials(name)
            if 2 <= len(acronym) <= 6:
                seen.setdefault(acronym, Counter())[name] += 1
            bracket = _BRACKETED.match(text, m.end())
            if bracket:  # the name may start later in the run: "The China-Pakistan Economic Corridor (CPEC)"
                words = m.group(0).split()
                short = next((" ".join(words[i:]) for i in range(len(words)) if _initials(" ".join(words[i:])) == bracket.group(1)), None)
                if short and short.split()[0] not in _SMALL:
                    defined.setdefault(bracket.group(1), Counter())[short] += 1
    return Acronyms(
        unused={a: names.most_common(1)[0][0] for a, names in sorted(seen.items()) if a not in used},
        defined={a: names.most_common(1)[0][0] for a, names in sorted(defined.items())},
    )


def spells(text: str, acronym: str) -> bool:
    """Whether ``text`` spells ``acronym`` out: some run of its capitalised words has those initials."""
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        if any(_initials(" ".join(words[i:j])) == acronym for i in range(len(words)) for j in range(i + 1, len(words) + 1)):
            return True
    return False


def _add_names(text: str, table: dict[str, str]) -> str:
    """``text`` with each acronym of ``table`` followed by its name, unless the text already spells it."""
    def add(m: re.Match) -> str:
        name = table.get(m.group(1))
        if not name or name.lower() in text.lower():
            return m.group(0)
        return f"{m.group(0)} ({name})"

    return _ASKED.sub(add, text) if table else text


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
