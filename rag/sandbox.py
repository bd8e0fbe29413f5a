"""The index build's extraction: each PDF, HTML and Word file read in a child process bounded in memory and time.

:func:`rag.extract.extract` bounds what a file may expand to (:class:`rag.extract.Limits`); a parser may still
allocate or loop without end on a hostile file. So the index build reads each such file in a child process
whose address space is limited (``resource.setrlimit(RLIMIT_AS)``, setting ``extract_memory_mb``: an allocation
past it is a ``MemoryError`` there) and which is killed after ``extract_timeout`` seconds. Whatever happens in
the child (an exception, running out of memory or time, a crash) is one :class:`~rag.extract.ExtractError`,
that file's warning, and the build goes on with the next file.

The children come from a small fork server: ``python -c "from rag.sandbox import serve; serve()"``, started once
per process with ``subprocess`` (fork and exec: safe from the threads of ``rag serve``), which imports the
extract modules (pypdf, python-docx, trafilatura) once, then forks one child per file from its single thread.
Requests and answers are length-prefixed JSON over its stdin and stdout; the child's text comes back as JSON
bytes, with its peak RSS from ``wait4`` (nothing is unpickled). Unlike multiprocessing's children, these never
re-run the caller's main script, so a script that calls :func:`rag.build_index` at its top level works as it
is. Before it serves, the server reads a small file of each kind (trafilatura sets up ~100 ms of state on first
use) and freezes its objects (``gc.freeze``), so that the children share its pages instead of copying them; a
child dies with the server (``PR_SET_PDEATHSIG`` on Linux), and the server with its caller (the end of its
stdin). A file costs about 20 ms more than in-process, the server's start 0.9 s once per process
(``rag bench --hostile`` measures both).

An extractor added to :data:`rag.extract.EXTRACTORS` by the caller (not one of the shipped ones) runs in this
process, with the same limits and the same catch-all.

Example:
    >>> extract_bounded(Path("report.pdf"), Settings()).pages            # doctest: +SKIP
    (0, 2817, 5630)
    >>> run(Path("bomb.docx"), Settings()).error                         # doctest: +SKIP
    'refused: a Word file whose parts expand to 10,240 MB (limit extract_max_mb = 200 MB; …)'
"""

from __future__ import annotations

import atexit
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.config import Settings
from rag.extract import EXTRACTORS, KIND_NAMES, OUT_OF_MEMORY, Extracted, ExtractError, Limits, extract

SHIPPED = dict(EXTRACTORS)
"""The extractors this package ships (suffix -> function): they run in the child process."""
PRELOAD = ("pypdf", "pypdf.filters", "docx", "lxml.etree", "lxml.html", "trafilatura")
"""Modules the fork server imports once, so that no child imports them."""
_FRAME = struct.Struct("<Q")
_LIBC = None  # the C library, in the fork server on Linux (for prctl)
_GRACE = 30.0
"""Seconds the caller waits for the server beyond ``extract_timeout`` before it gives up on it."""


@dataclass
class Outcome:
    """What one extraction gave: the text, or the ``error`` that is the file's warning; the peak RSS (MB) of the
    child process (None: the file was read in this process, or no child ran)."""

    extracted: Extracted | None
    error: str | None = None
    peak_rss_mb: float | None = None


def limits(settings: Settings) -> Limits:
    """The expansion limits of ``settings`` (``extract_max_*``)."""
    return Limits(max_mb=settings.extract_max_mb, max_parts=settings.extract_max_parts,
                  max_chars=settings.extract_max_chars, max_pages=settings.extract_max_pages)


def extract_bounded(path: Path, settings: Settings | None = None, kind: str | None = None) -> Extracted:
    """The text of ``path`` (a PDF, HTML or Word file; ``kind``: its suffix, when its name lacks it, e.g. an upload)
    read within the limits of ``settings``; any failure is one :class:`ExtractError` whose message says why (and
    names the limit and its setting when one was reached)."""
    outcome = run(path, settings or Settings(), kind)
    if outcome.extracted is None:
        raise ExtractError(outcome.error or "no text")
    return outcome.extracted


