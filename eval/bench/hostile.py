"""Broken and hostile PDF, Word and HTML files, and what refusing them costs (``rag bench --hostile``).

The files are written byte by byte where the structure is the attack: decompression bombs (a Word file whose
``word/document.xml`` expands to gigabytes, one whose zip entry declares a false size, one with thousands of zip
members, a PDF whose Flate stream expands to a gigabyte, a gzip-compressed HTML page), deep nesting, truncated
files, files with the wrong extension, empty files, a PDF with tens of thousands of pages. A bomb's compressed
data is one deflate block repeated (each ended by a full flush, so every copy is the same bytes), so a 10 GiB
expansion is written in seconds (its checksum is the slow part) without ever being held.

The benchmark (:func:`bench_hostile`) extracts each file through :func:`rag.sandbox.run` (the index build's
bounded extraction) and prints its outcome, seconds and the extraction process's peak RSS; then the big one, a
10 MB upload expanding to 10 GiB (``--hostile-gib``), as a Word file (declaring its size, and declaring 64 KiB),
a PDF and a gzip HTML page; and the per-file cost of the child process. ``tests/test_hostile_files.py`` builds
its corpus with :func:`hostile_corpus`.
"""

from __future__ import annotations

import io
import resource
import struct
import time
import zlib
from pathlib import Path

from eval.bench.common import log

MIB = 1 << 20
GIB = 1 << 30
_BLOCK = 1 << 20  # the bytes one repeated deflate block expands to


# -- deflate bombs ------------------------------------------------------------------------------------------


def deflate_bomb(head: bytes, fill: bytes, size: int, tail: bytes, check: str = "crc32") -> tuple[bytes, int, int]:
    """Raw deflate data expanding to ``head + fill * n + tail`` (about ``size`` bytes; ``fill`` one byte), the
    expanded size, and its ``check`` ("crc32", "adler32" or "none"). Nothing of the expansion is held: the
    repeated block is compressed once."""
    assert len(fill) == 1
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    block = fill * _BLOCK
    packed = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    c2 = zlib.compressobj(9, zlib.DEFLATED, -15)  # the same block after a full flush is the same bytes
    assert c2.compress(block) + c2.flush(zlib.Z_FULL_FLUSH) == packed
    n = max((size - len(head) - len(tail)) // _BLOCK, 1)
    out += [packed] * n
    out.append(c.compress(tail) + c.flush())
    fn = {"crc32": zlib.crc32, "adler32": zlib.adler32}.get(check)
    value = 0
    if fn is not None:
        value = fn(head)
        for _ in range(n):
            value = fn(block, value)
        value = fn(tail, value)
    return b"".join(out), len(head) + n * _BLOCK + len(tail), value


def zlib_bomb(head: bytes, fill: bytes, size: int, tail: bytes) -> bytes:
    """The same as a zlib stream (what a PDF's ``/FlateDecode`` holds)."""
    raw, _, adler = deflate_bomb(head, fill, size, tail, "adler32")
    return b"\x78\xda" + raw + struct.pack(">I", adler)


def gzip_bomb(head: bytes, fill: bytes, size: int, tail: bytes) -> bytes:
    """The same as a gzip file."""
    raw, expanded, crc = deflate_bomb(head, fill, size, tail)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + raw + struct.pack("<II", crc, expanded & 0xFFFFFFFF)


# -- zip files written by hand (sizes and methods as we choose to declare them) -------------------------------


class Member:
    """A zip member: ``data`` already compressed with ``method`` (8 deflate, 0 stored, 12 bzip2), and the sizes
    and CRC its headers declare."""

    def __init__(self, name: str, data: bytes, method: int, size: int, crc: int):
        self.name, self.data, self.method, self.size, self.crc = name, data, method, size, crc

    @classmethod
    def deflated(cls, name: str, content: bytes) -> "Member":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return cls(name, c.compress(content) + c.flush(), 8, len(content), zlib.crc32(content))


def zip_bytes(members: list[Member]) -> bytes:
    """A zip file of ``members``, with ZIP64 fields for a member that declares 4 GiB or more."""
    out, central = io.BytesIO(), []
    for m in members:
        name = m.name.encode()
        offset = out.tell()
        big = m.size >= 0xFFFFFFFF or len(m.data) >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, m.size, len(m.data)) if big else b""
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (len(m.data), m.size)
        version = 45 if big else 20
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", version, 0, m.method, 0, 0x21, m.crc, *sizes, len(name), len(extra)))
        out.write(name + extra)
        out.write(m.data)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", version, version, 0, m.method, 0, 0x21, m.crc,
                                   *sizes, len(name), len(extra), 0, 0, 0, 0, offset) + name + extra)
    start = out.tell()
    for entry in central:
        out.write(entry)
    n = len(members)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, out.tell() - start, start, 0))
    return out.getvalue()


