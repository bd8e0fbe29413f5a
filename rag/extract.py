"""Text out of PDF, HTML and Word files: the text the index chunks and cites, with the pages of a PDF.

A plain-text file (``.txt``, ``.md``, …) is its own text (see :mod:`rag.corpus`). Any other kind has an
extractor in :data:`EXTRACTORS`; its :class:`Extracted` text is stored in the index beside the chunks, so a
citation of a PDF is an exact span of that stored text and its page is found from the page starts.

- PDF: pypdf, page by page (pages joined by a blank line); a page's wrapped lines are joined into paragraphs
  (:func:`unwrap`); a PDF with no text layer (a scan) is refused as such.
- HTML: trafilatura's main-text extraction (no script, style, navigation or boilerplate).
- Word (.docx): python-docx, the body's paragraphs and table cells in document order.

A heading of an HTML page (``<h1>``–``<h6>``) or a Word file (the Title and Heading 1–9 styles) is written as a
Markdown heading line (``## Opening hours``), so the chunker labels the passages under it with it and never
makes it a passage of its own (:mod:`rag.chunking`).

Adding a kind is one function ``(path) -> Extracted`` and one entry in :data:`EXTRACTORS`.

Every failure of an extractor, whatever its exception (a damaged file, a parser's own error, ``MemoryError``,
``RecursionError``), leaves :func:`extract` as one :class:`ExtractError` whose message says why. ``extract(path,
limits)`` also bounds what a file may expand to (:class:`Limits`: decompressed bytes, zip members, characters,
pages), checked while it is read: a Word file's zip members (their number, declared sizes, and that none expands
beyond its declared size) before python-docx opens it, a PDF's pages before its text and its characters page by
page, pypdf's decompression limits set from the same number. A file over a limit is a :class:`LimitExceeded`
naming the limit and its setting. The index build runs each extraction in a child process bounded in memory
and time as well (:mod:`rag.sandbox`).

Example:
    >>> doc = extract(Path("report.pdf"))             # doctest: +SKIP
    >>> doc.page_of(doc.text.index("Gwadar"))         # doctest: +SKIP
    2
"""

from __future__ import annotations

import bisect
import logging
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from pathlib import Path

from rag.errors import RagError

VERSION = 2
"""Bumped whenever a file would be extracted differently (the index then extracts every file again)."""


class ExtractError(RagError):
    """A file of a known kind that yields no text: the message says why (a scan, encrypted, damaged)."""


class LimitExceeded(ExtractError):
    """A file that expands beyond one of the :class:`Limits`: the message names the limit and its setting."""

    def __init__(self, what: str, setting: str, limit: str):
        super().__init__(f"refused: {what} (limit {setting} = {limit}; RAG_{setting.upper()} raises it)")
        self.setting = setting


MB = 1 << 20
OUT_OF_MEMORY = "it needs more memory than there is to read it"
"""The message of a ``MemoryError`` while extracting (:mod:`rag.sandbox` names its memory limit instead)."""


@dataclass(frozen=True)
class Limits:
    """What one file may expand to while it is extracted; None: no limit (the default: :func:`extract` alone
    limits nothing but what pypdf and trafilatura limit themselves). The index build sets them from the
    ``extract_*`` settings (:func:`rag.sandbox.limits`).

    ``max_mb``: decompressed megabytes, of a Word file's zip members together, of each PDF stream (pypdf's
    decompression limits), of a compressed HTML page; ``max_parts``: zip members of a Word file; ``max_chars``:
    characters of extracted text; ``max_pages``: pages of a PDF.
    """

    max_mb: float | None = None
    max_parts: int | None = None
    max_chars: int | None = None
    max_pages: int | None = None

    @property
    def max_bytes(self) -> int | None:
        return None if self.max_mb is None else int(self.max_mb * MB)

    def over_mb(self, what: str) -> LimitExceeded:
        return LimitExceeded(what, "extract_max_mb", f"{self.max_mb:g} MB")

    def check_chars(self, chars: int, where: str = "") -> None:
        if self.max_chars is not None and chars > self.max_chars:
            raise LimitExceeded(f"more characters of text{where}", "extract_max_chars", f"{self.max_chars:,}")


_LIMITS: ContextVar[Limits] = ContextVar("rag_extract_limits", default=Limits())


def current_limits() -> Limits:
    """The :class:`Limits` of the extraction running now (set by :func:`extract`); extractors read them."""
    return _LIMITS.get()


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


