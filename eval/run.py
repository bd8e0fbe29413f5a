"""Run the chain over a gold file and score it: one record per item, then the summary metrics.

Example:
    >>> chain = rag.load_chain("index")                            # doctest: +SKIP
    >>> records = run_gold(chain, load_gold("eval/gold.jsonl", "seeds"))   # doctest: +SKIP
    >>> summarize(records)["overall"]["keyword_accuracy"]           # doctest: +SKIP
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import rag
from eval.gold import GoldItem
from eval.metrics import abstention_scores, first_hit, keywords_ok, percentiles, retrieval_scores, strip_markers, token_f1, word_count


class SourceTexts(Mapping[str, str]):
    """The corpus files by source id, found with :func:`rag.source_path` and read on first use with
    :func:`rag.read_source` (as the index decoded them)."""

    def __init__(self, corpus_dir: str | Path):
        self.corpus_dir = Path(corpus_dir)
        self._texts: dict[str, str | None] = {}

    def _load(self, source: str) -> str | None:
        if source not in self._texts:
            try:  # a source id leading outside the corpus is never read (rag.source_path refuses it)
                path = rag.source_path(self.corpus_dir, source)
                self._texts[source] = rag.read_source(path) if path.is_file() else None
            except (rag.RagError, OSError, UnicodeDecodeError):
                self._texts[source] = None
        return self._texts[source]

    def __getitem__(self, source: str) -> str:
        text = self._load(source)
        if text is None:
            raise KeyError(source)
        return text

    def __contains__(self, source: object) -> bool:
        return isinstance(source, str) and self._load(source) is not None

    def __iter__(self):
        return iter(s for s, t in self._texts.items() if t is not None)

    def __len__(self) -> int:
        return sum(t is not None for t in self._texts.values())


Sources = Mapping[str, str] | str | Path


def _sources(corpus: Sources | None) -> Mapping[str, str] | None:
    return SourceTexts(corpus) if isinstance(corpus, (str, Path)) else corpus


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (torch's setting is left alone when ``n`` is None or 0)."""
    if not n:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_gold(chain: rag.Chain, items: Sequence[GoldItem], k: int | None = None, mode: str | None = None,
             on_item: Callable[[], None] | None = None, corpus: Sources | None = None) -> list[dict]:
    """Answer every item (with its history) and return one ``rag ask --json`` record per item, plus gold fields.

    ``corpus`` (the corpus directory, or the texts by source id) is where citations are checked against the
    source slice; without it the chain's configured ``corpus_dir`` is used.
    """
    texts = _sources(corpus if corpus is not None else chain.settings.corpus_dir)
    records = []
    for item in items:
        answer = chain.ask(item.question, item.turns, k=k, mode=mode)
        record = {"id": item.id, "type": item.type, **answer.to_dict()}
        record["score"] = score_item(item, record, texts)
        records.append(record)
        if on_item:
            on_item()
    return records


def score_item(item: GoldItem, record: dict, corpus: Sources | None = None) -> dict:
    """Per-item figures: first-hit rank, keyword match, F1, citation hits and validity, abstention.

    A citation is valid when its quote equals ``source_text[start:end]``, the texts coming from ``corpus`` (a
    directory or a mapping by source id); a citation of an unknown source is invalid. Without ``corpus``
    every citation counts as valid.
    """
    texts = _sources(corpus)
    cites = record["citations"]
    cite_hits = [any(s.overlaps(c["source"], c["start"], c["end"]) for s in item.spans) for c in cites]
    valid = [_valid(c, texts) for c in cites]
    answerable, abstained = item.answerable, record["abstained"]
    if not answerable:
        f1 = None
    elif abstained:
        f1 = 0.0
    else:
        f1 = token_f1(strip_markers(record["answer"]), item.answer)
    return {
        "answerable": answerable,
        "hit_rank": first_hit(item.spans, record["passages"]) if answerable else None,
        "keywords_ok": (keywords_ok(record["answer"], item.keywords) and not abstained) if answerable else None,
        "f1": f1,
        "words": word_count(record["answer"]),
        "citation_hits": cite_hits,
        "citations_valid": all(valid),
        "citation_valid": valid,
        "abstained": abstained,
    }


def _valid(citation: dict, texts: Mapping[str, str] | None = None) -> bool:
    if texts is None:
        return True
    if citation["source"] not in texts:
        return False
    start, end = citation["start"], citation["end"]
    text = texts[citation["source"]]
    return 0 <= start <= end <= len(text) and text[start:end] == citation["quote"]


def summarize(records: Sequence[dict]) -> dict:
    """Metrics overall and per question type.

    Retrieval (recall@1/3/5, MRR), keyword accuracy, token F1 and citation recall are over answerable items;
    citation precision and validity over all citations; abstention precision/recall over all items, the
    unanswerable ones being the positives (None when there was no abstention, resp. no unanswerable item);
    answer length over the items that were answered; ``none_on_answerable`` (the share of answerable items told
    "nothing found") and ``answered_on_unanswerable``.
    """
    groups: dict[str, list[dict]] = {"overall": list(records)}
    for r in records:
        groups.setdefault(r["type"], []).append(r)
    return {name: _metrics(rs) for name, rs in groups.items()}


def _metrics(records: Sequence[dict]) -> dict:
    scores = [r["score"] for r in records]
    answerable = [s for s in scores if s["answerable"]]
    answered = [s for s in scores if not s["abstained"]]
    all_hits = [h for s in scores for h in s["citation_hits"]]
    out = {"items": len(records)}
    if answerable:
        out.update(retrieval_scores([s["hit_rank"] for s in answerable]))
        out["keyword_accuracy"] = statistics.fmean(s["keywords_ok"] for s in answerable)
        out["token_f1"] = statistics.fmean(s["f1"] for s in answerable)
        out["citation_recall"] = statistics.fmean(any(s["citation_hits"]) for s in answerable)
    out["citation_precision"] = statistics.fmean(all_hits) if all_hits else None
    validity = [v for s in scores for v in s["citation_valid"]]
    out["citation_validity"] = statistics.fmean(validity) if validity else None
    predicted, truth = [s["abstained"] for s in scores], [not s["answerable"] for s in scores]
    abstention = abstention_scores(predicted, truth)
    # None where the figure would be vacuous: no abstention to judge, or no unanswerable item to find
    out["abstention_precision"] = abstention["abstention_precision"] if any(predicted) else None
    out["abstention_recall"] = abstention["abstention_recall"] if any(truth) else None
    out["answered"] = len(answered)
    answerable_records = [r for r in records if r["score"]["answerable"]]
    unanswerable_records = [r for r in records if not r["score"]["answerable"]]
    # the costly mistakes: "nothing found" (nothing shown) when the documents answer, an answer when they do not
    out["none_on_answerable"] = (statistics.fmean(r.get("outcome") == "none" for r in answerable_records)
                                 if answerable_records else None)
    out["answered_on_unanswerable"] = (statistics.fmean(not r["score"]["abstained"] for r in unanswerable_records)
                                       if unanswerable_records else None)
    out["median_words"] = statistics.median(s["words"] for s in answered) if answered else 0
    out["mean_words"] = statistics.fmean(s["words"] for s in answered) if answered else 0
    lat = percentiles([r["latency_ms"] for r in records])
    out["latency_p50_ms"], out["latency_p95_ms"] = lat["p50"], lat["p95"]
    return out
