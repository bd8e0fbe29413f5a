import json
from collections import Counter

import pytest

from eval.gold import load_gold
from rag.chunking import paragraphs
from tests.conftest import GOLD, SEEDS


HOLDOUT = GOLD.with_name("holdout.jsonl")


@pytest.mark.parametrize("path", [GOLD, HOLDOUT], ids=["gold", "holdout"])
def test_every_evidence_string_is_an_exact_substring_of_the_corpus(path):
    texts = [p.read_bytes().decode("utf-8") for p in SEEDS.rglob("*.txt")]
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        for ev in item["evidence"]:
            assert any(ev in t for t in texts), (item["id"], ev)


def test_gold_set_shape():
    items = load_gold(GOLD, SEEDS)
    types = Counter(it.type for it in items)
    assert len(items) >= 60 and types["unanswerable"] >= 8 and types["follow_up"] >= 5
    assert len({it.question for it in items}) == len(items)
    for it in items:
        assert it.answerable == bool(it.evidence) == bool(it.keywords)
        assert (it.type == "follow_up") == bool(it.history)


def test_held_out_questions_are_new():
    """eval/holdout.jsonl was written after the answerer's rules were tuned on gold.jsonl; it must not repeat it."""
    gold = {it.question.lower() for it in load_gold(GOLD, SEEDS)}
    held_out = load_gold(HOLDOUT, SEEDS)
    assert len(held_out) >= 30 and not gold & {it.question.lower() for it in held_out}
    assert sum(not it.answerable for it in held_out) >= 8


def test_every_paragraph_is_covered():
    items = load_gold(GOLD, SEEDS)
    for path in SEEDS.rglob("*.txt"):
        text = path.read_bytes().decode("utf-8")
        spans = [s for it in items for s in it.spans if s.source == path.name]
        for start, end in paragraphs(text):
            assert any(s.overlaps(path.name, start, end) for s in spans), text[start:end][:60]


def test_the_notes_file_is_located_in_its_own_corpus():
    """eval/notes.jsonl asks about tests/fixtures/notes (a user's own notes, unlike the seed article)."""
    from tests.conftest import ROOT

    items = load_gold(GOLD.with_name("notes.jsonl"), ROOT / "tests" / "fixtures" / "notes")
    assert len(items) == 7 and sum(not it.answerable for it in items) == 2
