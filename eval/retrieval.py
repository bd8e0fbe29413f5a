"""Retrieval quality on a gold file for each mode: ``python -m eval.retrieval [--gold ...] [--index ...]``.

Prints recall@1/3/5, MRR and mean passage length over the answerable items; follow-ups are searched with
their rewritten query, as the chain searches them.
"""

from __future__ import annotations

import argparse
import statistics

import rag
from eval.gold import GoldItem, load_gold
from eval.metrics import first_hit, retrieval_scores


def score_retrieval(retriever: rag.Retriever, items: list[GoldItem], mode: str, k: int = 5) -> dict[str, float]:
    """recall@1/3/5, MRR and mean passage characters for ``mode`` over the answerable items."""
    ranks, lengths = [], []
    for item in items:
        if not item.answerable:
            continue
        passages = retriever.search(rag.rewrite_query(item.question, item.turns).text, k=k, mode=mode)
        ranks.append(first_hit(item.spans, [p.to_dict() for p in passages]))
        lengths.extend(len(p.text) for p in passages[:3])
    return {**retrieval_scores(ranks), "mean_chars_top3": statistics.fmean(lengths)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", default="eval/gold.jsonl")
    parser.add_argument("--corpus", default="seeds")
    parser.add_argument("--index", default="index")
    args = parser.parse_args()
    items = load_gold(args.gold, args.corpus)
    retriever = rag.load_retriever(args.index)
    print(f"{'mode':8} recall@1 recall@3 recall@5    MRR  chars(top3)")
    for mode in ("dense", "bm25", "hybrid"):
        s = score_retrieval(retriever, items, mode)
        print(f"{mode:8} {s['recall@1']:8.3f} {s['recall@3']:8.3f} {s['recall@5']:8.3f} {s['mrr']:6.3f} {s['mean_chars_top3']:12.0f}")


if __name__ == "__main__":
    main()