def run(path: Path, settings: Settings, kind: str | None = None) -> Outcome:
    """Extract ``path`` (as a file of ``kind``, default: its suffix) in a child process bounded by ``settings``
    (see the module's description); ``KeyError`` for a kind without extractor."""
    suffix = (kind or path.suffix).lower()
    bounds = limits(settings)
    if EXTRACTORS[suffix] is not SHIPPED.get(suffix):
        try:
            return Outcome(extract(path, bounds, suffix))
        except ExtractError as exc:
            return Outcome(None, str(exc))
    request = {"path": str(Path(path).resolve()), "kind": suffix, "limits": asdict(bounds),
               "memory_mb": settings.extract_memory_mb, "timeout": settings.extract_timeout, "most_bytes": _most_bytes(bounds)}
    try:
        meta, payload = _server().ask(request, settings.extract_timeout + _GRACE)
    except (OSError, ValueError, TimeoutError) as exc:
        return Outcome(None, f"the extraction process failed ({type(exc).__name__}: {str(exc)[:80]})")
    rss = meta.get("peak_rss_kb")
    rss = rss / 1024 if isinstance(rss, (int, float)) else None
    status = meta.get("status")
    if status == "timeout":
        return Outcome(None, _over("reading it takes longer", "extract_timeout", f"{settings.extract_timeout:g} s"), rss)
    if status == "too_long":
        return Outcome(None, "the extraction process answered more than its limits allow", rss)
    if status != "ok" or not payload:
        return Outcome(None, _died(meta, suffix, settings), rss)
    return _answer(payload, settings, rss)


def _over(what: str, setting: str, limit: str) -> str:
    return f"refused: {what} (limit {setting} = {limit}; RAG_{setting.upper()} raises it)"


def _memory(settings: Settings) -> str:
    return _over("reading it needs more memory", "extract_memory_mb", f"{settings.extract_memory_mb} MB")


def _died(meta: dict, suffix: str, settings: Settings) -> str:
    sig, code = meta.get("signal"), meta.get("code")
    if sig == getattr(signal, "SIGXCPU", None):
        return _over("reading it takes longer", "extract_timeout", f"{settings.extract_timeout:g} s")
    if sig == signal.SIGKILL:  # the kernel's out-of-memory killer
        return _memory(settings)
    how = f"signal {sig}" if sig else f"exit status {code}"
    return f"the {KIND_NAMES.get(suffix, 'file')} reader crashed on it ({how})"


def _most_bytes(bounds: Limits) -> int:
    """The longest answer a text within ``bounds`` makes (JSON: at most 6 bytes a character, as \\uXXXX)."""
    return 6 * (bounds.max_chars or 0) + 24 * (bounds.max_pages or 0) + 65536


def _answer(data: bytes, settings: Settings, rss: float | None) -> Outcome:
    """The child's JSON answer, checked field by field."""
    try:
        reply = json.loads(data.decode("utf-8", "surrogatepass"))
        if "error" in reply:
            error = reply["error"]
            return Outcome(None, _memory(settings) if error == OUT_OF_MEMORY else str(error), rss)
        text, pages = reply["text"], reply["pages"]
        if not isinstance(text, str) or not (pages is None or (isinstance(pages, list) and all(type(p) is int for p in pages))):
            raise ValueError("bad fields")
        return Outcome(Extracted(text, tuple(pages) if pages is not None else None), None, rss)
    except (ValueError, KeyError, TypeError, AttributeError):
        return Outcome(None, "the extraction process gave an unreadable answer", rss)


# -- the caller's side of the fork server ----------------------------------------------------------------------


