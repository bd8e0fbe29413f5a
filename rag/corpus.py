"""Read a corpus directory: every ``.txt``/``.md`` file below it, decoded as UTF-8.

The one decoding step: the file's bytes are decoded as strict UTF-8 (no newline translation, a BOM kept as a
character), so every offset in the index is a character index into ``path.read_bytes().decode("utf-8")``.

Example:
    >>> docs, skipped = load_corpus("seeds")          # doctest: +SKIP
    >>> docs[0].id, len(docs[0].text)                  # doctest: +SKIP
    ('china-pakistan-strategic-dialogue-2026.txt', 9083)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

SUFFIXES = (".txt", ".md", ".markdown", ".rst")


@dataclass(frozen=True, slots=True)
class Document:
    """A source file: ``id`` is its POSIX path relative to the corpus directory."""

    id: str
    text: str
    sha256: str


def read_source(path: Path) -> str:
    """Decode a source file exactly as the index did (strict UTF-8, nothing translated)."""
    return path.read_bytes().decode("utf-8")


def source_path(corpus_dir: str | Path, source: str) -> Path:
    """The file of ``source`` inside ``corpus_dir``; a :class:`RagError` if the id would lead outside it."""
    root = Path(corpus_dir).resolve()
    path = (root / source).resolve()
    if not path.is_relative_to(root):
        raise RagError(f"source {source!r} is outside the corpus directory {corpus_dir}")
    return path


def _corpus_files(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise RagError(f"corpus directory not found: {corpus_dir} (point --corpus at a folder of .txt or .md files)")
    return sorted(
        p for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    )


def load_corpus(corpus_dir: str | Path) -> tuple[list[Document], list[str]]:
    """Return the readable documents, sorted by id, and the ids of files skipped as non-UTF-8 or binary."""
    corpus_dir = Path(corpus_dir)
    docs: list[Document] = []
    skipped: list[str] = []
    for path in _corpus_files(corpus_dir):
        doc_id = path.relative_to(corpus_dir).as_posix()
        data = path.read_bytes()
        try:
            if b"\x00" in data:
                raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte: binary file")
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(doc_id)
            continue
        docs.append(Document(doc_id, text, hashlib.sha256(data).hexdigest()))
    if not docs:
        why = f" ({len(skipped)} skipped as not UTF-8 text: {', '.join(skipped[:5])})" if skipped else ""
        raise RagError(f"no .txt or .md documents found in {corpus_dir}{why}")
    return docs, skipped
