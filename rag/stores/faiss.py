"""The default vector store: FAISS for the vectors and bm25s for BM25, files inside the build folder.

:class:`FaissBackend` implements :class:`rag.stores.StoreBackend`; a table is ``{table}.faiss`` plus
``{table}_bm25/`` in the build folder, so the build folder's atomic switch (``CURRENT``) publishes it and
deleting an old build folder removes it. :class:`FaissStore` is the FAISS index alone.

The FAISS index type follows the corpus size (``kind=None``): exact search (``flat``) up to ``exact_max``
vectors; above it ``ivf``, an inverted file (``nlist`` ≈ 4·√n lists, k-means on a sample) whose lists hold
4-bit product-quantised codes scanned with SIMD (FAISS "fast scan", 2 dimensions per sub-quantiser), the best
``k × k_factor`` candidates re-ranked with 8-bit scalar-quantised vectors: ``IVF{nlist},PQ{d/2}x4fs,Refine(SQ8)``,
about 500 bytes per 384-d vector (a third of the float vectors). ``hnsw`` (``HNSW32``, float vectors) can be
asked for; at a million vectors it built in 881 s against 63 s for ``ivf``, with lower recall, on this machine.
The type and its parameters are recorded by :meth:`FaissStore.describe` (the index manifest keeps them).
Loading asks FAISS to memory-map the file (it does for exact indexes; other types are read into memory).

FAISS runs single-threaded unless ``RAG_FAISS_THREADS`` says otherwise: on a small shared machine OpenMP's
busy-waiting threads made IVF training 8x slower and exact search 2.5-3.6x slower whenever another process
used a core, and a single query (what retrieval issues) gains little from threads.

Example:
    >>> import numpy as np
    >>> store = FaissStore.build(np.eye(3, dtype="float32"))
    >>> store.search(np.eye(3, dtype="float32")[:1], k=2)[1][0].tolist()
    [0, 1]
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.errors import RagError
from rag.lexical import BM25Index
from rag.stores import as_queries

KINDS = ("flat", "hnsw", "ivf")
_ERRNO = {os.strerror(code): code for code in errno.errorcode}
IVF_TRAIN_PER_LIST = 32
"""Training vectors per inverted list (k-means sample size = this × nlist, at most all vectors)."""
IVF_NITER = 10
"""k-means iterations when training the IVF coarse quantiser."""
IVF_PROBE_SHARE = 1 / 16
"""Share of the inverted lists visited per query (nprobe = nlist × this, at least 32)."""
IVF_K_FACTOR = 10
"""Candidates re-ranked with the 8-bit vectors, per result asked for."""


@lru_cache(maxsize=1)
def _faiss():
    """The faiss module, with its OpenMP thread count set from ``RAG_FAISS_THREADS`` (default 1)."""
    import faiss

    threads = os.environ.get("RAG_FAISS_THREADS", "").strip()
    faiss.omp_set_num_threads(max(1, int(threads)) if threads.isdigit() else 1)
    return faiss


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: about 4·√n, a power of two, between 64 and 65536."""
    return int(min(65536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))


IVF_MIN_VECTORS = 16
"""Fewer vectors than this are always searched exactly (4-bit product quantisers train 16 centroids)."""


def choose_kind(n: int, exact_max: int = 50_000) -> str:
    """The index type ``auto`` picks for ``n`` vectors: exact up to ``exact_max``, IVF above."""
    return "flat" if n <= exact_max or n < IVF_MIN_VECTORS else "ivf"


