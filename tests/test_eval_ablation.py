"""eval.ablate_rules: each rule switched off inside the block, and everything restored after it."""

from __future__ import annotations

import rag
from eval.ablate_rules import RULES, without
from rag.answerers import rules as R


def test_each_rule_is_switched_off_inside_the_block_and_restored_after(retriever):
    settings = rag.Settings()
    before = {name: getattr(R, name) for name, _ in RULES.values() if hasattr(R, name)}
    with without("answer type (date/number/place/name must be present)"):
        assert R.answer_type("When was the dialogue held?") is None
    with without("several parts (which two, ... and why)"):
        assert R._MULTI.search("Which two sides met, and why?") is None
    with without("IDF word overlap in the score"):
        assert R.make(retriever, settings).w_overlap == 0.0
    assert R.answer_type("When was the dialogue held?") == "date"
    assert R.make(retriever, settings).w_overlap == R.RulesAnswerer.__dataclass_fields__["w_overlap"].default
    assert {name: getattr(R, name) for name in before} == before