def _template_parts() -> list[Member]:
    """The parts of a real (python-docx) Word file, ``word/document.xml`` left out."""
    import zipfile

    import docx

    buf = io.BytesIO()
    docx.Document().save(buf)
    with zipfile.ZipFile(buf) as zf:
        return [Member.deflated(i.filename, zf.read(i)) for i in zf.infolist() if i.filename != "word/document.xml"]


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
DOC_HEAD = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document ' + W + b"><w:body>"
DOC_TAIL = b"</w:body></w:document>"


def docx_bytes(document_xml: bytes | Member, extra: list[Member] | None = None) -> bytes:
    """A Word file whose ``word/document.xml`` is ``document_xml`` (bytes, or a member made by hand)."""
    doc = document_xml if isinstance(document_xml, Member) else Member.deflated("word/document.xml", document_xml)
    return zip_bytes([*_template_parts(), doc, *(extra or [])])


def paragraph_xml(text: str) -> bytes:
    return b"<w:p><w:r><w:t>" + text.encode() + b"</w:t></w:r></w:p>"


def docx_bomb(size: int, declared: int | None = None) -> bytes:
    """A Word file whose ``document.xml`` (one paragraph of spaces) expands to ``size`` bytes; ``declared``: the
    size its zip entry claims instead (a lie), with the CRC of that many first bytes, so that zipfile reads it."""
    head = DOC_HEAD + b"<w:p><w:r><w:t>"
    raw, expanded, crc = deflate_bomb(head, b" ", size, b"</w:t></w:r></w:p>" + DOC_TAIL, "crc32" if declared is None else "none")
    if declared is not None:
        crc, expanded = zlib.crc32((head + b" " * declared)[:declared]), declared
    return docx_bytes(Member("word/document.xml", raw, 8, expanded, crc))


def docx_bzip2_bomb(size: int, declared: int = 4096) -> bytes:
    """A Word file whose ``document.xml`` is bzip2-compressed (zip method 12) and expands to ``size`` bytes while
    declaring ``declared``: zipfile decompresses a bzip2 member without an output limit."""
    import bz2

    comp = bz2.BZ2Compressor(9)
    parts = [comp.compress(DOC_HEAD)]
    block = b" " * _BLOCK
    for _ in range(max(size // _BLOCK, 1)):
        parts.append(comp.compress(block))
    parts.append(comp.compress(DOC_TAIL) + comp.flush())
    prefix = (DOC_HEAD + b" " * declared)[:declared]
    return docx_bytes(Member("word/document.xml", b"".join(parts), 12, declared, zlib.crc32(prefix)))


def docx_many_members(count: int) -> bytes:
    """A readable Word file with ``count`` extra empty zip members."""
    extra = [Member.deflated(f"word/media/x{i}.bin", b"") for i in range(count)]
    return docx_bytes(DOC_HEAD + paragraph_xml("A Word file with many members.") + DOC_TAIL, extra)


# -- PDF files written by hand -------------------------------------------------------------------------------


def pdf_bytes(page_contents: list[int], streams: list[tuple[bytes, bool]]) -> bytes:
    """A PDF whose page ``i`` shows content stream ``page_contents[i]`` of ``streams`` ((data, flate) each)."""
    n_pages, n_streams = len(page_contents), len(streams)
    font = 3
    first_stream = 4
    first_page = first_stream + n_streams
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (first_page + i) for i in range(n_pages)) + b"] /Count %d >>" % n_pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for data, flate in streams:
        objects.append(b"<< /Length %d%s >>\nstream\n" % (len(data), b" /Filter /FlateDecode" if flate else b"") + data + b"\nendstream")
    for c in page_contents:
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (first_stream + c, font))
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_op(text: str) -> bytes:
    return b"BT /F1 11 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET\n"


