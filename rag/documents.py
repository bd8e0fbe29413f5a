"""The documents of a corpus folder: add uploaded files (never overwriting), move one to the trash, list what
is indexed.

After adding or removing, :func:`rag.build_index` brings the index up to date (only what changed is embedded);
:class:`rag.DocumentManager` does both as one transaction.

Example:
    >>> saved = add_documents("seeds", [Path("/tmp/report.pdf")])     # doctest: +SKIP
    >>> build_index("seeds", "index"); [d.name for d in list_documents(load_index("index"))]  # doctest: +SKIP
    ['china-pakistan-strategic-dialogue-2026.txt', 'report.pdf']
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rag import trash
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


MAX_NAME_BYTES = 255
"""The longest file name (UTF-8 bytes) most file systems take."""


def shown_name(name: str) -> str:
    """``name`` for display: control, format and surrogate characters written as ``\\uXXXX``."""
    return "".join(f"\\u{ord(ch):04x}" if _hidden(ch) else ch for ch in name)


def _hidden(ch: str) -> bool:
    """Control, format, surrogate, private-use or unassigned; the joiners (U+200C, U+200D) that Persian, Indic
    names and emoji need are allowed."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in "\u200c\u200d"


def check_name(name: str) -> str:
    """``name`` without its folders, or a :class:`RagError` when it cannot be a document's file name: empty, hidden
    (a leading dot), too long, or holding control, format (bidi overrides, zero-width) or unpaired surrogate
    characters, which would make it display as something else (``report\\u202efdp.txt`` shows as ``reporttxt.pdf``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    shown = shown_name(base)
    if not base.strip() or base.startswith("."):
        raise RagError(f"{shown or '(empty name)'}: a document name must not be empty or start with a dot")
    if any(_hidden(ch) for ch in base):
        raise RagError(f"{shown}: the name holds control or invisible formatting characters (such as a right-to-left "
                       "override) that would disguise it: rename the file")
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:
        raise RagError(f"{shown[:60]}…: the name is longer than {MAX_NAME_BYTES} bytes: rename the file")
    return base


def check_upload(path: Path, name: str, max_mb: float) -> None:
    """A :class:`RagError` naming the file when its name or kind is not taken or it is larger than ``max_mb``."""
    name = check_name(name)
    suffix = Path(name).suffix.lower()
    if suffix not in KINDS:
        raise RagError(f"{name}: {suffix or 'a file without an extension'} is not a document kind this index reads "
                       f"(use {', '.join(KINDS)})")
    size = path.stat().st_size
    if size > max_mb * MB:
        raise RagError(f"{name}: {size / MB:.1f} MB is larger than the upload limit of {max_mb:g} MB (RAG_MAX_UPLOAD_MB)")


def _copy_in(source: Path, folder: Path, name: str) -> Path:
    """Copy ``source`` to a free name in ``folder``: written to a new hidden file (created exclusively, so a link
    planted in the folder is never followed), flushed, then renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        target = trash.free_path(folder, name)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def add_documents(corpus_dir: str | Path, files: list[Path], names: list[str] | None = None, max_mb: float = 10) -> list[str]:
    """Copy ``files`` into ``corpus_dir`` under ``names`` (default: their own names, without folders); a name
    already taken gets `` (2)``, `` (3)``…; every file is checked before any is copied. Returns the saved names."""
    folder = Path(corpus_dir)
    names = [check_name(str(n)) for n in (names or [f.name for f in files])]
    for path, name in zip(files, names):
        check_upload(Path(path), name, max_mb)
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    try:
        for path, name in zip(files, names):
            saved.append(_copy_in(Path(path), folder, name))
    except BaseException:
        for target in saved:  # all or nothing
            target.unlink(missing_ok=True)
        raise
    return [target.name for target in saved]


def remove_document(corpus_dir: str | Path, source: str, index_dir: str | Path) -> trash.TrashEntry:
    """Move the document ``source`` (an id as the index shows it) from ``corpus_dir`` to the trash of
    ``index_dir`` (restore it with :func:`rag.trash.take_back` or ``rag documents restore``)."""
    return trash.put(corpus_dir, source, index_dir)


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
