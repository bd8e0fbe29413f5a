"""rag: retrieval-augmented question answering over a local corpus, with exact citations.

Example:
    >>> import rag
    >>> rag.build_index("seeds", "index")              # doctest: +SKIP
    >>> retriever = rag.load_retriever("index")        # doctest: +SKIP
    >>> retriever.search("Who hosted the dialogue?", k=3)   # doctest: +SKIP
"""

from rag.chain import Chain, load_chain
from rag.config import Settings
from rag.corpus import load_corpus, read_source, source_path
from rag.embedding import Embedder
from rag.errors import RagError
from rag.index import BuildReport, build_index, index_is_current, load_index
from rag.lexical import BM25Index
from rag.records import Answer, Chunk, Citation, Passage, PassageList
from rag.retrieval import Retriever, load_retriever
from rag.rewrite import rewrite_query
from rag.store import FaissStore, VectorStore

__all__ = [
    "Answer",
    "BM25Index",
    "BuildReport",
    "Chain",
    "Chunk",
    "Citation",
    "Embedder",
    "FaissStore",
    "Passage",
    "PassageList",
    "RagError",
    "Retriever",
    "Settings",
    "VectorStore",
    "build_index",
    "index_is_current",
    "load_chain",
    "load_corpus",
    "load_index",
    "load_retriever",
    "read_source",
    "rewrite_query",
    "source_path",
]
