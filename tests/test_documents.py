"""PDF, Word and HTML files in the corpus: extracted text stored in the index, exact citations with PDF pages,
files without text reported, and incremental builds equal to full ones."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import rag
from rag.extract import extract
from tests.documents import make_docx, make_html, make_pdf, make_scanned_pdf, paragraphs

PARAS = paragraphs()


@pytest.fixture(scope="module")
def doc_corpus(tmp_path_factory):
    """A PDF (four or more pages), a Word file, an HTML page and a scanned PDF; the index built over them."""
    root = tmp_path_factory.mktemp("docs")
    corpus = root / "corpus"
    corpus.mkdir()
    make_pdf(corpus / "dialogue.pdf", [PARAS[:3], PARAS[3:5], PARAS[5:]])  # the last runs over several pages
    make_docx(corpus / "notes.docx", ["The lunar module Eagle landed on July 20, 1969, in the Sea of Tranquility."],
              [["crew member", "role"], ["Michael Collins", "command module pilot"]])
    make_html(corpus / "page.html", ["Honeybees tell their sisters where flowers are with the waggle dance."])
    make_scanned_pdf(corpus / "scan.pdf")
    report = rag.build_index(corpus, root / "index")
    return corpus, root / "index", report


def test_every_chunk_is_an_exact_span_of_the_stored_text(doc_corpus):
    corpus, index_dir, _ = doc_corpus
    index = rag.load_index(index_dir)
    assert set(index.texts) == {"dialogue.pdf", "notes.docx", "page.html"}
    for chunk in index.chunks:
        assert index.texts[chunk.source].text[chunk.start:chunk.end] == chunk.text
        assert rag.read_source(corpus / chunk.source)[chunk.start:chunk.end] == chunk.text  # what the UI and eval read
    pdf = index.texts["dialogue.pdf"]
    assert len(pdf.pages) >= 4 and pdf.pages[0] == 0
    assert "series of activities in 2026" in pdf.text[pdf.pages[1]:pdf.pages[2]]


def test_a_scanned_pdf_is_reported_not_indexed_as_empty(doc_corpus):
    _, index_dir, report = doc_corpus
    assert "scan.pdf" in report.skipped_files
    assert any("scan.pdf" in w and "no text layer" in w for w in report.warnings)
    assert "scan.pdf" in rag.load_index(index_dir).manifest["skipped_files"]


def test_html_keeps_only_the_readable_text(doc_corpus):
    _, index_dir, _ = doc_corpus
    text = rag.load_index(index_dir).texts["page.html"].text
    assert "waggle dance" in text
    for hidden in ("script text must not be indexed", "secret-style", "Navigation menu link"):
        assert hidden not in text


def test_a_pdf_citation_carries_its_page_in_the_json(doc_corpus):
    """A question answered on the PDF's second page only: the citation says page 2, and its quote is on that page."""
    _, index_dir, _ = doc_corpus
    question = "What did the two countries announce for 2026?"
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", question, "--index", str(index_dir), "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["citations"], answer
    index = rag.load_index(index_dir)
    for c in answer["citations"]:
        text = index.texts[c["source"]].text if c["source"] in index.texts else None
        if c["source"] == "dialogue.pdf":
            pages = index.texts["dialogue.pdf"].pages
            assert c["page"] == index.texts["dialogue.pdf"].page_of(c["start"])
            assert pages[c["page"] - 1] <= c["start"] and (c["page"] == len(pages) or c["end"] <= pages[c["page"]])
        else:
            assert "page" not in c
        assert text is None or text[c["start"]:c["end"]] == c["quote"]
    assert any(c["source"] == "dialogue.pdf" and c["page"] == 2 for c in answer["citations"])


def test_a_word_table_and_paragraphs_are_read_in_order(tmp_path):
    path = make_docx(tmp_path / "t.docx", ["First paragraph.", "Second paragraph."], [["a", "b"], ["c", "d"]])
    text = extract(path).text
    assert text.index("First paragraph.") < text.index("Second paragraph.") < text.index("a | b") < text.index("c | d")
    assert extract(path).pages is None


def test_a_damaged_pdf_is_skipped_with_its_reason(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (corpus / "ok.txt").write_text("Plain text stays indexed.", encoding="utf-8")
    report = rag.build_index(corpus, tmp_path / "index")
    assert "broken.pdf" in report.skipped_files and any("not a readable PDF" in w for w in report.warnings)
    assert [c.source for c in rag.load_index(tmp_path / "index").chunks] == ["ok.txt"]


def _files(folder, texts):
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"p{i:03d}.txt").write_text(text, encoding="utf-8")


