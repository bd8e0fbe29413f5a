"""Build the index on disk and load it back, validated.

Layout: ``index_dir/CURRENT`` names the live build, a folder ``index_dir/build-*`` holding ``manifest.json``,
``chunks.jsonl``, the ``chunks`` and ``paragraphs`` tables of the vector store (:mod:`rag.stores`: with FAISS,
``chunks.faiss``, ``chunks_bm25/``, ``paragraphs.faiss``, ``paragraphs_bm25/``; with Milvus, collections the
manifest names; see :mod:`rag.paragraphs`), ``acronyms.json`` (see :mod:`rag.acronyms`), ``texts.jsonl``
(the extracted text and page starts of each PDF, HTML and Word file; see :mod:`rag.extract`), the embedding
cache ``embeddings.npy`` + ``embeddings.keys`` (see :mod:`rag.embed_cache`: a rebuild embeds only what changed),
``cosines.npy`` + ``cosines.keys`` (each chunk's vector under the answerers' cosine model, so a question embeds
only itself)
and (optional) ``encoder.onnx``, the query encoder (the embedding
model exported to ONNX, so queries are encoded without importing PyTorch; see :mod:`rag.embedding`). A build is written to a new folder and made live by
atomically replacing ``CURRENT`` (then the store's ``publish``), so a crash at any moment leaves the previous
index loadable; the previous build's folder and tables are removed only after the switch. Nothing is pickled.
The manifest records the size and xxh3-128 hash of every other file, sealed (:mod:`rag.checksums`): loading
checks them all, a build reuses the live build's cache only when they hold, and :func:`verify_index` rechecks.
With ``ray_address`` set, new texts are embedded on a Ray cluster (:mod:`rag.ray_embed`).

Example:
    >>> report = build_index("seeds", "index")         # doctest: +SKIP
    >>> load_index("index").manifest["counts"]          # doctest: +SKIP
    {'documents': 1, 'chunks': 23}
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np

from rag import checksums
from rag.acronyms import Acronyms, find_acronyms
from rag.chunking import VERSION as CHUNKER_VERSION
from rag.chunking import Chunker, has_blank_lines
from rag.config import Settings
from rag.corpus import Document, extracted_kind, scan_corpus
from rag.embed_cache import COSINE_KEYS, COSINES, KEYS, VECTORS, CachedEmbedder
from rag.embedders import make_embedder, resolve
from rag.embedding import ONNX_FILE, Embedder, export_onnx
from rag.errors import RagError
from rag.extract import VERSION as EXTRACT_VERSION
from rag.extract import Extracted, ExtractError, LimitExceeded
from rag.locks import exclusive
from rag.paragraphs import Paragraphs, paragraph_of, paragraph_texts
from rag.records import Chunk
from rag.relevance import calibrate
from rag.sandbox import extract_bounded
from rag.stores import TABLES, RemoteBackend, StoreBackend, VectorStore, open_backend

FORMAT_VERSION = 7
POINTER = "CURRENT"
TEXTS = "texts.jsonl"
FILES = ("manifest.json", "chunks.jsonl", "acronyms.json", TEXTS, COSINES)
REUSED = ("manifest.json", "chunks.jsonl", TEXTS, VECTORS, KEYS, COSINES, COSINE_KEYS)
"""The files of the live build that the next build reuses (only when none of them is damaged)."""
Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called as the embedding advances."""


@dataclass
class BuildReport:
    """What ``build_index`` did: ``built`` is False when the index was already up to date.

    ``skipped_files`` are the corpus files that are not UTF-8 text (or PDF, HTML, Word files without text),
    ``too_large_files`` those over ``max_file_mb``; ``warnings`` says so in one line per kind, for the user.
    ``embedded`` and ``reused`` count the texts embedded anew and those whose vectors came from the previous build.
    """

    built: bool
    path: Path
    manifest: dict
    skipped_files: list[str]
    too_large_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0


