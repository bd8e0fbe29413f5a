"""Any file, however broken or hostile, is one warning and the rest is indexed.

The corpus of broken and hostile PDF, Word and HTML files is written here, byte by byte where the structure is
the attack (``eval/bench/hostile.py``): decompression bombs expanding to 1 GiB (a Word file, one whose zip entry
lies about its size, one compressed with bzip2, a PDF Flate stream, a gzip HTML page), a Word file with 20,000
zip members, deep nesting, entity expansion, truncated and empty files, files named as another kind, a PDF of
20,000 pages. ``rag index`` (the real command) over it ends with one warning naming each bad file and exit 0;
the good documents are indexed and answerable; memory stays within a margin of the same run without the bad
files. A property test feeds random and mutated bytes to the extraction directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import rag
from eval.bench import hostile
from rag.config import Settings
from rag.embed_cache import CachedEmbedder
from rag.extract import EXTRACTORS, Extracted, ExtractError, extract
from rag.sandbox import extract_bounded, run
from tests.documents import SEED, make_docx, make_pdf

RAG = Path(sys.executable).with_name("rag")
EAGLE = "The lunar module Eagle landed on July 20, 1969, in the Sea of Tranquility."
MB = 1 << 20


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    hostile.hostile_corpus(folder)
    return folder


def _good_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SEED.name).write_bytes(SEED.read_bytes())
    make_docx(folder / "apollo.docx", [EAGLE])
    return folder


def _peak_rss(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``; its result, the peak RSS (MB) of its process tree (sum) and of its largest process, sampled
    every 10 ms with psutil."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = {"tree": 0, "one": 0}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            sizes = []
            for p in procs:
                try:
                    sizes.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            peak["tree"] = max(peak["tree"], sum(sizes))
            peak["one"] = max(peak["one"], max(sizes, default=0))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        done.set()
        sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak["tree"] / MB, peak["one"] / MB


# -- the findings ------------------------------------------------------------------------------------------------


def test_a_malformed_word_file_and_a_pdf_bomb_are_one_warning_each_and_the_rest_is_indexed(tmp_path, bad_files):
    """lxml's XMLSyntaxError and pypdf's LimitReachedError used to escape `_write_build` as tracebacks."""
    corpus = _good_corpus(tmp_path / "corpus")
    for name in ("malformed.docx", "flate-bomb.pdf"):
        (corpus / name).write_bytes((bad_files / name).read_bytes())
    report = rag.build_index(corpus, tmp_path / "index")
    assert {"malformed.docx", "flate-bomb.pdf"} <= set(report.skipped_files)
    joined = "\n".join(report.warnings)
    assert "malformed.docx" in joined and "not a readable Word file" in joined
    assert "flate-bomb.pdf" in joined and "extract_max_mb" in joined and "RAG_EXTRACT_MAX_MB" in joined
    assert {c.source for c in rag.load_index(tmp_path / "index").chunks} == {SEED.name, "apollo.docx"}


def test_any_exception_of_an_extractor_is_that_files_warning(tmp_path, monkeypatch):
    """MemoryError, RecursionError, a parser's own exception: each one file's warning, in the index build and
    from `extract` itself (whose callers see only ExtractError)."""

    def raises(exc):
        def extractor(path):
            raise exc
        return extractor

    corpus = _good_corpus(tmp_path / "corpus")
    monkeypatch.setitem(EXTRACTORS, ".pdf", raises(MemoryError()))
    monkeypatch.setitem(EXTRACTORS, ".html", raises(RecursionError("maximum recursion depth exceeded")))
    monkeypatch.setitem(EXTRACTORS, ".htm", raises(LookupError("a parser's own error")))
    for name in ("a.pdf", "b.html", "c.htm"):
        (corpus / name).write_bytes(b"anything")
    report = rag.build_index(corpus, tmp_path / "index")
    assert {"a.pdf", "b.html", "c.htm"} <= set(report.skipped_files)
    joined = "\n".join(report.warnings)
    assert "memory" in joined and "RecursionError" in joined and "LookupError" in joined
    assert {c.source for c in rag.load_index(tmp_path / "index").chunks} == {SEED.name, "apollo.docx"}
    with pytest.raises(ExtractError, match="LookupError"):
        extract(corpus / "c.htm")


def test_extract_alone_turns_any_parser_error_into_an_extract_error(bad_files):
    for name in ("malformed.docx", "deep.docx", "laughs.docx", "empty.docx", "truncated.docx", "flate-bomb.pdf"):
        with pytest.raises(ExtractError):
            extract(bad_files / name)


def test_word_bombs_are_refused_before_python_docx_opens_them(tmp_path, bad_files):
    """A 1 GiB document.xml (declared), the same declaring 64 KiB with a matching CRC (zipfile would inflate it
    whole before cutting it), bzip2 (inflated without any output limit), 20,000 members: refused by looking at
    the zip, in an extraction process no bigger than the one that reads a small real Word file."""
    good = make_docx(tmp_path / "good.docx", [EAGLE])
    baseline = run(good, Settings())
    assert baseline.extracted is not None and EAGLE in baseline.extracted.text
    expected = {
        "zip-bomb.docx": "extract_max_mb",
        "lying-size.docx": "expands beyond the size it declares",
        "bzip2-bomb.docx": "zip method 12",
        "many-members.docx": "extract_max_parts",
    }
    for name, why in expected.items():
        out = run(bad_files / name, Settings())
        print(f"{name}: {out.error} (peak RSS {out.peak_rss_mb:.0f} MB; a small Word file: {baseline.peak_rss_mb:.0f} MB)")
        assert out.extracted is None and why in out.error
        assert out.peak_rss_mb < baseline.peak_rss_mb + 100
    assert "RAG_EXTRACT_MAX_MB" in run(bad_files / "zip-bomb.docx", Settings()).error


def test_pdf_and_html_limits_are_checked_while_extracting(tmp_path, bad_files):
    small = Settings(extract_max_mb=20)
    bomb = run(bad_files / "flate-bomb.pdf", small)
    good = run(make_pdf(tmp_path / "good.pdf", [[EAGLE]]), small)
    print(f"flate bomb: {bomb.error} (peak RSS {bomb.peak_rss_mb:.0f} MB; a small PDF: {good.peak_rss_mb:.0f} MB)")
    assert "extract_max_mb = 20 MB" in bomb.error and "RAG_EXTRACT_MAX_MB" in bomb.error
    assert bomb.peak_rss_mb < good.peak_rss_mb + 20 * 3 + 100  # pypdf stops at the limit (a few copies of it)
    html = run(bad_files / "gzip-bomb.html", small)
    assert "extract_max_mb" in html.error
    (tmp_path / "pages.pdf").write_bytes(hostile.pdf_pages(300))
    pages = run(tmp_path / "pages.pdf", Settings(extract_max_pages=200))
    assert "300 pages" in pages.error and "extract_max_pages = 200" in pages.error and "RAG_EXTRACT_MAX_PAGES" in pages.error
    (tmp_path / "chars.pdf").write_bytes(hostile.pdf_chars(50, 100_000))  # 5 M characters from a small file
    chars = run(tmp_path / "chars.pdf", Settings(extract_max_chars=1_000_000))
    assert "by page 10 " in chars.error and "RAG_EXTRACT_MAX_CHARS" in chars.error  # stopped there, not at the end


def test_memory_and_time_limits_bound_the_extraction(tmp_path):
    """What the expansion limits let through is still bounded: a Word file of 150 MB of XML (within
    extract_max_mb) in 512 MB of address space, a 600-page PDF in 0.3 s; each refusal names its setting."""
    para = hostile.paragraph_xml("An ordinary sentence of an ordinary paragraph, written again. " * 20)
    big = tmp_path / "big.docx"
    big.write_bytes(hostile.docx_bytes(hostile.DOC_HEAD + para * (150 * MB // len(para)) + hostile.DOC_TAIL))
    out = run(big, Settings(extract_memory_mb=512))
    assert "extract_memory_mb = 512 MB" in out.error and "RAG_EXTRACT_MEMORY_MB" in out.error
    (tmp_path / "book.pdf").write_bytes(hostile.pdf_book(600))
    slow = run(tmp_path / "book.pdf", Settings(extract_timeout=0.3))
    assert "extract_timeout = 0.3 s" in slow.error and "RAG_EXTRACT_TIMEOUT" in slow.error


def test_a_2000_page_book_passes_the_default_limits(tmp_path):
    (tmp_path / "book.pdf").write_bytes(hostile.pdf_book(2000))
    book = extract_bounded(tmp_path / "book.pdf", Settings())
    assert len(book.pages) == 2000 and len(book.text) > 4_000_000


def test_a_file_over_the_chunk_limit_is_refused_and_the_rest_is_indexed(tmp_path):
    corpus = _good_corpus(tmp_path / "corpus")
    make_docx(corpus / "long.docx", [f"Sentence number {i} of a long file." for i in range(40)])
    report = rag.build_index(corpus, tmp_path / "index", Settings(extract_max_chunks=20))
    assert "long.docx" in report.skipped_files
    assert any("long.docx" in w and "extract_max_chunks = 20" in w and "RAG_EXTRACT_MAX_CHUNKS" in w for w in report.warnings)
    assert {c.source for c in rag.load_index(tmp_path / "index").chunks} == {SEED.name, "apollo.docx"}


class _Counting:
    dimension = 4

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, on_batch=None):
        self.seen += list(texts)
        if on_batch:
            on_batch(len(texts))
        return np.array([[len(t), t.count("a"), 1, 0] for t in texts], dtype=np.float32)


def test_identical_texts_are_embedded_once_and_scattered():
    inner, progress = _Counting(), []
    cached = CachedEmbedder(inner)
    texts = ["a", "bb", "a", "a", "ccc", "bb"]
    out = cached.encode(texts, on_batch=progress.append)
    assert inner.seen == ["a", "bb", "ccc"] and cached.embedded == 3 and sum(progress) == len(texts)
    np.testing.assert_array_equal(out, inner.encode(texts))


def test_a_word_file_repeating_one_sentence_is_embedded_once(tmp_path):
    """The 16 KB Word file of one sentence repeated 109,000 times, made smaller: 3,000 identical chunks cost
    one embedding (they were 3,000)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_docx(corpus / "same.docx", ["The same sentence, again and again."] * 3000)
    report = rag.build_index(corpus, tmp_path / "index")
    index = rag.load_index(tmp_path / "index")
    assert len(index.chunks) >= 3000 and report.embedded <= 5


