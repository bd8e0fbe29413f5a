"""Offline follow-up rewriting: a question that leans on the conversation gets the previous turn as context.

A question is surely a follow-up when it has a pronoun or demonstrative that points back ("it", "they",
"that") or opens like a continuation ("and", "what about"); it may be one when it has at most three content
words and names nothing ("Where were the talks held?"): the chain then searches it both ways and keeps the
reading whose best passage better matches the question as asked (see Chain._retrieve). The context is the previous question and the start of the previous answer,
which name what the question refers to.

Example:
    >>> rewrite_query("When was it held?", [("Where was the dialogue held?", "In Beijing [1].")])
    Query(asked='When was it held?', context='Where was the dialogue held? In Beijing.', maybe=False)
    >>> rewrite_query("Where was the dialogue held?", []).text
    'Where was the dialogue held?'
"""

from __future__ import annotations

import re

from rag.answerers.base import Query

_WORD = re.compile(r"[A-Za-z0-9’'-]+")
_MARKER = re.compile(r"\s*\[\d+\]")
_ANAPHORA = {
    "it", "its", "it's", "itself", "they", "them", "their", "theirs", "he", "him", "his", "she", "her", "hers",
    "this", "that", "these", "those", "there", "then", "such", "same", "other", "former", "latter", "one",
}
_OPENERS = ("and ", "but ", "also ", "what about", "how about", "what else", "anything else", "why", "so ")
_STOP = {
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be", "been", "do",
    "does", "did", "what", "which", "who", "whom", "when", "where", "why", "how", "about", "with", "by", "at",
    "from", "as", "any", "many", "much", "more", "else", "tell", "me", "please", "can", "could", "would", "you",
}


def follow_up(question: str) -> str | None:
    """``"sure"`` when ``question`` points back or continues, ``"maybe"`` when it is short and names nothing,
    else None (see the module docstring)."""
    q = question.strip().lower()
    words = [w.replace("’", "'") for w in _WORD.findall(q)]
    content = [w for w in words if w not in _STOP and w not in _ANAPHORA]
    names = [w for w in _WORD.findall(question.strip())[1:] if w[0].isupper()]
    if q.startswith(_OPENERS) or any(w in _ANAPHORA for w in words):
        return "sure"
    return "maybe" if len(content) <= 3 and not names else None


def is_follow_up(question: str) -> bool:
    """Whether ``question`` may depend on the previous turn."""
    return follow_up(question) is not None


def rewrite_query(question: str, history: list[tuple[str, str]] | None, answer_words: int = 25) -> Query:
    """The query for ``question`` given ``(question, answer)`` turns, oldest first; ``maybe`` marks a question
    that may stand alone."""
    question = question.strip()
    kind = follow_up(question) if history else None
    if kind is None:
        return Query(question)
    prev_q, prev_a = history[-1]
    return Query(question, f"{prev_q.strip()} {_opening(prev_a, answer_words)}".strip(), maybe=kind == "maybe")


def _opening(answer: str, limit: int) -> str:
    """The answer's first sentence when it has at most ``limit`` words, else its first ``limit`` words and "…"
    (never a phrase cut without saying so)."""
    words = _MARKER.sub("", answer).split()
    for n, word in enumerate(words[:limit], 1):
        if word.endswith((".", "!", "?")) and n >= 2:
            return " ".join(words[:n])
    return " ".join(words[:limit]) + (" …" if len(words) > limit else "")
