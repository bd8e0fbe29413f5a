"""Text out of PDF, HTML and Word files: the text the index chunks and cites, with the pages of a PDF.

A plain-text file (``.txt``, ``.md``, …) is its own text (see :mod:`rag.corpus`). Any other kind has an
extractor in :data:`EXTRACTORS`; its :class:`Extracted` text is stored in the index beside the chunks, so a
citation of a PDF is an exact span of that stored text and its page is found from the page starts.

- PDF: pypdf, page by page (pages joined by a blank line); a page's wrapped lines are joined into paragraphs
  (:func:`unwrap`); a PDF with no text layer (a scan) is refused as such.
- HTML: trafilatura's main-text extraction (no script, style, navigation or boilerplate).
- Word (.docx): python-docx, the body's paragraphs and table cells in document order.

Adding a kind is one function ``(path) -> Extracted`` and one entry in :data:`EXTRACTORS`.

Example:
    >>> doc = extract(Path("report.pdf"))             # doctest: +SKIP
    >>> doc.page_of(doc.text.index("Gwadar"))         # doctest: +SKIP
    2
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError


class ExtractError(RagError):
    """A file of a known kind that yields no text: the message says why (a scan, encrypted, damaged)."""


@dataclass(frozen=True)
class Extracted:
    """The text of a document; ``pages[i]`` is the offset where page ``i + 1`` starts (None: no pages)."""

    text: str
    pages: tuple[int, ...] | None = None

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding character ``offset``, or None for a document without pages."""
        if not self.pages:
            return None
        return max(bisect.bisect_right(self.pages, offset), 1)


_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n+")


def _clean(text: str) -> str:
    """Runs of spaces as one, no trailing spaces, no run of blank lines longer than one, stripped."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


_END = re.compile(r"[.!?:;)\]\"'’”]$")


def unwrap(page: str) -> str:
    """A PDF page's lines joined into paragraphs: a line runs on into the next unless it is much shorter than
    the page's longest line (then it ends a paragraph or is a heading); a hyphen at a line's end between letters
    is kept and joined without a space. Paragraphs are separated by a blank line."""
    lines = [line for line in page.split("\n") if line.strip()]
    if not lines:
        return ""
    width = max(len(line) for line in lines)
    out = lines[0]
    for prev, line in zip(lines, lines[1:]):
        ends = len(prev) < 0.75 * width and (_END.search(prev) is not None or len(prev) < 0.5 * width)
        if ends:
            out += "\n\n" + line
        elif prev.endswith("-") and prev[-2:-1].isalpha():
            out += line
        else:
            out += " " + line
    return out


def pdf(path: Path) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged file is reported once, as an ExtractError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractError("an encrypted PDF (it needs a password): save an unencrypted copy")
        texts = [unwrap(_clean(page.extract_text() or "")) for page in reader.pages]
    except ExtractError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ExtractError(f"not a readable PDF ({str(exc)[:80] or type(exc).__name__})") from None
    if not any(texts):
        raise ExtractError("a PDF with no text layer (a scan?): run OCR on it first, e.g. `ocrmypdf in.pdf out.pdf`")
    parts, starts, offset = [], [], 0
    for text in texts:
        starts.append(offset)
        parts.append(text)
        offset += len(text) + 2
    return Extracted("\n\n".join(parts), tuple(starts))


def html(path: Path) -> Extracted:
    import trafilatura

    raw = path.read_bytes()
    text = trafilatura.extract(raw, output_format="txt", include_comments=False, include_tables=True, favor_precision=True)
    if not text or not text.strip():
        raise ExtractError("an HTML page with no readable text")
    return Extracted(_clean(text))


def docx(path: Path) -> Extracted:
    import zipfile

    import docx as python_docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = python_docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractError(f"not a readable Word file ({str(exc)[:80] or type(exc).__name__})") from None
    blocks = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            blocks.append(item.text)
        elif isinstance(item, Table):
            blocks.extend(" | ".join(cell.text for cell in row.cells) for row in item.rows)
    text = _clean("\n\n".join(blocks))
    if not text:
        raise ExtractError("a Word file with no text")
    return Extracted(text)


EXTRACTORS: dict[str, Callable[[Path], Extracted]] = {".pdf": pdf, ".html": html, ".htm": html, ".docx": docx}
"""File suffix (lower case) → extractor."""


def extract(path: Path) -> Extracted:
    """The text of ``path`` by its suffix; :class:`ExtractError` when it has none, ``KeyError`` for an unknown kind."""
    return EXTRACTORS[path.suffix.lower()](path)
