import pandas as pd
import pytest
from langchain_core.retrievers import BaseRetriever

import rag
from eval.gold import load_gold
from eval.metrics import first_hit
from rag.acronyms import find_acronyms
from rag.paragraphs import paragraph_of, paragraph_texts
from tests.conftest import GOLD, SEEDS


@pytest.fixture(scope="module")
def gold():
    return load_gold(GOLD, SEEDS)


def test_hybrid_finds_evidence_for_paraphrased_questions(retriever, gold):
    items = [it for it in gold if it.type == "paraphrase"]
    ranks = [first_hit(it.spans, [p.to_dict() for p in retriever.search(it.question, k=3)]) for it in items]
    hit_rate = sum(r is not None for r in ranks) / len(ranks)
    assert hit_rate >= 0.85, [it.question for it, r in zip(items, ranks) if r is None]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_returns_exact_spans(retriever, mode):
    passages = retriever.search("Gwadar Port", k=4, mode=mode)
    assert 1 <= len(passages) <= 4
    text = (SEEDS / passages[0].source).read_bytes().decode("utf-8")
    for p in passages:
        assert text[p.start : p.end] == p.text
    assert "Gwadar" in passages[0].text
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)


def test_hybrid_records_both_ranks(retriever):
    top = retriever.search("Karakoram Highway", k=1)[0]
    assert top.dense_rank is not None and top.bm25_rank == 1


def test_overlapping_chunks_are_not_returned_twice(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(" ".join(f"Fact {i} about the river Indus." for i in range(12)), encoding="utf-8")
    settings = rag.Settings(chunk_max_sentences=3, chunk_overlap_sentences=2)
    rag.build_index(corpus, tmp_path / "i", settings)
    passages = rag.load_retriever(tmp_path / "i", settings).search("river Indus", k=10)
    spans = sorted((p.start, p.end) for p in passages)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))


def test_bad_queries_and_modes_are_clear_errors(retriever):
    with pytest.raises(rag.RagError, match="empty"):
        retriever.search("   ")
    with pytest.raises(rag.RagError, match="unknown retrieval mode"):
        retriever.search("CPEC", mode="fuzzy")


def test_langchain_retriever_invoke(retriever):
    lc = retriever.as_langchain(k=2)
    assert isinstance(lc, BaseRetriever)
    docs = lc.invoke("Shanghai Cooperation Organisation chairmanship")
    assert len(docs) == 2
    assert {"source", "start", "end", "score"} <= set(docs[0].metadata)
    assert "Shanghai Cooperation Organisation" in docs[0].page_content


def test_passage_list_renders_and_converts(retriever):
    passages = retriever.search("Kashmir", k=3)
    html = passages._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 4 and "Kashmir" in html
    frame = passages.to_pandas()
    assert isinstance(frame, pd.DataFrame) and list(frame["start"]) == [p.start for p in passages]


def test_paragraph_texts_join_chunks_once():
    chunks = [
        rag.Chunk(0, "a.txt", 0, 10, "One. Two.", 0, 20),
        rag.Chunk(1, "a.txt", 5, 20, "Two. Three.", 0, 20),
        rag.Chunk(2, "a.txt", 22, 30, "Four.", 22, 30),
    ]
    assert paragraph_of(chunks) == [0, 0, 1]
    assert paragraph_texts(chunks) == ["One. Two. Three.", "Four."]


def test_the_paragraph_around_a_chunk_counts_in_hybrid_search(tmp_path):
    """Two identical sentences: the one whose paragraph matches the rest of the query wins, wherever it is."""
    twin = "Alpha beta gamma delta epsilon."
    paragraphs = [f"{twin} Lumber is shipped by rail.", f"{twin} The harbour of Zorvan exports copper ore."]
    query = "alpha beta gamma delta epsilon at the Zorvan copper harbour"
    for n, layout in enumerate((paragraphs, paragraphs[::-1])):
        corpus, index = tmp_path / f"c{n}", tmp_path / f"i{n}"
        corpus.mkdir()
        text = "\n\n".join(layout) + "\n"
        (corpus / "a.txt").write_text(text, encoding="utf-8")
        rag.build_index(corpus, index)
        best = next(p for p in rag.load_retriever(index).search(query, k=4) if p.text == twin)
        assert "Zorvan" in text[best.para_start : best.para_end]


def test_acronyms_are_found_and_expanded():
    acronyms = find_acronyms([
        "The Shanghai Cooperation Organisation met. On Monday the Bank of England spoke.",
        "Pakistan’s Rise plan. The UN Charter applies; the UN agreed.",
        "China-Pakistan Economic Corridor (CPEC) is first. Beijing’s Global Development Initiative (GDI) too.",
    ])
    table = acronyms.unused
    assert table["SCO"] == "Shanghai Cooperation Organisation" and table["BE"] == "Bank of England"
    assert "OM" not in table, "a sentence's first word is not part of a name"
    assert "UC" in table and "UN" not in table, "an acronym the corpus uses itself needs no expansion"
    assert acronyms.defined == {"CPEC": "China-Pakistan Economic Corridor", "GDI": "Global Development Initiative"}
    assert acronyms.expand("Who chairs the SCO?") == "Who chairs the SCO (Shanghai Cooperation Organisation)?"
    assert acronyms.expand("the SCO (Shanghai Cooperation Organisation)") == "the SCO (Shanghai Cooperation Organisation)"
    assert acronyms.expand("who chairs the sco?") == "who chairs the sco?"
    assert acronyms.expand("Is CPEC big?") == "Is CPEC big?", "queries keep the acronyms the corpus writes"
    assert acronyms.expand("What does CPEC stand for?") == "What does CPEC (China-Pakistan Economic Corridor) stand for?"
    assert acronyms.spell_out("CPEC 2.0 and GDI.") == "CPEC (China-Pakistan Economic Corridor) 2.0 and GDI (Global Development Initiative)."


def test_a_question_using_an_acronym_finds_the_spelled_out_name(retriever):
    assert "Shanghai Cooperation Organisation" in retriever.expand("When does Pakistan chair the SCO?")
    assert "Shanghai Cooperation Organisation" in retriever.search("When does Pakistan chair the SCO?", k=1)[0].text
