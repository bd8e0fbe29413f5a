"""Hardening (issue 13): the corpus never reaches outside its folder, and every OS failure while reading it
is one warning or one line, never a traceback or a lost build."""

from __future__ import annotations

import json
import os
import socket

from typer.testing import CliRunner

import rag
from rag.cli import app
from tests.conftest import SEEDS as SEEDS_DIR


def _index(corpus, index):
    return CliRunner().invoke(app, ["index", "--corpus", str(corpus), "--index", str(index)])


def test_links_leaving_the_corpus_broken_links_loops_and_unreadable_entries_are_skipped_and_named(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "notes").mkdir(parents=True)
    (corpus / "good.txt").write_text("The harbour at Gwadar opened in 2024.\n", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash nologin secret\n", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to(outside)
    (corpus / "inside.txt").symlink_to(corpus / "good.txt")            # a link inside the corpus is fine
    (corpus / "broken.txt").symlink_to(tmp_path / "missing.txt")
    (corpus / "loop.txt").symlink_to(corpus / "loop.txt")
    (corpus / "elsewhere").symlink_to(tmp_path, target_is_directory=True)   # a linked folder is not followed
    with socket.socket(socket.AF_UNIX) as sock:                        # open() fails on it, even for root
        sock.bind(str(corpus / "notes" / "socket.txt"))
        result = _index(corpus, tmp_path / "idx")
    assert result.exit_code == 0, result.output
    err = result.stderr
    for name, why in [("passwd.txt", "outside the corpus"), ("broken.txt", "broken link"), ("loop.txt", "loop"),
                      ("elsewhere", "linked folder"), ("notes/socket.txt", "unreadable")]:
        line = next((ln for ln in err.splitlines() if name in ln), "")
        assert why in line, (name, err)
    index = rag.load_index(tmp_path / "idx")
    assert set(index.manifest["files"]) == {"good.txt", "inside.txt"}
    hits = rag.load_retriever(tmp_path / "idx").search("root bin nologin secret", k=5)
    assert all("root:x" not in p.text for p in hits)
    assert "Traceback" not in result.output


def test_a_file_that_vanishes_after_listing_is_skipped_and_the_build_goes_on(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "keep.txt").write_text("The port was built by the corridor.\n", encoding="utf-8")
    (corpus / "gone.txt").write_text("This file is deleted before it is read.\n", encoding="utf-8")
    from rag import corpus as C

    listed = C._corpus_files

    def list_then_delete(folder, unusable):
        files = listed(folder, unusable)
        os.remove(corpus / "gone.txt")
        return files

    monkeypatch.setattr(C, "_corpus_files", list_then_delete)
    scan = C.scan_corpus(corpus)
    assert [d.id for d in scan.documents] == ["keep.txt"] and "gone.txt" in " ".join(scan.warnings())
    assert "vanished" in " ".join(scan.warnings())


def test_a_file_name_that_is_not_utf8_is_skipped_with_its_name_escaped(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Plain text about the harbour.\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(corpus), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"Latin-1 named file.\n")
    result = _index(corpus, tmp_path / "idx")
    assert result.exit_code == 0, result.output
    assert "caf\\xe9.txt" in result.stderr and "not UTF-8" in result.stderr
    assert list(rag.load_index(tmp_path / "idx").manifest["files"]) == ["ok.txt"]


def test_a_long_paragraph_reaches_the_sentence_splitter_in_bounded_runs():
    """pysbd is quadratic in its input: a 2 MB paragraph without punctuation never reaches it, a long punctuated
    one does in runs cut at sentence ends, and ordinary paragraphs split exactly as when read whole."""
    from rag.chunking import Chunker, paragraphs
    from tests.conftest import SEEDS

    chunker = Chunker()
    fed: list[int] = []
    segment = chunker._segmenter.segment
    object.__setattr__(chunker, "_segmenter", type("Spy", (), {"segment": lambda self, t: fed.append(len(t)) or segment(t)})())
    flat = ("corridor harbour port alpha beta gamma " * 60_000)[:2_000_000]
    spans = chunker.sentences(flat, 0, len(flat))
    assert not fed and spans[0][0] == 0 and spans[-1][1] == len(flat.rstrip())
    assert all(e - s <= chunker.hard_max_chars for s, e in spans)
    prose = "The port opened in May. It handles ships from the Gulf. " * 2_000
    spans = chunker.sentences(prose, 0, len(prose))
    assert len(spans) == 4_000 and max(fed) <= chunker.sentence_run_chars
    text = rag.read_source(SEEDS / "china-pakistan-strategic-dialogue-2026.txt")
    for a, b in paragraphs(text):
        assert chunker.sentences(text, a, b) == chunker._segment(text, a, b)


def test_cli_output_is_never_markup_or_terminal_control(tmp_path):
    """Passages, file names and errors holding rich markup or escape sequences print as plain text."""
    corpus = tmp_path / "corpus [/x]"  # "[/x]" and "[/bold]" below are closing tags to rich: folders and names here
    (corpus / "odd [").mkdir(parents=True)
    (corpus / "odd [/bold] name.txt").write_text(
        "The harbour [/bold] opened [red]in 2024[/red].\x1b]0;OWNED\x07\x1b[2J Ships docked there.\n", encoding="utf-8")
    result = _index(corpus, tmp_path / "idx")
    assert result.exit_code == 0, result.output
    for args in (["search", "harbour opened"], ["ask", "When did the harbour open?", "--answerer", "rules"]):
        result = CliRunner().invoke(app, [*args, "--index", str(tmp_path / "idx")])
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        flat = "".join(result.stdout.split())
        assert "[/bold]" in flat and "[red]in2024[/red]" in flat
    missing = tmp_path / "no [/x] such"
    result = CliRunner().invoke(app, ["index", "--corpus", str(missing), "--index", str(tmp_path / "other")])
    assert result.exit_code == 1 and "[/x]" in result.stderr and "Traceback" not in result.output


def test_bad_queries_and_histories_are_one_line(tmp_path, seed_index):
    runner = CliRunner()
    cases = [
        (["search", "harbour \udc80 port"], 0, None),                                     # a lone surrogate: cleaned
        (["search", "why " * 600], 1, "the limit is 2000"),
    ]
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    big = tmp_path / "big.json"
    big.write_text(json.dumps([{"question": "q" * 1000, "answer": "a" * 1000}] * 40), encoding="utf-8")
    cases += [(["ask", "Where?", "--history", str(deep)], 1, "nested too deeply"),
              (["ask", "Where?", "--history", str(big)], 1, "the limit is 50,000")]
    for args, code, needle in cases:
        result = runner.invoke(app, [*args, "--index", str(seed_index)])
        assert result.exit_code == code, (args[:2], result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        if needle:
            assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_index_that_cannot_be_written_is_one_line_and_loses_nothing(tmp_path, seed_index):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    result = _index(SEEDS_DIR, blocker / "index")
    assert result.exit_code == 1 and "cannot write the index" in result.stderr and "Traceback" not in result.output
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"


def test_a_corpus_that_is_a_file_and_a_history_that_is_an_object_are_one_clear_line(tmp_path, seed_index):
    note = tmp_path / "note.txt"
    note.write_text("The harbour opened in 2024.\n", encoding="utf-8")
    result = _index(note, tmp_path / "idx")
    assert result.exit_code == 1 and "is a file, not a folder" in result.stderr
    history = tmp_path / "history.json"
    history.write_text('{"question": "Where?", "answer": "Beijing."}', encoding="utf-8")
    result = CliRunner().invoke(app, ["ask", "When?", "--history", str(history), "--index", str(seed_index)])
    assert result.exit_code == 1 and "history must be a list" in result.stderr
    assert "string indices" not in result.output and len(result.stderr.strip().splitlines()) == 1