@dataclass
class Index:
    """A loaded index: manifest, chunks (list position == chunk id), the chunks' table of the vector store (dense
    and BM25 search), the paragraphs', the chunks' vectors under the answerers' cosine model (memory-mapped, row
    == chunk id), and the extracted texts of PDF, HTML and Word files by source."""

    path: Path
    manifest: dict
    chunks: list[Chunk]
    store: VectorStore
    paragraphs: Paragraphs
    acronyms: Acronyms
    cosines: np.ndarray
    texts: dict[str, Extracted] = field(default_factory=dict)
    backend: StoreBackend | None = None

    def close(self) -> None:
        """Release the vector store's connections (a Milvus Lite file is then free for another process)."""
        if self.backend is not None:
            self.backend.close()

    def page_of(self, source: str, offset: int) -> int | None:
        """The 1-based page of ``source`` holding ``offset`` (None: a file without pages)."""
        extracted = self.texts.get(source)
        return extracted.page_of(offset) if extracted else None


def _chunker(settings: Settings) -> Chunker:
    return Chunker(
        max_sentences=settings.chunk_max_sentences,
        max_chars=settings.chunk_max_chars,
        overlap_sentences=settings.chunk_overlap_sentences,
        hard_max_chars=settings.sentence_hard_max_chars,
        keep_references=settings.chunk_keep_references,
        sentence_run_chars=settings.sentence_run_chars,
    )


def _fingerprint(settings: Settings, files: dict[str, str]) -> dict:
    """What determines an index's content; an equal fingerprint means a rebuild would change nothing."""
    return {
        "format_version": FORMAT_VERSION,
        "embedding_model": resolve(settings.embedding_model),
        "chunker": asdict(_chunker(settings)),
        "chunker_version": CHUNKER_VERSION,
        "extract_version": EXTRACT_VERSION,
        "vector_store": settings.vector_store,
        **({"faiss_kind": settings.faiss_kind} if settings.vector_store == "faiss" else {"milvus_uri": settings.milvus_uri}),
        "extract_limits": {name: getattr(settings, name) for name in sorted(Settings.model_fields) if name.startswith("extract_")},
        "files": files,
    }


def current_build(index_dir: Path) -> Path | None:
    """The live build folder, or None when there is no index yet."""
    pointer = index_dir / POINTER
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc.strerror or exc
        raise RagError(f"index pointer {pointer} is unreadable ({why}): rebuild with `rag index --force`") from None
    if not name.startswith("build-") or "/" in name or not (index_dir / name).is_dir():
        raise RagError(f"index pointer {pointer} names no build folder: rebuild with `rag index --force`")
    return index_dir / name


def index_is_current(index_dir: str | Path) -> bool:
    """Whether ``index_dir`` holds a live build in this version's format (else ``build_index`` makes one)."""
    try:
        build = current_build(Path(index_dir))
    except RagError:
        return False
    manifest = _read_manifest(build) if build is not None else None
    return isinstance(manifest, dict) and manifest.get("format_version") == FORMAT_VERSION


