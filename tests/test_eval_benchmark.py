"""The benchmark loader and runner on a tiny fixture corpus (6 documents, 6 questions)."""

import json
import shutil
from pathlib import Path

import pytest

import rag
from eval.benchmark import BenchDoc, doc_text, language_metrics, load_benchmark, run_benchmark, write_corpus
from eval.report import languages_markdown

TINY = Path(__file__).parent / "fixtures" / "bench_tiny"


def test_loader_reads_documents_and_questions():
    bench = load_benchmark(TINY)
    assert bench.name == "bench_tiny"
    assert [d.id for d in bench.docs][:2] == ["Honeybee__p000", "Honeybee__p001"] and len(bench.docs) == 6
    assert len(bench.questions) == 6 and bench.has_impossible
    q = bench.questions[1]
    assert (q.id, q.answers, q.gold_doc_ids, q.is_impossible) == ("t2", ["James Douglass"], ["Lighthouse__p000"], False)
    assert bench.questions[-1].is_impossible and bench.questions[-1].gold_doc_ids == []


def test_selection_first_n_or_seeded_sample():
    bench = load_benchmark(TINY)
    assert [q.id for q in bench.select(limit=2)] == ["t1", "t2"]
    assert len(bench.select()) == 6
    sample = bench.select(limit=3, sample=True)
    assert len(sample) == 3 and sample == bench.select(limit=3, sample=True)      # reproducible
    assert sorted(q.id for q in bench.select(sample=True)) == sorted(q.id for q in bench.questions)


@pytest.mark.parametrize("edit, needle", [
    (lambda qa: qa.replace('"Lighthouse__p000"', '"Nowhere__p9"'), "t2 names gold document 'Nowhere__p9'"),
    (lambda qa: qa + "{not json\n", "qa.jsonl:7: not JSON"),
    (lambda qa: qa.replace('"question": "Why', '"question": "", "x": "Why'), "question t5 has no question text"),
    (lambda qa: qa.replace('"answers": ["Catania"]', '"answers": "Catania"'), "answers must be a list"),
])
def test_loader_errors_name_the_line_or_question(tmp_path, edit, needle):
    shutil.copytree(TINY, tmp_path / "b")
    qa = tmp_path / "b" / "qa.jsonl"
    qa.write_text(edit(qa.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(rag.RagError, match=needle.replace("(", r"\(")):
        load_benchmark(tmp_path / "b")


def test_loader_errors_for_missing_files(tmp_path):
    with pytest.raises(rag.RagError, match="benchmark directory not found"):
        load_benchmark(tmp_path / "none")
    (tmp_path / "corpus.jsonl").write_text('{"id": "a", "title": "A", "text": "Some text."}\n', encoding="utf-8")
    with pytest.raises(rag.RagError, match="qa.jsonl"):
        load_benchmark(tmp_path)


def test_write_corpus_names_files_by_id_and_maps_them_back(tmp_path):
    docs = [BenchDoc("Plain_id__p000", "Plain", "Text one."), BenchDoc("odd/id with spaces", "", "Text two.")]
    names = write_corpus(docs, tmp_path)
    assert names["Plain_id__p000.txt"] == "Plain_id__p000"
    odd = next(n for n, d in names.items() if d == "odd/id with spaces")
    assert "/" not in odd and (tmp_path / odd).is_file()
    assert rag.read_source(tmp_path / "Plain_id__p000.txt") == doc_text(docs[0])
    assert "Plain" in doc_text(docs[0]) and doc_text(docs[1]) == "Text two."
    write_corpus(docs[:1], tmp_path)                  # a second run removes stale files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Plain_id__p000.txt"]


def test_run_on_the_tiny_benchmark(tmp_path):
    bench = load_benchmark(TINY)
    stages = set()
    result = run_benchmark(bench, bench.questions, rag.Settings(), answers=None, work_dir=tmp_path,
                           progress=lambda stage, done, total: stages.add(stage))
    assert stages == {"embedding corpus", "questions"}
    r = result.metrics["retrieval"]
    assert r["questions"] == 5                                    # the impossible question has no gold document
    for key in ("hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10"):
        assert 0.0 <= r[key] <= 1.0
    assert r["hit@10"] == 1.0                                     # 6 documents: every one is in the top 10
    assert r["hit@1"] <= r["hit@5"] <= r["hit@10"] and r["search_p50_ms"] > 0
    a = result.metrics["answers"]
    assert a["items"] == 6
    for key in ("answer_containment", "exact_match", "token_f1", "abstention_precision", "abstention_recall"):
        assert 0.0 <= a[key] <= 1.0
    assert a["latency_p50_ms"] > 0 and len(result.latencies["answer"]) == 6 and len(result.latencies["search"]) == 6
    rec = result.records[0]
    assert rec["id"] == "t1" and rec["doc_ranking"][0] in {d.id for d in bench.docs}
    assert {"answer", "citations", "passages", "abstained", "latency_ms", "score"} <= set(rec)
    assert result.records[-1]["is_impossible"] is True
    json.dumps(result.records)                                    # the records are JSON
    assert result.build["documents"] == 6 and result.build["built"]
    fusion = rag.load_fusion("e5-small")          # answers are decided afterwards at the card's thresholds
    assert (result.build["threshold"], result.build["cross_threshold"]) == (fusion.answer, fusion.cross_answer)
    # the working folder is reused: the second run does not rebuild, and answers only a sample
    again = run_benchmark(bench, bench.select(limit=4), rag.Settings(), answers=2, work_dir=tmp_path)
    assert not again.build["built"]
    assert again.metrics["retrieval"]["questions"] == 4 and again.metrics["answers"]["items"] == 2
    assert sum("score" in r for r in again.records) == 2
    assert any("answers on 2 of the 4" in n for n in again.notes)
    assert result.languages == {}                                 # no question names its language


def test_results_per_question_language(tmp_path):
    shutil.copytree(TINY, tmp_path / "b")
    qa = tmp_path / "b" / "qa.jsonl"
    rows = [json.loads(line) for line in qa.read_text().splitlines()]
    for row, lang in zip(rows, ["en", "de", "de", "en", "fr", "en"]):
        row["lang"] = lang
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = load_benchmark(tmp_path / "b")
    assert [q.lang for q in bench.questions] == ["en", "de", "de", "en", "fr", "en"]
    records = [{"hit_rank": rank, "abstained": abstained, "score": {"contains": contains}}
               for rank, abstained, contains in [(1, False, True), (1, False, False), (2, True, False),
                                                 (1, False, True), (None, True, False), (None, False, False)]]
    del records[3]["score"]                                       # not answered in this run: retrieval only
    by = language_metrics(bench.questions, records)
    assert list(by) == ["de", "en", "fr"]
    assert by["de"] == {"questions": 2, "hit@1": 0.5, "answered": 2, "answered_rate": 0.5, "answered_with_answer": 0.0}
    assert by["en"]["questions"] == 3 and by["en"]["hit@1"] == 1.0 and by["en"]["answered"] == 1  # t6 is impossible
    assert by["fr"]["hit@1"] == 0.0 and by["fr"]["answered_rate"] == 0.0
    table = languages_markdown(by)
    assert "| mean | | 0.500 |" in table.replace("|  |", "| |") and "| mean, not English |" in table
