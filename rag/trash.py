"""The trash beside an index: removed documents are moved here, never deleted, and can be put back.

Layout: ``index_dir/trash/<entry id>/`` holds the file as ``document`` and ``entry.json`` (its source id, when it
was removed, its size and SHA-256). Nothing here is read with pickle.

Example:
    >>> entry = put("seeds", "report.pdf", "index")        # doctest: +SKIP
    >>> [e.source for e in entries("index")]                # doctest: +SKIP
    ['report.pdf']
    >>> take_back("index", entry.id, "seeds")               # doctest: +SKIP
    'report.pdf'
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from rag.corpus import file_sha256, source_path
from rag.errors import RagError

FOLDER = "trash"
PAYLOAD = "document"
ENTRY = "entry.json"


@dataclass(frozen=True)
class TrashEntry:
    """A removed document: ``id`` names its trash folder, ``source`` the id it had in the corpus."""

    id: str
    source: str
    removed: str
    size: int
    sha256: str


def trash_dir(index_dir: str | Path) -> Path:
    return Path(index_dir) / FOLDER


def free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2).ext``, ``name (3).ext``… when that name is taken (by anything, a dangling
    link included): a clash never overwrites."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, n = folder / name, 2
    while os.path.lexists(candidate):
        candidate, n = folder / f"{stem} ({n}){suffix}", n + 1
    return candidate


def put(corpus_dir: str | Path, source: str, index_dir: str | Path) -> TrashEntry:
    """Move the document ``source`` out of ``corpus_dir`` into the trash of ``index_dir``."""
    path = source_path(corpus_dir, source)
    if path.is_symlink() or not path.is_file():
        raise RagError(f"no document {source!r} in {corpus_dir}")
    stamp = datetime.now(timezone.utc)
    folder = trash_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    entry_dir = free_path(folder, f"{stamp:%Y%m%dT%H%M%S%f}")
    entry_dir.mkdir()
    entry = TrashEntry(entry_dir.name, source, stamp.isoformat(timespec="seconds"), path.stat().st_size, file_sha256(path))
    (entry_dir / ENTRY).write_text(json.dumps(asdict(entry), ensure_ascii=False), encoding="utf-8")
    try:
        shutil.move(path, entry_dir / PAYLOAD)  # a rename on one file system; else a copy, then the unlink
    except OSError:
        shutil.rmtree(entry_dir, ignore_errors=True)
        raise
    return entry


def _read(entry_dir: Path) -> TrashEntry | None:
    try:
        data = json.loads((entry_dir / ENTRY).read_text(encoding="utf-8"))
        entry = TrashEntry(**{k: data[k] for k in ("id", "source", "removed", "size", "sha256")})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if entry.id == entry_dir.name and (entry_dir / PAYLOAD).is_file() else None


def entries(index_dir: str | Path) -> list[TrashEntry]:
    """The documents in the trash, most recently removed first (damaged entries left out)."""
    folder = trash_dir(index_dir)
    found = [_read(d) for d in folder.iterdir() if d.is_dir()] if folder.is_dir() else []
    return sorted((e for e in found if e is not None), key=lambda e: e.id, reverse=True)


def find(index_dir: str | Path, key: str) -> TrashEntry:
    """The entry with id ``key``, else the most recently removed document whose source id is ``key``."""
    for entry in entries(index_dir):
        if key in (entry.id, entry.source):
            return entry
    raise RagError(f"nothing named {key!r} in the trash of {index_dir} (`rag documents trash` lists it)")


def take_back(index_dir: str | Path, entry_id: str, corpus_dir: str | Path) -> str:
    """Move a trashed document back into ``corpus_dir`` under its old id (or ``name (2).ext`` if that is taken
    meanwhile); returns the id it has now."""
    entry = find(index_dir, entry_id)
    target = source_path(corpus_dir, entry.source)
    target.parent.mkdir(parents=True, exist_ok=True)
    target = free_path(target.parent, target.name)
    shutil.move(trash_dir(index_dir) / entry.id / PAYLOAD, target)
    shutil.rmtree(trash_dir(index_dir) / entry.id, ignore_errors=True)
    return target.relative_to(Path(corpus_dir).resolve()).as_posix()


def purge(index_dir: str | Path, entry_id: str) -> TrashEntry:
    """Delete a trashed document for good."""
    entry = find(index_dir, entry_id)
    shutil.rmtree(trash_dir(index_dir) / entry.id)
    return entry
