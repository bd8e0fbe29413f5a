"""Metric code on hand-made records: no model, no index."""

import math

import pytest

import rag
from eval.gold import GoldItem, Span, load_gold
from eval.metrics import (
    best_exact_match,
    best_token_f1,
    contains_answer,
    doc_ranking,
    doc_ranking_scores,
    exact_match,
    keywords_ok,
    strip_markers,
    token_f1,
)
from eval.run import SourceTexts, run_gold, score_item, summarize

TEXT = "Alpha was founded in 1901 in Paris. Beta makes blue widgets in Lyon. Gamma is closed on Sundays."
TEXTS = {"a.txt": TEXT}
ALPHA = (0, TEXT.index(" Beta"))                      # "Alpha was founded in 1901 in Paris."
BETA = (ALPHA[1] + 1, TEXT.index(" Gamma"))           # "Beta makes blue widgets in Lyon."
GAMMA = (BETA[1] + 1, len(TEXT))


def item(id="q1", type="factoid", answer="Paris, in 1901.", span=ALPHA, keywords=("Paris",), history=()):
    answerable = answer is not None
    it = GoldItem(
        id=id, question=f"question {id}?", answer=answer, type=type, keywords=list(keywords) if answerable else [],
        evidence=[TEXT[span[0]:span[1]]] if answerable else [],
        history=[{"question": q, "answer": a} for q, a in history],
    )
    if answerable:
        it.spans.append(Span("a.txt", *span))
    return it


def cite(span, n=1, quote=None):
    return {"n": n, "source": "a.txt", "start": span[0], "end": span[1], "quote": TEXT[span[0]:span[1]] if quote is None else quote}


def passage(span):
    return {"source": "a.txt", "start": span[0], "end": span[1], "score": 1.0, "text": TEXT[span[0]:span[1]]}


def record(it, answer, citations=(), passages=(), abstained=False, latency=10.0):
    rec = {"id": it.id, "type": it.type, "question": it.question, "rewritten_query": it.question, "answer": answer,
           "abstained": abstained, "citations": list(citations), "passages": list(passages), "latency_ms": latency}
    rec["score"] = score_item(it, rec, TEXTS)
    return rec


def test_perfect_run():
    it = item()
    rec = record(it, f"{TEXT[ALPHA[0]:ALPHA[1]]} [1]", [cite(ALPHA)], [passage(ALPHA), passage(BETA)])
    none = item("q2", "unanswerable", answer=None)
    abstained = record(none, "The documents do not contain an answer.", [], [passage(GAMMA)], abstained=True)
    summary = summarize([rec, abstained])
    assert summary["factoid"]["abstention_precision"] is None and summary["factoid"]["abstention_recall"] is None
    s = summary["overall"]
    assert s["recall@1"] == s["recall@3"] == s["recall@5"] == s["mrr"] == 1.0
    assert s["keyword_accuracy"] == 1.0
    assert s["citation_precision"] == s["citation_recall"] == s["citation_validity"] == 1.0
    assert s["abstention_precision"] == s["abstention_recall"] == 1.0
    assert s["latency_p50_ms"] == s["latency_p95_ms"] == 10.0
    assert s["median_words"] == 7 and s["answered"] == 1          # the marker [1] is not a word
    assert 0 < s["token_f1"] < 1


def test_hit_rank_and_mrr():
    it = item()
    rec = record(it, "x", [], [passage(GAMMA), passage(BETA), passage(ALPHA)])
    s = summarize([rec])["overall"]
    assert rec["score"]["hit_rank"] == 3
    assert (s["recall@1"], s["recall@3"], s["recall@5"]) == (0.0, 1.0, 1.0)
    assert s["mrr"] == pytest.approx(1 / 3)


def test_wrong_citation_lowers_precision_and_a_forged_quote_is_invalid():
    it = item()
    good, wrong = cite(ALPHA, 1), cite(BETA, 2)
    forged = cite(ALPHA, 3, quote="Alpha was founded in 1902 in Paris.")
    rec = record(it, "Paris [1] Lyon [2] 1902 [3]", [good, wrong, forged], [passage(ALPHA)])
    assert rec["score"]["citation_hits"] == [True, False, True]
    assert rec["score"]["citation_valid"] == [True, True, False]
    s = summarize([rec])["overall"]
    assert s["citation_precision"] == pytest.approx(2 / 3)
    assert s["citation_recall"] == 1.0
    assert s["citation_validity"] == pytest.approx(2 / 3)
    only_wrong = record(it, "Lyon [1]", [wrong], [passage(BETA)])
    s = summarize([only_wrong])["overall"]
    assert s["citation_precision"] == 0.0 and s["citation_recall"] == 0.0