def pdf_bomb(size: int) -> bytes:
    """A one-page PDF whose Flate content stream (one line of text, then spaces) expands to ``size`` bytes."""
    return pdf_bytes([0], [(zlib_bomb(text_op("A page that expands to a gigabyte."), b" ", size, b""), True)])


def pdf_pages(pages: int, text: str = "A page.") -> bytes:
    """A PDF of ``pages`` pages sharing one small content stream."""
    return pdf_bytes([0] * pages, [(text_op(text), False)])


def pdf_book(pages: int, chars_per_page: int = 2500) -> bytes:
    """An ordinary long book: ``pages`` pages, each its own compressed stream of about ``chars_per_page``
    characters in lines of ~80."""
    words = ("the corridor port trade talks agreement minister energy project cooperation region security "
             "investment railway economic zone").split()
    streams = []
    for p in range(pages):
        lines, line, y = [], [], 760
        count = 0
        i = p
        while count < chars_per_page:
            w = words[i % len(words)]
            i += 7
            line.append(w)
            count += len(w) + 1
            if sum(len(x) + 1 for x in line) > 80:
                lines.append(b"BT /F1 9 Tf 40 %d Td (%s.) Tj ET" % (y, " ".join(line).encode()))
                line, y = [], y - 11
        body = b"\n".join(lines)
        streams.append((zlib.compress(body), True))
    return pdf_bytes(list(range(pages)), streams)