# -- the whole corpus through the real command -------------------------------------------------------------------


def test_rag_index_over_a_hostile_corpus_warns_exits_0_and_stays_within_memory_of_a_clean_run(tmp_path, bad_files):
    env = dict(os.environ)  # the usual encoder cache: a cold one makes the clean run (the baseline) the larger
    clean = _good_corpus(tmp_path / "clean")
    base, base_tree, base_one = _peak_rss([str(RAG), "index", "--corpus", str(clean), "--index", str(tmp_path / "i0")], env)
    assert base.returncode == 0, base.stderr
    corpus = _good_corpus(tmp_path / "corpus")
    names = sorted(p.name for p in bad_files.iterdir())
    for name in names:
        (corpus / name).write_bytes((bad_files / name).read_bytes())
    done, tree, one = _peak_rss([str(RAG), "index", "--corpus", str(corpus), "--index", str(tmp_path / "i1")], env)
    print(f"peak RSS of `rag index`: clean corpus {base_tree:.0f} MB (largest process {base_one:.0f} MB), "
          f"with the {len(names)} hostile files {tree:.0f} MB (largest process {one:.0f} MB)")
    print(done.stderr)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    for name in names:
        assert any(name in line for line in warnings), name
    assert "index built: 2 document(s)" in done.stdout
    assert tree < base_tree + 1024 and one < base_one + 1024
    answer = rag.load_chain(tmp_path / "i1").ask("When did the lunar module Eagle land?")
    assert answer.outcome == "answer" and answer.citations and answer.citations[0].source == "apollo.docx"
    assert "July 20, 1969" in answer.citations[0].quote


