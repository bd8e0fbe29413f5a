"""The trained reader, run with ONNX Runtime (no PyTorch): it scores candidate sentences and finds short answers.

Two int8 ONNX models, trained by ``rag train-reader`` (:mod:`rag.reader.training`) and shipped in
``rag/reader/weights/`` with ``card.json`` (data, licence, checksums, validation figures, the calibrated
abstention ``threshold``):
- ``scorer.onnx``: the probability that a sentence (with the end of the sentence before it) answers the
  question;
- ``span.onnx``: start/end logits of the short answer inside an answer sentence.
The card's ``ranking`` combines the scores with question-sentence cosines, and its ``decision`` turns them into the
confidence that is compared with the threshold (:mod:`rag.reader.evidence`).

Example:
    >>> reader = load_reader()                                              # doctest: +SKIP
    >>> reader.score("Who flew the command module?", [("Michael Collins flew it.", "")])   # doctest: +SKIP
    array([0.97], dtype=float32)
    >>> reader.span("Who flew the command module?", "Michael Collins flew it.")           # doctest: +SKIP
    ShortSpan(start=0, end=15, confidence=0.93, margin=7.2)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.reader.evidence import SPAN_LIMIT, Decision, Judgement, Ranking, judge
from rag.reader.inputs import reader_text

MODEL_DIR = Path(__file__).resolve().parent / "weights"
FILES = ("scorer.onnx", "span.onnx", "tokenizer.json")
CARD = "card.json"
MAX_ANSWER_TOKENS = 30
FIX = "train one with `rag train-reader` and set RAG_READER_MODEL to its --out folder, or use the rules answerer (see docs/answering.md)"


@dataclass(frozen=True, slots=True)
class ShortSpan:
    """The short answer inside a sentence: ``sentence[start:end]``, with the span model's confidence, and its
    ``margin``: the span's start + end logits minus those of "no answer" ([CLS]); below 0 the model finds no
    answer in the sentence."""

    start: int
    end: int
    confidence: float
    margin: float


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_card(path: Path = MODEL_DIR) -> dict:
    """The model card of the reader in ``path``; a clear error when it is missing or unreadable."""
    try:
        card = json.loads((Path(path) / CARD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(f"the reader model is missing ({Path(path) / CARD} not found): {FIX}") from None
    except (OSError, ValueError) as exc:
        raise RagError(f"the reader's model card {Path(path) / CARD} is unreadable ({exc}): {FIX}") from None
    if not isinstance(card, dict) or not isinstance(card.get("threshold"), (int, float)):
        raise RagError(f"the reader's model card {Path(path) / CARD} has no threshold: {FIX}")
    return card


def write_card(path: Path, card: dict) -> None:
    """Write ``card.json`` with the checksums of the model files beside it, and ``README.md`` for people."""
    card = dict(card, files={name: {"sha256": _sha256(Path(path) / name), "bytes": (Path(path) / name).stat().st_size} for name in FILES})
    (Path(path) / CARD).write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (Path(path) / "README.md").write_text(card_markdown(card), encoding="utf-8")


def card_markdown(card: dict) -> str:
    """The model card as Markdown (what ``card.json`` holds, for reading)."""
    v = card.get("validation", {})
    lines = [
        f"# {card.get('name', 'reader')}: model card", "",
        "Two int8 ONNX models run with onnxruntime: `scorer.onnx` (probability that a sentence, with the end of the "
        "sentence before it, answers the question) and `span.onnx` (start/end of the short answer in a sentence).", "",
        f"- Base model: {card.get('base_model')}",
        f"- Training command: `{card.get('command', 'rag train-reader')}`",
        f"- Training data: {', '.join(card.get('training_data', []))}",
        f"- License and attribution: {card.get('license')}",
        f"- Seed {card.get('seed')}; steps: {card.get('steps')}; pairs {card.get('pairs')}, span examples {card.get('span_examples')}",
        f"- Training time (s): {card.get('time_s')} on {card.get('machine')}",
        f"- Ranking: score = coef · (reader logit, cosine) + intercept, {card.get('ranking')}",
        f"- Abstention: confidence = sigmoid(coef · evidence + intercept), {card.get('decision')}; "
        f"threshold (calibrated on the validation articles): {card.get('threshold')}", "",
        "## Splits (by article)", "",
    ]
    for split, info in (card.get("splits") or {}).items():
        lines.append(f"- {split}: {info['answerable']} answerable + {info['unanswerable']} unanswerable questions; "
                     f"articles: {', '.join(info['articles'])}")
    lines += ["", "## Validation (reader alone, int8 models)", "",
              f"- Top-1 (best candidate holds the answer), answerable questions: {v.get('top1')}",
              f"- Cases: {v.get('cases')}",
              f"- Span exact match / token F1 on answer sentences: {v.get('span_em')} / {v.get('span_f1')}",
              f"- Best mean of answered and abstained, decision with / without the span model's no-answer margin: "
              f"{(v.get('decision_ablation') or {}).get('with span')} / {(v.get('decision_ablation') or {}).get('without span')}", "",
              "| threshold | answered | abstained | abstained (SQuAD 2.0) | abstained (gold removed) |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c['threshold']} | {c['answered']} | {c['abstained']} | {c['abstained_squad20']} | {c['abstained_removed']} |"
              for c in card.get("curve", [])[::4]]
    lines += ["", "## Files", ""] + [f"- `{n}`: {f['bytes']:,} bytes, sha256 `{f['sha256']}`" for n, f in card["files"].items()]
    return "\n".join(lines) + "\n"


class Reader:
    """Both models of a reader folder; thread-safe; scores and spans are cached per (question, text)."""

    def __init__(self, path: str | Path = MODEL_DIR, *, check: bool = True, cache_size: int = 8192):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(path)
        missing = [name for name in FILES if not (self.path / name).is_file()]
        if missing:
            raise RagError(f"the reader model is missing ({', '.join(missing)} not found in {self.path}): {FIX}")
        self.card = read_card(self.path) if check or (self.path / CARD).is_file() else {"threshold": 0.5}
        if check:
            for name in FILES:
                want = (self.card.get("files") or {}).get(name, {}).get("sha256")
                if want != _sha256(self.path / name):
                    raise RagError(f"the reader model file {self.path / name} is damaged (its checksum differs from {CARD}): {FIX}")
        config = self.card.get("config") or {}
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        threads = os.environ.get("RAG_READER_THREADS")
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self._scorer = ort.InferenceSession(str(self.path / "scorer.onnx"), options, providers=["CPUExecutionProvider"])
            self._spanner = ort.InferenceSession(str(self.path / "span.onnx"), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        except Exception as exc:  # onnxruntime raises its own exception types for a corrupt file
            raise RagError(f"the reader model in {self.path} cannot be loaded ({str(exc).splitlines()[0][:200]}): {FIX}") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.max_length = int(config.get("max_length", 96))
        self.span_max_length = int(config.get("span_max_length", 96))
        self.threshold = float(self.card["threshold"])
        self.ranking = Ranking.from_card(self.card)
        self.decision = Decision.from_card(self.card)
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _feed(self, pairs: list[tuple[str, str]], max_length: int, strategy: str) -> tuple[dict, list]:
        tok = self._tokenizer
        tok.enable_truncation(max_length=max_length, strategy=strategy)
        encodings = tok.encode_batch(pairs)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask, types = np.zeros_like(ids), np.zeros_like(ids)
        for i, e in enumerate(encodings):
            n = len(e.ids)
            ids[i, :n], mask[i, :n], types[i, :n] = e.ids, e.attention_mask, e.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, encodings

    def clear_cache(self) -> None:
        """Forget cached scores (benchmarks time the reader on questions it has not seen)."""
        with self._lock:
            self._cache.clear()

    def score(self, question: str, items: list[tuple[str, str]]) -> np.ndarray:
        """Probability that each ``(sentence, sentence before)`` answers ``question``."""
        texts = [reader_text(sentence, before) for sentence, before in items]
        with self._lock:
            known = {t: self._cache[(question, t)] for t in texts if (question, t) in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            with self._lock:  # tokenizer settings are per object: one batch at a time
                feed, _ = self._feed([(question, t) for t in missing], self.max_length, "longest_first")
            logits = self._scorer.run(None, feed)[0].reshape(-1)
            probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
            known.update(zip(missing, probs.astype(np.float32)))
            with self._lock:
                self._cache.update(((question, t), known[t]) for t in missing)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.array([known[t] for t in texts], dtype=np.float32)

    def judge(self, question: str, items: list[tuple[str, str]], dense: np.ndarray) -> Judgement:
        """Rank the ``(sentence, sentence before)`` items and say how sure the reader is that the best answers
        ``question``: the card's ranking and decision (:mod:`rag.reader.evidence`) over the reader's scores and the
        question-sentence cosines ``dense``."""
        texts = [reader_text(s, b) for s, b in items]
        return judge(self.ranking, self.decision, question, self.score(question, items), dense, texts,
                     lambda i: self.span_margin(question, items[i][0]))

    def span_margin(self, question: str, sentence: str) -> float:
        """How much the span model prefers its best short answer in ``sentence`` to "no answer" (logits)."""
        found = self.span(question, sentence)
        return found.margin if found else -SPAN_LIMIT

    def span(self, question: str, sentence: str) -> ShortSpan | None:
        """The most likely short answer inside ``sentence`` (character offsets into it), or None (cached)."""
        key = ("span", question, sentence)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            feed, (enc,) = self._feed([(question, sentence)], self.span_max_length, "only_second")
        start_logits, end_logits = (x[0].astype(np.float64) for x in self._spanner.run(None, feed))
        inside = [t for t, s in enumerate(enc.sequence_ids) if s == 1]
        found = None
        if inside:
            p_start, p_end = _softmax(start_logits), _softmax(end_logits)
            best, best_p = None, -1.0
            for i in inside:
                for j in inside:
                    if i <= j < i + MAX_ANSWER_TOKENS and p_start[i] * p_end[j] > best_p:
                        best, best_p = (i, j), p_start[i] * p_end[j]
            start, end = enc.offsets[best[0]][0], enc.offsets[best[1]][1]
            margin = start_logits[best[0]] + end_logits[best[1]] - start_logits[0] - end_logits[0]
            found = ShortSpan(start, end, float(best_p), float(margin)) if end > start else None
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@lru_cache(maxsize=4)
def _cached(path: str) -> Reader:
    return Reader(path)


def load_reader(path: str | Path | None = None) -> Reader:
    """The reader in ``path`` (default: ``rag/reader/weights``), loaded once per process and checked against its card."""
    return _cached(str(Path(path).resolve() if path else MODEL_DIR))
