"""Offline follow-up rewriting: a question that leans on the conversation gets the previous turn as context.

A question is a follow-up when it has a pronoun or demonstrative that points back ("it", "they", "that"),
opens like a continuation ("and", "what about"), or has at most three content words and names nothing (no
capitalised word after the first). Its standalone query is
the question plus the previous question and the start of the previous answer, which name what it refers to.

Example:
    >>> rewrite_query("When was it held?", [("Where was the dialogue held?", "In Beijing [1].")])
    'When was it held? (context: Where was the dialogue held? In Beijing.)'
    >>> rewrite_query("Where was the dialogue held?", [])
    'Where was the dialogue held?'
"""

from __future__ import annotations

import re

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


def is_follow_up(question: str) -> bool:
    """Whether ``question`` likely depends on the previous turn (see the module docstring)."""
    q = question.strip().lower()
    words = [w.replace("’", "'") for w in _WORD.findall(q)]
    content = [w for w in words if w not in _STOP and w not in _ANAPHORA]
    names = [w for w in _WORD.findall(question.strip())[1:] if w[0].isupper()]
    return q.startswith(_OPENERS) or any(w in _ANAPHORA for w in words) or (len(content) <= 3 and not names)


def own_question(query: str) -> str:
    """The asker's own words of a query made by :func:`rewrite_query` (the context part removed)."""
    head, sep, _ = query.partition(" (context: ")
    return head if sep and query.endswith(")") else query


def rewrite_query(question: str, history: list[tuple[str, str]] | None, answer_words: int = 25) -> str:
    """The standalone query for ``question`` given ``(question, answer)`` turns, oldest first."""
    question = question.strip()
    if not history or not is_follow_up(question):
        return question
    prev_q, prev_a = history[-1]
    prev_a = " ".join(_MARKER.sub("", prev_a).split()[:answer_words])
    return f"{question} (context: {prev_q.strip()} {prev_a})"
