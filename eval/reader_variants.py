"""Reader alone, variants of its ranking and abstention decision: fitted on the validation articles, judged on the
test articles (every third test question), on the same cases (see :func:`rag.reader.training.data.reader_cases`).

    python -m eval.reader_variants [--model rag/reader/weights] [--every 3]

Prints, per variant, top-1 on validation and test and the test's answered / abstained / mean at the threshold
that is best on validation. Takes about 30 minutes on 2 cores (scoring every candidate of about 4,000 cases).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rag.reader.evidence import logit

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = [(SHARED / "training" / "squad20_train_head", "train"), (SHARED / "benchmarks" / "squad20", "split"),
        (SHARED / "benchmarks" / "squad11", "split")]
VARIANTS = {
    "reader score ranks; decision without cosine": (["r"], ["best", "second", "cov_best", "cov_all"]),
    "reader score ranks; decision with cosine": (["r"], ["best", "second", "cov_best", "cov_all", "cos_best"]),
    "learned ranking (reader, cosine); decision without cosine": (["r", "cos"], ["best", "second", "cov_best", "cov_all"]),
    "learned ranking (reader, cosine); decision with cosine (shipped)": (["r", "cos"], ["best", "second", "cov_best", "cov_all", "cos_best"]),
    "learned ranking (reader, cosine, overlap); decision with cosine": (["r", "cos", "ov"], ["best", "second", "cov_best", "cov_all", "cos_best"]),
}


def scored_cases(model: Path, every: int) -> dict[str, list[dict]]:
    """Validation and test cases with each candidate's reader probability, cosine and word overlap."""
    from sentence_transformers import SentenceTransformer

    from rag.reader.evidence import _ASKING
    from rag.lexical import tokenize
    from rag.reader import Reader
    from rag.reader.training import data as D
    from rag.reader.training.train import _base_model

    pool = D.load_pool(DATA, seed=0, validation=0.2, test=0.4)
    encoder = SentenceTransformer(str(_base_model()), device="cpu")

    def encode(texts):
        return encoder.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    reader = Reader(model)
    out = {}
    for split in ("validation", "test"):
        questions = pool.questions_in(split)[:: every if split == "test" else 1]
        rows = []
        for case in D.reader_cases(pool, questions, D.NegativeFinder(pool, questions, encode)):
            texts = [text for text, _ in case["candidates"]]
            if not texts:
                continue
            vectors = encode([case["question"], *(t.split(" [SEP] ")[0] for t in texts)])
            q_words, *c_words = (set(t) for t in tokenize([case["question"], *texts]))
            q_words -= _ASKING
            rows.append({"answerable": case["answerable"], "labels": np.array([bool(lab) for _, lab in case["candidates"]]),
                         "r": logit(reader.score(case["question"], [(t, "") for t in texts])), "cos": vectors[1:] @ vectors[0],
                         "ov": np.array([len(q_words & w) / len(q_words) if q_words else 1.0 for w in c_words])})
        out[split] = rows
        print(f"{split}: {len(rows)} cases", flush=True)
    return out


def evaluate(cases: dict[str, list[dict]], rank: list[str], decide: list[str]) -> dict:
    from sklearn.linear_model import LogisticRegression

    val, test = cases["validation"], cases["test"]
    ranker = None
    if rank != ["r"]:
        x = np.concatenate([np.stack([c[f] for f in rank], 1) for c in val if c["answerable"]])
        y = np.concatenate([c["labels"] for c in val if c["answerable"]])
        ranker = LogisticRegression(max_iter=1000).fit(x, y)

    def features(data):
        rows, right = [], []
        for c in data:
            z = ranker.decision_function(np.stack([c[f] for f in rank], 1)) if ranker else c["r"]
            order = np.argsort(-z, kind="stable")
            b = order[0]
            ev = {"best": z[b], "second": z[order[1]] if len(order) > 1 else -9.21, "cov_best": c["ov"][b],
                  "cov_all": c["ov"].max(), "cos_best": c["cos"][b]}
            rows.append([ev[f] for f in decide])
            right.append(bool(c["labels"][b]))
        return np.array(rows), np.array(right), np.array([c["answerable"] for c in data])

    xv, rv, av = features(val)
    xt, rt, at = features(test)
    decision = LogisticRegression(max_iter=1000).fit(xv, rv & av)

    def curve(x, right, ans):
        p = decision.predict_proba(x)[:, 1]
        return {t: (float(np.mean((p[ans] >= t) & right[ans])), float(np.mean(p[~ans] < t))) for t in np.linspace(0.02, 0.98, 49)}

    cv = curve(xv, rv, av)
    t = max(cv, key=lambda k: sum(cv[k]))
    answered, abstained = curve(xt, rt, at)[t]
    return {"top1_val": float(rv[av].mean()), "top1_test": float(rt[at].mean()), "threshold": float(t),
            "answered": answered, "abstained": abstained, "mean": (answered + abstained) / 2}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "rag" / "reader" / "weights"), help="reader folder [rag/reader/weights]")
    ap.add_argument("--every", type=int, default=3, help="use every Nth test question [3]")
    args = ap.parse_args(argv)
    cases = scored_cases(Path(args.model), args.every)
    print("| variant | top-1 validation | top-1 test | test answered / abstained / mean (threshold) |")
    print("| --- | --- | --- | --- |")
    for name, (rank, decide) in VARIANTS.items():
        r = evaluate(cases, rank, decide)
        print(f"| {name} | {r['top1_val']:.3f} | {r['top1_test']:.3f} | {r['answered']:.3f} / {r['abstained']:.3f} / "
              f"{r['mean']:.3f} ({r['threshold']:.2f}) |")


if __name__ == "__main__":
    main()
