import json
import shutil

import numpy as np
import pytest

import rag
from rag import checksums
from rag.index import FORMAT_VERSION, current_build
from tests.conftest import SEEDS


@pytest.fixture
def own_index(tmp_path, seed_index):
    """A private copy of the seed index that a test may damage."""
    dest = tmp_path / "index"
    shutil.copytree(seed_index, dest)
    return dest


def test_build_then_load_round_trip(seed_index):
    index = rag.load_index(seed_index)
    manifest = index.manifest
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["embedding_model"] == "e5-small" and manifest["embedding_dimension"] == 384
    assert manifest["counts"]["chunks"] == len(index.chunks) == len(index.store) > 10
    assert set(manifest["files"]) == {p.name for p in SEEDS.iterdir()}
    text = (SEEDS / index.chunks[0].source).read_bytes().decode("utf-8")
    assert all(text[c.start : c.end] == c.text for c in index.chunks)
    assert not list(seed_index.glob(".tmp-build-*"))


def test_unchanged_corpus_is_skipped_and_force_rebuilds(own_index):
    report = rag.build_index(SEEDS, own_index)
    assert not report.built and report.path == current_build(own_index)
    forced = rag.build_index(SEEDS, own_index, force=True)
    assert forced.built and forced.path != report.path
    assert not report.path.exists(), "the replaced build is removed"
    assert rag.load_index(own_index).path == forced.path


def test_changed_corpus_rebuilds(tmp_path, corpus_copy):
    index_dir = tmp_path / "idx"
    first = rag.build_index(corpus_copy, index_dir)
    (corpus_copy / "extra.md").write_text("# Notes\n\nThe tea harvest in Hunza starts in May.\n", encoding="utf-8")
    second = rag.build_index(corpus_copy, index_dir)
    assert second.built and second.manifest["counts"]["documents"] == first.manifest["counts"]["documents"] + 1
    hits = rag.load_retriever(index_dir).search("When does the tea harvest begin?", k=1)
    assert hits[0].source == "extra.md"


@pytest.mark.parametrize("name", ["manifest.json", "chunks.jsonl", "chunks.faiss", "chunks_bm25", "paragraphs.faiss", "paragraphs_bm25", "acronyms.json",
                                  "cosines.npy"])
def test_missing_file_is_a_clear_error(own_index, name):
    target = current_build(own_index) / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(rag.RagError, match=rf"missing: .*{name}.*rag index --force"):
        rag.load_index(own_index)


def _edit_manifest(index_dir, **changes):
    """Change the manifest as a build with these values would have written it (sealed again)."""
    path = current_build(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    manifest["checksums"]["manifest"] = checksums.seal(manifest)
    path.write_text(json.dumps(manifest))


def test_unknown_format_version_is_a_clear_error(own_index):
    _edit_manifest(own_index, format_version=99)
    with pytest.raises(rag.RagError, match="format version 99 .*rag index --force"):
        rag.load_index(own_index)


def test_other_embedding_model_is_a_clear_error(own_index):
    _edit_manifest(own_index, embedding_model="some/other-model")
    with pytest.raises(rag.RagError, match="built with embedding model 'some/other-model'"):
        rag.load_index(own_index)


def test_other_dimension_is_a_clear_error(own_index):
    _edit_manifest(own_index, embedding_dimension=768)
    with pytest.raises(rag.RagError, match="dimension"):
        rag.load_index(own_index)


def test_no_index_is_a_clear_error(tmp_path):
    with pytest.raises(rag.RagError, match="no index found .*rag index"):
        rag.load_index(tmp_path)


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(rag.RagError, match="no .txt, .md, .pdf, .html or .docx documents"):
        rag.build_index(tmp_path / "corpus", tmp_path / "idx")


def test_nothing_is_pickled(seed_index):
    build = current_build(seed_index)
    for path in build.rglob("*.npy"):
        import numpy as np

        np.load(path, allow_pickle=False)  # raises if the array needed pickle


def test_the_chunks_cosine_vectors_are_stored_with_the_index(seed_index):
    """The answerers' MiniLM vectors of every chunk, in chunk order: a question embeds only itself."""
    from rag.embedding import Embedder

    index = rag.load_index(seed_index)
    fresh = Embedder(backend="torch").encode([c.text for c in index.chunks])
    assert index.cosines.shape == (len(index.chunks), 384)
    assert np.sum(np.asarray(index.cosines) * fresh, axis=1).min() >= 1 - 1e-5


def test_build_progress_reports_each_stage_to_its_total(tmp_path, corpus_copy):
    seen: dict[str, list[tuple[int, int]]] = {}
    rag.build_index(corpus_copy, tmp_path / "idx", progress=lambda stage, done, total: seen.setdefault(stage, []).append((done, total)))
    assert set(seen) == {"embedding", "cosines"}
    for steps in seen.values():
        assert steps[-1][0] == steps[-1][1] > 0 and [d for d, _ in steps] == sorted(d for d, _ in steps)
