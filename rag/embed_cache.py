"""Embeddings kept with each build, keyed by text, so that the next build embeds only what changed.

A build writes every vector it embedded (chunks and paragraphs) to ``embeddings.npy`` (float32, no pickle) and
the SHA-256 of each text to ``embeddings.keys``, one per line. The next build of the same embedding model reads
them back (memory-mapped) and embeds only texts it has not seen, so adding, changing or removing a file
re-embeds that file's chunks and paragraphs only, and the index is the one a full rebuild makes. Within a
build, a text that occurs many times (a repeated sentence, a boilerplate paragraph) is embedded once.

Example:
    >>> cached = CachedEmbedder(Embedder(), previous=Path("index/build-…"))   # doctest: +SKIP
    >>> cached.encode(["unchanged text", "new text"]).shape; cached.embedded  # doctest: +SKIP
    ((2, 384), 1)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from rag.embedding import Embedder

VECTORS = "embeddings.npy"
KEYS = "embeddings.keys"
COSINES = "cosines.npy"
COSINE_KEYS = "cosines.keys"
"""The chunks' vectors under the answerers' cosine model, one row per chunk (chunk id order): read at question
time, and the next build's cache of them."""


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CachedEmbedder:
    """``embedder.encode`` answered from the ``previous`` build's vectors where a text is the same (``files``: the
    names of the vectors and keys files)."""

    def __init__(self, embedder: Embedder, previous: Path | None = None, files: tuple[str, str] = (VECTORS, KEYS)):
        self.files = files
        self.embedder = embedder
        self.dimension = embedder.dimension
        self.reused = self.embedded = 0
        self._rows: dict[str, int] = {}
        self._old: np.ndarray | None = None
        if previous is not None:
            try:
                old = np.load(previous / files[0], mmap_mode="r", allow_pickle=False)
                keys = (previous / files[1]).read_text(encoding="ascii").split()
            except (OSError, ValueError):
                old, keys = None, []  # an older build without a cache, or a damaged one: embed everything
            if old is not None and old.ndim == 2 and old.shape == (len(keys), self.dimension):
                self._old, self._rows = old, {k: i for i, k in enumerate(keys)}
        self._keys: list[str] = []
        self._vectors: list[np.ndarray] = []

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """One row per text: from the previous build where it had the text, else embedded, each distinct text
        once (a file that repeats one sentence 100,000 times costs one embedding) and copied to its rows."""
        keys = [_key(t) for t in texts]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}  # key -> the rows of that text, in order of first appearance
        for i, k in enumerate(keys):
            row = self._rows.get(k)
            if row is None:
                missing.setdefault(k, []).append(i)
            else:
                out[i] = self._old[row]
        new = sum(len(rows) for rows in missing.values())
        if on_batch and len(texts) > len(missing):  # reused and repeated texts count as done at once
            on_batch(len(texts) - len(missing))
        if missing:
            vectors = self.embedder.encode([texts[rows[0]] for rows in missing.values()], on_batch=on_batch)
            for vector, rows in zip(vectors, missing.values()):
                out[rows] = vector
        self.reused += len(texts) - new
        self.embedded += len(missing)
        self._keys.extend(keys)
        self._vectors.append(out)
        return out

    def save(self, folder: Path, every_row: bool = False) -> None:
        """Write the vectors of this build for the next one: each text once, or (``every_row``) every row encoded,
        in order."""
        vectors = np.concatenate(self._vectors) if self._vectors else np.zeros((0, self.dimension), np.float32)
        rows = range(len(self._keys)) if every_row else sorted({k: i for i, k in reversed(list(enumerate(self._keys)))}.values())
        np.save(folder / self.files[0], np.ascontiguousarray(vectors[list(rows)]), allow_pickle=False)
        (folder / self.files[1]).write_text("".join(self._keys[i] + "\n" for i in rows), encoding="ascii")
