"""What a question asks for (a date, a number, a duration, a place, a name) and whether a sentence holds it.

English question words only; a question in another language asks for nothing in particular here.

Example:
    >>> answer_type("When was the dialogue held?"), holds_type("date", "It met on January 4, 2026.", "When?")
    ('date', True)
"""

from __future__ import annotations

import re

from rag.acronyms import STANDS_FOR, spells
from rag.lexical import tokenize

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


_REQUESTS = {
    "summary": re.compile(
        r"\b(summar(?:y|ies|i[sz]e|i[sz]ing)|overview|tl;?dr|gist|main (?:points|ideas)|key (?:points|takeaways)"
        r"|in (?:one|two|three|a few|\d+) (?:sentences?|lines|bullet points)"
        r"|what (?:is|are) (?:this|the|these) (?:documents?|articles?|texts?|files?|pages?) about)\b", re.I),
    "opinion": re.compile(
        r"\b(do you (?:think|agree|like|believe)|your (?:opinion|view|take)|would you (?:recommend|advise)"
        r"|what do you (?:feel|believe|think|recommend)|is it (?:worth it|a good idea))\b", re.I),
}


def request_kind(question: str) -> str | None:
    """``"summary"`` or ``"opinion"`` when an English question asks for something a quoting system cannot give
    (a summary, an opinion); else None."""
    return next((kind for kind, pattern in _REQUESTS.items() if pattern.search(question)), None)


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