def pdf_chars(pages: int, chars_per_page: int) -> bytes:
    """Pages of one very long line of text each (a small compressed stream): many characters from a small file."""
    content = text_op("word " * (chars_per_page // 5))
    return pdf_bytes([0] * pages, [(zlib.compress(content, 9), True)])


# -- the corpus ----------------------------------------------------------------------------------------------


def _real_pdf() -> bytes:
    return pdf_bytes([0, 1], [(text_op("The first page of a real PDF."), False), (text_op("Its second page."), False)])


def _real_docx() -> bytes:
    return docx_bytes(DOC_HEAD + paragraph_xml("A real Word file.") + paragraph_xml("Its second paragraph.") + DOC_TAIL)


def hostile_files(bomb: int = GIB) -> dict[str, bytes]:
    """Name -> bytes of each broken or hostile file; ``bomb`` is what the bombs expand to."""
    deep = 100_000
    real_pdf, real_docx = _real_pdf(), _real_docx()
    return {
        "malformed.docx": docx_bytes(b"<w:document"),
        "flate-bomb.pdf": pdf_bomb(bomb),
        "zip-bomb.docx": docx_bomb(bomb),
        "lying-size.docx": docx_bomb(bomb, declared=64 * 1024),
        "bzip2-bomb.docx": docx_bzip2_bomb(bomb // 4),
        "many-members.docx": docx_many_members(20_000),
        "gzip-bomb.html": gzip_bomb(b"<html><body><p>", b" ", bomb, b"</p></body></html>"),
        "deep.html": b"<html><body>" + b"<div>" * deep + b"deep text" + b"</div>" * deep + b"</body></html>",
        "deep.docx": docx_bytes(DOC_HEAD + b"<w:p>" * deep + b"</w:p>" * deep + DOC_TAIL),
        "laughs.docx": docx_bytes(b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
                                  + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + i]), b"&%s;" % bytes([97 + i]) * 10) for i in range(9))
                                  + b"]><w:document " + W + b"><w:body>" + paragraph_xml("&j;") + DOC_TAIL),
        "truncated.pdf": real_pdf[: len(real_pdf) // 2],
        "truncated.docx": real_docx[: len(real_docx) // 2],
        "pdf-named.docx": real_pdf,
        "docx-named.pdf": real_docx,
        "docx-named.html": real_docx,
        "empty.pdf": b"",
        "empty.docx": b"",
        "empty.html": b"",
        "many-pages.pdf": pdf_pages(20_000),
        "random.pdf": bytes(range(256)) * 64,
        "random.docx": b"PK\x03\x04" + bytes(range(256)) * 64,
    }


def hostile_corpus(folder: Path, bomb: int = GIB) -> list[str]:
    """Write :func:`hostile_files` into ``folder``; return their names."""
    folder.mkdir(parents=True, exist_ok=True)
    files = hostile_files(bomb)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return sorted(files)


# -- the benchmark -------------------------------------------------------------------------------------------


def bench_hostile(args, work: Path) -> dict:
    """Each hostile file through the bounded extraction: outcome, seconds, peak RSS of its extraction process;
    then an upload expanding to ``--hostile-gib`` GiB (10: a 10 MB file) as a Word file (declared, and declaring
    64 KiB), a PDF and a gzip HTML page; and the per-file cost of the child process."""
    from rag.config import Settings
    from rag.sandbox import run

    settings = Settings()
    folder = work / "hostile"
    big_size = int(args.hostile_gib * GIB)
    bomb = min(GIB, big_size)
    log(f"hostile: writing the fuzz corpus (bombs expanding to {bomb / MIB:,.0f} MiB)")
    names = hostile_corpus(folder, bomb)
    good = work / "good.docx"
    good.write_bytes(_real_docx())
    t0 = time.perf_counter()
    run(good, settings)  # the extraction server is up: no file below pays its start
    start_s = time.perf_counter() - t0
    rows = []
    for name in names:
        t0 = time.perf_counter()
        out = run(folder / name, settings)
        rows.append({"file": name, "bytes": (folder / name).stat().st_size, "seconds": time.perf_counter() - t0,
                     "peak_rss_mb": out.peak_rss_mb, "outcome": out.error or f"{len(out.extracted.text):,} characters"})
        log(f"hostile: {name}: {rows[-1]['outcome'][:100]} ({rows[-1]['seconds']:.2f} s, {out.peak_rss_mb or 0:.0f} MB)")
    big = []
    makers = (("big.docx", lambda: docx_bomb(big_size)), ("big-lying-size.docx", lambda: docx_bomb(big_size, declared=64 * 1024)),
              ("big.pdf", lambda: pdf_bomb(big_size)),
              ("big.html", lambda: gzip_bomb(b"<html><body><p>", b" ", big_size, b"</p></body></html>")))
    for name, make in makers:
        log(f"hostile: writing {name}")
        (folder / name).write_bytes(make())
        t0 = time.perf_counter()
        out = run(folder / name, settings)
        seconds = time.perf_counter() - t0
        big.append({"file": name, "mb": (folder / name).stat().st_size / MIB, "expands_gib": big_size / GIB,
                    "seconds": seconds, "peak_rss_mb": out.peak_rss_mb, "outcome": out.error})
    times = []
    for _ in range(args.hostile_repeats):
        t0 = time.perf_counter()
        run(good, settings)
        times.append(time.perf_counter() - t0)
    from rag.extract import extract
    from rag.sandbox import limits

    inproc = []
    for _ in range(args.hostile_repeats):
        t0 = time.perf_counter()
        extract(good, limits(settings))
        inproc.append(time.perf_counter() - t0)
    times.sort()
    inproc.sort()
    return {"bomb_mib": bomb / MIB, "files": rows, "big": big, "server_start_s": start_s,
            "child_ms": 1000 * times[len(times) // 2], "in_process_ms": 1000 * inproc[len(inproc) // 2],
            "this_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def report(res: dict) -> list[str]:
    """The markdown tables of ``bench_hostile``'s result."""
    gib = res["big"][0]["expands_gib"] if res["big"] else 0
    lines = ["", f"## An upload expanding to {gib:g} GiB", "", "| file | MB | refused in (s) | peak RSS of the extraction (MB) | why |",
             "| --- | --- | --- | --- | --- |"]
    for b in res["big"]:
        rss = f"{b['peak_rss_mb']:.0f}" if b["peak_rss_mb"] else "n/a"
        lines.append(f"| {b['file']} | {b['mb']:.1f} | {b['seconds']:.2f} | {rss} | {b['outcome']} |")
    lines += ["", f"## The fuzz corpus, one file at a time (bombs expand to {res['bomb_mib']:,.0f} MiB)", "",
              "| file | bytes | seconds | peak RSS (MB) | outcome |", "| --- | --- | --- | --- | --- |"]
    for r in res["files"]:
        rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "n/a"
        lines.append(f"| {r['file']} | {r['bytes']:,} | {r['seconds']:.2f} | {rss} | {r['outcome'][:90]} |")
    lines += ["", f"A small Word file through the extraction process (median): {res['child_ms']:.1f} ms, "
              f"against {res['in_process_ms']:.1f} ms in this process (the same limits); the extraction server "
              f"started in {res['server_start_s']:.2f} s (once per process). Peak RSS of this process: "
              f"{res['this_process_peak_rss_mb']:.0f} MB."]
    return lines

