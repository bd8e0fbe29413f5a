"""rag: retrieval-augmented question answering over a local corpus, with exact citations.

Example:
    >>> import rag
    >>> rag.build_index("seeds", "index")              # doctest: +SKIP
    >>> retriever = rag.load_retriever("index")        # doctest: +SKIP
    >>> retriever.search("Who hosted the dialogue?", k=3)   # doctest: +SKIP
"""

from rag.answerers import Answerer, Query, Reply, make_answerer
from rag.chain import Chain, history_turns, load_chain
from rag.config import Settings
from rag.corpus import load_corpus, read_source, source_path
from rag.documents import DocumentInfo, add_documents, list_documents, remove_document
from rag.embedding import Embedder
from rag.errors import RagError
from rag.examples import example_questions
from rag.export import conversation_markdown
from rag.fusion import Fusion, load_fusion
from rag.index import BuildReport, build_index, index_is_current, load_index, verify_index
from rag.lexical import BM25Index
from rag.manager import Change, DocumentManager
from rag.reader import Reader, load_reader
from rag.records import Answer, Chunk, Citation, Passage, PassageList, ShortAnswer
from rag.retrieval import Retriever, load_retriever
from rag.rewrite import rewrite_query
from rag.stores import StoreBackend, VectorStore, open_backend
from rag.stores.faiss import FaissStore

__all__ = [
    "Answer",
    "Answerer",
    "BM25Index",
    "BuildReport",
    "Chain",
    "Change",
    "Chunk",
    "Citation",
    "DocumentInfo",
    "DocumentManager",
    "Embedder",
    "FaissStore",
    "Fusion",
    "Passage",
    "PassageList",
    "Query",
    "RagError",
    "Reader",
    "Reply",
    "Retriever",
    "Settings",
    "ShortAnswer",
    "StoreBackend",
    "VectorStore",
    "add_documents",
    "build_index",
    "conversation_markdown",
    "example_questions",
    "index_is_current",
    "history_turns",
    "list_documents",
    "load_chain",
    "load_corpus",
    "load_fusion",
    "load_index",
    "load_reader",
    "load_retriever",
    "make_answerer",
    "open_backend",
    "read_source",
    "remove_document",
    "rewrite_query",
    "source_path",
    "verify_index",
]
