"""Offline follow-up rewriting: a question that leans on the conversation is completed with what it is about.

A question is surely a follow-up when it has a pronoun or demonstrative that points back ("it", "they",
"that") or opens like a continuation ("and", "what about"); it may be one when it has at most three content
words and names nothing ("Where were the talks held?"): the chain then searches it both ways and keeps the
reading whose best passage better matches the question as asked (see Chain._retrieve). A question that names
its own subject is searched as asked.

The context is the subject of the conversation, never an answer's text: the earlier question (and the one
before it when that one was a follow-up too), and the names the last answer gave (a refusal gives none).

Example:
    >>> rewrite_query("When was it held?", [("Where was the dialogue held?", "In Beijing [1].")])
    Query(asked='When was it held?', context='Where was the dialogue held? Beijing', maybe=False)
    >>> rewrite_query("Where was the dialogue held?", []).text
    'Where was the dialogue held?'
"""

from __future__ import annotations

import re

from rag.answerers.base import ABSTAIN_TEXT, RELATED_TEXT, REQUEST_TEXTS, Query

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


def rewrite_query(question: str, history: list[tuple[str, str]] | None, names: int = 4) -> Query:
    """The query for ``question`` given ``(question, answer)`` turns, oldest first; ``maybe`` marks a question
    that may stand alone."""
    question = question.strip()
    kind = follow_up(question) if history else None
    if kind is None:
        return Query(question)
    return Query(question, subject(history, names), maybe=kind == "maybe")


def subject(history: list[tuple[str, str]], names: int = 4) -> str:
    """What the conversation is about: the last question (with the turn before it when the last leaned on it) and
    up to ``names`` names from their answers (none from a refusal)."""
    turns = history[-2:] if len(history) > 1 and follow_up(history[-1][0]) == "sure" else history[-1:]
    questions = [q.strip() for q, _ in turns]
    found = [n for _, a in turns if not a.strip().startswith(_REFUSALS) for n in _names(a, names)]
    asked = " ".join(questions).lower()
    kept = list(dict.fromkeys(n for n in found if n.lower() not in asked))[:names]
    return " ".join([*questions, *kept]).strip()


_NAME = re.compile(r"[A-Z][\w’'-]*(?:\s+(?:of|the|and|de|du|von|van|al|[A-Z][\w’'-]*|[0-9][0-9,:.]*[0-9]|[0-9]+))*")
_REFUSALS = tuple(text[:30] for text in (ABSTAIN_TEXT, RELATED_TEXT, *REQUEST_TEXTS.values()))
_OPENING = {"in", "on", "at", "during", "after", "before", "since", "yes", "no", "we", "you", "i", "if", "all", "both",
            "each", "every", "some", "most", "only", "not", "there", "here", "under", "over", "until", "while", "as",
            "into", "through", "between", "against", "without", "within", "please", "see", "note", "also", "then",
            "first", "next", "finally", "however", "because", "although", "when", "where", "once", "up", "our", "my",
            "your", "no", "none", "nothing", "just", "about", "around", "each", "per", "zero", "one", "two", "three"}


def _names(answer: str, limit: int) -> list[str]:
    """Proper names of ``answer`` in order, each once: runs of capitalised words (with the figures inside them,
    "January 4"), a sentence's opening word only when it is no common word ("Afghanistan.", not "During");
    citation markers left out."""
    text = _MARKER.sub("", answer)
    out: list[str] = []
    for m in _NAME.finditer(text):
        name = m.group(0).rstrip(" -’'").removesuffix(" and").removesuffix(" of").removesuffix(" the")
        before = text[: m.start()].rstrip()
        if not before or before.endswith((".", "!", "?", ":", "—", "–", "-")):  # a sentence's first word
            first, _, rest = name.partition(" ")
            if first.lower() in _STOP or first.lower() in _ANAPHORA or first.lower() in _OPENING:
                name = rest
        if not any(ch.isalpha() for ch in name) or name.lower() in _STOP or name in out:
            continue
        out.append(name)
        if len(out) == limit:
            break
    return out
