"""Large corpus files: block-wise reading and chunking (the same chunks as whole-text chunking, exact offsets),
bounded memory, the ``max_file_mb`` limit, and bad bytes deep inside a big file."""

import hashlib
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

import rag
from rag.chunking import BlankLineProbe, Chunker, has_blank_lines
from rag.cli import app
from rag.corpus import BLOCK_BYTES, MB, scan_corpus, scan_document
from rag.index import _chunker
from tests.conftest import SEEDS

SEED = SEEDS / "china-pakistan-strategic-dialogue-2026.txt"
CHUNKERS = [
    _chunker(rag.Settings()),  # what the index uses
    Chunker(max_sentences=2, overlap_sentences=1, max_chars=300),
    Chunker(max_sentences=3, keep_references=False, hard_max_chars=150),
]


def streamed(doc, chunker: Chunker, block_bytes: int = BLOCK_BYTES, **kw) -> list[rag.Chunk]:
    return list(chunker.split_stream(doc.id, doc.blocks(block_bytes), doc.blank_lines, **kw))


def check_exact(chunks, text: str) -> None:
    for c in chunks:
        assert text[c.start : c.end] == c.text and c.text == c.text.strip() and c.text
        assert c.para_start <= c.start < c.end <= c.para_end and text[c.para_start : c.para_end].strip() == text[c.para_start : c.para_end]
    assert [c.id for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize("variant", ["as is (one paragraph per line)", "blank lines", "CRLF blank lines"])
@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 64, 4096, BLOCK_BYTES])
def test_block_wise_chunks_of_the_seed_file_equal_whole_text_chunks(tmp_path, variant, block_bytes):
    text = SEED.read_bytes().decode("utf-8")
    if variant != "as is (one paragraph per line)":
        text = text.replace("\n", "\r\n\r\n" if variant.startswith("CRLF") else "\n\n")
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode("utf-8"))
    doc = scan_document(path, "doc.txt", block_bytes)
    assert doc.blank_lines == has_blank_lines(text) == (variant != "as is (one paragraph per line)")
    assert doc.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest() and doc.text == text
    for chunker in CHUNKERS:
        whole = chunker.split("doc.txt", text)
        assert len(whole) > 10 and streamed(doc, chunker, block_bytes) == whole
        check_exact(whole, rag.read_source(path))


def test_the_index_holds_exactly_the_whole_text_chunks(seed_index):
    index = rag.load_index(seed_index)
    assert index.chunks == _chunker(rag.Settings()).split(SEED.name, rag.read_source(SEED))


TOKENS = ["a", "b", "word", " ", ".", "!", "?", "\n", "\n\n", " \n", "\n \t\n", "\r\n", "\r", "\t", "\x0b", "\x0c", "\x1c",
          "\x85", "\u2028", "\xa0", "This", "They", "Mr.", "U.S.", "3.5", "é", "漢", "😀", "“", "”", "…", "—"]
texts = st.lists(st.sampled_from(TOKENS), max_size=150).map("".join)
chunkers = st.builds(Chunker, max_sentences=st.integers(1, 3), max_chars=st.integers(20, 120), overlap_sentences=st.integers(0, 1),
                     hard_max_chars=st.integers(10, 80), keep_references=st.booleans())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hypothesis") / "doc.txt"


@settings(max_examples=150, deadline=None)
@given(text=texts, chunker=chunkers, block_bytes=st.integers(1, 12))
def test_block_wise_reading_and_chunking_equal_whole_text_for_any_text(scratch, text, chunker, block_bytes):
    scratch.write_bytes(text.encode("utf-8"))
    doc = scan_document(scratch, "doc.txt", block_bytes)
    assert doc is not None and doc.blank_lines == has_blank_lines(text)
    assert "".join(doc.blocks(block_bytes)) == text
    whole = chunker.split("doc.txt", text)
    assert streamed(doc, chunker, block_bytes) == whole
    check_exact(whole, rag.read_source(scratch))


