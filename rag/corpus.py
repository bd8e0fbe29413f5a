"""Read a corpus directory: every ``.txt``/``.md`` file below it, decoded as UTF-8, and every PDF, HTML and Word file.

PDF, HTML and Word files are only hashed here; their text is extracted when the index is built
(:mod:`rag.extract`) and stored in the index, and their citations are spans of that text.

The corpus never reaches outside its folder: a linked file whose real path lies outside it is skipped (so are
broken links and loops), linked folders are not followed, and unreadable or vanishing entries are skipped;
each kind is named in the scan's warnings and the rest of the corpus is read.

The one decoding step: the file's bytes are decoded as strict UTF-8 (no newline translation, a BOM kept as a
character), so every offset in the index is a character index into ``path.read_bytes().decode("utf-8")``
(what :func:`read_source` returns).

Files are read in blocks of :data:`BLOCK_BYTES` with an incremental decoder, never whole: scanning the corpus
checks each file (strict UTF-8, no NUL byte), hashes it and notes its paragraph rule, keeping no text;
:meth:`Document.blocks` streams the text again for chunking. A file with a bad byte anywhere is skipped whole;
a file larger than ``max_file_mb`` is skipped without being read.

Example:
    >>> docs, skipped = load_corpus("seeds")          # doctest: +SKIP
    >>> docs[0].id, len(docs[0].text)                  # doctest: +SKIP
    ('china-pakistan-strategic-dialogue-2026.txt', 9083)
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.chunking import BlankLineProbe
from rag.errors import RagError
from rag.extract import EXTRACTORS, extract

SUFFIXES = (".txt", ".md", ".markdown", ".rst")
KINDS = (*SUFFIXES, *EXTRACTORS)
"""File kinds a corpus takes (lower-case suffixes): UTF-8 text, and the kinds :mod:`rag.extract` reads."""
BLOCK_BYTES = 1 << 18
"""Bytes read (and decoded) at a time: 256 KiB. A 30 MB file was checked and chunked with a 1.5-1.7 MB peak
(tracemalloc); 1 MiB blocks gave 5.4 MB, as a decoded block of non-Latin-1 text takes two or four bytes a
character and decoding widens it on the way."""
MB = 1 << 20
"""A megabyte of ``max_file_mb``: 1,048,576 bytes."""


def read_source(path: Path) -> str:
    """The text of a source file as the index read it: strict UTF-8, nothing translated; for a PDF, HTML or Word
    file, its extracted text (:func:`rag.extract.extract`, the text the index stores)."""
    return extract(path).text if extracted_kind(path) else path.read_bytes().decode("utf-8")


def extracted_kind(path: Path) -> bool:
    """Whether ``path``'s text is extracted (PDF, HTML, Word) rather than read as UTF-8 text."""
    return path.suffix.lower() in EXTRACTORS


def source_path(corpus_dir: str | Path, source: str) -> Path:
    """The file of ``source`` inside ``corpus_dir``; a :class:`RagError` if the id would lead outside it."""
    root = Path(corpus_dir).resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root):
        raise RagError(f"source {source!r} is outside the corpus directory {corpus_dir}")
    return path


