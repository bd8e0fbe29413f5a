"""Which language a text is in (py3langid: a bundled model, no pickle), to tell when a question and the
documents differ: then only the multilingual embedding can match them, and word-overlap signals say nothing.

Example:
    >>> language("Où se sont déroulés les pourparlers ?")
    'fr'
"""

from __future__ import annotations

import threading
from functools import lru_cache

CONFIDENT = 0.5
"""A question is in another language when the identifier gives that one at least this probability ..."""
UNLIKELY = 0.1
"""... and the documents' language at most this (short names and acronyms are in no language in particular)."""
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=4096)
def probabilities(text: str) -> dict[str, float]:
    """The probability of each language (ISO 639-1) for ``text``."""
    with _lock:
        return {str(lang): float(p) for lang, p in _identifier().rank(text)}


def language(text: str) -> str | None:
    """The language of ``text`` when the identifier gives it at least :data:`CONFIDENT`, else None."""
    probs = probabilities(text)
    lang = max(probs, key=probs.get)
    return lang if probs[lang] >= CONFIDENT else None


def differs(question: str, corpus_language: str | None) -> bool:
    """Whether ``question`` is clearly in another language than the documents (see :data:`UNLIKELY`)."""
    if corpus_language is None:
        return False
    lang = language(question)
    return lang is not None and lang != corpus_language and probabilities(question).get(corpus_language, 0.0) <= UNLIKELY