def test_citation_of_an_unknown_source_or_out_of_range_span_is_invalid():
    it = item()
    for bad in ({**cite(ALPHA), "source": "missing.txt"}, {**cite(ALPHA), "end": len(TEXT) + 5}):
        assert record(it, "x [1]", [bad])["score"]["citation_valid"] == [False]


def test_missed_abstention():
    unanswerable = item("q2", "unanswerable", answer=None)
    answered = record(unanswerable, "Gamma is closed on Sundays. [1]", [cite(GAMMA)], [passage(GAMMA)])
    abstained = record(item("q3", "unanswerable", answer=None), "No answer.", [], [passage(GAMMA)], abstained=True)
    s = summarize([answered, abstained])
    assert s["overall"]["abstention_recall"] == 0.5 and s["overall"]["abstention_precision"] == 1.0
    assert s["unanswerable"]["citation_precision"] == 0.0          # no citation can hit a gold span
    assert "keyword_accuracy" not in s["unanswerable"] and "recall@1" not in s["unanswerable"]
    # abstaining on an answerable question costs precision, and the keywords do not count
    wrongly = record(item("q4"), "Paris? No answer.", [], [passage(ALPHA)], abstained=True)
    s = summarize([abstained, wrongly])["overall"]
    assert s["abstention_precision"] == 0.5 and s["abstention_recall"] == 1.0
    assert s["keyword_accuracy"] == 0.0 and s["token_f1"] == 0.0


def test_partial_keyword_match_is_a_miss():
    it = item(keywords=("Paris", "1901"))
    assert keywords_ok("It was founded in PARIS in 1901.", it.keywords)
    assert not keywords_ok("It was founded in Paris.", it.keywords)
    assert keywords_ok("Pakistan’s Rise", ["Pakistan's rise"])      # curly and straight apostrophes alike
    rec = record(it, "Alpha was founded in Paris. [1]", [cite(ALPHA)], [passage(ALPHA)])
    assert rec["score"]["keywords_ok"] is False
    assert summarize([rec])["overall"]["keyword_accuracy"] == 0.0


class FakeChain:
    """Records what it was asked; answers with the first sentence of the corpus."""

    def __init__(self):
        self.calls = []
        self.settings = rag.Settings(corpus_dir="nowhere")

    def ask(self, question, history=None, *, k=None, mode=None):
        self.calls.append((question, history, k, mode))
        return rag.Answer(question, f"{TEXT[ALPHA[0]:ALPHA[1]]} [1]", [rag.Citation(1, "a.txt", *ALPHA, TEXT[ALPHA[0]:ALPHA[1]])],
                          [rag.Passage(0, "a.txt", *ALPHA, TEXT[ALPHA[0]:ALPHA[1]], 1.0)], False, question, 5.0)


def test_follow_up_is_asked_with_its_history_and_grouped_by_type():
    chain = FakeChain()
    first = item("q1")
    follow = item("q5", "follow_up", answer="In 1901.", keywords=("1901",), history=[("Where was Alpha founded?", "Paris.")])
    seen = []
    records = run_gold(chain, [first, follow], k=3, mode="bm25", on_item=lambda: seen.append(1), corpus=TEXTS)
    assert chain.calls[0] == ("question q1?", [], 3, "bm25")
    assert chain.calls[1] == ("question q5?", [("Where was Alpha founded?", "Paris.")], 3, "bm25")
    assert len(seen) == 2
    assert [r["id"] for r in records] == ["q1", "q5"] and records[1]["type"] == "follow_up"
    assert {"question", "rewritten_query", "answer", "abstained", "citations", "passages", "latency_ms"} <= set(records[0])
    summary = summarize(records)
    assert set(summary) == {"overall", "factoid", "follow_up"}
    assert summary["follow_up"]["keyword_accuracy"] == 1.0 and summary["follow_up"]["citation_validity"] == 1.0