class _Server:
    """The fork server process of this process, asked one file at a time."""

    def __init__(self):
        code = "import sys, json; sys.path[:] = json.loads(sys.argv[1]); from rag.sandbox import serve; serve()"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.pid = os.getpid()
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(sys.path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
                                     start_new_session=True)  # Ctrl-C reaches this process, which ends it
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def ask(self, request: dict, deadline_s: float) -> tuple[dict, bytes]:
        """Send one request; the answer's metadata and payload. Any failure ends the server (a new one is
        started for the next file) and raises ``OSError``, ``ValueError`` or ``TimeoutError``."""
        with self.lock:
            try:
                body = json.dumps(request).encode()
                self.proc.stdin.write(_FRAME.pack(len(body)) + body)
                self.proc.stdin.flush()
                end = time.monotonic() + deadline_s
                meta = json.loads(_read(self.proc.stdout.fileno(), _read_len(self.proc.stdout.fileno(), end), end))
                payload = _read(self.proc.stdout.fileno(), _read_len(self.proc.stdout.fileno(), end), end)
                if not isinstance(meta, dict):
                    raise ValueError("bad answer")
                return meta, payload
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self.pid != os.getpid():
            return
        try:
            self.proc.kill()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


_server_lock = threading.Lock()
_current: _Server | None = None


def _server() -> _Server:
    global _current
    with _server_lock:
        if _current is None or not _current.alive():
            if _current is not None:
                _current.close()
            _current = _Server()
        return _current


@atexit.register
def _stop() -> None:
    if _current is not None:
        _current.close()


def _read(fd: int, n: int, end: float) -> bytes:
    """Exactly ``n`` bytes from ``fd`` before the monotonic time ``end``."""
    parts, left = [], n
    while left:
        wait = end - time.monotonic()
        if wait <= 0 or not select.select([fd], [], [], wait)[0]:
            raise TimeoutError("no answer in time")
        piece = os.read(fd, min(left, 1 << 20))
        if not piece:
            raise OSError("the extraction server ended")
        parts.append(piece)
        left -= len(piece)
    return b"".join(parts)


def _read_len(fd: int, end: float) -> int:
    return _FRAME.unpack(_read(fd, _FRAME.size, end))[0]


# -- the fork server and its children (separate processes) ----------------------------------------------------


def serve() -> None:  # pragma: no cover (runs in the server process)
    """The fork server's loop: one request (length-prefixed JSON on stdin) at a time, each read in a forked child;
    the answer (length-prefixed metadata, then payload) on stdout. Ends at the end of stdin."""
    import importlib
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _load_libc()
    _warm_up()
    import gc

    gc.collect()
    gc.freeze()  # the server's objects are never visited by a child's collector: their pages stay shared
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when the server ends
    inp, out = os.dup(0), os.dup(1)  # the protocol's pipes; stray prints (of a module, say) go to /dev/null
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    while True:
        head = _read_exactly(inp, _FRAME.size)
        if head is None:
            return
        body = _read_exactly(inp, _FRAME.unpack(head)[0])
        if body is None:
            return
        meta, payload = _serve_one(json.loads(body))
        meta_bytes = json.dumps(meta).encode()
        _write_all(out, _FRAME.pack(len(meta_bytes)) + meta_bytes + _FRAME.pack(len(payload)))
        _write_all(out, payload)


def _load_libc() -> None:  # pragma: no cover (runs in the server process)
    global _LIBC
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            _LIBC = ctypes.CDLL(None, use_errno=True)
        except (ImportError, OSError):
            _LIBC = None


