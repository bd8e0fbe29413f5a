"""The reader: the training command end to end on a tiny fixture, the ONNX runtime it produces, its model card
checks, reranking and short answers through the chain (with the model the training command makes here: the
machinery, not the quality), and the shipped reader in ``rag/reader/weights`` (its checksums, and answering
with it from the command line without any setting)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag
from rag.cli import app
from rag.reader.evidence import FEATURES, Decision, fit
from rag.reader.model import CARD, FILES, Reader
from tests.conftest import ROOT, SEEDS

TINY = ROOT / "tests" / "fixtures" / "reader_tiny"
NO_SPAN = tuple(f for f in FEATURES if f != "span")


def _train(out: Path, work: Path):
    args = ["train-reader", "--data", f"{TINY}:split", "--out", str(out), "--work", str(work), "--save-steps", "1"]
    return CliRunner().invoke(app, args)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A few training steps on the 30-question fixture: (exported model folder, work folder)."""
    root = tmp_path_factory.mktemp("reader")
    result = _train(root / "out", root / "work")
    assert result.exit_code == 0, result.output
    return root / "out", root / "work"


@pytest.fixture(scope="session")
def reader(trained) -> Reader:
    return Reader(trained[0])


def test_training_writes_checkpoints_int8_models_and_a_card(trained, reader):
    out, work = trained
    assert list((work / "scorer" / "checkpoints").glob("checkpoint-*"))
    card = json.loads((out / CARD).read_text(encoding="utf-8"))
    assert set(card["files"]) == set(FILES) and card["seed"] == 0 and "CC BY-SA 4.0" in card["license"]
    assert 0 < card["threshold"] < 1 and card["steps"]["scorer"] >= 1
    train, val, test = (set(card["splits"][s]["articles"]) for s in ("train", "validation", "test"))
    assert train and val and test and not (train & val) and not (train & test) and not (val & test)
    assert (out / "README.md").read_text(encoding="utf-8").count("sha256") == len(FILES)
    assert sum((out / name).stat().st_size for name in FILES) < 60 * 2**20  # int8: a few tens of MB


def test_a_rerun_resumes_instead_of_starting_over(trained, tmp_path):
    out, work = trained
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    shutil.rmtree(copy / "span" / "final")
    result = _train(tmp_path / "out", copy)
    assert result.exit_code == 0, result.output
    assert (copy / "span" / "final" / "trained.json").is_file()
    assert (copy / "pairs.jsonl").read_text(encoding="utf-8") == (work / "pairs.jsonl").read_text(encoding="utf-8")


def test_scores_are_probabilities_and_spans_lie_in_the_sentence(reader):
    items = [("Eagle touched down on July 20, 1969, in the Sea of Tranquility.", "The crew had three members."),
             ("Honey is made from nectar.", "")]
    scores = reader.score("Where did the lunar module touch down?", items)
    assert scores.shape == (2,) and all(0.0 <= s <= 1.0 for s in scores)
    assert list(reader.score("Where did the lunar module touch down?", items)) == list(scores)  # cached, same
    found = reader.span("Where did the lunar module touch down?", items[0][0])
    assert found is None or (0 <= found.start < found.end <= len(items[0][0]) and isinstance(found.margin, float))
    assert reader.span("Where did the lunar module touch down?", items[0][0]) is found  # cached


def test_the_span_model_learns_no_answer_from_sentences_without_one(tmp_path):
    """Span examples: every answer lies in its sentence; each question adds one sentence without its answer
    (start = end = -1), for an unanswerable question the one holding its plausible answer; their training
    target is [CLS]."""
    from transformers import AutoTokenizer

    from rag.reader.training import data as D
    from rag.reader.training.train import _base_model, _span_features

    pool = D.load_pool([(TINY, "split")], seed=0)
    questions = pool.questions_in("train") + pool.questions_in("validation")
    finder = D.NegativeFinder(pool, questions, lambda texts: rag.Embedder().encode(texts))
    examples = D.span_examples(pool, questions, finder)
    answers = [e for e in examples if e[2] >= 0]
    none = [e for e in examples if e[2] < 0]
    assert answers == D.span_examples(pool, questions)  # without a finder: the answers only
    assert len(none) == len(questions) and all(e[3] == -1 for e in none)
    for question, sentence, a, b in answers:
        q = next(q for q in questions if q.text == question)
        assert sentence[a:b] == q.answers[0][1]
    for q in (q for q in questions if q.impossible and q.plausible):
        gold = pool.sentences[q.gold[0]]
        held = [gold[i].text for i in D.holding(gold, q.plausible)]
        assert any(e[0] == q.text and e[1] in held for e in none)
    features = _span_features(none[:3] + answers[:3], AutoTokenizer.from_pretrained(str(_base_model())), 96)
    assert features["start_positions"][:3] == [0, 0, 0] and features["end_positions"][:3] == [0, 0, 0]
    assert all(0 < s <= e for s, e in zip(features["start_positions"][3:], features["end_positions"][3:]))


