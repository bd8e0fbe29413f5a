import json
from collections import Counter

from eval.gold import load_gold
from rag.chunking import paragraphs
from tests.conftest import GOLD, SEEDS


def test_every_evidence_string_is_an_exact_substring_of_the_corpus():
    texts = [p.read_bytes().decode("utf-8") for p in SEEDS.rglob("*.txt")]
    for line in GOLD.read_text(encoding="utf-8").splitlines():
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


def test_every_paragraph_is_covered():
    items = load_gold(GOLD, SEEDS)
    for path in SEEDS.rglob("*.txt"):
        text = path.read_bytes().decode("utf-8")
        spans = [s for it in items for s in it.spans if s.source == path.name]
        for start, end in paragraphs(text):
            assert any(s.overlaps(path.name, start, end) for s in spans), text[start:end][:60]
