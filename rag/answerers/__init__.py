"""Answerers and their registry: a name → a factory that builds the answerer for a loaded retriever.

Adding an answerer is one new module with a ``make(retriever, settings, llm)`` function plus one line in
:data:`REGISTRY`; the chain, the CLI and the UI list and build answerers from here only.

Example:
    >>> sorted(REGISTRY)
    ['evidence', 'llm', 'reader', 'rules']
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from rag.answerers.base import ABSTAIN_TEXT, Answerer, Query, Reply
from rag.errors import RagError

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.retrieval import Retriever

REGISTRY: dict[str, tuple[str, str]] = {
    "evidence": ("rag.answerers.evidence:make", "the fused ranking's smallest evidence set, three calibrated outcomes (offline)"),
    "reader": ("rag.answerers.reader:make", "the trained reader: answer sentence, short answer, calibrated abstention (offline)"),
    "rules": ("rag.answerers.rules:make", "the earlier rule-based sentence picker (offline)"),
    "llm": ("rag.answerers.llm:make", "a chat model writes the answer, every citation verified (needs RAG_LLM_PROVIDER)"),
}
"""name → ("module:factory", one-line description)."""


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def describe() -> str:
    """One line listing the answerers, for help texts."""
    return "; ".join(f"{name}: {desc}" for name, (_, desc) in REGISTRY.items())


def check_name(name: str) -> str:
    if name not in REGISTRY:
        raise RagError(f"unknown answerer {name!r}: use one of {', '.join(REGISTRY)}")
    return name


def make_answerer(name: str, retriever: Retriever, settings: Settings, llm=None) -> Answerer:
    """Build the answerer ``name`` for ``retriever`` (``llm``: a LangChain chat model, for answerers that use one)."""
    target, _ = REGISTRY[check_name(name)]
    module, factory = target.split(":")
    return getattr(import_module(module), factory)(retriever, settings, llm)


__all__ = ["ABSTAIN_TEXT", "Answerer", "Query", "REGISTRY", "Reply", "check_name", "describe", "make_answerer", "names"]
