"""Training data for the reader, from QA folders in the SQuAD layout (``corpus.jsonl`` + ``qa.jsonl``).

Articles are split into train / validation / test, never questions: a folder given with role ``train`` gives
all its articles to training; the articles of folders with role ``split`` are shuffled with a seed and cut by
fraction, those with unanswerable questions and those without separately (so each part has both kinds).
Folders that share paragraphs (SQuAD 1.1 and 2.0 dev) are merged: a paragraph by its id, a question by its
SQuAD 1.1 id.

Every paragraph is cut into sentences with the chunker's splitter (the one used when answering). For the
scorer, a question gives:
- positive: each sentence of the gold paragraph that holds an answer start;
- negatives: other sentences of the gold paragraph, for an unanswerable question the one holding its
  plausible answer first; and sentences of other paragraphs that retrieval (dense and BM25 over the split's
  sentences) ranks high, so that a question whose gold paragraph is missing from the candidates is taught to
  find no answer.
For the span model, a question gives its answer's character span inside the positive sentence and one
sentence without an answer (the plausible answer's, for an unanswerable question), whose target is "no answer".
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunker
from rag.errors import RagError
from rag.reader.inputs import reader_text

ROLES = ("train", "split")


@dataclass(frozen=True)
class Sentence:
    paragraph: str
    index: int
    start: int
    end: int
    text: str
    before: str

    @property
    def input(self) -> str:
        return reader_text(self.text, self.before)


@dataclass
class Question:
    id: str
    text: str
    article: str
    gold: list[str]
    impossible: bool
    answers: list[tuple[int, str]] = field(default_factory=list)
    plausible: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class Pool:
    """Paragraph texts, their sentences, the questions and each article's split."""

    paragraphs: dict[str, str]
    article_of: dict[str, str]
    questions: list[Question]
    splits: dict[str, str]
    sentences: dict[str, list[Sentence]] = field(default_factory=dict)

    def questions_in(self, split: str) -> list[Question]:
        return [q for q in self.questions if self.splits[q.article] == split]

    def articles_in(self, split: str) -> list[str]:
        return sorted(a for a, s in self.splits.items() if s == split)


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise RagError(f"training file not found: {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_pool(folders: list[tuple[Path, str]], seed: int = 0, validation: float = 0.2, test: float = 0.4) -> Pool:
    """Read the folders (``(path, role)``), merge them and split their articles (see the module docstring)."""
    paragraphs, article_of, questions, seen = {}, {}, [], set()
    role_of: dict[str, str] = {}
    for folder, role in folders:
        if role not in ROLES:
            raise RagError(f"unknown data role {role!r} for {folder}: use one of {', '.join(ROLES)}")
        for row in read_jsonl(folder / "corpus.jsonl"):
            paragraphs.setdefault(row["id"], row["text"])
            article_of.setdefault(row["id"], row.get("article") or row["id"].rsplit("__p", 1)[0])
        for row in read_jsonl(folder / "qa.jsonl"):
            key = row.get("squad_v1.1_id") or row["id"]
            article = row.get("article") or article_of[row["gold_doc_ids"][0]]
            if role == "train" or article not in role_of:
                role_of[article] = "train" if role == "train" else role_of.get(article, "split")
            if key in seen:
                continue
            seen.add(key)
            answers = [(a["answer_start"], a["text"]) for a in row.get("answers_all") or []]
            plausible = [(a["answer_start"], a["text"]) for a in row.get("plausible_answers") or [] if isinstance(a, dict)]
            questions.append(Question(row["id"], row["question"], article, list(row["gold_doc_ids"]),
                                      bool(row.get("is_impossible")), answers, plausible))
    has_unanswerable = {q.article for q in questions if q.impossible}
    splits = {a: "train" for a, r in role_of.items() if r == "train"}
    rng = random.Random(seed)
    for group in (sorted(a for a, r in role_of.items() if r == "split" and a in has_unanswerable),
                  sorted(a for a, r in role_of.items() if r == "split" and a not in has_unanswerable)):
        rng.shuffle(group)
        n_test, n_val = round(len(group) * test), round(len(group) * validation)
        for i, article in enumerate(group):
            splits[article] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    pool = Pool(paragraphs, article_of, questions, splits)
    splitter = Chunker()
    for pid, text in paragraphs.items():
        spans = splitter.sentences(text, 0, len(text))
        pool.sentences[pid] = [
            Sentence(pid, i, s, e, text[s:e], text[spans[i - 1][0]:spans[i - 1][1]] if i else "")
            for i, (s, e) in enumerate(spans)
        ]
    return pool


def holding(sentences: list[Sentence], starts: list[tuple[int, str]]) -> set[int]:
    """Indices of the sentences in which one of the answers starts."""
    return {s.index for s in sentences for start, _ in starts if s.start <= start < s.end}


class NegativeFinder:
    """Sentences of other paragraphs that dense retrieval and BM25 rank high for a question."""

    def __init__(self, pool: Pool, questions: list[Question], encode, depth: int = 12):
        from rag.lexical import BM25Index

        articles = {q.article for q in questions}
        self.sentences = [s for pid, ss in pool.sentences.items() if pool.article_of[pid] in articles for s in ss]
        texts = [s.text for s in self.sentences]
        bm25 = BM25Index.build(texts)
        vectors = encode(texts)
        q_vectors = encode([q.text for q in questions])
        self.ranked: dict[str, list[Sentence]] = {}
        for q, qv in zip(questions, q_vectors):
            dense = np.argsort(-(vectors @ qv))[:depth].tolist()
            lexical = bm25.search(q.text, depth)[1].tolist()
            order = [i for pair in zip(dense, lexical + dense) for i in pair]  # alternate the two rankings
            self.ranked[q.id] = [self.sentences[i] for i in dict.fromkeys(order)]

    def negatives(self, q: Question, n: int) -> list[Sentence]:
        return [s for s in self.ranked[q.id] if s.paragraph not in q.gold][:n]


def scorer_pairs(pool: Pool, questions: list[Question], finder: NegativeFinder, seed: int = 0,
                 paragraph_negatives: int = 3, retrieved_negatives: int = 2) -> list[tuple[str, str, float]]:
    """``(question, reader text, label)`` triples (see the module docstring), shuffled."""
    rng = random.Random(seed)
    out = []
    for q in questions:
        gold = pool.sentences[q.gold[0]] if q.gold else []
        positive = holding(gold, q.answers) if not q.impossible else set()
        for i in sorted(positive):
            out.append((q.text, gold[i].input, 1.0))
        if not positive and not q.impossible:
            continue  # an answer across a sentence boundary the splitter cut: no clean label
        first = sorted(holding(gold, q.plausible) - positive) if q.impossible else []
        rest = [s.index for s in gold if s.index not in positive and s.index not in first]
        rng.shuffle(rest)
        for i in (first + rest)[:paragraph_negatives]:
            out.append((q.text, gold[i].input, 0.0))
        for s in finder.negatives(q, retrieved_negatives):
            out.append((q.text, s.input, 0.0))
    rng.shuffle(out)
    return out


def span_examples(pool: Pool, questions: list[Question], finder: NegativeFinder | None = None,
                  seed: int = 0) -> list[tuple[str, str, int, int]]:
    """``(question, sentence, answer start, answer end)`` with offsets into the sentence, for the span model.

    With ``finder``, each question also gives one sentence without its answer, with start = end = -1 (no
    answer: the model learns to point at the [CLS] token): for an unanswerable question the sentence holding
    its plausible answer, else another sentence of the gold paragraph or, every other question, a retrieved
    sentence of another paragraph."""
    rng = random.Random(seed)
    out = []
    for n, q in enumerate(questions):
        gold = pool.sentences[q.gold[0]] if q.gold else []
        if not q.impossible:
            for start, text in q.answers[:1]:  # the first annotator's answer
                for s in gold:
                    if s.start <= start and start + len(text) <= s.end:
                        out.append((q.text, s.text, start - s.start, start - s.start + len(text)))
        if finder is None:
            continue
        positive = holding(gold, q.answers) if not q.impossible else set()
        plausible = sorted(holding(gold, q.plausible) - positive) if q.impossible else []
        others = [s for s in gold if s.index not in positive]
        if plausible:
            negative = gold[plausible[0]]
        elif others and n % 2 == 0:
            negative = rng.choice(others)
        else:
            found = finder.negatives(q, 1)
            negative = found[0] if found else (rng.choice(others) if others else None)
        if negative is not None:
            out.append((q.text, negative.text, -1, -1))
    return out


def reader_cases(pool: Pool, questions: list[Question], finder: NegativeFinder, retrieved: int = 8) -> list[dict]:
    """Validation cases for the reader alone: each question with its candidates (gold paragraph's sentences and
    retrieved ones) and which of them hold an answer; each answerable question once more with its gold paragraph
    removed (it is then unanswerable)."""
    cases = []
    for q in questions:
        gold = pool.sentences[q.gold[0]] if q.gold else []
        positive = holding(gold, q.answers) if not q.impossible else set()
        if not positive and not q.impossible:
            continue
        others = finder.negatives(q, retrieved)
        cands = [(s.input, s.index in positive) for s in gold] + [(s.input, False) for s in others]
        cases.append({"question": q.text, "candidates": cands, "answerable": bool(positive), "removed": False})
        if positive:
            cases.append({"question": q.text, "candidates": [(s.input, False) for s in others],
                          "answerable": False, "removed": True})
    return cases


def split_summary(pool: Pool) -> dict:
    """Articles and question counts per split, for the model card."""
    out: dict = defaultdict(lambda: {"articles": [], "answerable": 0, "unanswerable": 0})
    for article, split in sorted(pool.splits.items()):
        out[split]["articles"].append(article)
    for q in pool.questions:
        out[pool.splits[q.article]]["unanswerable" if q.impossible else "answerable"] += 1
    return dict(out)
