"""Vector stores: one seam for every engine that holds the index's rows, and a registry to choose one by name.

A build writes two tables, ``chunks`` and ``paragraphs``. Each row (its number is the chunk or paragraph id)
has a dense vector and a text; a :class:`VectorStore` answers dense inner-product search and BM25 full-text
search over them. A :class:`StoreBackend` builds a table, opens it again from what ``describe()`` recorded in
the manifest, makes a finished build the one other clients see (``publish``) and removes what no live build
uses (``cleanup``). Both BM25 analyses use :func:`rag.lexical.tokenize` (stemmed English without stop words).

Backends (setting ``vector_store``, env ``RAG_VECTOR_STORE``):

- ``faiss`` (default): FAISS and bm25s files inside the build folder (:mod:`rag.stores.faiss`);
- ``milvus``: a Milvus collection per table and build, Milvus Lite in ``index/milvus.db`` or a server at
  ``RAG_MILVUS_URI`` (:mod:`rag.stores.milvus`; ``pip install rag-chat[milvus]``).

A new engine is one module with a backend class plus one entry in :data:`BACKENDS`; ``tests/test_store_contract.py``
runs the same contract against every registered backend.

Example:
    >>> backend = open_backend(Settings(), Path("index"))                      # doctest: +SKIP
    >>> table = backend.build(folder, "chunks", vectors, texts)               # doctest: +SKIP
    >>> table.search(vectors[:1], k=3)[1][0].tolist(); table.text_search("corridor", 3)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import Settings
from rag.errors import RagError

BACKENDS = {
    "faiss": ("rag.stores.faiss", "FaissBackend", None),
    "milvus": ("rag.stores.milvus", "MilvusBackend", "milvus"),
}
"""Backend name → (module, class, the pip extra it needs)."""
TABLES = ("chunks", "paragraphs")
"""The tables every build writes."""


class VectorStore(Protocol):
    """Dense and BM25 search over rows numbered 0 … n-1."""

    dimension: int

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Inner-product scores and row ids, each ``(len(queries), min(k, len(self)))``; a missing hit has id -1."""
        ...

    def text_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores and row ids of at most ``k`` rows with a positive score, best first."""
        ...

    def idf(self, token: str) -> float:
        """BM25 inverse document frequency of a stemmed token (unseen tokens get the highest value)."""
        ...

    def describe(self) -> dict:
        """What the manifest records: enough for :meth:`StoreBackend.open` to find the table again."""
        ...


class StoreBackend(Protocol):
    """Builds, opens, publishes and cleans up the tables of an index directory."""

    name: str

    def build(self, folder: Path, table: str, vectors: np.ndarray, texts: Sequence[str]) -> VectorStore:
        """A new table of ``vectors`` (normalised float32 rows) and ``texts``; ``folder`` is the new build's."""
        ...

    def open(self, folder: Path, table: str, description: dict) -> VectorStore:
        """The table ``description`` names; a missing or damaged one is a :class:`RagError` naming the fix."""
        ...

    def publish(self, descriptions: dict[str, dict]) -> None:
        """Called once a build is live: point whatever other clients read at its tables."""
        ...

    def cleanup(self, keep: Sequence[dict]) -> None:
        """Remove the tables of unfinished or replaced builds (never those described in ``keep``)."""
        ...

    def close(self) -> None:
        """Release connections and locks (a Milvus Lite file can be open in one process at a time)."""
        ...


class RemoteBackend(StoreBackend, Protocol):
    """A backend other machines can write to (``remote`` true): a build on Ray has each worker insert the rows it
    embedded through a picklable writer, so the vectors never pass through the build process."""

    remote: bool

    def create(self, table: str, dim: int, rows: int):
        """A new, empty table for ``rows`` rows and its writer: ``writer.write(ids, texts, vectors)`` → document frequencies."""
        ...

    def finish(self, folder: Path, writer, rows: int, df) -> VectorStore:
        """The filled table, searchable, with its document frequencies ``df`` recorded in ``folder``."""
        ...


def open_backend(settings: Settings, index_dir: Path) -> StoreBackend:
    """The backend ``settings.vector_store`` names, for the index in ``index_dir``."""
    name = settings.vector_store
    if name not in BACKENDS:
        raise RagError(f"unknown vector store {name!r}: use one of {', '.join(BACKENDS)} (setting vector_store, RAG_VECTOR_STORE)")
    module, cls, extra = BACKENDS[name]
    try:
        backend = getattr(import_module(module), cls)
    except ImportError as exc:
        raise RagError(f"the {name} vector store needs {exc.name or 'an optional package'}: "
                       f"pip install 'rag-chat[{extra}]'") from None
    return backend(settings, Path(index_dir))


def as_queries(queries: np.ndarray, dimension: int) -> np.ndarray:
    """``queries`` as contiguous float32 rows of ``dimension``; any other shape is a ValueError naming both."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries.reshape(1, -1)
    if queries.ndim != 2 or queries.shape[1] != dimension:
        raise ValueError(f"query vectors have dimension {queries.shape[-1]}, the store holds {dimension}")
    return queries
