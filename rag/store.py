"""Vector stores: a small interface, and the FAISS implementation the index uses.

Another engine (a vector database) plugs in by implementing :class:`VectorStore`; retrieval code only calls
``search``.

Example:
    >>> import numpy as np
    >>> store = FaissStore.build(np.eye(3, dtype="float32"))
    >>> store.search(np.eye(3, dtype="float32")[:1], k=2)[1][0].tolist()
    [0, 1]
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorStore(Protocol):
    """Inner-product search over vectors whose row number is the chunk id."""

    kind: str

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids, each of shape ``(len(queries), k)``; missing hits have id -1."""
        ...

    def save(self, path: Path) -> None: ...


class FaissStore:
    """FAISS inner-product index: exact (flat) up to ``exact_max`` vectors, HNSW above it."""

    def __init__(self, index, kind: str):
        self.index = index
        self.kind = kind

    @classmethod
    def build(cls, vectors: np.ndarray, exact_max: int = 50_000, kind: str | None = None) -> FaissStore:
        """Index ``vectors`` (normalised float32 rows); ``kind`` ("flat" or "hnsw") overrides the size rule."""
        import faiss

        kind = kind or ("flat" if len(vectors) <= exact_max else "hnsw")
        dim = vectors.shape[1]
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        else:
            raise ValueError(f"unknown FAISS index kind {kind!r}: use flat or hnsw")
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, kind)

    @classmethod
    def load(cls, path: Path, kind: str) -> FaissStore:
        """Read an index written by :meth:`save` (FAISS's own format, memory-mapped where FAISS supports it)."""
        import faiss

        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if kind == "flat" else 0
        return cls(faiss.read_index(str(path), flags), kind)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self)))

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))