@contextmanager
def _pypdf_limits(limits: Limits) -> Iterator[None]:
    """pypdf's decompression limits (per stream) set to ``limits.max_bytes`` for the ``with`` block."""
    if limits.max_bytes is None:
        yield
        return
    import pypdf

    names = ("zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
             "brotli_maximum_output_length", "jbig2_maximum_output_length", "array_based_stream_maximum_output_length",
             "maximum_declared_stream_length")
    apply = getattr(pypdf, "apply_configuration", None)
    if apply is not None:  # pypdf >= 7: a context variable
        known = {f.name for f in fields(pypdf.Configuration)}
        with apply(**{name: limits.max_bytes for name in names if name in known}):
            yield
        return
    from pypdf import filters  # older pypdf: module constants (set in this process only: the sandbox's child)

    old = {n: getattr(filters, n) for n in ("ZLIB_MAX_OUTPUT_LENGTH", "LZW_MAX_OUTPUT_LENGTH", "MAX_DECLARED_STREAM_LENGTH",
                                             "MAX_ARRAY_BASED_STREAM_OUTPUT_LENGTH") if hasattr(filters, n)}
    try:
        for n in old:
            setattr(filters, n, limits.max_bytes)
        yield
    finally:
        for n, v in old.items():
            setattr(filters, n, v)


def pdf(path: Path) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged file is reported once, as an ExtractError

    limits = current_limits()
    texts: list[str] = []
    try:
        with _pypdf_limits(limits):
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ExtractError("an encrypted PDF (it needs a password): save an unencrypted copy")
            pages = reader.pages
            if limits.max_pages is not None and len(pages) > limits.max_pages:
                raise LimitExceeded(f"a PDF of {len(pages):,} pages", "extract_max_pages", f"{limits.max_pages:,}")
            chars = 0
            for number, page in enumerate(pages, start=1):  # stops at the page that goes over the limit
                texts.append(unwrap(_clean(page.extract_text() or "")))
                chars += len(texts[-1]) + 2
                limits.check_chars(chars, f" by page {number}")
    except ExtractError:
        raise
    except LimitReachedError as exc:
        if limits.max_bytes is not None and "decompress" in str(exc).lower():
            raise limits.over_mb(f"a compressed stream in it expands beyond {limits.max_mb:g} MB") from None
        raise ExtractError(f"refused by pypdf's safety limits ({str(exc)[:80]})") from None
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


_GZIP = b"\x1f\x8b\x08"


def _gunzip(raw: bytes, limits: Limits) -> bytes:
    """A gzip-compressed page decompressed, refused once it expands beyond ``limits.max_bytes``."""
    out, size, data = [], 0, raw
    while data[:3] == _GZIP:
        d = zlib.decompressobj(31)
        piece = d.decompress(data, MB)
        while True:
            size += len(piece)
            if size > limits.max_bytes:
                raise limits.over_mb(f"it expands beyond {limits.max_mb:g} MB when decompressed")
            out.append(piece)
            if not d.unconsumed_tail:
                break
            piece = d.decompress(d.unconsumed_tail, MB)
        data = d.unused_data
    return b"".join(out)


def html(path: Path) -> Extracted:
    import trafilatura

    limits = current_limits()
    raw = path.read_bytes()
    options = {}
    if limits.max_bytes is not None:
        from trafilatura.settings import use_config

        if raw[:3] == _GZIP:  # trafilatura would decompress it itself, and past its limit read on as raw bytes
            raw = _gunzip(raw, limits)
        config = use_config()
        config.set("DEFAULT", "MAX_FILE_SIZE", str(limits.max_bytes))  # its own decompression (brotli, zlib) limit
        options["config"] = config
    from trafilatura.utils import normalize_unicode
    from trafilatura.xml import xmltotxt

    found = trafilatura.bare_extraction(raw, output_format="txt", include_comments=False, include_tables=True,
                                        favor_precision=True, **options)
    body = found.body if found is not None else None
    if body is not None:
        for head in body.iter("head"):  # trafilatura's headings: rend="h1" … "h6"
            level = head.get("rend", "h2")[1:]
            head.text = "#" * (int(level) if level in ("1", "2", "3", "4", "5", "6") else 2) + " " + (head.text or "").lstrip()
    text = normalize_unicode(xmltotxt(body, False)) if body is not None else ""
    if not text or not text.strip():
        raise ExtractError("an HTML page with no readable text")
    text = _clean(text)
    limits.check_chars(len(text))
    return Extracted(text)


def _check_zip(path: Path, limits: Limits) -> None:
    """Refuse a Word file before python-docx opens it: more zip members than ``max_parts``, declared sizes above
    ``max_bytes`` together, a member compressed otherwise than Word does (zipfile decompresses a bzip2 or LZMA
    member without an output limit) or one whose data expands beyond its declared size (zipfile inflates such a
    member up to 2 GiB at a time before it cuts it to that size). Each member is inflated here in 1 MiB steps,
    never beyond its declared size plus one step."""
    import zipfile

    damaged = "not a readable Word file"
    try:
        with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if limits.max_parts is not None and len(infos) > limits.max_parts:
                raise LimitExceeded(f"a Word file of {len(infos):,} zip members", "extract_max_parts", f"{limits.max_parts:,}")
            declared = sum(i.file_size for i in infos)
            if limits.max_bytes is not None and declared > limits.max_bytes:
                raise limits.over_mb(f"a Word file whose parts expand to {declared / MB:,.0f} MB")
            for info in infos:
                if info.flag_bits & 1:
                    raise ExtractError("an encrypted Word file: save an unencrypted copy")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise ExtractError(f"{damaged} (a part compressed with zip method {info.compress_type}, which Word never uses)")
                if info.compress_type == zipfile.ZIP_DEFLATED and _inflated_size(fh, info) > info.file_size:
                    raise ExtractError(f"{damaged} (a part expands beyond the size it declares: a zip bomb?)")
    except zipfile.BadZipFile as exc:
        raise ExtractError(f"{damaged} ({str(exc)[:80]})") from None