def test_citations_checked_against_a_corpus_directory(tmp_path):
    (tmp_path / "a.txt").write_bytes(TEXT.encode("utf-8"))
    texts = SourceTexts(tmp_path)
    assert "a.txt" in texts and "b.txt" not in texts and texts["a.txt"] == TEXT
    (tmp_path.parent / "outside.txt").write_text(TEXT, encoding="utf-8")
    assert "../outside.txt" not in texts                                  # never read outside the corpus
    records = run_gold(FakeChain(), [item()], corpus=tmp_path)
    assert records[0]["score"]["citation_valid"] == [True]
    (tmp_path / "a.txt").write_bytes(("X" + TEXT).encode("utf-8"))       # the file changed since indexing
    records = run_gold(FakeChain(), [item()], corpus=tmp_path)
    assert records[0]["score"]["citation_valid"] == [False]


def test_any_gold_file_is_located_in_the_corpus_and_a_missing_evidence_names_the_item(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(TEXT.encode("utf-8"))
    gold = tmp_path / "gold.jsonl"
    gold.write_text(item().model_dump_json(exclude={"spans"}) + "\n", encoding="utf-8")
    [loaded] = load_gold(gold, corpus)
    assert loaded.spans == [Span("a.txt", *ALPHA)]
    row = item("q9", span=BETA).model_dump(exclude={"spans"})
    row["evidence"] = ["Beta makes red widgets."]
    gold.write_text(GoldItem(**row).model_dump_json(exclude={"spans"}) + "\n", encoding="utf-8")
    with pytest.raises(rag.RagError, match="q9"):
        load_gold(gold, corpus)


def test_squad_answer_metrics():
    assert exact_match("The Denver Broncos!", "denver broncos")
    assert best_exact_match("Denver Broncos [1]", ["Carolina Panthers", "Denver Broncos"])
    assert token_f1("the Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)
    assert best_token_f1("Denver Broncos [1]", ["Panthers", "Denver Broncos"]) == 1.0
    assert best_token_f1("anything", []) == 0.0
    assert strip_markers("A sentence. [1] Another. [2]") == "A sentence. Another."
    assert contains_answer("They beat the Carolina Panthers 24–10. [1]", ["Carolina Panthers"])
    assert not contains_answer("They beat the Carolina Panthersville team.", ["Carolina Panthers"])
    assert not contains_answer("Anything at all.", ["", "the"])


def test_document_ranking_metrics():
    ranking = doc_ranking(["d2.txt", "d2.txt", "d1.txt", "d3.txt"], lambda s: s[:-4])
    assert ranking == ["d2", "d1", "d3"]
    s = doc_ranking_scores([ranking, ["d1"], ["a", "b"]], [["d1"], ["d1"], ["z"]])
    assert s["hit@1"] == pytest.approx(1 / 3) and s["hit@5"] == s["hit@10"] == pytest.approx(2 / 3)
    assert s["mrr@10"] == pytest.approx((1 / 2 + 1) / 3)
    assert s["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 3)
    deep = doc_ranking_scores([[f"d{i}" for i in range(20)]], [["d12"]])
    assert deep["hit@10"] == 0.0 and deep["mrr@10"] == 0.0 and deep["ndcg@10"] == 0.0
    two = doc_ranking_scores([["a", "x", "b"]], [["a", "b"]])
    assert two["ndcg@10"] == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)))


def test_the_costly_mistakes_are_counted():
    """"Nothing found" on an answerable item and an answer on an unanswerable one, each as a share."""
    found, told_none = item("q1"), item("q2")
    none = item("q3", "unanswerable", answer=None)
    records = [record(found, f"{TEXT[ALPHA[0]:ALPHA[1]]} [1]", [cite(ALPHA)], [passage(ALPHA)]),
               {**record(told_none, "The documents do not contain an answer.", [], [passage(GAMMA)], abstained=True),
                "outcome": "none"},
               record(none, "Paris [1]", [cite(ALPHA)], [passage(ALPHA)])]
    s = summarize(records)["overall"]
    assert s["none_on_answerable"] == 0.5 and s["answered_on_unanswerable"] == 1.0