@settings(max_examples=300, deadline=None)
@given(text=texts, chunker=chunkers, data=st.data())
def test_chunking_pieces_cut_anywhere_equals_whole_text(text, chunker, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    probe = BlankLineProbe()
    for piece in pieces:
        probe.feed(piece)
    assert probe.result == has_blank_lines(text)
    assert list(chunker.split_stream("doc.txt", pieces, probe.result)) == chunker.split("doc.txt", text)


def write_padded(path: Path, size: int) -> int:
    """Real paragraphs (the seed file's lines) separated by blank lines padded with spaces, up to ``size`` bytes."""
    lines = [line for line in SEED.read_text(encoding="utf-8").split("\n") if line.strip()]
    written = i = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        while written < size:
            unit = f"{lines[i % len(lines)]}\n{' ' * 60_000}\n"
            fh.write(unit)
            written += len(unit.encode("utf-8"))
            i += 1
    return written


def test_a_30_mb_file_is_read_and_chunked_in_bounded_memory(tmp_path):
    """pysbd splits ~0.5 MB of text a second, so the file is mostly blank-line padding: reading, decoding,
    hashing and the paragraph scan see all 30 MB, the sentence splitter ~120 KB. Chunks are counted, not kept."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    size = write_padded(corpus / "big.txt", 30 * MB)
    chunker = Chunker(max_sentences=1)
    chunker.split("warm.txt", "Load the sentence splitter first. Its import is not the file's memory.")
    digest, count = hashlib.sha256(), 0
    tracemalloc.start()
    try:
        [doc] = scan_corpus(corpus).documents
        for c in chunker.split_stream(doc.id, doc.blocks(), doc.blank_lines):
            digest.update(repr(c).encode("utf-8"))
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = chunker.split(doc.id, doc.text)  # the control: the whole text as one string
        whole_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"30 MB file ({size / MB:.1f} MB): block-wise peak {peak / MB:.2f} MB, whole-text peak {whole_peak / MB:.1f} MB")
    assert doc.blank_lines and count > 500
    assert peak < size / 5, f"peak {peak / MB:.1f} MB for a {size / MB:.0f} MB file"
    assert whole_peak > size, "reading the file whole would break the bound above"
    assert count == len(whole) and digest.hexdigest() == hashlib.sha256(b"".join(repr(c).encode("utf-8") for c in whole)).hexdigest()


@pytest.mark.parametrize("text", [
    "word " * 20_000,                                          # one line: a paragraph of 100,000 characters
    ("Some words here. " * 40 + "\n") * 150,                  # one paragraph of many lines (no blank line)
    "x" * 50_000 + "\n\nA short paragraph after it.",          # no space to cut at
])
def test_a_paragraph_longer_than_the_limit_is_cut_with_exact_offsets(tmp_path, text):
    path = tmp_path / "long.txt"
    path.write_text(text, encoding="utf-8", newline="")
    doc = scan_document(path, "long.txt", 1000)
    chunks = streamed(doc, Chunker(max_sentences=1), 1000, max_paragraph_chars=5000)
    check_exact(chunks, text)
    assert max(c.para_end - c.para_start for c in chunks) <= 5000
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def big_text(size: int) -> bytes:
    unit = SEED.read_bytes()
    return (unit * (size // len(unit) + 1))[:size].rsplit(b"\n", 1)[0] + b"\n"


def test_bad_bytes_deep_inside_large_files_skip_them_whole(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = big_text(5 * MB)
    (corpus / "nul-at-end.txt").write_bytes(body + b"\x00")
    (corpus / "latin1-at-3mb.txt").write_bytes(body[: 3 * MB] + "café".encode("latin-1") + body[3 * MB :])
    (corpus / "cut-character-at-end.txt").write_bytes(body + "€".encode("utf-8")[:2])
    euros = ("€" * (2 * MB)).encode("utf-8")  # 3-byte characters split by every block boundary
    (corpus / "euros.txt").write_bytes(euros)
    (corpus / "good.txt").write_bytes(body)
    scan = scan_corpus(corpus)
    assert scan.not_text == ["cut-character-at-end.txt", "latin1-at-3mb.txt", "nul-at-end.txt"] and not scan.too_large
    assert [d.id for d in scan.documents] == ["euros.txt", "good.txt"]
    assert scan.documents[0].sha256 == hashlib.sha256(euros).hexdigest() and scan.documents[0].text == "€" * (2 * MB)
    assert scan.warnings() == ["skipped 3 file(s) that are not UTF-8 text: cut-character-at-end.txt, latin1-at-3mb.txt, nul-at-end.txt"]


def test_a_file_over_max_file_mb_is_skipped_with_a_warning_and_the_rest_indexes(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / SEED.name).write_bytes(SEED.read_bytes())
    (corpus / "big.txt").write_bytes(big_text(2 * MB))
    (corpus / "nul-at-end.txt").write_bytes(big_text(MB + MB // 3) + b"\x00")  # read (under the limit), then skipped
    monkeypatch.setenv("RAG_MAX_FILE_MB", "1.5")
    result = CliRunner().invoke(app, ["index", "--corpus", str(corpus), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "big.txt (2.0 MB)" in result.stderr and "max_file_mb = 1.5 MB" in result.stderr and "RAG_MAX_FILE_MB" in result.stderr
    assert "skipped 1 file(s) that are not UTF-8 text: nul-at-end.txt" in result.stderr
    index = rag.load_index(tmp_path / "idx")
    assert index.manifest["too_large_files"] == ["big.txt"] and index.manifest["skipped_files"] == ["nul-at-end.txt"]
    assert list(index.manifest["files"]) == [SEED.name] and {c.source for c in index.chunks} == {SEED.name}
    report = rag.build_index(corpus, tmp_path / "idx", rag.Settings(max_file_mb=1.5))
    assert not report.built and report.too_large_files == ["big.txt"] and len(report.warnings) == 2
    monkeypatch.setenv("RAG_MAX_FILE_MB", "3")  # raising the limit takes the file in (not embedded here: 2 MB is slow)
    assert [d.id for d in scan_corpus(corpus, rag.Settings().max_file_mb).documents] == ["big.txt", SEED.name]


def test_a_corpus_of_only_too_large_files_and_bad_limits_are_clear_errors(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "big.txt").write_bytes(big_text(MB // 2))
    with pytest.raises(rag.RagError, match=r"no \.txt, \.md, \.pdf, \.html or \.docx documents.*big\.txt.*RAG_MAX_FILE_MB"):
        scan_corpus(corpus, max_file_mb=0.25)
    assert rag.load_corpus(corpus, max_file_mb=0.75)[1] == [] and rag.Settings().max_file_mb == 100
    monkeypatch.setenv("RAG_MAX_FILE_MB", "0")
    result = CliRunner().invoke(app, ["index", "--corpus", str(corpus), "--index", str(tmp_path / "idx")])
    assert result.exit_code == 1 and "max_file_mb" in result.stderr


def test_a_file_changed_after_the_scan_is_an_error_not_a_half_index(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_bytes(big_text(30_000))
    doc = scan_document(path, "doc.txt", 4096)
    path.write_bytes(big_text(30_000).replace(b"Beijing", b"Pekin"))
    with pytest.raises(rag.RagError, match="changed while it was being indexed"):
        streamed(doc, Chunker(), 4096)
    path.write_bytes(big_text(30_000)[:-100] + b"\xff" * 100)  # now not even UTF-8
    with pytest.raises(rag.RagError, match="changed while it was being indexed"):
        streamed(doc, Chunker(), 4096)
    path.unlink()
    with pytest.raises(rag.RagError, match="changed while it was being indexed"):
        streamed(doc, Chunker(), 4096)


def test_eval_reads_the_corpus_through_rag(tmp_path):
    from eval.gold import corpus_texts

    (tmp_path / "good.md").write_text("The harbour opened in 2024.\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "notes.txt").write_text("Not indexed.\n", encoding="utf-8")
    (tmp_path / "blob.txt").write_bytes(b"text\x00more")
    assert corpus_texts(tmp_path) == {"good.md": "The harbour opened in 2024.\n"}
    assert corpus_texts(SEEDS) == {d.id: rag.read_source(rag.source_path(SEEDS, d.id)) for d in rag.load_corpus(SEEDS)[0]}
