"""The documents of a corpus folder: add uploaded files (never overwriting), remove one, list what is indexed.

After adding or removing, :func:`rag.build_index` brings the index up to date (only what changed is embedded).

Example:
    >>> saved = add_documents("seeds", [Path("/tmp/report.pdf")])     # doctest: +SKIP
    >>> build_index("seeds", "index"); [d.name for d in list_documents(load_index("index"))]  # doctest: +SKIP
    ['china-pakistan-strategic-dialogue-2026.txt', 'report.pdf']
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rag.corpus import KINDS, MB, source_path
from rag.errors import RagError


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document: its source id, size in bytes, pages (PDF) or None, chunks, and when it was added
    (its file's modification time, ISO 8601 UTC)."""

    name: str
    size: int
    pages: int | None
    chunks: int
    added: str


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2).ext``, ``name (3).ext``… when that is taken: a clash never overwrites."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = folder / name, 2
    while candidate.exists():
        candidate, n = folder / f"{stem} ({n}){suffix}", n + 1
    return candidate


def check_upload(path: Path, name: str, max_mb: float) -> None:
    """A :class:`RagError` naming the file when its kind is not taken or it is larger than ``max_mb``."""
    suffix = Path(name).suffix.lower()
    if suffix not in KINDS:
        raise RagError(f"{name}: {suffix or 'a file without an extension'} is not a document kind this index reads "
                       f"(use {', '.join(KINDS)})")
    size = path.stat().st_size
    if size > max_mb * MB:
        raise RagError(f"{name}: {size / MB:.1f} MB is larger than the upload limit of {max_mb:g} MB (RAG_MAX_UPLOAD_MB)")


def add_documents(corpus_dir: str | Path, files: list[Path], names: list[str] | None = None, max_mb: float = 10) -> list[str]:
    """Copy ``files`` into ``corpus_dir`` under ``names`` (default: their own names, without folders); a name
    already taken gets `` (2)``, `` (3)``…; every file is checked before any is copied. Returns the saved names."""
    folder = Path(corpus_dir)
    names = [Path(n).name for n in (names or [f.name for f in files])]
    for path, name in zip(files, names):
        if not name or name.startswith("."):
            raise RagError(f"{name or '(empty name)'}: a document name must not be empty or start with a dot")
        check_upload(Path(path), name, max_mb)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for path, name in zip(files, names):
        target = _free_name(folder, name)
        tmp = folder / f".{target.name}.part"
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        saved.append(target.name)
    return saved


def remove_document(corpus_dir: str | Path, source: str) -> None:
    """Delete the document ``source`` (an id as the index shows it) from ``corpus_dir``."""
    path = source_path(corpus_dir, source)
    if not path.is_file():
        raise RagError(f"no document {source!r} in {corpus_dir}")
    path.unlink()


def list_documents(index, corpus_dir: str | Path | None = None) -> list[DocumentInfo]:
    """The documents of a loaded index, by name; sizes and dates from ``corpus_dir`` (default: the index's)."""
    folder = Path(corpus_dir or index.manifest.get("corpus_dir", "."))
    chunks = Counter(c.source for c in index.chunks)
    out = []
    for name in sorted(chunks):
        try:
            st = source_path(folder, name).stat()
            size, added = st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(timespec="seconds")
        except (OSError, RagError):
            size, added = 0, ""
        extracted = index.texts.get(name)
        pages = len(extracted.pages) if extracted and extracted.pages else None
        out.append(DocumentInfo(name, size, pages, chunks[name], added))
    return out
