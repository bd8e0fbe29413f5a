"""Fit the learned fusion (:mod:`rag.fusion`) on training QA folders, with retrieval in the loop.

The folders' paragraphs become one corpus (a file each) indexed exactly as a user's documents are, with the
chosen embedding model; each question is searched through :meth:`rag.retrieval.Retriever.pool`, so the
signals are those the product computes. A question of an article long enough to be a document of its own is
also searched in an index of that article alone (its vectors reused from the whole corpus's build), where
every candidate is on topic, as in a corpus of one report. Articles are split train / validation by a seeded shuffle, never
questions. The ranking is fitted on the training articles' pools (target: the passage overlaps an answer);
the decision on their top ``k`` fused passages (target: the best one holds an answer), over answerable
questions, unanswerable ones, and answerable ones with their gold paragraph taken out of the pool. The
thresholds are set on the validation articles: ``answer`` at the lowest threshold whose balance of
answered-right and rightly-abstained is within ``tolerance`` of the best, ``related`` under all but
``related_miss`` of the right answers. The card records the data,
split, seed, figures and the validation trade-off curve.

Example:
    >>> card = run(FusionConfig([(Path("../shared/training/nq_qed_train"), 1500)], Path("build/fusion")))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.embedders import resolve
from rag.errors import RagError
from rag.reader.evidence import Decision, sigmoid
from rag.fusion.model import (
    CROSS_DECISION_FEATURES,
    CROSS_FEATURES,
    DECISION_FEATURES,
    FEATURES,
    Fusion,
    Ranking,
    card_path,
    decision_evidence,
    features,
)
from rag.index import build_index
from rag.records import Passage
from rag.retrieval import Pool, Retriever, load_retriever
from rag.reader.training.data import read_jsonl


@dataclass
class FusionConfig:
    folders: list[tuple[Path, int | None]]
    """QA folders in the SQuAD layout, each with at most this many questions (None: all)."""
    out: Path
    work: Path = Path("build/fusion-train")
    embedding_model: str = "e5-small"
    seed: int = 0
    validation: float = 0.2
    pool_size: int = 25
    k: int = 5
    article_min: int = 8
    """An article with at least this many paragraphs is also indexed alone, and its questions searched there too:
    a user's corpus is often one document, whose passages all look on topic."""
    related_miss: float = 0.05
    tolerance: float = 0.01
    """The answer threshold is the lowest whose balanced mean is within this of the best: where the curve is
    flat, answering more is the better product (a miss still shows its passages as related reading)."""
    extra: dict = field(default_factory=dict)


@dataclass
class Case:
    question: str
    article: str
    impossible: bool
    pool: Pool
    labels: np.ndarray
    """Each pool passage overlaps an answer."""


def _load(folders: list[tuple[Path, int | None]], seed: int) -> tuple[dict[str, str], list[dict]]:
    """Paragraph texts by corpus file name, and the sampled questions (answers as offsets into those files)."""
    texts, questions = {}, []
    rng = random.Random(seed)
    for folder, limit in folders:
        rows = read_jsonl(folder / "qa.jsonl")
        if limit is not None and limit < len(rows):
            rows = rng.sample(rows, limit)
        wanted = {d for r in rows for d in r["gold_doc_ids"]}
        corpus = {r["id"]: r for r in read_jsonl(folder / "corpus.jsonl")}
        for pid in sorted(wanted):
            texts[f"{folder.name}/{pid}.txt"] = corpus[pid]["text"]
        for r in rows:
            gold = [f"{folder.name}/{d}.txt" for d in r["gold_doc_ids"]]
            questions.append({"question": r["question"], "article": f"{folder.name}:{r.get('article') or r['gold_doc_ids'][0]}",
                              "impossible": bool(r.get("is_impossible")), "gold": gold,
                              "answers": [(gold[0], a["answer_start"], a["answer_start"] + len(a["text"])) for a in r.get("answers_all") or []]})
    return texts, questions


def _labels(pool: Pool, answers: list[tuple[str, int, int]]) -> np.ndarray:
    return np.array([any(p.source == src and p.start < e and s < p.end for src, s, e in answers) for p in pool.passages], dtype=bool)


def _without(case: Case, gold: list[str]) -> Case:
    """The case with the gold paragraphs' passages taken out of the pool: a question the pool cannot answer."""
    keep = [i for i, p in enumerate(case.pool.passages) if p.source not in gold]
    pool = Pool([case.pool.passages[i] for i in keep], {k: v[keep] for k, v in case.pool.signals.items()})
    return replace(case, pool=pool, labels=np.zeros(len(keep), dtype=bool), impossible=True)


def _articles(texts: dict[str, str], questions: list[dict], least: int) -> dict[str, list[str]]:
    """The corpus files of each article with at least ``least`` of them (SQuAD names them Article__pNNN)."""
    members: dict[str, set[str]] = {}
    for q in questions:
        members.setdefault(q["article"], set()).update(g for g in q["gold"] if g in texts)
    by_title: dict[str, list[str]] = {}
    for name in texts:
        folder, _, stem = name.partition("/")
        if "__p" in stem:
            by_title.setdefault(f"{folder}:{stem.rsplit('__p', 1)[0]}", []).append(name)
    return {a: sorted(by_title[a]) for a in sorted(members) if len(by_title.get(a, ())) >= least}