class FaissStore:
    """FAISS inner-product index: exact (flat) up to ``exact_max`` vectors, IVF-PQ fast scan above it (or HNSW on request)."""

    def __init__(self, index, kind: str):
        self.index = index
        self.kind = kind

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        exact_max: int = 50_000,
        kind: str | None = None,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ) -> FaissStore:
        """Index ``vectors`` (normalised float32 rows); ``kind`` ("flat", "hnsw" or "ivf") overrides the size rule.

        For ``ivf``, ``nlist`` (default :func:`ivf_lists`) and ``nprobe`` (default nlist/16, at least 32)
        tune the inverted file; the k-means sample is drawn with ``seed``, so a build is reproducible.
        """
        faiss = _faiss()

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        kind = kind or choose_kind(n, exact_max)
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        elif kind == "ivf":
            if n < IVF_MIN_VECTORS:
                raise RagError(f"an ivf FAISS index needs at least {IVF_MIN_VECTORS} chunks ({n} given): use faiss_kind flat or auto")
            nlist = min(nlist or ivf_lists(n), max(1, n // 39))  # FAISS needs ~39 training points per list
            pq = f"PQ{dim // 2}x4fs" if dim % 2 == 0 else f"PQ{dim}x4fs"
            index = faiss.index_factory(dim, f"IVF{nlist},{pq},Refine(SQ8)", faiss.METRIC_INNER_PRODUCT)  # owns its parts
            ivf = faiss.extract_index_ivf(index)
            ivf.cp.niter = IVF_NITER
            ivf.cp.seed = seed
            sample = min(n, IVF_TRAIN_PER_LIST * nlist)
            rows = np.sort(np.random.default_rng(seed).choice(n, sample, replace=False)) if sample < n else slice(None)
            index.train(vectors[rows])
            ivf.nprobe = min(nlist, nprobe or max(32, round(nlist * IVF_PROBE_SHARE)))
            faiss.downcast_index(index).k_factor = IVF_K_FACTOR
        else:
            raise ValueError(f"unknown FAISS index kind {kind!r}: use one of {', '.join(KINDS)}")
        for start in range(0, n, 65536):  # bounded temporary memory for the quantiser's assignments
            index.add(vectors[start : start + 65536])
        return cls(index, kind)

    @classmethod
    def load(cls, path: Path, kind: str) -> FaissStore:
        """Read an index written by :meth:`save` (FAISS's own format), memory-mapped where FAISS supports it."""
        faiss = _faiss()

        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            index = faiss.read_index(str(path))
        return cls(index, kind)

    def describe(self) -> dict:
        """Type and parameters of the index, as the manifest records them."""
        faiss = _faiss()

        out: dict = {"kind": self.kind, "vectors": len(self), "dimension": int(self.index.d)}
        if self.kind == "ivf":
            ivf = faiss.extract_index_ivf(self.index)
            pq = faiss.downcast_index(ivf).pq
            out.update(factory=f"IVF{ivf.nlist},PQ{pq.M}x{pq.nbits}fs,Refine(SQ8)", nlist=int(ivf.nlist), nprobe=int(ivf.nprobe),
                       k_factor=float(faiss.downcast_index(self.index).k_factor))
        elif self.kind == "hnsw":
            hnsw = faiss.downcast_index(self.index).hnsw
            out.update(factory="HNSW32", ef_construction=int(hnsw.efConstruction), ef_search=int(hnsw.efSearch))
        else:
            out.update(factory="Flat")
        return out

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self.index.search(queries, k)

    def save(self, path: Path) -> None:
        """Write the index in FAISS's format; a failed write (a full disk) is the :class:`OSError` it stands for."""
        faiss = _faiss()

        try:
            faiss.write_index(self.index, str(path))
        except RuntimeError as exc:  # FAISS ends its message with the system's reason: "… (No space left on device)"
            found = re.search(r"\(([^()]+)\)\s*$", str(exc).strip().splitlines()[0])
            why = found.group(1) if found else str(exc).strip().splitlines()[0][:200]
            raise OSError(_ERRNO.get(why, errno.EIO), why, str(path)) from None


class FaissTable:
    """A FAISS index and a bm25s index over the same rows (:class:`rag.stores.VectorStore`)."""

    def __init__(self, vectors: FaissStore, bm25: BM25Index | None):
        self.vectors, self.bm25 = vectors, bm25  # bm25 is None for an empty table (bm25s cannot index nothing)
        self.dimension = int(vectors.index.d)
        if (bm25.num_docs if bm25 else 0) != len(vectors):
            raise RagError(f"the FAISS and BM25 files disagree on the row count ({len(vectors)} vectors, {bm25.num_docs} texts)")

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.vectors.search(as_queries(queries, self.dimension), k)

    def text_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.bm25 is None:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        return self.bm25.search(query, k)

    def idf(self, token: str) -> float:
        return self.bm25.idf(token) if self.bm25 else 0.0

    def describe(self) -> dict:
        return {"backend": "faiss", **self.vectors.describe()}


class FaissBackend:
    """Tables as files of the build folder; the index type follows ``faiss_kind`` and ``faiss_exact_max``."""

    name = "faiss"

    def __init__(self, settings: Settings, index_dir: Path):
        self.kind = None if settings.faiss_kind == "auto" else settings.faiss_kind
        self.exact_max = settings.faiss_exact_max

    def build(self, folder: Path, table: str, vectors: np.ndarray, texts: Sequence[str]) -> FaissTable:
        if len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts")
        out = FaissTable(FaissStore.build(vectors, exact_max=self.exact_max, kind=self.kind), BM25Index.build(list(texts)) if texts else None)
        out.vectors.save(folder / f"{table}.faiss")
        if out.bm25:
            out.bm25.save(folder / f"{table}_bm25")
        return out

    def open(self, folder: Path, table: str, description: dict) -> FaissTable:
        fix = "rebuild it with `rag index --force`"
        vectors, bm25 = folder / f"{table}.faiss", folder / f"{table}_bm25"
        for path in (vectors, bm25) if description.get("vectors") else (vectors,):
            if not path.exists():
                raise RagError(f"index file missing: {path}: {fix}")
        try:
            store = FaissStore.load(vectors, description.get("kind", "flat"))
        except RuntimeError as exc:
            raise RagError(f"index file corrupted: {vectors} ({str(exc).splitlines()[0][:120]}): {fix}") from None
        try:
            lexical = BM25Index.load(bm25) if description.get("vectors") else None
        except (OSError, ValueError, KeyError) as exc:
            raise RagError(f"index file corrupted: {bm25} ({exc}): {fix}") from None
        try:
            return FaissTable(store, lexical)
        except RagError as exc:
            raise RagError(f"{exc} in {folder}: {fix}") from None

    def publish(self, descriptions: dict[str, dict]) -> None:
        """Nothing to do: the build folder's switch already published the files."""

    def cleanup(self, keep: Sequence[dict]) -> None:
        """Nothing to do: old build folders are deleted with their files."""

    def close(self) -> None:
        """Nothing to release."""