def build_index(
    corpus_dir: str | Path = "seeds",
    index_dir: str | Path = "index",
    settings: Settings | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    """Chunk, embed and index every document of ``corpus_dir`` into ``index_dir``; skip if nothing changed."""
    settings = settings or Settings()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    scan = scan_corpus(corpus_dir, settings.max_file_mb)
    fingerprint = _fingerprint(settings, {d.id: d.sha256 for d in scan.documents})
    try:
        backend = open_backend(settings, index_dir)
        try:
            return _build(corpus_dir, index_dir, settings, scan, fingerprint, force, progress, backend)
        finally:
            backend.close()
    except OSError as exc:  # disk full, a read-only or unwritable folder, a file where the folder should be
        raise RagError(f"cannot write the index in {index_dir}: {exc.strerror or exc}"
                       f"{f' ({exc.filename})' if exc.filename else ''}; the previous index, if any, is unchanged") from None


def _build(corpus_dir: Path, index_dir: Path, settings: Settings, scan, fingerprint: dict, force: bool,
           progress: Progress | None, backend: StoreBackend) -> BuildReport:
    docs, skipped, too_large = scan.documents, scan.not_text, list(scan.too_large)
    index_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(index_dir / ".lock"):
        notes: list[str] = []
        try:
            live = current_build(index_dir) if (index_dir / POINTER).exists() else None
        except RagError:  # a damaged pointer: the index is built anew
            live = None
            notes.append(f"the index pointer {index_dir / POINTER} is damaged: the index is built anew")
        damaged = _damaged(live) if live else []
        reuse = None if any(name in REUSED for name, _ in damaged) else live
        if damaged:
            notes.append(f"the live index {live} is damaged ({_listed(damaged)}): it is rebuilt, "
                         + ("nothing of it is reused, every text is embedded anew" if reuse is None else
                            "reusing only its checked embeddings and chunks"))
        if live and not force and not damaged:
            old = _read_manifest(live)
            if old is not None and old.get("fingerprint") == fingerprint:
                return BuildReport(False, live, old, skipped, too_large, scan.warnings())
        _remove_stale(index_dir, keep=live)
        backend.cleanup(_tables(live))
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-build-", dir=index_dir))
        try:
            manifest, counts, failed = _write_build(tmp, docs, skipped, too_large, settings, fingerprint, corpus_dir, progress,
                                                    backend, reuse)
            scan.unusable.update({name: f"file(s) without text to index ({why})" for name, why in failed.items()})
            final = index_dir / f"build-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
            os.rename(tmp, final)
            _fsync_dir(index_dir)
            pointer_tmp = index_dir / f".{POINTER}.tmp"
            pointer_tmp.write_text(final.name + "\n", encoding="utf-8")
            os.replace(pointer_tmp, index_dir / POINTER)
            _fsync_dir(index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        backend.publish(manifest["store"])
        _remove_stale(index_dir, keep=final)
        backend.cleanup(_tables(final))
    return BuildReport(True, final, manifest, [*skipped, *failed], too_large, [*scan.warnings(), *notes], **counts)


def _tables(build: Path | None) -> list[dict]:
    """The store tables a build's manifest describes (none for no build or an unreadable manifest)."""
    manifest = _read_manifest(build) if build else None
    store = manifest.get("store") if isinstance(manifest, dict) else None
    return list(store.values()) if isinstance(store, dict) else []


def _read_texts(path: Path) -> list[tuple[str, str, Extracted]]:
    """``texts.jsonl``: (source, file hash, extracted text) per PDF, HTML or Word file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r["source"], r["sha256"], Extracted(r["text"], tuple(r["pages"]) if r["pages"] else None)) for r in rows]


@dataclass
class _Previous:
    """What a build reuses from the live one: extracted texts by file hash, chunks by (source, file hash) when
    it chunked the same way, and the folder of its embedding cache when it used the same model."""

    texts: dict[str, Extracted] = field(default_factory=dict)
    chunks: dict[tuple[str, str], list[Chunk]] = field(default_factory=dict)
    embeddings: Path | None = None


def _previous(build: Path | None, fingerprint: dict, settings: Settings) -> _Previous:
    old = _read_manifest(build) if build else None
    if old is None:
        return _Previous()
    prev = _Previous(embeddings=build if old.get("embedding_model") == resolve(settings.embedding_model) else None)
    try:
        if old.get("fingerprint", {}).get("extract_version") == EXTRACT_VERSION:  # else every file is extracted again
            prev.texts = {sha: ex for _, sha, ex in _read_texts(build / TEXTS)}
        if all(old.get("fingerprint", {}).get(k) == fingerprint[k] for k in ("chunker", "chunker_version", "format_version")):
            hashes = old["fingerprint"]["files"]
            for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines():
                c = Chunk(**json.loads(line))
                prev.chunks.setdefault((c.source, hashes[c.source]), []).append(c)
    except (OSError, ValueError, KeyError, TypeError):
        return _Previous(embeddings=prev.embeddings)
    # an extracted file's chunks are reused only together with its stored text
    prev.chunks = {key: cs for key, cs in prev.chunks.items() if key[1] in prev.texts or not extracted_kind(Path(key[0]))}
    return prev


def _write_build(
    folder: Path, docs: list[Document], skipped: list[str], too_large: list[str], settings: Settings, fingerprint: dict,
    corpus_dir: Path, progress: Progress | None, backend: StoreBackend, previous: Path | None = None,
) -> tuple[dict, dict, dict[str, str]]:
    chunker = _chunker(settings)
    chunks: list[Chunk] = []
    prev, texts, failed = _previous(previous, fingerprint, settings), {}, {}
    for doc in docs:  # one document at a time, read in blocks: no text file's whole text is held
        if (doc.id, doc.sha256) in prev.chunks:  # unchanged since the previous build: its chunks as they were
            base = len(chunks)
            chunks.extend([replace(c, id=base + i) for i, c in enumerate(prev.chunks[doc.id, doc.sha256])])
            if doc.extracted:
                texts[doc.id] = prev.texts[doc.sha256]
            continue
        if not doc.extracted:
            chunks.extend(chunker.split_stream(doc.id, doc.blocks(), doc.blank_lines, first_id=len(chunks)))
            continue
        try:  # in a child process bounded in memory and time; any failure, whatever it is, is this file's warning
            texts[doc.id] = prev.texts.get(doc.sha256) or extract_bounded(doc.path, settings)
        except (ExtractError, OSError) as exc:
            failed[doc.id] = str(exc) if isinstance(exc, ExtractError) else f"unreadable: {exc.strerror or exc}"
            continue
        text = texts[doc.id].text
        most = settings.extract_max_chunks  # chunked up to one past the limit, never further
        try:
            mine = list(islice(chunker.split_stream(doc.id, iter([text]), has_blank_lines(text), first_id=len(chunks)), most + 1))
        except Exception as exc:  # noqa: BLE001 - text a hostile file made: that file's warning, not the build's end
            del texts[doc.id]
            failed[doc.id] = f"its text could not be split into chunks ({type(exc).__name__}: {str(exc)[:80]})"
            continue
        if len(mine) > most:
            del texts[doc.id]
            failed[doc.id] = str(LimitExceeded(f"more than {most:,} chunks", "extract_max_chunks", f"{most:,}"))
            continue
        chunks.extend(mine)
    if not chunks:
        raise RagError(f"the documents in {corpus_dir} contain no text to index"
                       + (f" ({'; '.join(f'{n}: {w}' for n, w in list(failed.items())[:5])})" if failed else ""))
    embedder = make_embedder(settings.embedding_model, settings.batch_size, backend="torch")
    of = paragraph_of(chunks)
    texts_of_chunks = [c.indexed_text for c in chunks]
    texts_of_paragraphs = paragraph_texts(chunks, of)
    workers_write = bool(settings.ray_address) and getattr(backend, "remote", False)
    advance = _advance(progress, "embedding", len(chunks) + len(set(of)))
    if workers_write:  # Ray workers embed and insert into the store themselves; no vector comes back here
        ray = _ray_embedder(settings)
        store, paragraphs = (_written_by_workers(backend, folder, table, texts, ray, advance)
                             for table, texts in (("chunks", texts_of_chunks), ("paragraphs", texts_of_paragraphs)))
        counts = {"embedded": len(texts_of_chunks) + len(texts_of_paragraphs), "reused": 0}
    else:
        cached = CachedEmbedder(_ray_embedder(settings) if settings.ray_address else embedder, prev.embeddings)
        # one call for both tables: the engine is chosen by the build's whole size, and a text in both is embedded once
        vectors = cached.encode(texts_of_chunks + texts_of_paragraphs, on_batch=advance)
        store = backend.build(folder, "chunks", vectors[: len(texts_of_chunks)], texts_of_chunks)
        paragraphs = backend.build(folder, "paragraphs", vectors[len(texts_of_chunks) :], texts_of_paragraphs)
        cached.save(folder)
        counts = {"embedded": cached.embedded, "reused": cached.reused}
    relevance = calibrate(embedder, store)  # what an off-topic question scores on this corpus
    embedder.release()  # the passage engine's memory is free before the cosine model loads: the peak is the larger, not the sum
    cosine = cosine_embedder(embedder, settings)
    query_encoder = export_onnx(cosine, folder / ONNX_FILE)
    if query_encoder["kind"] == "onnx":  # the export equals the model within 1e-5 cosine and runs faster
        cosine = Embedder(cosine.model_name, settings.batch_size, onnx_path=folder / ONNX_FILE, backend="onnx")
    cosines = CachedEmbedder(cosine, prev.embeddings, (COSINES, COSINE_KEYS))
    cosines.encode([c.text for c in chunks], on_batch=_advance(progress, "cosines", len(chunks)))
    cosines.save(folder, every_row=True)
    cosine.release()
    (folder / "acronyms.json").write_text(find_acronyms(texts_of_chunks).to_json(), encoding="utf-8")
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    by_id = {d.id: d.sha256 for d in docs}
    with open(folder / TEXTS, "w", encoding="utf-8") as fh:
        for source, ex in texts.items():
            fh.write(json.dumps({"source": source, "sha256": by_id[source], "text": ex.text,
                                 "pages": list(ex.pages) if ex.pages else None}, ensure_ascii=False) + "\n")
    manifest = {
        "format_version": FORMAT_VERSION,
        "embedding_model": resolve(settings.embedding_model),
        "embedding_dimension": embedder.dimension,
        "chunker": fingerprint["chunker"],
        "vector_store": backend.name,
        "store": {"chunks": store.describe(), "paragraphs": paragraphs.describe()},
        **({"ray": {"address": settings.ray_address, "workers": settings.ray_workers,
                    "writes": "workers" if workers_write else "this process"}} if settings.ray_address else {}),
        "query_encoder": query_encoder,
        "corpus_dir": str(corpus_dir),
        "files": fingerprint["files"],
        "skipped_files": [*skipped, *failed],
        "too_large_files": too_large,
        "counts": {"documents": len(docs) - len(failed), "chunks": len(chunks), "paragraphs": len(texts_of_paragraphs)},
        "relevance": relevance,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
    }
    manifest = _sealed(folder, manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    return manifest, counts, failed


def _advance(progress: Progress | None, stage: str, total: int) -> Callable[[int], None]:
    """A counter that reports ``stage``'s progress as texts are done."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(stage, done, total)

    return advance


def cosine_embedder(embedder, settings: Settings) -> Embedder:
    """The sentence-transformers model whose question-sentence cosines the answerers use: the index's own model
    when it is one, else the packaged MiniLM (exported to ONNX with every build as the query encoder)."""
    if isinstance(embedder, Embedder):
        return embedder
    return Embedder(batch_size=settings.batch_size, backend="torch")


def _ray_embedder(settings: Settings):
    from rag.ray_embed import RayEmbedder

    return RayEmbedder(resolve(settings.embedding_model), settings.ray_address, workers=settings.ray_workers, batch_size=settings.batch_size)


def _written_by_workers(backend: RemoteBackend, folder: Path, table: str, texts: list[str], ray, advance: Callable[[int], None]) -> VectorStore:
    """A table whose rows the Ray workers embed and insert themselves."""
    writer = backend.create(table, ray.dimension, len(texts))
    return backend.finish(folder, writer, len(texts), ray.write(texts, writer, advance))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale(index_dir: Path, keep: Path | None) -> None:
    """Delete leftovers of earlier or crashed builds (never the live one)."""
    for path in index_dir.iterdir():
        if path.is_dir() and path.name.startswith(("build-", ".tmp-build-")) and path != keep:
            shutil.rmtree(path, ignore_errors=True)


def _read_manifest(build: Path) -> dict | None:
    try:
        return json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _sealed(folder: Path, manifest: dict) -> dict:
    """``manifest`` (as JSON reads it back) with the size and hash of every file of ``folder`` and its own seal."""
    manifest = json.loads(json.dumps(manifest, ensure_ascii=False))
    manifest["checksums"] = {"algorithm": checksums.ALGORITHM, "files": checksums.record(folder)}
    manifest["checksums"]["manifest"] = checksums.seal(manifest)
    return manifest


def _integrity(build: Path, manifest: dict) -> list[tuple[str, str]]:
    """``(file, what is wrong)`` for each file of ``build`` that differs from what its manifest records."""
    sums = manifest.get("checksums")
    if not isinstance(sums, dict) or not isinstance(sums.get("files"), dict) or sums.get("algorithm") != checksums.ALGORITHM:
        return [("manifest.json", "it records no checksums")]
    if sums.get("manifest") != checksums.seal(manifest):
        return [("manifest.json", "its content differs from its seal")]
    return checksums.check(build, sums["files"])


def _damaged(build: Path) -> list[tuple[str, str]]:
    """What is damaged in a live build (nothing to check for a build of an older format: it is rebuilt anyway)."""
    manifest = _read_manifest(build)
    if not isinstance(manifest, dict):
        return [("manifest.json", "unreadable")]
    return _integrity(build, manifest) if manifest.get("format_version") == FORMAT_VERSION else []


def _listed(problems: list[tuple[str, str]], most: int = 5) -> str:
    shown = ", ".join(f"{name}: {why}" for name, why in problems[:most])
    return shown + (f", and {len(problems) - most} more" if len(problems) > most else "")


def _damage_message(build: Path, problems: list[tuple[str, str]], fix: str) -> str:
    """One line naming the damaged (or missing) files of ``build`` and the fix."""
    first, why = problems[0]
    if all(w == "missing" for _, w in problems):
        more = f" and {len(problems) - 1} more ({', '.join(n for n, _ in problems[1:6])})" if len(problems) > 1 else ""
        return f"index file missing: {build / first}{more}: {fix}"
    if len(problems) == 1:
        return f"index file damaged: {build / first} ({why}): {fix}"
    return f"index damaged: {len(problems)} file(s) in {build} differ from the manifest ({_listed(problems)}): {fix}"


def _checked_build(index_dir: Path, fix: str) -> tuple[Path, dict]:
    """The live build and its manifest, once the manifest is readable, of this format, and every file matches
    the size and hash the build recorded; else a :class:`RagError` naming the problem and ``fix``."""
    build = current_build(index_dir)
    if build is None:
        raise RagError(f"no index found in {index_dir}: build one with `rag index --corpus <dir> --index {index_dir}`")
    if not (build / "manifest.json").exists():
        raise RagError(f"index file missing: {build / 'manifest.json'}: {fix}")
    manifest = _read_manifest(build)
    if not isinstance(manifest, dict):
        raise RagError(f"index manifest unreadable: {build / 'manifest.json'}: {fix}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RagError(f"index format version {manifest.get('format_version')!r} in {build / 'manifest.json'} "
                       f"is not the supported {FORMAT_VERSION}: {fix}")
    problems = _integrity(build, manifest)  # every file: its size and hash, as the build recorded them
    if problems:
        raise RagError(_damage_message(build, problems, fix))
    return build, manifest


def load_index(index_dir: str | Path = "index", settings: Settings | None = None) -> Index:
    """Load and validate the live build; every problem is a :class:`RagError` naming the file and the fix."""
    settings = settings or Settings()
    index_dir = Path(index_dir)
    fix = "rebuild it with `rag index --force`"
    build, manifest = _checked_build(index_dir, fix)
    for name in FILES:
        if not (build / name).exists():
            raise RagError(f"index file missing: {build / name}: {fix}")
    if manifest.get("embedding_model") != resolve(settings.embedding_model):
        raise RagError(
            f"index was built with embedding model {manifest.get('embedding_model')!r}, but {resolve(settings.embedding_model)!r} "
            f"is configured (RAG_EMBEDDING_MODEL): configure the same model, or {fix}"
        )
    try:
        chunks = [Chunk(**json.loads(line)) for line in (build / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    except (ValueError, TypeError) as exc:
        raise RagError(f"index file corrupted: {build / 'chunks.jsonl'} ({exc}): {fix}") from None
    tables = manifest.get("store")
    if not isinstance(tables, dict) or set(tables) != set(TABLES):
        raise RagError(f"index manifest names no vector store tables: {build / 'manifest.json'}: {fix}")
    backend = open_backend(settings.model_copy(update={"vector_store": manifest.get("vector_store", "faiss")}), index_dir)
    try:
        store = backend.open(build, "chunks", tables["chunks"])
        paragraphs = Paragraphs(backend.open(build, "paragraphs", tables["paragraphs"]), paragraph_of(chunks))
        return _validated(build, manifest, chunks, store, paragraphs, backend, fix)
    except BaseException:
        backend.close()
        raise


def _validated(build: Path, manifest: dict, chunks: list[Chunk], store: VectorStore, paragraphs: Paragraphs,
               backend: StoreBackend, fix: str) -> Index:
    if not len(paragraphs) == max(paragraphs.of, default=-1) + 1:
        raise RagError(f"index files disagree on the paragraph count in {build}: {fix}")
    try:
        acronyms = Acronyms.from_json((build / "acronyms.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RagError(f"index file corrupted: {build / 'acronyms.json'} ({exc}): {fix}") from None
    expected = manifest.get("counts", {}).get("chunks")
    if store.dimension != manifest.get("embedding_dimension"):
        raise RagError(f"index vectors have dimension {store.dimension}, manifest says {manifest.get('embedding_dimension')}: {fix}")
    if not (len(chunks) == len(store) == expected):
        raise RagError(f"index files disagree on the chunk count ({len(chunks)} chunks, {len(store)} vectors, manifest {expected}): {fix}")
    try:
        texts = {source: ex for source, _, ex in _read_texts(build / TEXTS)}
    except (ValueError, KeyError, TypeError) as exc:
        raise RagError(f"index file corrupted: {build / TEXTS} ({exc}): {fix}") from None
    try:
        cosines = np.load(build / COSINES, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise RagError(f"index file corrupted: {build / COSINES} ({exc}): {fix}") from None
    if cosines.ndim != 2 or len(cosines) != len(chunks):
        raise RagError(f"index files disagree on the chunk count ({len(chunks)} chunks, {len(cosines)} rows in {COSINES}): {fix}")
    return Index(build, manifest, chunks, store, paragraphs, acronyms, cosines, texts, backend)


@dataclass
class Verification:
    """What :func:`verify_index` found: the live build (``files`` files rechecked, all sound) and the corpus files
    ``added``, ``changed`` or ``removed`` since it was built (``corpus_error``: why the corpus could not be read)."""

    path: Path
    files: int
    corpus_dir: Path
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    corpus_error: str | None = None


def verify_index(index_dir: str | Path = "index", corpus_dir: str | Path | None = None,
                 settings: Settings | None = None) -> Verification:
    """Recheck every file of the live build against its manifest (size and hash); a :class:`RagError` names every
    damaged file and the fix. Then compare ``corpus_dir`` (default: the folder the build was made from) with
    the file hashes the build recorded."""
    settings = settings or Settings()
    index_dir = Path(index_dir)
    fix = "rebuild it with `rag index --force`"
    build, manifest = _checked_build(index_dir, fix)
    corpus = Path(corpus_dir or manifest.get("corpus_dir") or settings.corpus_dir)
    found = Verification(build, len(manifest["checksums"]["files"]) + 1, corpus)
    try:
        now = {d.id: d.sha256 for d in scan_corpus(corpus, settings.max_file_mb).documents}
    except RagError as exc:
        found.corpus_error = str(exc)
        return found
    then = manifest.get("files") or {}
    found.added = sorted(set(now) - set(then))
    found.removed = sorted(set(then) - set(now))
    found.changed = sorted(name for name in set(now) & set(then) if now[name] != then[name])
    return found