def _article_index(work: Path, model: str, article: str, members: list[str], texts: dict[str, str], settings: Settings) -> Path:
    """An index of the article's files alone, built from a copy of the whole corpus's index so that no vector
    is computed twice."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in article)[:80]
    corpus, index = work / "articles" / slug / "corpus", work / "articles" / slug / f"index-{Path(model).name}"
    for name in members:
        path = corpus / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(texts[name], encoding="utf-8")
    if not index.exists():
        shutil.copytree(work / f"index-{Path(model).name}", index, copy_function=os.link)
    build_index(corpus, index, settings)
    return index


def _pools(retriever: Retriever, questions: list[dict], size: int, cache: Path, log: Callable[[str], None]) -> list[Pool]:
    """Each question's pool, read from ``cache`` (JSON lines) when it holds them all, else searched and written."""
    if cache.is_file():
        rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines()]
        if [r["question"] for r in rows] == [q["question"] for q in questions]:
            return [Pool([Passage(**p) for p in r["passages"]], {k: np.array(v) for k, v in r["signals"].items()}) for r in rows]
    pools = []
    for n, q in enumerate(questions, 1):
        pools.append(retriever.pool(q["question"], size))
        if n % 500 == 0:
            log(f"  {n}/{len(questions)} questions searched")
    with open(cache, "w", encoding="utf-8") as fh:
        for q, pool in zip(questions, pools):
            fh.write(json.dumps({"question": q["question"], "passages": [
                {k: getattr(p, k) for k in ("id", "source", "start", "end", "text", "score", "dense_rank", "bm25_rank", "para_start", "para_end")}
                for p in pool.passages], "signals": {k: v.tolist() for k, v in pool.signals.items()}}, ensure_ascii=False) + "\n")
    return pools


def _fused(retriever: Retriever, case: Case, k: int, crosslingual: bool) -> tuple[list, np.ndarray]:
    """The top ``k`` of the case's pool in fused order, and whether each holds an answer."""
    label = {p.id: bool(y) for p, y in zip(case.pool.passages, case.labels)}
    top = retriever.fuse(case.pool, crosslingual)[:k]
    return top, np.array([label[p.id] for p in top], dtype=bool)


