"""How the reader sees a candidate: the question, and the sentence followed by the end of the sentence before it.

Shared by training (:mod:`rag.reader.training`) and answering (:mod:`rag.reader`) so that both feed the models the
same text.

Example:
    >>> reader_text("He was the pilot.", "Michael Collins flew the command module.")
    'He was the pilot. [SEP] Michael Collins flew the command module.'
"""

from __future__ import annotations

CONTEXT_WORDS = 24
"""Words of the sentence before that go with a candidate (its last ones: the nearest to the candidate)."""


def reader_text(sentence: str, before: str = "") -> str:
    """The text paired with the question for scoring ``sentence``; ``before`` is the sentence preceding it."""
    context = " ".join(before.split()[-CONTEXT_WORDS:])
    sentence = " ".join(sentence.split())
    return f"{sentence} [SEP] {context}" if context else sentence