def test_a_missing_model_file_is_one_clear_error(trained, tmp_path):
    path = tmp_path / "reader"
    shutil.copytree(trained[0], path)
    (path / "scorer.onnx").unlink()
    with pytest.raises(rag.RagError, match=r"scorer.onnx not found.*rag train-reader"):
        Reader(path)


def test_a_damaged_model_file_is_one_clear_error(trained, tmp_path):
    path = tmp_path / "reader"
    shutil.copytree(trained[0], path)
    data = bytearray((path / "span.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "span.onnx").write_bytes(bytes(data))
    with pytest.raises(rag.RagError, match="damaged"):
        Reader(path)


def test_asking_the_reader_without_a_model_is_one_line(seed_index, tmp_path):
    env = {"RAG_READER_MODEL": str(tmp_path / "nothing"), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Where were the talks held?", "--index", str(seed_index),
                             "--answerer", "reader"], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "reader model is missing" in result.stderr and "rag train-reader" in result.stderr


def test_the_reader_answers_through_the_chain_without_torch(seed_index, trained):
    """Threshold 0 and span threshold 0: an answer with a short answer, both exact spans; no torch import."""
    code = ("import sys, json, rag; s = rag.Settings(reader_model=sys.argv[2], reader_threshold=0.0, span_threshold=0.0, rerank=True); "
            "a = rag.load_chain(sys.argv[1], answerer='reader', settings=s).ask('Which port will the corridor develop?'); "
            "print(json.dumps({'answer': a.to_dict(), 'torch': 'torch' in sys.modules}))")
    result = subprocess.run([sys.executable, "-c", code, str(seed_index), str(trained[0])], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["torch"] is False
    answer = out["answer"]
    assert not answer["abstained"] and answer["citations"] and answer["confidence"] is not None
    text = rag.read_source(SEEDS / answer["citations"][0]["source"])
    for c in answer["citations"]:
        assert text[c["start"]:c["end"]] == c["quote"]
    short = answer["short_answer"]
    assert short is not None and text[short["start"]:short["end"]] == short["quote"]
    assert answer["answer"].startswith(short["quote"] + " — ")


def test_search_returns_the_reranked_order(seed_index, reader):
    retriever = rag.load_retriever(seed_index)
    retriever.reader = reader
    reranked = retriever.search("Which port will the corridor develop?", k=5, rerank=True)
    fused = retriever.search("Which port will the corridor develop?", k=5)
    assert [p.score for p in reranked] == sorted((p.score for p in reranked), reverse=True)
    assert all(p.fused_score is not None for p in reranked) and [p.score for p in reranked] != [p.score for p in fused]
    assert all(0.0 <= p.score <= 1.0 for p in reranked)


def test_training_without_data_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["train-reader", "--data", f"{tmp_path}:split", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "training file not found" in result.stderr


def test_reader_context_reaches_back_across_paragraphs_only_when_asked(seed_index):
    retriever = rag.load_retriever(seed_index)
    chunks = retriever.chunks
    first = next(c for c in chunks[1:] if c.start == c.para_start)  # a paragraph's opening chunk
    passage = rag.Passage(first.id, first.source, first.start, first.end, first.text, 1.0, None, None, first.para_start, first.para_end)
    assert retriever.context_before(passage) is None
    retriever.settings = rag.Settings(reader_context="document")
    previous = retriever.context_before(passage)
    assert previous is not None and previous.id == first.id - 1 and previous.end <= first.start


def _cases(rng, n: int, right) -> list[dict]:
    """Synthetic validation cases of 4 candidates each; ``right(case)`` says which candidate holds the answer."""
    cases = []
    for _ in range(n):
        probs, dense = rng.random(4), rng.random(4)
        case = {"question": "Who flew the command module?", "texts": ["Collins flew the command module."] * 4,
                "probs": probs, "dense": dense, "answerable": bool(rng.random() < 0.7)}
        case["labels"] = [case["answerable"] and i == right(case) for i in range(4)]
        cases.append(case)
    return cases


def test_the_ranking_and_the_decision_learn_which_evidence_predicts_a_right_answer():
    """Synthetic cases where the cosine, not the reader's score, marks the answer: the ranking's weight goes to
    the cosine, and the decision learns that a low best cosine means a wrong answer."""
    import numpy as np

    from rag.reader.evidence import RANK_FEATURES, Ranking, judge

    rng = np.random.default_rng(0)
    cases = _cases(rng, 400, lambda c: int(np.argmax(c["dense"])) if c["dense"].max() > 0.5 else -1)
    ranking, decision = fit(cases, NO_SPAN)
    assert ranking is not None and decision is not None and decision.names == NO_SPAN
    weights = dict(zip(RANK_FEATURES, ranking.coef))
    assert weights["dense"] > 5 * abs(weights["reader"])
    card = {"ranking": ranking.to_card(), "decision": decision.to_card()}
    assert Ranking.from_card(card).to_card() == card["ranking"] and Decision.from_card(card).to_card() == card["decision"]
    assert Decision.from_card({"decision": {"features": ["best"], "coef": [1.0], "intercept": 0.0}}).names == ("best",)
    assert Decision.from_card({"decision": {**card["decision"], "features": ["best", "unknown"]}}) is None
    texts = ["Collins flew it.", "It landed."]
    sure = judge(ranking, decision, "Who flew?", np.array([0.2, 0.6]), np.array([0.95, 0.1]), texts)
    unsure = judge(ranking, decision, "Who flew?", np.array([0.2, 0.6]), np.array([0.3, 0.1]), texts)
    assert int(np.argmax(sure.scores)) == 0 and unsure.confidence < sure.confidence
    assert dict(zip(decision.names, decision.coef))["dense_best"] > 0
    assert fit([{**c, "answerable": False, "labels": [False] * 4} for c in cases], NO_SPAN) == (None, None)  # nothing to learn


def test_the_decision_learns_from_the_span_models_no_answer_margin():
    """Synthetic cases where only the span margin of the best candidate tells a right answer from a wrong one:
    the decision weighs it, asks for it for the best candidate only, and cannot run without it."""
    import numpy as np

    from rag.reader.evidence import judge

    rng = np.random.default_rng(1)
    cases = _cases(rng, 400, lambda c: int(np.argmax(c["probs"])))
    asked = []
    for c in cases:
        sign = 1.0 if c["answerable"] else -1.0
        c["span"] = lambda i, sign=sign, c=c: asked.append((id(c), i)) or sign * (1 + rng.random())
    ranking, decision = fit(cases, FEATURES)
    assert decision.names == FEATURES and dict(zip(FEATURES, decision.coef))["span"] > 1
    assert len(asked) == len(cases)
    texts = ["Collins flew the command module."] * 4
    probs, dense = np.array([0.9, 0.1, 0.1, 0.1]), np.array([0.5, 0.5, 0.5, 0.5])
    yes = judge(ranking, decision, "Who flew the command module?", probs, dense, texts, lambda i: 5.0)
    no = judge(ranking, decision, "Who flew the command module?", probs, dense, texts, lambda i: -5.0)
    assert yes.confidence > 0.8 > 0.2 > no.confidence
    with pytest.raises(ValueError, match="span margin"):
        judge(ranking, decision, "Who flew the command module?", probs, dense, texts)


def test_the_reader_answerer_abstains_on_the_cards_decision(seed_index, trained, tmp_path):
    """A decision that trusts only how much of the question the corpus covers: a question about the corpus is
    answered with that confidence, one about something it never mentions is abstained on."""
    from rag.answerers.base import Query
    from rag.answerers.reader import ReaderAnswerer
    from rag.reader.model import read_card, write_card

    model = tmp_path / "model"
    shutil.copytree(trained[0], model)
    card = read_card(model)
    card["decision"] = Decision(("coverage_all",), (6.0,), -3.0).to_card()
    write_card(model, card)
    reader = Reader(model)
    retriever = rag.load_retriever(seed_index)
    answerer = ReaderAnswerer(reader, retriever.cosines, threshold=0.5)
    covered = "Which port will the corridor develop?"
    reply = answerer.answer(Query(covered), retriever.search(covered, k=5))
    assert not reply.abstained and reply.confidence > 0.9
    unknown = "What is the best recipe for chicken biryani?"
    reply = answerer.answer(Query(unknown), retriever.search(unknown, k=5))
    assert reply.abstained and reply.confidence < 0.5


def test_the_shipped_reader_loads_with_its_checksums_ranking_and_decision():
    reader = rag.load_reader()  # rag/reader/weights, checked against its card
    assert reader.ranking is not None and reader.decision is not None and 0 < reader.threshold < 1
    assert sum((reader.path / name).stat().st_size for name in FILES) < 60 * 2**20
    card = reader.card
    train, val, test = (set(card["splits"][s]["articles"]) for s in ("train", "validation", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert "CC BY-SA 4.0" in card["license"] and card["validation"]["top1"] > 0


def test_the_shipped_reader_answers_from_the_command_line_with_exact_citations(tmp_path):
    corpus = shutil.copytree(ROOT / "tests" / "fixtures" / "notes", tmp_path / "notes")
    rag.build_index(corpus, tmp_path / "index")
    env = {"PATH": str(Path(sys.executable).parent)}
    for question in ("What gives sourdough bread its sour taste?", "Who was the first woman in space?"):
        result = subprocess.run([sys.executable, "-m", "rag.cli", "ask", question, "--index", str(tmp_path / "index"),
                                 "--answerer", "reader", "--json"], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert answer["confidence"] is not None
        for c in answer["citations"]:
            assert rag.read_source(corpus / c["source"])[c["start"]:c["end"]] == c["quote"]
