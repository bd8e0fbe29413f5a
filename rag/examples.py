"""Example questions drawn from an index's own documents (for the chat page), or none.

A topic is a Markdown heading, or a name the documents repeat: a run of two or more capitalised words
("Sea of Tranquility" style runs, with "of"/"the" inside) or an acronym, counted where it does not merely open a
sentence. The most frequent topics, one per document first, become "What do the documents say about …?".

Example:
    >>> example_questions(load_index("index"))        # doctest: +SKIP
    ['What do the documents say about China-Pakistan Economic Corridor?', …]
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_WORD = r"(?:[A-Z][\w’'-]*[A-Za-z0-9]|[A-Z]{2,}[\w.-]*)"
_NAME = re.compile(rf"\b{_WORD}(?:\s+(?:of|the|and|de|von|for)?\s*{_WORD})+|\b[A-Z]{{2,}}[0-9.]*\b")
_OPENERS = re.compile(r"(?:^|[.!?]\s+|\n)$")
_SKIP = {"The", "This", "That", "These", "Those", "It", "In", "On", "At", "For", "And", "But", "A", "An", "As", "By"}


def _topics(text: str) -> Counter:
    found: Counter = Counter()
    for m in _HEADING.finditer(text):
        found[m.group(1).strip()] += 5
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        while words and words[0] in _SKIP:
            words = words[1:]
        if not words or (len(words) == 1 and not words[0].isupper()):
            continue
        phrase = " ".join(words)
        if len(words) == 1 and _OPENERS.search(text[: m.start()]) and not phrase.isupper():
            continue
        found[phrase] += 1
    return found


def example_questions(index, n: int = 4) -> list[str]:
    """Up to ``n`` questions about the topics of ``index``'s documents (none when no topic repeats)."""
    by_doc: dict[str, Counter] = defaultdict(Counter)
    for chunk in index.chunks:
        by_doc[chunk.source].update(_topics(chunk.text))
    ranked = [[t for t, c in counts.most_common() if c >= 2] for _, counts in sorted(by_doc.items())]
    chosen: list[str] = []
    for depth in range(max((len(r) for r in ranked), default=0)):
        for topics in ranked:
            if depth < len(topics) and len(chosen) < n and topics[depth].lower() not in {c.lower() for c in chosen}:
                chosen.append(topics[depth])
    return [f"What do the documents say about {topic}?" for topic in chosen[:n]]
