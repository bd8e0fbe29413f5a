"""An index that knows when it is damaged (issue 28): every file of a build is checked against the size and
xxh3 hash its manifest records, a damaged embedding cache is never reused, no file is shared between indexes,
and a full disk or a bad ``CURRENT`` is one line. Real files, real FAISS, the real embedding model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import rag
from rag import checksums
from rag.cli import app
from rag.embedding import ONNX_FILE, cache_dir
from rag.index import current_build
from tests.conftest import SEEDS

QUESTION = "Which port will the corridor develop?"


@pytest.fixture
def own_index(tmp_path, seed_index) -> Path:
    """A private copy of the seed index that a test may damage (the session's ``seed_index`` never is)."""
    dest = tmp_path / "index"
    shutil.copytree(seed_index, dest)
    return dest


def _flip(path: Path, n: int = 8192) -> None:
    """Invert up to ``n`` bytes in the middle of ``path``, in place (size unchanged)."""
    size = path.stat().st_size
    n = min(n, max(1, size // 4))
    start = (size - n) // 2
    with open(path, "r+b") as fh:
        fh.seek(start)
        data = fh.read(n)
        fh.seek(start)
        fh.write(bytes(b ^ 0xFF for b in data))


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def _vectors(index_dir: Path) -> np.ndarray:
    index = rag.load_index(index_dir)
    return index.store.vectors.index.reconstruct_n(0, len(index.chunks))


# -- every file is checked when the index is loaded --------------------------------------------------------
DAMAGEABLE = ["chunks.faiss", "paragraphs.faiss", "chunks_bm25/data.csc.index.npy", "paragraphs_bm25/vocab.index.json",
              ONNX_FILE, "embeddings.npy", "embeddings.keys", "cosines.npy", "cosines.keys", "chunks.jsonl", "acronyms.json"]


def test_the_manifest_records_every_file_of_the_build(seed_index):
    build = current_build(seed_index)
    manifest = rag.load_index(seed_index).manifest
    files = {p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file()} - {"manifest.json"}
    assert set(manifest["checksums"]["files"]) == files and ONNX_FILE in files and "chunks_bm25/data.csc.index.npy" in files
    assert manifest["checksums"]["algorithm"] == "xxh3_128"
    assert manifest["checksums"]["manifest"] == checksums.seal(manifest)


@pytest.mark.parametrize("name", DAMAGEABLE)
def test_a_flipped_byte_in_any_file_is_one_clear_error_naming_it(own_index, name):
    _flip(current_build(own_index) / name)
    with pytest.raises(rag.RagError) as caught:
        rag.load_index(own_index)
    message = str(caught.value)
    assert f"{name}" in message and "damaged" in message and "rag index --force" in message and "\n" not in message


def test_an_edited_manifest_is_found_by_its_seal(own_index):
    path = current_build(own_index) / "manifest.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"corpus_dir": "', '"corpus_dir": "/elsewhere'), encoding="utf-8")
    with pytest.raises(rag.RagError, match=r"damaged: .*manifest\.json.*rag index --force"):
        rag.load_index(own_index)


def test_a_truncated_file_is_named_with_its_sizes(own_index):
    path = current_build(own_index) / "paragraphs.faiss"
    with open(path, "r+b") as fh:
        fh.truncate(1000)
    with pytest.raises(rag.RagError, match=r"paragraphs\.faiss \(1000 bytes, \d+ recorded\)"):
        rag.load_index(own_index)


def test_cli_ask_on_a_damaged_index_is_one_line_and_exit_1(own_index):
    _flip(current_build(own_index) / "chunks.faiss")
    result = CliRunner().invoke(app, ["ask", QUESTION, "--index", str(own_index)])
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert line.startswith("error: index file damaged: ") and "chunks.faiss" in line and "rag index --force" in line


# -- rag index on a damaged live build rebuilds it ---------------------------------------------------------
def test_rag_index_rebuilds_a_damaged_live_build_instead_of_keeping_it(own_index):
    damaged = current_build(own_index)
    _flip(damaged / "chunks.faiss")
    result = CliRunner().invoke(app, ["index", "--corpus", str(SEEDS), "--index", str(own_index)])
    assert result.exit_code == 0, result.output
    assert "index built" in result.stdout and "up to date" not in result.stdout
    warning = _one_line(result.stderr)
    assert warning.startswith("warning: ") and "chunks.faiss" in warning
    assert current_build(own_index) != damaged and not damaged.exists()
    hit = rag.load_retriever(own_index).search(QUESTION, k=1)[0]
    assert "Gwadar" in hit.text and hit.score < 2.0


# -- the embedding cache, chunks and texts of the previous build are verified before reuse --------------------
@pytest.mark.parametrize("name", ["embeddings.npy", "chunks.jsonl"])
def test_a_damaged_cache_of_the_previous_build_is_not_reused(own_index, corpus_copy, seed_index, name):
    path = current_build(own_index) / name
    if name == "embeddings.npy":  # the data, not the header: the array still loads, with wrong vectors
        with open(path, "r+b") as fh:
            fh.seek(1024)
            fh.write(b"\x7f" * 8192)
        assert np.load(path, allow_pickle=False).shape[1] == 384
    else:  # still valid JSON lines, with a wrong word in a chunk's text
        path.write_text(path.read_text(encoding="utf-8").replace("Gwadar", "Gwadaz", 1), encoding="utf-8")
    (corpus_copy / "zz-extra.md").write_text("# Notes\n\nThe tea harvest in Hunza starts in May.\n", encoding="utf-8")
    report = rag.build_index(corpus_copy, own_index)
    assert report.built and report.reused == 0 and report.embedded > 0
    assert any(name in w and "embedded anew" in w for w in report.warnings), report.warnings
    index = rag.load_index(own_index)
    for c in index.chunks:
        text = (corpus_copy / c.source).read_bytes().decode("utf-8")
        assert text[c.start : c.end] == c.text
    seed_vectors = _vectors(seed_index)
    assert np.allclose(_vectors(own_index)[: len(seed_vectors)], seed_vectors, atol=1e-5)


def test_an_undamaged_cache_is_still_reused(own_index, corpus_copy):
    (corpus_copy / "zz-extra.md").write_text("# Notes\n\nThe tea harvest in Hunza starts in May.\n", encoding="utf-8")
    report = rag.build_index(corpus_copy, own_index)
    assert report.built and report.reused > 0 and not report.warnings


# -- no file is shared between indexes ----------------------------------------------------------------------
def test_no_file_is_hard_linked_between_indexes_and_one_damaged_encoder_breaks_only_its_index(tmp_path, monkeypatch, seed_index):
    cache = tmp_path / "cache"
    cache.mkdir()
    for f in cache_dir().glob("encoder-*"):  # the session's export, copied: no second export, nothing shared
        shutil.copyfile(f, cache / f.name)
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache))
    a, b = tmp_path / "a", tmp_path / "b"
    rag.build_index(SEEDS, a)
    rag.build_index(SEEDS, b)
    (cached,) = cache.glob("encoder-*.onnx")
    for index_dir in (a, b):
        for path in current_build(index_dir).rglob("*"):
            assert path.is_dir() or path.stat().st_nlink == 1, path
        assert not os.path.samefile(current_build(index_dir) / ONNX_FILE, cached)
    assert cached.stat().st_nlink == 1
    with open(current_build(a) / ONNX_FILE, "r+b") as fh:
        fh.truncate(fh.seek(0, os.SEEK_END) // 2)
    with pytest.raises(rag.RagError, match=rf"damaged: .*{current_build(a).name}/{ONNX_FILE}.*rag index --force"):
        rag.load_retriever(a)
    retriever = rag.load_retriever(b)
    assert retriever.cosine_embedder.backend == "onnx"
    answer = rag.load_chain(b).ask(QUESTION)
    assert "Gwadar" in (answer.citations[0].quote if answer.citations else answer.passages[0].text)


# -- disk full: one line naming the index and the cause, the previous index unchanged -------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 160 MB tmpfs mounted in the test's folder (the real ENOSPC of a full file system); unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:  # lazily: FAISS and ONNX Runtime may still map files of it until this process lets them go
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _fill(mount: Path, leave: int) -> None:
    """Fill the file system at ``mount`` so that about ``leave`` bytes stay free."""
    filler = mount / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(mount)
    with open(filler, "wb") as fh:
        fh.truncate(0)
        remaining = st.f_bavail * st.f_frsize - leave
        block = b"\0" * (1 << 20)
        while remaining > 0:
            fh.write(block[: min(remaining, len(block))])
            remaining -= len(block)


@pytest.mark.parametrize("leave, where", [(16 * 1024, "chunks.faiss"), (1 << 20, ONNX_FILE)])
def test_a_full_disk_is_one_line_naming_the_index_and_the_previous_index_is_unchanged(small_disk, leave, where):
    index_dir = small_disk / "index"
    rag.build_index(SEEDS, index_dir)
    live = current_build(index_dir)
    _fill(small_disk, leave)
    with pytest.raises(rag.RagError) as caught:
        rag.build_index(SEEDS, index_dir, force=True)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot write the index in {index_dir}: No space left on device")
    assert where in message and str(cache_dir()) not in message and "previous index, if any, is unchanged" in message
    result = CliRunner().invoke(app, ["index", "--force", "--corpus", str(SEEDS), "--index", str(index_dir)])
    assert result.exit_code == 1
    assert _one_line(result.stderr).startswith(f"error: cannot write the index in {index_dir}: No space left on device")
    assert current_build(index_dir) == live and not list(index_dir.glob(".tmp-build-*"))
    assert "Gwadar" in rag.load_retriever(index_dir).search(QUESTION, k=1)[0].text


# -- a CURRENT that is not UTF-8 -------------------------------------------------------------------------------
def test_a_pointer_that_is_not_utf8_is_one_line_and_rag_index_repairs_it(own_index):
    (own_index / "CURRENT").write_bytes(b"build-\xff\xfe\x00garbage\n")
    with pytest.raises(rag.RagError) as caught:
        rag.load_index(own_index)
    message = str(caught.value)
    assert "\n" not in message and str(own_index / "CURRENT") in message and "rag index --force" in message
    result = CliRunner().invoke(app, ["ask", QUESTION, "--index", str(own_index)])
    assert result.exit_code == 1 and _one_line(result.stderr).startswith("error: index pointer ")
    result = CliRunner().invoke(app, ["index", "--corpus", str(SEEDS), "--index", str(own_index)])  # --force not needed
    assert result.exit_code == 0 and "index built" in result.stdout, result.output
    assert "pointer" in _one_line(result.stderr) and "built anew" in result.stderr
    assert "Gwadar" in rag.load_retriever(own_index).search(QUESTION, k=1)[0].text


# -- rag index --verify ----------------------------------------------------------------------------------------
def test_verify_a_sound_index_and_the_corpus_files_changed_since_the_build(own_index, corpus_copy):
    result = CliRunner().invoke(app, ["index", "--verify", "--index", str(own_index)])  # the corpus the manifest names
    assert result.exit_code == 0, result.output
    assert "sound" in result.stdout and "corpus unchanged" in result.stdout and str(SEEDS) in result.stdout
    (corpus_copy / "zz-extra.md").write_text("New notes.\n", encoding="utf-8")
    seed = next(corpus_copy.glob("*.txt"))
    seed.write_text(seed.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["index", "--verify", "--index", str(own_index), "--corpus", str(corpus_copy)])
    assert result.exit_code == 0, result.output
    assert "sound" in result.stdout and "2 corpus file(s) changed since the build" in result.stdout
    assert "added: zz-extra.md" in result.stdout and f"changed: {seed.name}" in result.stdout


def test_verify_a_damaged_index_is_one_line_naming_every_damaged_file_and_exit_1(own_index):
    build = current_build(own_index)
    _flip(build / "paragraphs_bm25/vocab.index.json")
    _flip(build / "embeddings.npy")
    result = CliRunner().invoke(app, ["index", "--verify", "--index", str(own_index)])
    assert result.exit_code == 1, result.output
    line = _one_line(result.stderr)
    assert line.startswith("error: index damaged: 2 file(s)") and "paragraphs_bm25/vocab.index.json" in line
    assert "embeddings.npy" in line and "rag index --force" in line
    assert json.loads((build / "manifest.json").read_text())["checksums"]  # verify changed nothing