def _warm_up() -> None:  # pragma: no cover (runs in the server process)
    """Read one small file of each kind here, so that what the parsers set up on first use (trafilatura's ~150 ms)
    is done once and inherited by every child."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="rag-warm-") as tmp:
        folder = Path(tmp)
        words = "A short paragraph of text that a reader keeps as the main content of the page. " * 4
        (folder / "w.html").write_text(f"<html><body><article><p>{words}</p><p>{words}</p></article></body></html>", encoding="utf-8")
        (folder / "w2.html").write_text(  # little text: trafilatura's fallback extractors
            "<!doctype html><html><head><title>Warm</title><style>p { color: red; }</style><script>var x = 1;</script></head>"
            "<body><nav><a href='/'>Home</a></nav><article><h1>A title</h1><p>One short sentence.</p></article>"
            "<footer>Footer</footer></body></html>", encoding="utf-8")
        content = b"BT /F1 11 Tf 72 720 Td (A page.) Tj ET"
        objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                   b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                   b"/Resources << /Font << /F1 5 0 R >> >> >>",
                   b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
                   b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
        pdf, offsets = b"%PDF-1.4\n", []
        for i, body in enumerate(objects, start=1):
            offsets.append(len(pdf))
            pdf += b"%d 0 obj\n%s\nendobj\n" % (i, body)
        xref = len(pdf)
        pdf += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
        pdf += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
        (folder / "w.pdf").write_bytes(pdf)
        try:
            import docx

            document = docx.Document()
            document.add_paragraph(words)
            document.save(str(folder / "w.docx"))
        except Exception:  # noqa: BLE001 - a warm-up only
            pass
        for path in folder.iterdir():
            try:
                extract(path, Limits(max_mb=1, max_parts=100, max_chars=10_000, max_pages=10))
            except Exception:  # noqa: BLE001 - a warm-up only
                pass


def _read_exactly(fd: int, n: int) -> bytes | None:  # pragma: no cover
    parts, left = [], n
    while left:
        piece = os.read(fd, min(left, 1 << 20))
        if not piece:
            return None
        parts.append(piece)
        left -= len(piece)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:  # pragma: no cover
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _serve_one(request: dict) -> tuple[dict, bytes]:  # pragma: no cover
    """Fork a child for one file; wait for its answer at most ``timeout`` seconds, then kill it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            _child(w, request)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    status, parts, size = "ok", [], 0
    end = time.monotonic() + float(request["timeout"])
    try:
        while True:
            wait = end - time.monotonic()
            if wait <= 0 or not select.select([r], [], [], wait)[0]:
                status = "timeout"
                break
            piece = os.read(r, 1 << 20)
            if not piece:
                break
            size += len(piece)
            if size > request["most_bytes"]:
                status = "too_long"
                break
            parts.append(piece)
    finally:
        os.close(r)
        if status != "ok":
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
        _, wait_status, usage = os.wait4(pid, 0)
    meta = {"status": status, "peak_rss_kb": usage.ru_maxrss}
    if os.WIFSIGNALED(wait_status):
        meta["signal"] = os.WTERMSIG(wait_status)
    elif os.WIFEXITED(wait_status):
        meta["code"] = os.WEXITSTATUS(wait_status)
    if status == "ok" and (meta.get("signal") or meta.get("code")):
        status = meta["status"] = "died"
    return meta, b"".join(parts) if status == "ok" else b""


def _child(w: int, request: dict) -> None:  # pragma: no cover (a child process)
    """One file: quiet (stdin, stdout and stderr on /dev/null), in its own process group, bounded; one JSON answer."""
    import resource

    os.setpgid(0, 0)
    if _LIBC is not None:  # Linux: killed with the server, should the server be killed
        try:
            _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (AttributeError, OSError):
            pass
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    cpu = math.ceil(float(request["timeout"])) + 5  # a backstop should the server be gone
    for limit, soft, hard in ((resource.RLIMIT_CORE, 0, 0), (resource.RLIMIT_CPU, cpu, cpu + 1),
                              (resource.RLIMIT_AS, int(request["memory_mb"]) << 20, int(request["memory_mb"]) << 20)):
        try:
            resource.setrlimit(limit, (soft, hard))
        except (ValueError, OSError):  # not lowered where the platform refuses (e.g. RLIMIT_AS on macOS)
            pass
    try:
        extracted = extract(Path(request["path"]), Limits(**request["limits"]), request["kind"])
        reply = {"text": extracted.text, "pages": list(extracted.pages) if extracted.pages is not None else None}
        del extracted
    except ExtractError as exc:
        # a parser may report the memory limit as its own error (lxml: "unknown error"): near the limit, say so
        reply = {"error": OUT_OF_MEMORY if _near_limit(int(request["memory_mb"]) << 20) else str(exc)}
    try:
        data = json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    except MemoryError:
        data = json.dumps({"error": OUT_OF_MEMORY}).encode()
    del reply
    _write_all(w, data)
    os.close(w)


def _near_limit(limit: int) -> bool:  # pragma: no cover (a child process)
    """Whether this process's peak address space came within 64 MB of ``limit`` (Linux; elsewhere False)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            peak = next((int(line.split()[1]) << 10 for line in fh if line.startswith("VmPeak:")), 0)
    except (OSError, ValueError, IndexError):
        return False
    return peak > limit - (64 << 20)