def _inflated_size(fh, info, step: int = MB) -> int:
    """How many bytes a deflated zip member expands to, counted up to its declared size plus one ``step``."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise ExtractError("not a readable Word file (a damaged zip member)")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    d, left, size = zlib.decompressobj(-15), info.compress_size, 0
    while left > 0 and not d.eof and size <= info.file_size:
        raw = fh.read(min(left, 1 << 16))
        if not raw:
            break
        left -= len(raw)
        size += len(d.decompress(raw, step))
        while d.unconsumed_tail and size <= info.file_size:
            size += len(d.decompress(d.unconsumed_tail, step))
    return size


def docx(path: Path) -> Extracted:
    import zipfile

    import docx as python_docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from lxml.etree import XMLSyntaxError

    limits = current_limits()
    if limits.max_bytes is not None or limits.max_parts is not None:
        _check_zip(path, limits)
    try:
        document = python_docx.Document(str(path))
    except PackageNotFoundError:
        raise ExtractError("not a readable Word file (not a Word package: empty, cut short, or another kind of file)") from None
    except XMLSyntaxError as exc:
        raise ExtractError(f"not a readable Word file (its XML: {str(exc)[:80]})") from None
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractError(f"not a readable Word file ({str(exc)[:80] or type(exc).__name__})") from None
    blocks, chars = [], 0
    for item in document.iter_inner_content():
        start = len(blocks)
        if isinstance(item, Paragraph):
            level = _heading_level(item)
            blocks.append(f"{'#' * level} {item.text.strip()}" if level and item.text.strip() else item.text)
        elif isinstance(item, Table):
            blocks.extend(" | ".join(cell.text for cell in row.cells) for row in item.rows)
        chars += sum(len(b) + 2 for b in blocks[start:])
        limits.check_chars(chars)
    text = _clean("\n\n".join(blocks))
    if not text:
        raise ExtractError("a Word file with no text")
    return Extracted(text)


def _heading_level(paragraph) -> int:
    """A Word paragraph's heading level: 1 for the Title style, N for Heading N (6 at most), 0 for other text."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 1
    level = name[len("Heading "):] if name.startswith("Heading ") else ""
    return min(int(level), 6) if level.isdigit() and int(level) >= 1 else 0


EXTRACTORS: dict[str, Callable[[Path], Extracted]] = {".pdf": pdf, ".html": html, ".htm": html, ".docx": docx}
"""File suffix (lower case) → extractor."""
KIND_NAMES = {".pdf": "PDF", ".html": "HTML page", ".htm": "HTML page", ".docx": "Word file"}
"""How a message names each kind."""


def extract(path: Path, limits: Limits | None = None, kind: str | None = None) -> Extracted:
    """The text of ``path`` by its suffix (or ``kind``, a suffix such as ``".pdf"``, for a file whose name says
    nothing, e.g. an upload), within ``limits`` (default: none); ``KeyError`` for an unknown kind.

    Any failure of the extractor is one :class:`ExtractError` saying why (:class:`LimitExceeded` over a limit; a
    ``MemoryError``, a ``RecursionError`` or a parser's own exception too); only ``KeyboardInterrupt`` and
    ``SystemExit`` pass through.
    """
    suffix = (kind or path.suffix).lower()
    extractor = EXTRACTORS[suffix]
    kind = KIND_NAMES.get(suffix, "file")
    token = _LIMITS.set(limits) if limits is not None else None
    try:
        return extractor(path)
    except ExtractError:
        raise
    except MemoryError:
        raise ExtractError(OUT_OF_MEMORY) from None
    except RecursionError:
        raise ExtractError(f"not a readable {kind} (nested too deeply: RecursionError)") from None
    except OSError as exc:
        raise ExtractError(f"unreadable: {exc.strerror or exc}") from None
    except Exception as exc:  # a parser's own error on a damaged or hostile file: that file's warning
        detail = str(exc)[:80]
        raise ExtractError(f"not a readable {kind} ({type(exc).__name__}{': ' + detail if detail else ''})") from None
    finally:
        if token is not None:
            _LIMITS.reset(token)
