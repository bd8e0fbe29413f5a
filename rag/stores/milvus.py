"""Milvus vector store: each table of a build is one collection holding the vectors, the texts and Milvus's own
BM25 function, so dense and full-text search both run in Milvus.

``milvus_uri`` empty: Milvus Lite, embedded, in ``<index_dir>/milvus.db`` (no server; one process at a time may
open it). ``milvus_uri=http://host:19530`` (and ``milvus_token``): a Milvus standalone or distributed server.
Needs ``pip install 'rag-chat[milvus]'``.

Builds are atomic as with FAISS: every build writes new collections ``{prefix}_{table}_{id}``; once the build
is live (``CURRENT``), :meth:`MilvusBackend.publish` points the aliases ``{prefix}_chunks`` and
``{prefix}_paragraphs`` at them, and only then are the previous build's collections dropped. A build killed
midway leaves its collections unpublished; the next build drops them. The manifest names the collections, so
a loaded index never depends on an alias.

BM25 uses the same analysis as the FAISS backend's bm25s: each text is stored with its terms as
:func:`rag.lexical.tokenize` makes them (stemmed, without stop words) in a ``terms`` field that Milvus's BM25
function indexes (k1 0.9, b 0.4, as bm25s). The inverse document frequencies the rules answerer weighs question
words by come from ``{table}_df.json`` in the build folder. The dense index is exact (``FLAT``) up to
``faiss_exact_max`` rows, ``HNSW`` above.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # gRPC's C core logs keep-alive notices between pymilvus and Milvus Lite
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException  # noqa: E402

from rag.config import Settings
from rag.errors import RagError
from rag.lexical import bm25_idf, tokenize
from rag.stores import TABLES, as_queries

LITE_FILE = "milvus.db"
BATCH = 2000
"""Rows per insert request."""
MAX_VARCHAR = 65535
"""Longest text or term list a row keeps, in UTF-8 bytes (Milvus's VARCHAR limit); longer ones are cut."""
MAX_LIMIT = 16384
"""Most hits Milvus returns for one search."""
HNSW = {"M": 16, "efConstruction": 200}
K1, B = 0.9, 0.4
FIX = "rebuild it with `rag index --force`"

for _name in ("milvus_lite", "pymilvus", "grpc._server"):  # their failures reach the user as one RagError, not log tracebacks
    logging.getLogger(_name).setLevel(logging.CRITICAL)

_lock = threading.Lock()
_clients: dict[str, list] = {}
"""Open clients by URI, with a use count: a Milvus Lite file is opened once per process and released at zero."""


def _is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def _connect(uri: str, token: str) -> MilvusClient:
    with _lock:
        if uri in _clients:
            _clients[uri][1] += 1
            return _clients[uri][0]
        try:
            client = MilvusClient(uri=uri, token=token, timeout=10)
        except MilvusException as exc:
            if _is_lite(uri):
                raise RagError(f"cannot open the Milvus Lite database {uri}: another process has it open (a running "
                               f"`rag serve` or `rag index`?) or it is damaged: stop the other process, or serve the index "
                               f"from a Milvus server (RAG_MILVUS_URI); if it is damaged, delete {uri} and {FIX}") from None
            raise RagError(f"cannot reach Milvus at {uri} ({exc.message}): start the server, or fix RAG_MILVUS_URI") from None
        _clients[uri] = [client, 1]
        return client


def _release(uri: str) -> None:
    with _lock:
        entry = _clients.get(uri)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _clients[uri]
    entry[0].close()
    if _is_lite(uri):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(uri)


def _cut(text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= MAX_VARCHAR else data[:MAX_VARCHAR].decode("utf-8", "ignore")


class MilvusTable:
    """One collection (:class:`rag.stores.VectorStore`): dense search on ``dense``, BM25 on ``terms``."""

    def __init__(self, client: MilvusClient, description: dict, df: dict[str, int]):
        self.client, self.description, self.df = client, description, df
        self.collection = description["collection"]
        self.dimension = int(description["dimension"])
        self.rows = int(description["rows"])

    def __len__(self) -> int:
        return self.rows

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = as_queries(queries, self.dimension)
        k = min(k, self.rows, MAX_LIMIT)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if k == 0 or not len(queries):
            return scores, ids
        params = {"metric_type": "IP", "params": {"ef": max(64, k)} if self.description["index"] == "HNSW" else {}}
        hits = self._search(data=queries.tolist(), anns_field="dense", limit=k, search_params=params)
        for row, found in enumerate(hits):
            for col, hit in enumerate(found[:k]):
                scores[row, col], ids[row, col] = hit["distance"], hit["id"]
        return scores, ids

    def text_search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        terms = tokenize([query])[0]
        k = min(k, self.rows, MAX_LIMIT)
        if not terms or k == 0:
            return np.empty(0, dtype=np.float32), np.empty(0, dtype=np.int64)
        found = self._search(data=[" ".join(terms)], anns_field="sparse", limit=k, search_params={"metric_type": "BM25"})[0]
        scores = np.abs(np.array([h["distance"] for h in found], dtype=np.float32))  # Milvus Lite reports BM25 negated
        ids = np.array([h["id"] for h in found], dtype=np.int64)
        order = np.lexsort((ids, -scores))
        keep = order[scores[order] > 0]
        return scores[keep], ids[keep]

    def _search(self, **kwargs) -> list:
        try:
            return self.client.search(self.collection, output_fields=["id"], **kwargs)
        except MilvusException as exc:
            raise RagError(f"Milvus search in {self.collection} failed ({exc.message}): check the server, or {FIX}") from None

    def idf(self, token: str) -> float:
        return bm25_idf(self.df.get(token, 0), self.rows)

    def describe(self) -> dict:
        return dict(self.description)


class RowWriter:
    """Inserts rows into one collection; picklable, so Ray workers write their own batches (each opens its own client)."""

    def __init__(self, uri: str, token: str, collection: str, table: str, dim: int, index: str):
        self.uri, self.token, self.collection, self.table, self.dim, self.index = uri, token, collection, table, dim, index
        self.client: MilvusClient | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "client": None}

    def write(self, ids: np.ndarray, texts: Sequence[str], vectors: np.ndarray) -> Counter[str]:
        """Insert rows ``ids`` (their texts, stemmed terms and vectors); returns the batch's document frequencies."""
        if self.client is None:
            self.client = MilvusClient(uri=self.uri, token=self.token, timeout=10)
        batch_terms = tokenize(list(texts))
        rows = [{"id": int(i), "text": _cut(t), "terms": _cut(" ".join(terms)), "dense": v.tolist()}
                for i, t, terms, v in zip(ids, texts, batch_terms, vectors)]
        try:
            if rows:
                self.client.insert(self.collection, rows)
        except MilvusException as exc:
            raise self.failed(exc) from None
        return Counter(t for terms in batch_terms for t in set(terms))

    def failed(self, exc: MilvusException) -> RagError:
        return RagError(f"writing Milvus collection {self.collection} at {self.uri} failed ({exc.message}); the previous index is unchanged")


class MilvusBackend:
    """Collections in Milvus Lite (``<index_dir>/milvus.db``) or on the server at ``milvus_uri``."""

    name = "milvus"

    def __init__(self, settings: Settings, index_dir: Path):
        self.index_dir = Path(index_dir)
        self.prefix = settings.milvus_collection
        self.uri = settings.milvus_uri or str(self.index_dir / LITE_FILE)
        self.token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
        self.exact_max = settings.faiss_exact_max
        self._open: list[str] = []

    def _client(self, uri: str | None = None) -> MilvusClient:
        uri = uri or self.uri
        client = _connect(uri, self.token)
        self._open.append(uri)
        return client

    def _recorded_uri(self, description: dict) -> str:
        """The URI a manifest names (Milvus Lite's file relative to the index folder, so the folder can move)."""
        uri = description.get("uri", "")
        return str(self.index_dir / uri) if description.get("lite") and not Path(uri).is_absolute() else uri

    @property
    def remote(self) -> bool:
        """Whether processes on other machines can write to the store (a server; not a Milvus Lite file)."""
        return not _is_lite(self.uri)

    def build(self, folder: Path, table: str, vectors: np.ndarray, texts: Sequence[str]) -> MilvusTable:
        vectors = np.asarray(vectors, dtype=np.float32)
        n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
        if n != len(texts):
            raise ValueError(f"{n} vectors for {len(texts)} texts")
        writer = self.create(table, dim, n)
        df: Counter[str] = Counter()
        for start in range(0, n, BATCH):
            df.update(writer.write(np.arange(start, min(start + BATCH, n)), texts[start : start + BATCH], vectors[start : start + BATCH]))
        return self.finish(folder, writer, n, df)

    def create(self, table: str, dim: int, rows: int) -> RowWriter:
        """A new, empty collection for ``rows`` rows of ``table``, and the writer that fills it (from any process)."""
        writer = RowWriter(self.uri, self.token, f"{self.prefix}_{table}_{uuid.uuid4().hex[:12]}", table, dim,
                           "FLAT" if rows <= self.exact_max else "HNSW")
        client = self._client()
        writer.client = client
        try:
            client.create_collection(writer.collection, schema=self._schema(dim), index_params=self._index_params(client, writer.index))
        except MilvusException as exc:
            raise writer.failed(exc) from None
        return writer

    def finish(self, folder: Path, writer: RowWriter, rows: int, df: Counter[str]) -> MilvusTable:
        """Make the filled collection searchable; record its document frequencies in ``folder``."""
        client = self._client()
        try:
            client.flush(writer.collection)
            client.load_collection(writer.collection)
        except MilvusException as exc:
            raise writer.failed(exc) from None
        lite = _is_lite(self.uri)
        uri = LITE_FILE if lite and Path(self.uri) == self.index_dir / LITE_FILE else self.uri
        description = {"backend": "milvus", "uri": uri, "lite": lite, "collection": writer.collection,
                       "alias": f"{self.prefix}_{writer.table}", "index": writer.index, "rows": rows, "dimension": int(writer.dim)}
        (folder / f"{writer.table}_df.json").write_text(json.dumps({"rows": rows, "df": df}), encoding="utf-8")
        return MilvusTable(client, description, dict(df))

    @staticmethod
    def _schema(dim: int):
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
        schema.add_field("terms", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True, analyzer_params={"tokenizer": "standard"})
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=max(dim, 1))
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"], output_field_names=["sparse"]))
        return schema

    @staticmethod
    def _index_params(client: MilvusClient, index: str):
        params = client.prepare_index_params()
        # sent as one JSON "params" entry, the wire form Milvus servers and Milvus Lite both read (pymilvus 3 would
        # otherwise send each key on its own, which Milvus Lite ignores: its BM25 then ran with k1 1.5, b 0.75)
        params.add_index("dense", index_type=index, metric_type="IP", params={"params": HNSW} if index == "HNSW" else {})
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"params": {"bm25_k1": K1, "bm25_b": B}})
        return params

    def open(self, folder: Path, table: str, description: dict) -> MilvusTable:
        uri = self._recorded_uri(description)
        name = description.get("collection", "")
        try:
            df = json.loads((folder / f"{table}_df.json").read_text(encoding="utf-8"))["df"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RagError(f"index file missing or corrupted: {folder / f'{table}_df.json'} ({exc}): {FIX}") from None
        if description.get("lite") and not Path(uri).is_dir():
            raise RagError(f"the Milvus Lite database {uri} is missing: {FIX}")
        client = self._client(uri)
        try:
            if not client.has_collection(name):
                raise RagError(f"Milvus collection {name!r} is missing at {uri}: {FIX}")
            client.load_collection(name)
            rows = int(client.get_collection_stats(name).get("row_count", -1))
        except MilvusException as exc:
            raise RagError(f"Milvus collection {name!r} at {uri} is unreadable ({exc.message}): {FIX}") from None
        if rows != description.get("rows"):
            raise RagError(f"Milvus collection {name!r} holds {rows} rows, the manifest says {description.get('rows')}: {FIX}")
        return MilvusTable(client, description, df)

    def publish(self, descriptions: dict[str, dict]) -> None:
        client = self._client()
        try:
            existing = set(client.list_aliases().get("aliases", []))
            for d in descriptions.values():
                (client.alter_alias if d["alias"] in existing else client.create_alias)(d["collection"], d["alias"])
        except MilvusException as exc:
            raise RagError(f"the index is built, but pointing the Milvus aliases at it failed ({exc.message}): "
                           f"run `rag index --force` again") from None

    def cleanup(self, keep: Sequence[dict]) -> None:
        if _is_lite(self.uri) and not Path(self.uri).is_dir():
            return
        client = self._client()
        live = {d.get("collection") for d in keep}
        ours = tuple(f"{self.prefix}_{table}_" for table in TABLES)
        for name in client.list_collections():
            if name.startswith(ours) and name not in live:
                client.drop_collection(name)

    def close(self) -> None:
        for uri in self._open:
            _release(uri)
        self._open.clear()