def _decoded_blocks(path: Path, hasher, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """The text of ``path`` in pieces decoded from ``block_bytes`` at a time (a piece may be empty); feeds the
    raw bytes to ``hasher``.

    Raises :class:`UnicodeDecodeError` at the first block holding a NUL byte or invalid UTF-8 (strict, as
    ``bytes.decode("utf-8")``; a character split between blocks is decoded whole). Holds one reusable byte
    buffer and no reference to a piece once it is yielded.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    buffer = bytearray(block_bytes)
    with open(path, "rb") as fh:
        while n := fh.readinto(buffer):
            raw = memoryview(buffer)[:n]
            hasher.update(raw)
            if (nul := buffer.find(b"\x00", 0, n)) >= 0:
                raise UnicodeDecodeError("utf-8", b"\x00", 0, 1, f"NUL byte at block offset {nul}: binary file")
            yield decoder.decode(raw)
        yield decoder.decode(b"", final=True)  # raises if the file ends inside a character


@dataclass(frozen=True, slots=True)
class Document:
    """A readable source file: ``id`` is its POSIX path relative to the corpus directory.

    The text is not kept: :attr:`text` reads the whole file, :meth:`blocks` streams it. ``blank_lines`` is the
    paragraph rule of the text (:func:`rag.chunking.has_blank_lines`), found while the file was checked (for a
    PDF, HTML or Word file, ``extracted`` is true and the text comes from :mod:`rag.extract` at build time).
    """

    id: str
    path: Path
    sha256: str
    blank_lines: bool
    extracted: bool = False

    @property
    def text(self) -> str:
        """The whole text (:func:`read_source`); prefer :meth:`blocks` for a large file."""
        return read_source(self.path)

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
        """The text in consecutive pieces, each decoded from ``block_bytes`` bytes (a piece may be empty).

        A :class:`RagError` (after the last piece) if the file changed since the corpus was scanned.
        """
        hasher = hashlib.sha256()
        changed = f"{self.path} changed while it was being indexed"
        try:
            yield from _decoded_blocks(self.path, hasher, block_bytes)
        except UnicodeDecodeError:
            raise RagError(f"{changed}: run `rag index` again") from None
        except OSError as exc:
            raise RagError(f"{changed} ({exc.strerror or exc}): run `rag index` again") from None
        if hasher.hexdigest() != self.sha256:
            raise RagError(f"{changed}: run `rag index` again")


@dataclass
class CorpusScan:
    """The readable documents of a corpus, sorted by id, and the entries left out: ``not_text`` (not UTF-8, or
    binary), ``too_large`` (id -> size in bytes, over ``max_file_mb``) and ``unusable`` (path -> why: a link
    that leads outside the corpus, is broken or loops, a linked folder, an unreadable file or folder, a file
    that vanished while the corpus was read, a name that is not UTF-8)."""

    documents: list[Document]
    not_text: list[str] = field(default_factory=list)
    too_large: dict[str, int] = field(default_factory=dict)
    max_file_mb: float | None = None
    unusable: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> list[str]:
        """Every file left out, sorted."""
        return sorted([*self.not_text, *self.too_large, *self.unusable])

    def warnings(self) -> list[str]:
        """One line per kind of entry left out, naming them (and how to raise the size limit)."""
        lines = []
        if self.not_text:
            lines.append(f"skipped {len(self.not_text)} file(s) that are not UTF-8 text: {', '.join(self.not_text)}")
        if self.too_large:
            names = ", ".join(f"{name} ({size / MB:.1f} MB)" for name, size in self.too_large.items())
            lines.append(
                f"skipped {len(self.too_large)} file(s) larger than max_file_mb = {self.max_file_mb:g} MB: {names}; "
                "raise the limit with RAG_MAX_FILE_MB (e.g. RAG_MAX_FILE_MB=500)"
            )
        by_reason: dict[str, list[str]] = {}
        for name, why in self.unusable.items():
            by_reason.setdefault(why, []).append(name)
        lines += [f"skipped {len(names)} {why}: {', '.join(sorted(names))}" for why, names in by_reason.items()]
        return lines


OUTSIDE = "link(s) leading outside the corpus folder"
BROKEN = "broken link(s)"
LOOP = "link loop(s)"
LINKED_FOLDER = "linked folder(s) (not followed)"
UNREADABLE = "unreadable file(s) or folder(s)"
VANISHED = "file(s) that vanished while the corpus was read"
BAD_NAME = "file(s) whose name is not UTF-8 (shown escaped)"


def _shown(name: str) -> str:
    """A path for messages: undecodable bytes of a file name as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _corpus_files(corpus_dir: Path, unusable: dict[str, str]) -> list[Path]:
    """The text files under ``corpus_dir`` whose real path lies inside it (hidden entries left out); the entries
    that cannot be used go into ``unusable``. Linked folders are never followed."""
    if corpus_dir.is_file():
        raise RagError(f"{corpus_dir} is a file, not a folder: put it in a folder and point --corpus at the folder")
    if not corpus_dir.is_dir():
        raise RagError(f"corpus directory not found: {corpus_dir} (point --corpus at a folder of .txt, .md, .pdf, .html or .docx files)")
    root = corpus_dir.resolve()
    found = []

    def rel(path: str) -> str:
        return _shown(Path(path).relative_to(corpus_dir).as_posix())

    def on_error(exc: OSError) -> None:
        unusable[rel(exc.filename) if exc.filename else str(corpus_dir)] = UNREADABLE

    for folder, dirs, files in os.walk(corpus_dir, onerror=on_error, followlinks=False):
        for name in list(dirs):
            if name.startswith("."):
                dirs.remove(name)
            elif os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                unusable[rel(os.path.join(folder, name))] = LINKED_FOLDER
        for name in files:
            path = Path(folder, name)
            if name.startswith(".") or path.suffix.lower() not in KINDS:
                continue
            doc_id = rel(str(path))
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                unusable[doc_id] = BAD_NAME
                continue
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except FileNotFoundError:
                    unusable[doc_id] = BROKEN
                    continue
                except (OSError, RuntimeError):  # RuntimeError: Python 3.11's "Symlink loop"
                    unusable[doc_id] = LOOP
                    continue
                if not target.is_relative_to(root):
                    unusable[doc_id] = OUTSIDE
                    continue
                if not target.is_file():
                    continue
            found.append(path)
    return sorted(found)


def file_sha256(path: Path, block_bytes: int = BLOCK_BYTES) -> str:
    """The SHA-256 of a file's bytes (the hash a corpus scan records), read in blocks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_bytes):
            hasher.update(block)
    return hasher.hexdigest()


def scan_document(path: Path, doc_id: str, block_bytes: int = BLOCK_BYTES) -> Document | None:
    """Check, hash and probe one file block by block; None if it is not UTF-8 text (or holds a NUL byte). A PDF,
    HTML or Word file is only hashed."""
    if extracted_kind(path):
        return Document(doc_id, path, file_sha256(path, block_bytes), True, extracted=True)
    hasher, probe = hashlib.sha256(), BlankLineProbe()
    try:
        for piece in _decoded_blocks(path, hasher, block_bytes):
            probe.feed(piece)
            del piece  # not kept alive while the next block is decoded
    except UnicodeDecodeError:
        return None
    return Document(doc_id, path, hasher.hexdigest(), probe.result)


def scan_corpus(corpus_dir: str | Path, max_file_mb: float | None = None, block_bytes: int = BLOCK_BYTES) -> CorpusScan:
    """Every readable document of ``corpus_dir`` and the files skipped (see :class:`CorpusScan`).

    ``max_file_mb`` (None: no limit) skips larger files unread. Raises :class:`RagError` when nothing is left.
    """
    corpus_dir = Path(corpus_dir)
    scan = CorpusScan([], max_file_mb=max_file_mb)
    limit = None if max_file_mb is None else max_file_mb * MB
    for path in _corpus_files(corpus_dir, scan.unusable):
        doc_id = path.relative_to(corpus_dir).as_posix()
        try:
            size = path.stat().st_size
            if limit is not None and size > limit:
                scan.too_large[doc_id] = size
                continue
            doc = scan_document(path, doc_id, block_bytes)
        except FileNotFoundError:
            scan.unusable[doc_id] = VANISHED
            continue
        except OSError:
            scan.unusable[doc_id] = UNREADABLE
            continue
        if doc is None:
            scan.not_text.append(doc_id)
        else:
            scan.documents.append(doc)
    if not scan.documents:
        why = []
        if scan.not_text:
            why.append(f"{len(scan.not_text)} skipped as not UTF-8 text: {', '.join(scan.not_text[:5])}")
        if scan.too_large:
            why.append(f"{len(scan.too_large)} larger than max_file_mb = {max_file_mb:g} MB: {', '.join(list(scan.too_large)[:5])}; "
                       "raise the limit with RAG_MAX_FILE_MB")
        if scan.unusable:
            why.append(f"{len(scan.unusable)} unusable: {', '.join(f'{n} ({w})' for n, w in list(scan.unusable.items())[:5])}")
        raise RagError(f"no .txt, .md, .pdf, .html or .docx documents found in {corpus_dir}" + (f" ({'; '.join(why)})" if why else ""))
    return scan


def load_corpus(corpus_dir: str | Path, max_file_mb: float | None = None) -> tuple[list[Document], list[str]]:
    """Return the readable documents, sorted by id, and the ids of the files skipped (non-UTF-8, binary, or
    larger than ``max_file_mb``); see :func:`scan_corpus`."""
    scan = scan_corpus(corpus_dir, max_file_mb)
    return scan.documents, scan.skipped
