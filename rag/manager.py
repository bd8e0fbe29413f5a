"""Change a corpus and its index as one transaction: add, remove (to the trash) and restore documents.

Each change edits the corpus folder, then brings the index up to date (:func:`rag.build_index`, only what changed
is embedded); if the build fails for any reason, the folder is put back as it was, so the corpus and the live
index never disagree. Uploads are checked first: a file whose content is already in the corpus is reported and
not stored twice, and a file without text to index is refused with its reason. Changes are serialised (a lock
in the index folder, so a ``rag documents`` command and a running chat server take turns).

Example:
    >>> manager = DocumentManager("seeds", "index")                    # doctest: +SKIP
    >>> manager.add([Path("/tmp/report.pdf")]).added                   # doctest: +SKIP
    ['report.pdf']
    >>> manager.remove("report.pdf").removed; manager.restore("report.pdf").restored   # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rag import trash
from rag.config import Settings
from rag.corpus import extracted_kind, file_sha256, scan_document
from rag.documents import add_documents, check_upload
from rag.errors import RagError
from rag.sandbox import extract_bounded
from rag.index import BuildReport, Progress, build_index, current_build
from rag.locks import exclusive

LOCK = ".documents.lock"


@dataclass
class Change:
    """What a change did: documents added, already present (upload name -> the document holding the same
    content), refused (name -> why), removed and restored; the build report of the re-index (None when nothing
    changed)."""

    added: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    removed: list[trash.TrashEntry] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    report: BuildReport | None = None

    def summary(self) -> str:
        """One line for a person: what happened, and the index's warnings."""
        parts = []
        if self.added:
            parts.append(f"Added {', '.join(self.added)}.")
        parts += [f"{name} is already in the corpus as {same}: not added again." for name, same in self.duplicates.items()]
        parts += [f"Refused {name}: {why}." for name, why in self.refused.items()]
        if self.removed:
            parts.append(f"Moved {', '.join(e.source for e in self.removed)} to the trash (restorable).")
        if self.restored:
            parts.append(f"Restored {', '.join(self.restored)}.")
        if self.report is not None and self.report.built:
            parts.append(f"Indexed: {self.report.embedded} passages embedded, {self.report.reused} reused.")
            parts += [f"Warning: {w}." for w in self.report.warnings]
        return " ".join(parts) or "Nothing changed."


def unindexable(path: Path, name: str, settings: Settings) -> str | None:
    """Why the file ``path`` (to be called ``name``) would give no text to index, or None when it gives some. A
    PDF, HTML or Word file is read as the index build reads it: in a child process, within the extract limits."""
    try:
        if extracted_kind(Path(name)):
            return None if extract_bounded(path, settings, kind=Path(name).suffix).text.strip() else "no text"
        doc = scan_document(path, name)
        if doc is None:
            return "not UTF-8 text"
        return None if any(piece.strip() for piece in doc.blocks()) else "an empty file (no text)"
    except Exception as exc:  # noqa: BLE001 - any parser failure on a hostile file is a refusal with its reason
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


class DocumentManager:
    """Adds, removes and restores the documents of ``corpus_dir``, keeping ``index_dir`` up to date."""

    def __init__(self, corpus_dir: str | Path, index_dir: str | Path, settings: Settings | None = None):
        self.corpus_dir, self.index_dir = Path(corpus_dir), Path(index_dir)
        self.settings = settings or Settings()
        self._lock = threading.Lock()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(self.index_dir / LOCK, self._lock):
            yield

    def _build(self, progress: Progress | None) -> BuildReport:
        return build_index(self.corpus_dir, self.index_dir, self.settings, progress=progress)

    def _indexed(self) -> dict[str, str]:
        """The live index's documents, from its manifest: source id -> file hash (none before the first build)."""
        build = current_build(self.index_dir)
        try:
            manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8")) if build else {}
            skipped = set(manifest.get("skipped_files", []))
            return {s: h for s, h in manifest.get("files", {}).items() if s not in skipped}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def add(self, files: list[Path], names: list[str] | None = None, progress: Progress | None = None) -> Change:
        """Check, store and index uploaded ``files`` (named ``names``, default their own names)."""
        files = [Path(f) for f in files]
        names = list(names or [f.name for f in files])
        for path, name in zip(files, names):
            check_upload(path, name, self.settings.max_upload_mb)
        change = Change()
        with self._exclusive():
            seen = {h: s for s, h in self._indexed().items()}
            keep: list[tuple[Path, str]] = []
            for path, name in zip(files, names):
                digest = file_sha256(path)
                if digest in seen:
                    change.duplicates[name] = seen[digest]
                elif (why := unindexable(path, name, self.settings)) is not None:
                    change.refused[name] = why
                else:
                    seen[digest] = name
                    keep.append((path, name))
            if not keep:
                return change
            saved = add_documents(self.corpus_dir, [p for p, _ in keep], [n for _, n in keep], self.settings.max_upload_mb)
            try:
                change.report = self._build(progress)
            except BaseException:
                self._discard(saved)
                raise
            failed = set(change.report.skipped_files) & set(saved)
            if failed:  # the build found no text where the check did: take them out again
                self._discard(sorted(failed))
                change.refused.update({name: "no text to index" for name in sorted(failed)})
                change.report = self._build(progress)
            change.added = [name for name in saved if name not in failed]
        return change

    def _discard(self, saved: list[str]) -> None:
        for name in saved:
            (self.corpus_dir / name).unlink(missing_ok=True)

    def remove(self, source: str, progress: Progress | None = None) -> Change:
        """Move the indexed document ``source`` to the trash and drop it from the index; the last document stays."""
        with self._exclusive():
            indexed = self._indexed()
            if source not in indexed:
                raise RagError(f"no indexed document {source!r} (the documents list shows their names)")
            if len(indexed) <= 1:
                raise RagError("the corpus must keep at least one document: add another before removing this one")
            entry = trash.put(self.corpus_dir, source, self.index_dir)
            try:
                report = self._build(progress)
            except BaseException:
                trash.take_back(self.index_dir, entry.id, self.corpus_dir)
                raise
        return Change(removed=[entry], report=report)

    def restore(self, key: str, progress: Progress | None = None) -> Change:
        """Put a trashed document (by entry id, or its old name) back into the corpus and the index."""
        with self._exclusive():
            entry = trash.find(self.index_dir, key)
            name = trash.take_back(self.index_dir, entry.id, self.corpus_dir)
            try:
                report = self._build(progress)
            except BaseException:
                trash.put(self.corpus_dir, name, self.index_dir)
                raise
        return Change(restored=[name], report=report)

    def trash(self) -> list[trash.TrashEntry]:
        """The documents in the trash, most recently removed first."""
        return trash.entries(self.index_dir)

    def purge(self, key: str) -> trash.TrashEntry:
        """Delete a trashed document for good."""
        with self._exclusive():
            return trash.purge(self.index_dir, key)

