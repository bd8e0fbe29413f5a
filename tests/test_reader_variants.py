"""eval.reader_variants on synthetic cases: a ranking that learns from the cosine beats the reader's score
when only the cosine marks the answer."""

import numpy as np

from eval.reader_variants import VARIANTS, evaluate


def _cases(rng, n):
    out = []
    for _ in range(n):
        cos, r = rng.random(5), rng.normal(size=5)
        answerable = bool(rng.random() < 0.6)
        labels = np.zeros(5, dtype=bool)
        if answerable:
            labels[int(np.argmax(cos))] = True
        else:
            cos = cos * 0.5
        out.append({"answerable": answerable, "labels": labels, "r": r, "cos": cos, "ov": rng.random(5)})
    return out


def test_the_learned_ranking_variant_finds_what_the_cosine_marks():
    rng = np.random.default_rng(0)
    cases = {"validation": _cases(rng, 300), "test": _cases(rng, 300)}
    plain = evaluate(cases, *VARIANTS["reader score ranks; decision with cosine"])
    learned = evaluate(cases, *VARIANTS["learned ranking (reader, cosine); decision with cosine (shipped)"])
    assert learned["top1_test"] > 0.9 > 0.5 > plain["top1_test"]
    assert learned["mean"] > plain["mean"] and 0 <= learned["answered"] <= 1 and 0 <= learned["abstained"] <= 1


def test_answer_speed_prints_warm_and_cold_figures_for_each_answerer(seed_index, capsys):
    from eval.answer_speed import main

    main(["--index", str(seed_index), "--questions", "2", "--cold-runs", "1"])
    out = capsys.readouterr().out
    for line in ("warm rules:", "warm reader:", "warm reader + rerank:", "cold rag ask (rules)", "cold rag ask (reader)"):
        assert line in out