def test_adding_changing_and_removing_files_embeds_only_what_changed_and_equals_a_full_build(tmp_path):
    corpus, live = tmp_path / "corpus", tmp_path / "index"
    _files(corpus, PARAS)
    first = rag.build_index(corpus, live)
    assert first.reused == 0 and first.embedded > 0
    (corpus / "new.txt").write_text("The Danube rises in the Black Forest and flows to the Black Sea.", encoding="utf-8")
    (corpus / "p000.txt").write_text(PARAS[0] + " A sentence added later.", encoding="utf-8")
    (corpus / "p005.txt").unlink()
    second = rag.build_index(corpus, live)
    assert second.built and 0 < second.embedded <= 6 and second.reused > 10 * second.embedded
    full = rag.build_index(corpus, tmp_path / "full")
    assert full.reused == 0
    a, b = rag.load_index(live), rag.load_index(tmp_path / "full")
    assert a.chunks == b.chunks
    va = a.store.vectors.index.reconstruct_n(0, len(a.chunks))
    vb = b.store.vectors.index.reconstruct_n(0, len(b.chunks))
    assert np.min(np.sum(va * vb, axis=1)) > 0.99999
    ra, rb = rag.load_retriever(live), rag.load_retriever(tmp_path / "full")
    for question in ("Where does the Danube rise?", "Which port will the corridor develop?", "Who hosted the talks?"):
        assert [p.id for p in ra.search(question, k=10)] == [p.id for p in rb.search(question, k=10)]
    again = rag.build_index(corpus, live)
    assert not again.built  # nothing changed


def test_a_damaged_embedding_cache_falls_back_to_embedding_everything(tmp_path):
    corpus, live = tmp_path / "corpus", tmp_path / "index"
    _files(corpus, PARAS[:3])
    report = rag.build_index(corpus, live)
    (report.path / "embeddings.npy").write_bytes(b"not numpy")
    (corpus / "p000.txt").write_text("Changed.", encoding="utf-8")
    again = rag.build_index(corpus, live)
    assert again.built and again.reused == 0 and len(rag.load_index(live).chunks) >= 3
    shutil.rmtree(tmp_path / "index")


def test_adding_documents_never_overwrites_and_checks_kind_and_size(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("The original text.", encoding="utf-8")
    upload = tmp_path / "up"
    upload.mkdir()
    (upload / "notes.txt").write_text("An uploaded file with the same name.", encoding="utf-8")
    pdf = make_pdf(upload / "report.pdf", [PARAS[:2], PARAS[2:4]])
    assert rag.add_documents(corpus, [upload / "notes.txt", pdf]) == ["notes (2).txt", "report.pdf"]
    assert (corpus / "notes.txt").read_text(encoding="utf-8") == "The original text."
    (upload / "tool.exe").write_bytes(b"MZ")
    with pytest.raises(rag.RagError, match=r"tool.exe: \.exe is not a document kind"):
        rag.add_documents(corpus, [upload / "tool.exe"])
    with pytest.raises(rag.RagError, match="larger than the upload limit"):
        rag.add_documents(corpus, [pdf], names=["big.pdf"], max_mb=0.0001)
    assert not (corpus / "big.pdf").exists() and not list(corpus.glob(".*.part"))
    rag.build_index(corpus, tmp_path / "index")
    docs = {d.name: d for d in rag.list_documents(rag.load_index(tmp_path / "index"), corpus)}
    assert set(docs) == {"notes.txt", "notes (2).txt", "report.pdf"}
    assert docs["report.pdf"].pages == 2 and docs["notes.txt"].pages is None and docs["report.pdf"].chunks > 0
    entry = rag.remove_document(corpus, "report.pdf", tmp_path / "index")
    assert entry.source == "report.pdf" and (tmp_path / "index" / "trash" / entry.id / "document").is_file()
    with pytest.raises(rag.RagError, match="outside the corpus"):
        rag.remove_document(corpus, "../index/CURRENT", tmp_path / "index")
    report = rag.build_index(corpus, tmp_path / "index")
    assert report.embedded == 0 and {c.source for c in rag.load_index(tmp_path / "index").chunks} == {"notes.txt", "notes (2).txt"}
