"""The vector store contract: every registered backend (FAISS + bm25s, Milvus Lite) passes the same tests."""

from __future__ import annotations

import numpy as np
import pytest

from rag import RagError, Settings, open_backend
from rag.stores import BACKENDS

TEXTS = [
    "The harbour at Gwadar was deepened in 2024.",
    "Honeybees dance to tell the hive where flowers are.",
    "Sourdough rises slowly because of wild yeast.",
    "The Danube rises in the Black Forest and flows to the Black Sea.",
    "Apollo 11 landed in the Sea of Tranquility.",
    "Wild yeast and lactic bacteria make the dough sour.",
]
DIM = 8


def vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    b = open_backend(Settings(vector_store=request.param), tmp_path / "idx")
    yield b
    b.close()


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "idx" / "build-1"
    path.mkdir(parents=True)
    return path


def test_row_number_is_the_id_and_search_is_by_inner_product(backend, folder):
    x = vectors(len(TEXTS))
    table = backend.build(folder, "chunks", x, TEXTS)
    assert len(table) == len(TEXTS) and table.dimension == DIM
    scores, ids = table.search(x[[4, 1]], 3)
    assert ids.shape == scores.shape == (2, 3)
    assert ids[:, 0].tolist() == [4, 1]
    exact = np.sort(x @ x[4])[::-1][:3]
    assert np.allclose(scores[0], exact, atol=1e-5)


def test_bm25_finds_stemmed_words_and_ranks_the_better_match_first(backend, folder):
    table = backend.build(folder, "chunks", vectors(len(TEXTS)), TEXTS)
    scores, ids = table.text_search("wild yeast sourdough", 5)
    assert ids[:2].tolist() == [2, 5] and (np.diff(scores) <= 0).all() and (scores > 0).all()
    assert set(table.text_search("rising", 5)[1].tolist()) == {2, 3}  # "rises" in both
    assert table.text_search("the of and", 5)[1].size == 0  # stop words only: nothing
    assert table.idf("yeast") < table.idf("harbour") < table.idf("zeppelin")


def test_k_larger_than_the_store_returns_every_row_once(backend, folder):
    table = backend.build(folder, "chunks", vectors(3), TEXTS[:3])
    scores, ids = table.search(vectors(1, seed=5), 10)
    assert ids.shape == (1, 3) and sorted(ids[0].tolist()) == [0, 1, 2]
    assert len(table.text_search("yeast harbour honeybees", 10)[1]) == 3


def test_empty_store_has_no_hits(backend, folder):
    table = backend.build(folder, "chunks", np.zeros((0, DIM), np.float32), [])
    assert len(table) == 0
    assert table.search(vectors(2), 5)[1].shape == (2, 0)
    assert table.text_search("yeast", 5)[1].size == 0


def test_wrong_dimension_is_a_clear_error(backend, folder):
    table = backend.build(folder, "chunks", vectors(len(TEXTS)), TEXTS)
    with pytest.raises(ValueError, match=f"dimension 5.*{DIM}"):
        table.search(np.ones((1, 5), np.float32), 3)
    with pytest.raises(ValueError, match="texts"):
        backend.build(folder, "paragraphs", vectors(2), TEXTS)


def test_a_table_opens_again_from_its_description(backend, folder, tmp_path):
    x = vectors(len(TEXTS))
    built = backend.build(folder, "chunks", x, TEXTS)
    description = built.describe()
    backend.close()
    again = open_backend(Settings(vector_store=description["backend"]), tmp_path / "idx")
    try:
        table = again.open(folder, "chunks", description)
        assert len(table) == len(TEXTS) and table.describe() == description
        assert table.search(x[[2]], 1)[1][0].tolist() == [2]
        assert table.text_search("Danube", 3)[1].tolist() == [3]
    finally:
        again.close()


def test_cleanup_keeps_the_live_tables_only(backend, folder, tmp_path):
    old = backend.build(folder, "chunks", vectors(3), TEXTS[:3]).describe()
    new = backend.build(folder, "chunks", vectors(4), TEXTS[:4]).describe()
    backend.publish({"chunks": new})
    backend.cleanup([new])
    assert len(backend.open(folder, "chunks", new)) == 4
    if old != new and old["backend"] == "milvus":
        with pytest.raises(RagError, match="missing.*rag index --force"):
            backend.open(folder, "chunks", old)
