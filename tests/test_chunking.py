from hypothesis import given, settings, strategies as st

from rag.chunking import Chunker, paragraphs
from rag.corpus import load_corpus
from tests.conftest import SEEDS


def check_offsets(text: str, chunker: Chunker = Chunker()) -> list:
    chunks = chunker.split("doc.txt", text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text and c.text == c.text.strip()
        assert text[c.para_start : c.para_end].find(c.text) >= 0
        assert c.para_start <= c.start < c.end <= c.para_end
    return chunks


def test_every_seed_chunk_round_trips():
    docs, skipped = load_corpus(SEEDS)
    assert docs and not skipped
    for doc in docs:
        chunks = check_offsets(doc.text)
        # every non-space character of the document is in some chunk
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())


def test_crlf_unicode_and_blank_lines_keep_exact_offsets():
    text = "First line “quoted.” Second – dash…\r\n\r\n\r\nPara two’s sentence. Another one!\r\nStill para two?\r\n"
    chunks = check_offsets(text, Chunker(max_sentences=1))
    assert [c.text for c in chunks][:2] == ["First line “quoted.”", "Second – dash…"]
    assert chunks[2].para_start > chunks[1].para_end


def test_text_without_blank_lines_has_one_paragraph_per_line():
    text = "A heading\nA sentence here. And another.\nLast line"
    assert [text[s:e] for s, e in paragraphs(text)] == ["A heading", "A sentence here. And another.", "Last line"]
    assert [c.text for c in check_offsets(text)] == ["A heading", "A sentence here. And another.", "Last line"]


def test_trailing_blank_lines_do_not_merge_lines_into_one_paragraph():
    text = "Heading\nFirst paragraph. Two.\nSecond paragraph.\n\n\n\n"
    assert [text[s:e] for s, e in paragraphs(text)] == ["Heading", "First paragraph. Two.", "Second paragraph."]


def test_text_without_sentence_punctuation_is_split_at_spaces_only_when_huge():
    assert [c.text for c in check_offsets("no punctuation at all here")] == ["no punctuation at all here"]
    chunks = check_offsets("word " * 1000, Chunker(max_chars=300, hard_max_chars=300))
    assert len(chunks) > 10 and all(len(c.text) <= 300 for c in chunks)


def test_empty_and_blank_files_give_no_chunks():
    assert check_offsets("") == []
    assert check_offsets(" \n\r\n\t ") == []


def test_sizes_are_respected_and_sentences_never_cut():
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunks = check_offsets(text, Chunker(max_sentences=3, max_chars=90))
    assert all(len(c.text) <= 90 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)


def test_overlap_repeats_sentences_between_neighbours():
    chunks = check_offsets("A one. B two. C three. D four. E five.", Chunker(max_sentences=3, overlap_sentences=1))
    assert [c.text for c in chunks] == ["A one. B two. C three.", "C three. D four. E five."]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list("ab .!?\n\r\t“”’…—é漢") + ["Mr.", "U.S.", "\n\n", "3.5", "word"]), max_size=120).map("".join))
def test_offsets_hold_for_arbitrary_text(text):
    check_offsets(text, Chunker(max_sentences=2, max_chars=80, hard_max_chars=120))


def test_a_markdown_heading_is_the_context_of_its_section_not_a_chunk():
    text = "# The Danube\n\nIt rises in the Black Forest. It flows east.\n\n## Cities ##\nVienna lies on it.\n\nBudapest too."
    chunks = Chunker().split("danube.md", text)
    assert [c.text for c in chunks] == ["It rises in the Black Forest. It flows east.", "Vienna lies on it.", "Budapest too."]
    assert [c.heading for c in chunks] == ["The Danube", "Cities", "Cities"]
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert chunks[0].indexed_text == "The Danube\nIt rises in the Black Forest. It flows east."
    pieces = [text[i:i + 7] for i in range(0, len(text), 7)]  # streamed in small pieces: the same chunks
    assert list(Chunker().split_stream("danube.md", pieces, True)) == chunks


def test_a_heading_makes_its_section_findable(tmp_path):
    import shutil

    import rag
    from tests.conftest import ROOT

    corpus = shutil.copytree(ROOT / "tests" / "fixtures" / "notes", tmp_path / "notes")
    rag.build_index(corpus, tmp_path / "index")
    retriever = rag.load_retriever(tmp_path / "index")
    assert not any(c.text.lstrip().startswith("#") for c in retriever.chunks)
    top = retriever.search("Where does the Danube rise?", k=1)[0]
    assert "Black Forest" in top.text


def test_a_question_alone_on_its_line_is_a_heading_never_a_passage():
    """An FAQ's question (its own paragraph, or the first line of one) labels the answer under it; a question
    inside prose, or one after a sentence on its line, stays text."""
    text = ("# Bike hire\n\nCan I bring my dog?\n\nDogs on leads are welcome in the shop.\n\n"
            "Q: When do you open?\nA: At 9am, every day.\n\nWhy? Because the towpath is busy. Is it safe?\n")
    chunks = Chunker(max_sentences=1).split("faq.md", text)
    assert [c.text for c in chunks] == ["Dogs on leads are welcome in the shop.", "A: At 9am, every day.", "Why?",
                                        "Because the towpath is busy.", "Is it safe?"]
    assert [c.heading for c in chunks] == ["Can I bring my dog?", "Q: When do you open?", *["Q: When do you open?"] * 3]
    assert all(text[c.start:c.end] == c.text for c in chunks)
    pieces = [text[i:i + 5] for i in range(0, len(text), 5)]
    assert list(Chunker(max_sentences=1).split_stream("faq.md", pieces, True)) == chunks


def test_the_headings_of_web_pages_and_word_files_label_their_passages(tmp_path):
    """<h1>-<h6> and Word's Title and Heading styles arrive as Markdown heading lines: never a passage."""
    import docx

    from rag.extract import extract

    page = tmp_path / "faq.html"
    page.write_text("<html><body><main><article><h1>Canal Cycles FAQ</h1><p>We rent bikes by the canal in Leeford, "
                    "every day of the year.</p><h2>Prices</h2><h3>How much is a city bike?</h3><p>A city bike costs "
                    "twelve pounds for two hours, and a full day costs twenty-eight pounds.</p><h3>Is a helmet "
                    "included?</h3><p>Helmets and a lock come free with every rental, and so does a map.</p>"
                    "</article></main></body></html>", encoding="utf-8")
    text = extract(page).text
    assert "# Canal Cycles FAQ" in text and "### How much is a city bike?" in text
    chunks = Chunker().split("faq.html", text)
    assert [(c.heading, c.text[:12]) for c in chunks] == [("Canal Cycles FAQ", "We rent bike"), (
        "How much is a city bike?", "A city bike "), ("Is a helmet included?", "Helmets and ")]

    document = docx.Document()
    document.add_heading("Tenancy agreement", level=0)
    document.add_heading("3. Deposit", level=1)
    document.add_paragraph("The deposit is five weeks' rent.")
    document.save(str(tmp_path / "lease.docx"))
    text = extract(tmp_path / "lease.docx").text
    assert text.startswith("# Tenancy agreement\n\n# 3. Deposit\n\nThe deposit")
    assert [(c.heading, c.text) for c in Chunker().split("lease.docx", text)] == [("3. Deposit", "The deposit is five weeks' rent.")]
