"""FAISS store: index type by size (or asked for), recall of the approximate types, save/load, manifest."""

import numpy as np
import pytest

import rag
from rag.stores.faiss import FaissStore, choose_kind, ivf_lists
from tests.conftest import SEEDS


def clustered(n: int, dim: int = 32, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centers[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall_at_10(store: FaissStore, exact: FaissStore, queries: np.ndarray) -> float:
    _, got = store.search(queries, 10)
    _, want = exact.search(queries, 10)
    return float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)]))


def test_kind_follows_size():
    assert choose_kind(50_000) == "flat" and choose_kind(50_001) == "ivf"
    assert choose_kind(100, exact_max=5) == "ivf" and choose_kind(10, exact_max=5) == "flat"  # too few to train
    assert ivf_lists(1_000_000) == 4096 and ivf_lists(100_000) == 1024 and ivf_lists(10) == 64


def test_flat_is_exact():
    vecs = clustered(500)
    store = FaissStore.build(vecs)
    assert store.kind == "flat" and len(store) == 500
    scores, ids = store.search(vecs[:3], 5)
    assert ids[:, 0].tolist() == [0, 1, 2]
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert store.describe() == {"kind": "flat", "vectors": 500, "dimension": 32, "factory": "Flat"}


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_kinds_find_the_exact_neighbours(kind):
    vecs, queries = clustered(6000), clustered(50, seed=1)
    exact = FaissStore.build(vecs, kind="flat")
    store = FaissStore.build(vecs, exact_max=1000, kind=kind)
    assert store.kind == kind and len(store) == 6000
    assert recall_at_10(store, exact, queries) >= 0.9


def test_auto_picks_ivf_above_the_threshold_and_records_its_parameters(tmp_path):
    vecs, queries = clustered(6000), clustered(20, seed=2)
    store = FaissStore.build(vecs, exact_max=1000)
    info = store.describe()
    assert info["kind"] == "ivf" and info["factory"] == f"IVF{info['nlist']},PQ16x4fs,Refine(SQ8)" and info["k_factor"] == 10
    assert 1 <= info["nprobe"] <= info["nlist"] <= 6000 // 39
    store.save(tmp_path / "v.faiss")
    loaded = FaissStore.load(tmp_path / "v.faiss", "ivf")  # memory-mapped
    assert loaded.describe() == info
    np.testing.assert_array_equal(loaded.search(queries, 10)[1], store.search(queries, 10)[1])


def test_build_is_reproducible():
    vecs = clustered(3000)
    a = FaissStore.build(vecs, kind="ivf").search(vecs[:5], 5)[1]
    b = FaissStore.build(vecs, kind="ivf").search(vecs[:5], 5)[1]
    np.testing.assert_array_equal(a, b)


def test_unknown_kind_or_too_few_vectors_is_an_error():
    with pytest.raises(ValueError, match="unknown FAISS index kind"):
        FaissStore.build(clustered(10), kind="lsh")
    with pytest.raises(rag.RagError, match="at least 16"):
        FaissStore.build(clustered(10), kind="ivf")


def test_k_larger_than_the_store():
    scores, ids = FaissStore.build(clustered(3)).search(clustered(1, seed=3), 10)
    assert ids.shape == (1, 3) and sorted(ids[0].tolist()) == [0, 1, 2]


@pytest.mark.parametrize("setting", [{"faiss_exact_max": 5}, {"faiss_kind": "ivf"}])
def test_index_above_exact_max_or_asked_for_uses_ivf_and_the_manifest_says_so(tmp_path, setting):
    settings = rag.Settings(**setting)
    report = rag.build_index(SEEDS, tmp_path / "idx", settings)
    assert report.manifest["store"]["chunks"]["kind"] == "ivf" and report.manifest["store"]["chunks"]["nlist"] >= 1
    retriever = rag.load_retriever(tmp_path / "idx", settings)
    assert retriever.index.store.vectors.kind == "ivf"
    assert "Gwadar" in retriever.search("Gwadar Port", k=1, mode="dense")[0].text
