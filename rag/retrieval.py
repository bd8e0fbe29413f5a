"""Search the index: dense (FAISS), lexical (BM25) or both fused by reciprocal rank fusion, then reranked.

Hybrid fusion adds, for each candidate chunk, the ranks of its paragraph in a dense and a BM25 search over
whole paragraphs (weight ``paragraph_weight``; see :mod:`rag.paragraphs`). With ``rerank`` (off by default)
the best ``rerank_candidates`` fused passages are reordered by a trained reader (:mod:`rag.reader`): a
passage's score becomes the reader's best score of its sentences (the learned ranking of reader score and cosine), and ``fused_score`` keeps the fusion's.

Example:
    >>> retriever = load_retriever("index")            # doctest: +SKIP
    >>> retriever.search("Where was the dialogue held?", k=3)   # doctest: +SKIP
    [Passage(id=0, source='china-pakistan-strategic-dialogue-2026.txt', start=0, end=389, ...), ...]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.answer_types import answer_type, holds_type
from rag.reader.candidates import candidates
from rag.config import PACKAGED_MODEL, Mode, Settings
from rag.embedders import REGISTRY, EmbedderLike, make_embedder, resolve
from rag.embedding import ONNX_FILE, Embedder, VectorCache
from rag.errors import RagError
from rag.reader.evidence import sigmoid
from rag.fusion import Fusion, load_fusion
from rag.index import Index, current_build, load_index
from rag.reader import Reader, load_reader
from rag.records import Chunk, Passage, PassageList

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever

MODES = ("hybrid", "dense", "bm25")
MAX_K = 100
"""The most passages one LangChain retriever call returns (as the ``top_k`` setting's bound)."""
VECTOR_CACHE = 20_000
"""Sentence vectors kept for :meth:`Retriever.cosines` (about 30 MB)."""


@dataclass(frozen=True)
class Pool:
    """The fused candidates of a query in reciprocal-rank-fusion order, with each one's raw signals
    (:data:`rag.fusion.SIGNALS`, arrays in passage order)."""

    passages: list[Passage]
    signals: dict[str, np.ndarray]


class Retriever:
    """Hybrid retrieval over a loaded :class:`~rag.index.Index`; safe to call from many threads."""

    def __init__(self, index: Index, embedder: EmbedderLike, settings: Settings, reader: Reader | None = None,
                 cosine_embedder: Embedder | None = None, fusion: Fusion | None = None):
        self.index = index
        self.embedder = embedder
        """The index's model: queries are embedded with it (``encode_queries``) for dense search."""
        self.cosine_embedder = cosine_embedder or embedder
        """The sentence-transformers model of :meth:`cosines` (the index's own, or the packaged MiniLM)."""
        self.settings = settings
        self.reader = reader
        self.fusion = fusion
        """The learned ranking (None: the reciprocal rank fusion order)."""
        self._sentences = VectorCache(self.cosine_embedder, VECTOR_CACHE)

    @property
    def chunks(self) -> list[Chunk]:
        return self.index.chunks

    def close(self) -> None:
        """Release the index's vector store (needed before another process opens a Milvus Lite index)."""
        self.index.close()

    def dense(self, query: str, n: int, vector: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Chunk ids and cosine similarities of the ``n`` nearest chunks (``vector``: the query's, if known)."""
        scores, ids = self.index.store.search(self.embedder.encode_queries([query]) if vector is None else vector, n)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        """Chunk ids and BM25 scores of the ``n`` best-matching chunks."""
        scores, ids = self.index.store.text_search(query, n)
        return [(int(i), float(s)) for i, s in zip(ids, scores)]

    def search(self, query: str, k: int | None = None, mode: Mode | None = None, rerank: bool | None = None) -> PassageList:
        """The ``k`` best passages for ``query``, best first, never two overlapping spans of one file;
        ``rerank`` (default: the setting) has the reader order the fused candidates."""
        k = k or self.settings.top_k
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise RagError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
        if not query or not query.strip():
            raise RagError("the query is empty: type a question or some keywords")
        if (self.settings.rerank if rerank is None else rerank) and self.reader is not None:
            pool = self.pool(query, max(k, self.settings.rerank_candidates), mode)
            return PassageList(self.rerank(query, pool.passages)[:k])
        if mode == "hybrid" and self.fusion is not None:
            pool = self.pool(query, max(k, self.settings.rerank_candidates))
            return PassageList(self.fuse(pool, self.crosslingual(query))[:k])
        return PassageList(self.pool(query, k, mode).passages)

    def pool(self, query: str, size: int, mode: Mode = "hybrid") -> Pool:
        """The best ``size`` candidates of ``query`` by reciprocal rank fusion (or one ranking, for ``mode``),
        never two overlapping spans of one file, with their signals."""
        query = self.expand(query)
        n = max(self.settings.candidates, size * 2)
        vector = self.embedder.encode_queries([query]) if mode != "bm25" else None
        dense = self.dense(query, n, vector) if mode != "bm25" else []
        lexical = self.lexical(query, n) if mode != "dense" else []
        d_rank = {cid: r for r, (cid, _) in enumerate(dense, 1)}
        b_rank = {cid: r for r, (cid, _) in enumerate(lexical, 1)}
        para: dict[int, float] = {}
        if mode == "hybrid":
            fused, para = self._fuse(query, vector, n, d_rank, b_rank)
            ranked = sorted(fused.items(), key=lambda x: -x[1])
        else:
            ranked = dense or lexical
        passages = self._passages(ranked, size, d_rank, b_rank)
        if mode != "hybrid":
            return Pool(passages, {})
        # a chunk beyond the dense candidates is at most as close as the last of them
        d_score, floor = dict(dense), min((s for _, s in dense), default=0.0)
        b_score = dict(lexical)
        top = max(b_score.values(), default=0.0) or 1.0
        kind = answer_type(query)
        signals = {
            "e5": np.array([d_score.get(p.id, floor) for p in passages]),
            "cosine": self.passage_cosines(query, passages),
            "bm25": np.array([b_score.get(p.id, 0.0) / top for p in passages]),
            "rrf": np.array([p.score for p in passages]),
            "para": np.array([para.get(p.id, 0.0) for p in passages]),
            "typed": np.array([float(holds_type(kind, p.text, query)) for p in passages]),
        }
        return Pool(passages, signals)

    @cached_property
    def corpus_language(self) -> str | None:
        """The documents' language, from the text of their first chunks (None when unclear)."""
        from rag.language import language

        sample, size = [], 0
        for c in self.chunks:
            sample.append(c.text)
            size += len(c.text)
            if size > 20_000:
                break
        return language(" ".join(sample)) if sample else None

    def crosslingual(self, question: str) -> bool:
        """Whether ``question`` is clearly in another language than the documents (:mod:`rag.language`)."""
        from rag.language import differs

        return differs(question, self.corpus_language)

    def fuse(self, pool: Pool, crosslingual: bool = False) -> list[Passage]:
        """The pool ordered by the learned fusion (its cross-lingual part for a question in another language);
        ``score`` is its probability that the passage answers, ``fused_score`` the reciprocal rank fusion's,
        ``dense_score`` the cosine under the index's model."""
        if not pool.passages:
            return []
        probs = sigmoid(self.fusion.scores(pool.signals, crosslingual))
        scored = [replace(p, score=float(z), fused_score=p.score, dense_score=float(d))
                  for p, z, d in zip(pool.passages, probs, pool.signals["e5"])]
        return sorted(scored, key=lambda p: -p.score)

    def cosines(self, question: str, sentences: list[str]) -> np.ndarray:
        """Cosine similarity of ``question`` and each of ``sentences`` under :attr:`cosine_embedder` (vectors kept
        in a bounded cache shared by all threads)."""
        vectors = self._sentences.encode([question, *sentences])
        return (vectors[1:] @ vectors[0]).astype(np.float64)

    def passage_cosines(self, question: str, passages: list[Passage]) -> np.ndarray:
        """Cosine similarity of ``question`` and each chunk of ``passages`` under :attr:`cosine_embedder`: the
        chunks' vectors were stored when the index was built, so only the question is embedded."""
        if not passages:
            return np.zeros(0)
        rows = np.asarray(self.index.cosines[[p.id for p in passages]], dtype=np.float32)
        return (rows @ self._sentences.encode([question])[0]).astype(np.float64)

    def rerank(self, query: str, passages: list[Passage]) -> list[Passage]:
        """``passages`` ordered by the reader's best sentence score (ties keep their order), that score as ``score``:
        the reader's ranking of the sentences (:mod:`rag.reader.evidence`) as a probability."""
        cands = candidates(passages, self.context_before)
        best: dict[int, float] = {}
        if cands:
            judged = self.reader.judge(query, [(c.text, c.before) for c in cands], self.cosines(query, [c.text for c in cands]))
            for c, z in zip(cands, sigmoid(judged.scores)):
                best[c.passage.id] = max(best.get(c.passage.id, 0.0), float(z))
        scored = [replace(p, score=best.get(p.id, 0.0), fused_score=p.score) for p in passages]
        return sorted(scored, key=lambda p: -p.score)

    def _fuse(self, query: str, vector: np.ndarray, n: int, d_rank: dict, b_rank: dict) -> tuple[dict[int, float], dict[int, float]]:
        """Weighted reciprocal rank fusion of the chunk rankings, plus each chunk's paragraph ranks; and that
        paragraph part alone."""
        s = self.settings
        fused: dict[int, float] = {}
        for ranks, weight in ((d_rank, s.dense_weight), (b_rank, 1.0)):
            for cid, r in ranks.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (s.rrf_k + r)
        paragraphs = self.index.paragraphs
        if s.paragraph_weight:
            bonus: dict[int, float] = {}
            for ranking in paragraphs.search(vector[0], query, n):
                for r, p in enumerate(ranking, 1):
                    bonus[p] = bonus.get(p, 0.0) + s.paragraph_weight / (s.rrf_k + r)
            bonus = {cid: bonus.get(paragraphs.of[cid], 0.0) for cid in fused}
            for cid in fused:
                fused[cid] += bonus[cid]
            return fused, bonus
        return fused, {}

    def _passages(self, ranked, k: int, d_rank: dict, b_rank: dict) -> list[Passage]:
        out: list[Passage] = []
        for cid, score in ranked:
            c = self.chunks[cid]
            if any(p.source == c.source and p.start < c.end and c.start < p.end for p in out):
                continue
            out.append(Passage(c.id, c.source, c.start, c.end, c.text, score, d_rank.get(cid), b_rank.get(cid), c.para_start, c.para_end))
            if len(out) == k:
                break
        return out

    def expand(self, query: str) -> str:
        """``query`` with each acronym the corpus spells out but never uses followed by its name ("SCO (Shanghai ...)");
        see :meth:`rag.acronyms.Acronyms.expand`."""
        return self.index.acronyms.expand(query)

    def spell_out(self, text: str) -> str:
        """``text`` with each acronym the corpus defines followed by its name ("CPEC (China-Pakistan ...)")."""
        return self.index.acronyms.spell_out(text)

    def before(self, passage: Passage, within_paragraph: bool = True) -> Passage | None:
        """The chunk just before ``passage`` in its paragraph (or, ``within_paragraph=False``, in its file), not
        overlapping it, as a passage (score 0)."""
        if passage.id <= 0 or passage.id >= len(self.chunks) or self.chunks[passage.id].start != passage.start:
            return None
        c = self.chunks[passage.id - 1]
        same = (c.source, c.para_start) == (passage.source, passage.para_start) if within_paragraph else c.source == passage.source
        if not same or c.end > passage.start:
            return None
        return Passage(c.id, c.source, c.start, c.end, c.text, 0.0, None, None, c.para_start, c.para_end)

    def context_before(self, passage: Passage) -> Passage | None:
        """The chunk whose last sentence is the reader's context for ``passage``'s first sentence (setting
        ``reader_context``: the paragraph, or the whole file, so a paragraph's opening sentence gets the one before)."""
        return self.before(passage, within_paragraph=self.settings.reader_context == "paragraph")

    def as_langchain(self, k: int | None = None, mode: Mode | None = None) -> BaseRetriever:
        """This retriever as a LangChain ``BaseRetriever``, returning ``k`` passages (1 to :data:`MAX_K`; default
        the ``top_k`` setting) searched in ``mode`` (``hybrid``, ``dense`` or ``bm25``; default the ``mode``
        setting). A ``k`` out of range or an unknown mode is a :class:`RagError` here, when the object is made;
        ``invoke(query, k=3, mode="dense")`` (and ``ainvoke``) overrides either for one call, checked the same way.

        Each Document is a passage (an exact span of its file) with ``source``, ``start``, ``end``, ``chunk_id``
        and ``score`` in its metadata. What ``score`` means depends on the mode (higher is better in each):

        - ``hybrid`` (with the learned fusion, the default): the fusion's probability, 0 to 1, that the passage
          answers the query; without a fusion card for the index's model (or with ``fusion=false``): the
          reciprocal rank fusion score ``Σ weight / (rrf_k + rank)``;
        - ``dense``: the cosine similarity of the query (e5's query role) and the passage, -1 to 1;
        - ``bm25``: the raw BM25 score of the passage, 0 and up, comparable only within one query;
        - with ``rerank`` on, in any mode: the reader's probability that the passage answers.
        """
        return _langchain_retriever_class()(retriever=self, k=self.settings.top_k if k is None else k,
                                            mode=mode or self.settings.mode)


def check_k(k: int) -> int:
    """``k`` if it is a whole number of passages from 1 to :data:`MAX_K`, else a :class:`RagError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise RagError(f"k must be a whole number of passages from 1 to {MAX_K}, not {k!r}")
    return int(k)


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else a :class:`RagError`."""
    if mode not in MODES:
        raise RagError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


@lru_cache(maxsize=1)
def _langchain_retriever_class() -> type:
    """The LangChain adapter class, defined on first use so that importing this module does not import LangChain."""
    from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables.config import run_in_executor
    from pydantic import field_validator

    class LangchainRetriever(BaseRetriever):
        """LangChain adapter for :class:`Retriever` (use :meth:`Retriever.as_langchain`, whose docstring says what
        ``metadata["score"]`` means in each mode). ``k`` (1 to :data:`MAX_K`) and ``mode`` are checked when the
        object is made, with a :class:`RagError`; ``invoke(query, k=..., mode=...)`` overrides them for one call."""

        retriever: Any
        k: int = 5
        mode: str = "hybrid"

        @field_validator("k")
        @classmethod
        def _valid_k(cls, k: int) -> int:
            return check_k(k)  # a RagError passes through pydantic unchanged

        @field_validator("mode")
        @classmethod
        def _valid_mode(cls, mode: str) -> str:
            return check_mode(mode)

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                    k: int | None = None, mode: str | None = None) -> list[Document]:
            k = self.k if k is None else check_k(k)
            mode = self.mode if mode is None else check_mode(mode)
            return [
                Document(
                    page_content=p.text,
                    metadata={"source": p.source, "start": p.start, "end": p.end, "score": p.score, "chunk_id": p.id},
                )
                for p in self.retriever.search(query, k=k, mode=mode)
            ]

        async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                           k: int | None = None, mode: str | None = None) -> list[Document]:
            return await run_in_executor(None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(),
                                         k=k, mode=mode)

    LangchainRetriever.__module__ = __name__
    return LangchainRetriever


def __getattr__(name: str):
    if name == "LangchainRetriever":  # ``from rag.retrieval import LangchainRetriever`` still works
        return _langchain_retriever_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _query_embedder(settings: Settings, build: Path | None) -> Embedder:
    """The sentence-transformers model for cosines (and queries of a MiniLM index): the build's ONNX export when
    it has one (loading at once, in the background)."""
    onnx_path = build / ONNX_FILE if build is not None and (build / ONNX_FILE).is_file() else None
    name = resolve(settings.embedding_model)
    embedder = Embedder(PACKAGED_MODEL if name in REGISTRY else name, settings.batch_size, onnx_path=onnx_path)
    try:
        embedder.warm_up()
    except RagError:
        pass  # a missing model is reported when it is used, after the index's own checks
    return embedder


def load_retriever(index_dir: str | Path = "index", settings: Settings | None = None) -> Retriever:
    """Load the index in ``index_dir`` and the configured embedding model; check that they match.

    Queries are encoded with the index's ONNX export of the model when it has one and ONNX Runtime is
    installed (fast start-up, same vectors), else with sentence-transformers.
    """
    settings = settings or Settings()
    try:
        build = current_build(Path(index_dir))
    except RagError:
        build = None  # load_index reports it
    cosine = _query_embedder(settings, build)  # loads while the index is read
    index = load_index(index_dir, settings)
    if (index.manifest.get("query_encoder") or {}).get("kind") != "onnx":
        cosine = Embedder(cosine.model_name, settings.batch_size)
    elif index.path != build:  # rebuilt meanwhile
        cosine = _query_embedder(settings, index.path)
    embedder = cosine if cosine.model_name == resolve(settings.embedding_model) else make_embedder(settings.embedding_model, settings.batch_size)
    if embedder.dimension != index.manifest["embedding_dimension"]:
        raise RagError(
            f"the configured embedding model gives {embedder.dimension}-dimensional vectors, the index in {index_dir} "
            f"holds {index.manifest['embedding_dimension']}: rebuild it with `rag index --force`"
        )
    fusion = None
    if settings.fusion:
        try:
            fusion = load_fusion(index.manifest["embedding_model"], settings.fusion_model)
        except RagError:
            fusion = None  # no card for this model: the reciprocal rank fusion order (the evidence answerer says why)
    reader = load_reader(settings.reader_model) if settings.rerank else None
    return Retriever(index, embedder, settings, reader, cosine, fusion)