# -- property: random and mutated bytes ---------------------------------------------------------------------------

_REAL = {".pdf": hostile.pdf_bytes([0], [(hostile.text_op("A real page of text."), False)]),
         ".docx": hostile.docx_bytes(hostile.DOC_HEAD + hostile.paragraph_xml("A real paragraph.") + hostile.DOC_TAIL),
         ".html": b"<html><body><article><p>" + b"A real paragraph of a web page. " * 20 + b"</p></article></body></html>"}


def _check(path: Path) -> None:
    """The bounded extraction (the index build's) and `extract` alone: text, or one ExtractError with a reason."""
    for read in (lambda: extract_bounded(path, Settings(extract_timeout=60)), lambda: extract(path)):
        try:
            out = read()
        except ExtractError as exc:
            assert str(exc)
        else:
            assert isinstance(out, Extracted) and isinstance(out.text, str) and out.text.strip()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(sorted(_REAL)))
def test_random_bytes_are_text_or_one_extract_error(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    _check(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(sorted(_REAL)), data=st.data())
def test_mutated_real_files_are_text_or_one_extract_error(tmp_path, suffix, data):
    raw = bytearray(_REAL[suffix])
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:at + data.draw(st.integers(1, 64))]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
        if not raw:
            break
    kind = data.draw(st.sampled_from([suffix, *sorted(_REAL)]))  # sometimes a wrong extension
    path = tmp_path / f"mutated{kind}"
    path.write_bytes(bytes(raw))
    _check(path)


# -- the extraction process -------------------------------------------------------------------------------------


def test_the_extraction_server_comes_back_after_it_dies(tmp_path):
    import rag.sandbox as sandbox

    pdf = make_pdf(tmp_path / "good.pdf", [[EAGLE]])
    assert EAGLE[:20] in extract_bounded(pdf).text
    os.kill(sandbox._current.proc.pid, 9)
    sandbox._current.proc.wait(10)
    assert EAGLE[:20] in extract_bounded(pdf).text  # a new server for the next file


def test_a_script_without_a_main_guard_is_never_re_run_by_the_extraction(tmp_path):
    """The children are forked from rag's own server, never started as multiprocessing children, which would
    re-run the caller's main script (here: the extraction again, and again)."""
    pdf = make_pdf(tmp_path / "good.pdf", [[EAGLE]])
    script = tmp_path / "script.py"
    script.write_text("from pathlib import Path\nfrom rag.sandbox import extract_bounded\n"
                      f"print('ran'); print(len(extract_bounded(Path({str(pdf)!r})).text))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ran", str(len(extract(pdf).text))]


def test_the_hostile_benchmark_reports_every_file(tmp_path):
    from argparse import Namespace

    res = hostile.bench_hostile(Namespace(hostile_repeats=2, hostile_gib=0.25), tmp_path)
    text = "\n".join(hostile.report(res))
    print(text)
    assert len(res["files"]) == len(hostile.hostile_files(MB)) and len(res["big"]) == 4
    assert all(r["outcome"] for r in res["files"]) and res["child_ms"] > 0
    assert "An upload expanding to 0.25 GiB" in text and "| big.docx |" in text