def _decision_rows(retriever: Retriever, cases: list[Case], k: int, names: tuple[str, ...],
                   crosslingual: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decision features, whether the best fused passage holds an answer, and whether the case is answerable."""
    rows, right, answerable = [], [], []
    for c in cases:
        top, labels = _fused(retriever, c, k, crosslingual)
        if not top:
            continue
        ev = decision_evidence(c.question, top)
        rows.append([ev[n] for n in names])
        right.append(bool(labels[0]))
        answerable.append(not c.impossible)
    return np.array(rows), np.array(right), np.array(answerable)


def curve(conf: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> list[dict]:
    """Answered-right (share of answerable cases) and abstained (share of the others) at thresholds 0.02…0.98."""
    out = []
    for t in np.round(np.arange(0.02, 0.99, 0.02), 2):
        ans = conf >= t
        a = float(np.mean(ans[answerable] & right[answerable])) if answerable.any() else 0.0
        b = float(np.mean(~ans[~answerable])) if (~answerable).any() else 0.0
        out.append({"threshold": float(t), "answered": round(a, 4), "abstained": round(b, 4), "mean": round((a + b) / 2, 4)})
    return out


def _top1(cases: list[Case], order: Callable[[Case], np.ndarray]) -> float:
    found = [c for c in cases if not c.impossible and c.labels.any()]
    return float(np.mean([c.labels[int(np.argmax(order(c)))] for c in found])) if found else 0.0


def run(cfg: FusionConfig, log: Callable[[str], None] = print) -> dict:
    """Build the training index, collect the pools, fit and calibrate; write the card to ``cfg.out``."""
    started = time.perf_counter()
    model = resolve(cfg.embedding_model)
    settings = Settings(embedding_model=model, fusion=False, rerank=False)
    texts, questions = _load(cfg.folders, cfg.seed)
    if not questions:
        raise RagError("no training questions in the given folders")
    corpus = cfg.work / "corpus"
    for name, text in texts.items():
        path = corpus / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    log(f"{len(texts)} paragraphs, {len(questions)} questions; indexing with {model}")
    build_index(corpus, cfg.work / f"index-{Path(model).name}", settings)
    retriever = load_retriever(cfg.work / f"index-{Path(model).name}", settings)
    articles = sorted({q["article"] for q in questions})
    random.Random(cfg.seed).shuffle(articles)
    val_articles = set(articles[: round(len(articles) * cfg.validation)])
    cases, alone_cases = [], []
    cache = cfg.work / f"pools-{retriever.index.path.name}-{cfg.pool_size}.jsonl"
    for q, pool in zip(questions, _pools(retriever, questions, cfg.pool_size, cache, log)):
        case = Case(q["question"], q["article"], q["impossible"], pool, _labels(pool, q["answers"]))
        cases.append(case)
        if not q["impossible"]:
            cases.append(_without(case, q["gold"]))
    for article, members in _articles(texts, questions, cfg.article_min).items():
        alone = _article_index(cfg.work, model, article, members, texts, settings)
        sub = load_retriever(alone, settings)
        asked = [q for q in questions if q["article"] == article]
        name = Path(alone).name
        for q, pool in zip(asked, _pools(sub, asked, cfg.pool_size, cfg.work / f"pools-{name}-{sub.index.path.name}-{cfg.pool_size}.jsonl", log)):
            case = Case(q["question"], q["article"], q["impossible"], pool, _labels(pool, q["answers"]))
            alone_cases.append(case)
            if not q["impossible"]:
                alone_cases.append(_without(case, q["gold"]))
        sub.close()
        log(f"  {article}: {len(asked)} questions searched in its own index of {len(members)} paragraphs")
    cases += alone_cases
    train = [c for c in cases if c.article not in val_articles]
    val = [c for c in cases if c.article in val_articles]

    # the rankings: passages of answerable training pools
    ranked = [c for c in train if not c.impossible and c.labels.any()]
    labels = np.concatenate([c.labels for c in ranked])
    feats = [features(c.pool.signals) for c in ranked]
    ranking = Ranking.fit(FEATURES, np.concatenate([np.stack([f[n] for n in FEATURES], 1) for f in feats]), labels)
    cross = Ranking.fit(CROSS_FEATURES, np.concatenate([np.stack([f[n] for n in CROSS_FEATURES], 1) for f in feats]), labels)
    if ranking is None or cross is None:
        raise RagError("the training pools hold no answer: nothing to fit the ranking on")
    retriever.fusion = Fusion(ranking, None, 0.5, 0.0, model, {}, cross)
    top1 = {name: _top1(val, fn) for name, fn in {
        "fusion": lambda c: ranking.scores(features(c.pool.signals)),
        "rrf": lambda c: c.pool.signals["rrf"], "e5": lambda c: c.pool.signals["e5"],
        "cosine": lambda c: c.pool.signals["cosine"], "bm25": lambda c: c.pool.signals["bm25"]}.items()}
    log("validation top-1 (answer in the first passage): " + ", ".join(f"{k} {v:.3f}" for k, v in top1.items()))

    # the decisions, then the thresholds on validation
    decisions, fitted = {}, {}
    for part, names, crosslingual in (("main", DECISION_FEATURES, False), ("crosslingual", CROSS_DECISION_FEATURES, True)):
        xt, rt, _ = _decision_rows(retriever, train, cfg.k, names, crosslingual)
        decision = Decision.fit(names, xt, rt)
        xv, rv, av = _decision_rows(retriever, val, cfg.k, names, crosslingual)
        conf = sigmoid(xv @ np.array(decision.coef) + decision.intercept) if decision else sigmoid(xv[:, 0])
        decisions[part], fitted[part] = decision, (conf, rv, av)
    conf, rv, av = fitted["main"]
    points = curve(conf, rv, av)
    top = max(p["mean"] for p in points)
    best = min((p for p in points if p["mean"] >= top - cfg.tolerance), key=lambda p: p["threshold"])
    good = np.sort(conf[av & rv])
    related = float(good[int(len(good) * cfg.related_miss)]) if len(good) else 0.0
    related = round(min(related, best["threshold"]), 4)
    cross_at = next(p for p in curve(*fitted["crosslingual"]) if p["threshold"] == best["threshold"])
    log(f"cross-lingual part (English questions, e5 only) at {best['threshold']}: answered {cross_at['answered']:.3f}, "
        f"abstained {cross_at['abstained']:.3f}")
    decision = decisions["main"]
    fusion = Fusion(ranking, decision, best["threshold"], related, model, {
        "name": "rag-chat fusion", "trained": time.strftime("%Y-%m-%d"),
        "data": [{"folder": str(f), "questions": lim} for f, lim in cfg.folders],
        "split": {"by": "article", "seed": cfg.seed, "validation_articles": len(val_articles), "articles": len(articles)},
        "pool_size": cfg.pool_size, "k": cfg.k,
        "validation": {"top1": {k: round(v, 4) for k, v in top1.items()}, "at_threshold": best,
                       "related_miss": cfg.related_miss, "cases": int(len(rv)), "curve": points,
                       "crosslingual_at_threshold": cross_at},
        "seconds": round(time.perf_counter() - started, 1), **cfg.extra,
    }, cross, decisions["crosslingual"])
    cfg.out.mkdir(parents=True, exist_ok=True)
    path = card_path(model, cfg.out)
    path.write_text(json.dumps(fusion.to_card(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"decision at {best['threshold']}: answered {best['answered']:.3f}, abstained {best['abstained']:.3f}, "
        f"mean {best['mean']:.3f}; related above {related}; written to {path}")
    retriever.close()
    return fusion.to_card()
