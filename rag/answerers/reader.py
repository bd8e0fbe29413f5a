"""The reader answerer: a trained reader (:mod:`rag.reader`) picks the answer sentence, its short answer, or abstains.

Every sentence of the passages is scored with the sentence before it and ranked by the reader's learned
ranking (its score with the question-sentence cosine, :mod:`rag.reader.evidence`). When the reader's confidence (its
abstention decision over that evidence) is under the threshold calibrated on validation
articles (the model card's, or ``reader_threshold``), the answerer abstains. Otherwise the best sentence is the answer; a second one joins it only when it scores almost as high
(``second_ratio`` of the best), so that the threshold decides abstention only (an evaluation can answer
everything and apply any threshold afterwards). The span model then marks the short answer inside
the first sentence when it prefers that span to "no answer" and its confidence reaches ``span_threshold``.

Example:
    >>> reply = ReaderAnswerer(load_reader(), retriever.cosines).answer(Query("Who flew the command module?"), passages)  # doctest: +SKIP
    >>> reply.short.quote, reply.citations[0].quote[:20]                                              # doctest: +SKIP
    ('Michael Collins', 'Michael Collins flew')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.answerers.base import Query, Reply, abstention
from rag.reader.candidates import candidates
from rag.reader.evidence import sigmoid
from rag.reader import Reader
from rag.records import Citation, Passage, ShortAnswer


@dataclass
class ReaderAnswerer:
    reader: Reader
    cosines: Callable[[str, list[str]], np.ndarray]
    before: Callable[[Passage], Passage | None] | None = None
    threshold: float | None = None
    span_threshold: float = 0.3
    second_ratio: float = 0.9

    def answer(self, query: Query, passages: list[Passage]) -> Reply:
        cands = candidates(passages, self.before)
        if not cands:
            return abstention(0.0)
        items = [(c.text, c.before) for c in cands]
        judged = self.reader.judge(query.text, items, self.cosines(query.text, [c.text for c in cands]))
        probs = sigmoid(judged.scores)
        order = np.argsort(-probs, kind="stable")
        threshold = self.reader.threshold if self.threshold is None else self.threshold
        best = float(probs[order[0]])
        confidence = judged.confidence
        if confidence < threshold:
            return abstention(confidence)
        chosen = [cands[order[0]]]
        if len(order) > 1:
            second, p2 = cands[order[1]], float(probs[order[1]])
            if p2 >= self.second_ratio * best and (second.passage.source, second.start) != (chosen[0].passage.source, chosen[0].start):
                chosen.append(second)
        citations = [Citation(n, c.passage.source, c.start, c.end, c.text) for n, c in enumerate(chosen, 1)]
        short = None
        found = self.reader.span(query.text, chosen[0].text)
        if found is not None and found.margin > 0 and found.confidence >= self.span_threshold:
            first = citations[0]
            short = ShortAnswer(1, first.source, first.start + found.start, first.start + found.end,
                                first.quote[found.start:found.end], found.confidence)
        body = " ".join(f"{c.quote} [{c.n}]" for c in citations)
        text = f"{short.quote} — {body}" if short and short.quote != citations[0].quote else body
        return Reply(text, citations, False, short, confidence)


def make(retriever, settings, llm=None) -> ReaderAnswerer:
    """The registry's factory: the retriever's reader (or the configured one) with the settings' thresholds."""
    from rag.reader import load_reader

    return ReaderAnswerer(retriever.reader or load_reader(settings.reader_model), retriever.cosines, retriever.context_before,
                          threshold=settings.reader_threshold, span_threshold=settings.span_threshold)
