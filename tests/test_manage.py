"""Changing a corpus as one transaction with its index (rag.DocumentManager, `rag documents`): removing is
recoverable, a failed re-index leaves the folder as it was, uploads are checked before they are stored."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from tests.conftest import ROOT, SEEDS
from tests.documents import make_pdf, paragraphs

WIFI = "The Wi-Fi password is printed on the router.\n\nGuests may use it freely.\n"


@pytest.fixture
def managed(tmp_path) -> rag.DocumentManager:
    """The seed article and a small note, indexed."""
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "wifi.txt").write_text(WIFI, encoding="utf-8")
    rag.build_index(corpus, tmp_path / "index")
    return rag.DocumentManager(corpus, tmp_path / "index")


def indexed(manager: rag.DocumentManager) -> set[str]:
    index = rag.load_index(manager.index_dir)
    try:
        return {c.source for c in index.chunks}
    finally:
        index.close()


def test_remove_moves_to_the_trash_and_restore_brings_it_back_into_the_index(managed):
    change = managed.remove("wifi.txt")
    assert [e.source for e in change.removed] == ["wifi.txt"] and change.report.built
    assert not (managed.corpus_dir / "wifi.txt").exists() and "wifi.txt" not in indexed(managed)
    [entry] = managed.trash()
    assert entry.source == "wifi.txt" and entry.size == len(WIFI.encode())
    change = managed.restore("wifi.txt")
    assert change.restored == ["wifi.txt"] and "wifi.txt" in indexed(managed)
    assert (managed.corpus_dir / "wifi.txt").read_text(encoding="utf-8") == WIFI and managed.trash() == []
    assert rag.load_retriever(managed.index_dir).search("Where is the Wi-Fi password printed?")[0].source == "wifi.txt"


def test_only_an_indexed_document_can_be_removed_and_never_the_last(managed, tmp_path):
    with pytest.raises(rag.RagError, match="no indexed document"):
        managed.remove("notes.txt")
    with pytest.raises(rag.RagError, match="no indexed document"):
        managed.remove("../index/CURRENT")
    managed.remove("wifi.txt")
    seed = next(SEEDS.glob("*.txt")).name
    with pytest.raises(rag.RagError, match="at least one document"):
        managed.remove(seed)
    assert (managed.corpus_dir / seed).is_file()


def test_a_failed_reindex_puts_the_corpus_back_as_it_was(managed, tmp_path, monkeypatch):
    """The build fails after the folder changed (here: a full disk): the removed file is back in place, the added
    files are gone, and the live index is the one before."""
    import rag.manager

    before = sorted(p.name for p in managed.corpus_dir.iterdir())
    live = (managed.index_dir / "CURRENT").read_text()

    def full_disk(*args, **kwargs):
        raise rag.RagError(f"cannot write the index in {managed.index_dir}: {os.strerror(errno.ENOSPC)}")

    monkeypatch.setattr(rag.manager, "build_index", full_disk)
    with pytest.raises(rag.RagError, match="No space left"):
        managed.remove("wifi.txt")
    upload = tmp_path / "minutes.txt"
    upload.write_text("The committee met on Tuesday and approved the budget.", encoding="utf-8")
    with pytest.raises(rag.RagError, match="No space left"):
        managed.add([upload])
    assert sorted(p.name for p in managed.corpus_dir.iterdir()) == before
    assert (managed.corpus_dir / "wifi.txt").read_text(encoding="utf-8") == WIFI and managed.trash() == []
    assert (managed.index_dir / "CURRENT").read_text() == live
    monkeypatch.undo()
    assert managed.remove("wifi.txt").report.built  # the panel is not blocked afterwards


def test_uploads_are_checked_before_they_are_stored(managed, tmp_path):
    up = tmp_path / "up"
    up.mkdir()
    (up / "copy.txt").write_text(WIFI, encoding="utf-8")
    (up / "empty.txt").write_text("  \n", encoding="utf-8")
    (up / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (up / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage")
    (up / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    make_pdf(up / "dialogue.pdf", [paragraphs()[:2]])
    change = managed.add(sorted(up.iterdir()))
    assert change.added == ["dialogue.pdf"]
    assert change.duplicates == {"copy.txt": "wifi.txt"}
    assert set(change.refused) == {"empty.txt", "binary.txt", "broken.pdf", "broken.docx"}
    assert "empty" in change.refused["empty.txt"] and "UTF-8" in change.refused["binary.txt"]
    assert sorted(p.name for p in managed.corpus_dir.iterdir() if p.name != next(SEEDS.glob("*.txt")).name) == ["dialogue.pdf", "wifi.txt"]
    assert "dialogue.pdf" in indexed(managed)
    again = managed.add([up / "dialogue.pdf"])
    assert again.duplicates == {"dialogue.pdf": "dialogue.pdf"} and again.report is None


@pytest.mark.parametrize("name", ["report\u202efdp.txt", "a\u200bb.txt", "tab\there.txt", ".hidden.txt", "x" * 300 + ".txt"])
def test_disguised_hidden_or_overlong_names_are_refused(managed, tmp_path, name):
    upload = tmp_path / "upload.txt"
    upload.write_text("Some text.", encoding="utf-8")
    with pytest.raises(rag.RagError) as caught:
        managed.add([upload], [name])
    assert "\u202e" not in str(caught.value)  # the message shows the name escaped
    assert sorted(p.name for p in managed.corpus_dir.iterdir()) == sorted([next(SEEDS.glob("*.txt")).name, "wifi.txt"])


def test_a_link_planted_in_the_corpus_is_never_written_through(managed, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious", encoding="utf-8")
    for planted in (".notes.txt.part", "notes.txt"):  # the old temporary name, and the target name itself
        (managed.corpus_dir / planted).symlink_to(outside)
    upload = tmp_path / "notes.txt"
    upload.write_text("The library opens at nine.", encoding="utf-8")
    change = managed.add([upload])
    assert change.added == ["notes (2).txt"]
    assert outside.read_text(encoding="utf-8") == "precious"
    assert (managed.corpus_dir / "notes (2).txt").read_text(encoding="utf-8") == "The library opens at nine."


def run_rag(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("rag")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "rag.cli"]
    return subprocess.run([*command, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_rag_documents_asks_before_removing_and_restores(managed):
    where = ["--corpus", str(managed.corpus_dir), "--index", str(managed.index_dir)]
    declined = run_rag("documents", "remove", "wifi.txt", *where, stdin="n\n")
    assert declined.returncode == 1 and (managed.corpus_dir / "wifi.txt").is_file()
    removed = run_rag("documents", "remove", "wifi.txt", "--yes", *where)
    assert removed.returncode == 0 and "trash" in removed.stdout and not (managed.corpus_dir / "wifi.txt").exists()
    listed = run_rag("documents", "trash", *where)
    assert listed.returncode == 0 and "wifi.txt" in listed.stdout
    restored = run_rag("documents", "restore", "wifi.txt", *where)
    assert restored.returncode == 0 and (managed.corpus_dir / "wifi.txt").read_text(encoding="utf-8") == WIFI
    missing = run_rag("documents", "restore", "nothing.txt", *where)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
