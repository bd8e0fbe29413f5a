"""BM25 lexical retrieval (bm25s: sparse matrices, no per-query loop over the corpus), stemmed English.

Example:
    >>> bm25 = BM25Index.build(["the cat sat", "dogs bark loudly"])
    >>> bm25.search("barking dog", k=1)[1].tolist()
    [1]
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens of each text."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


def bm25_idf(df: int, n_docs: int) -> float:
    """BM25 inverse document frequency of a token found in ``df`` of ``n_docs`` texts (Lucene's form, always > 0)."""
    return float(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))


class BM25Index:
    """A bm25s index whose document number is the chunk id."""

    def __init__(self, retriever):
        self.retriever = retriever

    @classmethod
    def build(cls, texts: list[str], k1: float = 0.9, b: float = 0.4) -> BM25Index:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on its own logger: keep consoles quiet
        retriever = bm25s.BM25(k1=k1, b=b)
        retriever.index(tokenize(texts), show_progress=False)
        return cls(retriever)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        import bm25s

        return cls(bm25s.BM25.load(str(path), mmap=True, allow_pickle=False))

    def save(self, path: Path) -> None:
        self.retriever.save(str(path), allow_pickle=False)

    @property
    def num_docs(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def idf(self, token: str) -> float:
        """BM25 inverse document frequency of a stemmed token (unseen tokens get the highest value)."""
        col = self.retriever.vocab_dict.get(token)
        indptr = self.retriever.scores["indptr"]
        df = 0 if col is None or col + 1 >= len(indptr) else int(indptr[col + 1] - indptr[col])
        return bm25_idf(df, self.num_docs)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and chunk ids of the best ``k`` documents with a positive score, best first (ties: lower id)."""
        r = self.retriever
        n_docs = int(r.scores["num_docs"])
        cols = [r.vocab_dict[t] for t in tokenize([query])[0] if t in r.vocab_dict]
        if not cols or n_docs == 0:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        scores = r.get_scores_from_ids(cols)
        k = min(k, n_docs)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        keep = scores[top] > 0
        return scores[top][keep], top[keep].astype(np.int64)
