"""Ablation of the rules answerer: each hand-written rule switched off in turn, scored on data it was not tuned on.

    python -m eval.ablate_rules [--squad-answers 200] [--bench-cache build/bench/squad20]

Runs the ``rules`` answerer on ``eval/holdout.jsonl`` (never tuned on), ``eval/gold.jsonl`` (tuned on, for
reference) and a seeded sample of the SQuAD 2.0 benchmark's test articles (the reader's card decides which;
all articles when no reader is found), once with every rule and once without each rule, and prints one table.
Switching a rule off reaches into :mod:`rag.answerers.rules` (this is the one eval module that does): the rules
are module functions and answerer fields, replaced for the run and restored after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

import rag
from eval.cli import DEFAULT_GOLD, make_settings, run_benchmark_eval, run_gold_eval

HOLDOUT = DEFAULT_GOLD.parent / "holdout.jsonl"
SQUAD20 = Path("../shared/benchmarks/squad20")


def _never(*_args, **_kwargs):
    return None


RULES: dict[str, tuple[str, object]] = {
    "answer type (date/number/place/name must be present)": ("answer_type", _never),
    "specifics (numbers, hyphenated names must repeat)": ("specifics", lambda text: set()),
    "name checks (who is the <role>, X's name, called)": ("_names_it", lambda *a: True),
    "several parts (which two, ... and why)": ("_MULTI", None),
    "abstain when dense and overlap are low": ("min_dense", -1.0),
    "IDF word overlap in the score": ("w_overlap", 0.0),
}


class _NoMatch:
    def search(self, _text):
        return None


@contextlib.contextmanager
def without(rule: str | None) -> Iterator[None]:
    """The rules answerer with ``rule`` (a key of :data:`RULES`) switched off inside the block."""
    from rag.answerers import rules as R

    if rule is None:
        yield
        return
    name, value = RULES[rule]
    if name in R.RulesAnswerer.__dataclass_fields__:  # a weight or threshold: the factory's answerer, changed
        saved, make = "make", R.make
        replacement = lambda *args: dataclasses.replace(make(*args), **{name: value})  # noqa: E731
    else:
        saved, replacement = name, _NoMatch() if value is None else value
    original = getattr(R, saved)
    setattr(R, saved, replacement)
    try:
        yield
    finally:
        setattr(R, saved, original)


def main(
    squad_answers: Annotated[int, typer.Option("--squad-answers", min=0, help="SQuAD 2.0 test questions answered per run (0: skip).")] = 200,
    bench_cache: Annotated[Path, typer.Option("--bench-cache", help="The SQuAD 2.0 corpus and index, reused while unchanged.")] = Path("build/bench/squad20"),
) -> None:
    settings = make_settings()
    split = "test" if _has_reader(settings) else None
    rows = []
    for rule in [None, *RULES]:
        with without(rule):
            hold, _ = run_gold_eval(HOLDOUT, settings, False, "rules")
            gold, _ = run_gold_eval(DEFAULT_GOLD, settings, False, "rules")
            squad = None
            if squad_answers and SQUAD20.is_dir():
                squad, _ = run_benchmark_eval(SQUAD20, settings, squad_answers, True, squad_answers,
                                              bench_cache, "rules", 1, split)
        rows.append((rule or "all rules", hold["metrics"]["overall"], gold["metrics"]["overall"], squad["metrics"]["answers"] if squad else {}))
    head = "| rules | holdout kw / cit. prec. / abst. recall | gold kw / cit. prec. / abst. recall | squad20 answered / abstained / mean |"
    print(head + "\n| --- | --- | --- | --- |")
    for name, h, g, s in rows:
        print(f"| {name} | {_figures(h, GOLD_KEYS)} | {_figures(g, GOLD_KEYS)} | {_figures(s, SQUAD_KEYS)} |")


GOLD_KEYS = ("keyword_accuracy", "citation_precision", "abstention_recall")
SQUAD_KEYS = ("answered_with_answer", "abstained_on_unanswerable", "answered_abstained_mean")


def _figures(metrics: dict, keys: tuple[str, ...]) -> str:
    return " / ".join("–" if metrics.get(k) is None else f"{metrics[k]:.3f}" for k in keys)


def _has_reader(settings: rag.Settings) -> bool:
    try:
        rag.load_reader(settings.reader_model)
        return True
    except rag.RagError:
        return False


if __name__ == "__main__":
    typer.run(main)
