"""What "nothing relevant" looks like on this corpus: a line learned when the index is built.

A bank of off-topic questions (:data:`BANK`: 120 real search queries on as many subjects, shipped with the
package) is searched against the new index; the best e5 cosine each finds among the chunks is what an unrelated
question scores on this corpus, whatever its scale (a single one-topic article makes every passage look alike;
a mixed folder does not). The line is the :data:`QUANTILE` of those cosines, stored in the manifest
(``"relevance"``). A question whose best cosine reaches the line has something relevant in the documents: the
answer is then never "nothing found" (``none``) but at least the closest passages (``related``).

Example:
    >>> calibrate(embedder, store)                     # doctest: +SKIP
    {'quantile': 0.95, 'line': 0.7907, 'bank': 120, 'source': '…'}
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path

import numpy as np

BANK = Path(__file__).with_name("relevance_bank.json")
QUANTILE = 0.8
"""Chosen on the product training set (``rag/fusion/product/``, never ``eval/``): the highest quantile that keeps
"nothing found" for about 2% of answerable questions or fewer (0.95 gave 5-9%). A fifth of unrelated questions
then get the closest passages ("related") rather than "nothing found": the cheaper mistake."""


@cache
def bank() -> tuple[list[str], str]:
    """The off-topic questions and where they come from (with their licence)."""
    data = json.loads(BANK.read_text(encoding="utf-8"))
    return list(data["questions"]), f"{data['source']}; {data['license']}"


def bank_vectors(embedder) -> np.ndarray:
    """The bank's question vectors under ``embedder``: computed once per model and kept in the encoder cache
    (:func:`rag.embedding.cache_dir`, a ``.npy`` file loaded without pickle, checked by its shape), so a build
    pays only for the searches."""
    from rag.embedding import cache_dir

    questions, _ = bank()
    name = f"{getattr(embedder, 'model_name', type(embedder).__name__)}:{embedder.dimension}:{BANK.read_bytes().hex()}"
    path = cache_dir() / f"relevance-bank-{hashlib.sha256(name.encode()).hexdigest()[:16]}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(questions), embedder.dimension) and np.isfinite(vectors).all():
            return vectors
    except (OSError, ValueError):
        pass
    vectors = np.ascontiguousarray(embedder.encode_queries(questions), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass  # no writable cache: the next build encodes the bank again
    return vectors


def calibrate(embedder, store) -> dict:
    """The line of an index whose chunks are in ``store`` and whose questions ``embedder`` encodes."""
    questions, source = bank()
    scores, _ = store.search(bank_vectors(embedder), 1)
    best = np.asarray(scores, dtype=np.float64)[:, 0]
    return {"quantile": QUANTILE, "line": round(float(np.quantile(best, QUANTILE)), 6), "bank": len(questions),
            "source": source}


def line(manifest: dict) -> float | None:
    """The index's line (None for an index built without one)."""
    found = manifest.get("relevance")
    try:
        return float(found["line"]) if isinstance(found, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
