"""The feedback store beside an index (rag/feedback.py) and `rag eval --feedback INDEX` (eval/feedback.py), with the
real chain over a copy of the seed index."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from typer.testing import CliRunner

import rag
from eval.report import load_report
from rag import feedback
from rag.cli import app
from tests.conftest import SEEDS

runner = CliRunner()
CITED = [{"source": "a.txt", "start": 0, "end": 5, "quote": "Hello"}]


def make(verdict="up", note="", **fields):
    args = {"question": "Where were the talks held?", "history": [], "answer": "In Beijing [1].", "outcome": "answer",
            "citations": CITED, **fields}
    return feedback.make(args["question"], args["history"], args["answer"], args["outcome"], args["citations"],
                         verdict, note, id=fields.get("id"))


def test_records_are_json_lines_beside_the_index_and_the_latest_line_of_an_id_wins(tmp_path):
    first = make("down")
    feedback.record(tmp_path, first)
    feedback.record(tmp_path, make("up", question="Who chaired them?"))
    feedback.record(tmp_path, make("down", "the joint statement", id=first.id))   # the note sent after the thumb
    lines = [json.loads(line) for line in (tmp_path / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3 and set(lines[0]) == {"id", "time", "verdict", "question", "history", "answer", "outcome",
                                                  "citations", "note"}
    stored = feedback.read(tmp_path)
    assert [(f.id, f.verdict, f.note) for f in stored.records] == [(first.id, "down", "the joint statement"),
                                                                   (stored.records[1].id, "up", "")]
    assert stored.records[0].citations[0] == feedback.Cited("a.txt", 0, 5, "Hello") and stored.skipped == 0
    feedback.withdraw(tmp_path, first.id)                                        # the thumb clicked again
    assert [f.verdict for f in feedback.read(tmp_path).records] == ["up"]


@pytest.mark.parametrize("fields, needle", [
    ({"verdict": "meh"}, "verdict must be one of up, down"),
    ({"note": "x" * 501}, "note is 501 characters long; the limit is 500"),
    ({"question": "  "}, "question is empty"),
    ({"question": "q" * 2001}, "limit is 2000"),
    ({"outcome": "maybe"}, "outcome must be one of"),
    ({"citations": [{"source": "a.txt", "start": 5, "end": 1, "quote": ""}]}, "0 <= start <= end"),
    ({"citations": CITED * 21}, "at most 20"),
    ({"history": "not a list"}, "history must be a list"),
    ({"answer": "a" * 10_001}, "answer is 10,001 characters long"),
    ({"id": "../../etc"}, "32 hexadecimal digits"),
])
def test_what_is_stored_is_checked(fields, needle):
    verdict, note = fields.pop("verdict", "up"), fields.pop("note", "")
    with pytest.raises(rag.RagError, match=needle):
        make(verdict, note, **fields)


def test_control_characters_are_dropped_and_a_long_history_loses_its_oldest_turns():
    fb = make("down", "in the\x1b[31m minutes\x00")
    assert fb.note == "in the[31m minutes"
    turns = [{"question": f"q{i}", "answer": "界" * 1200} for i in range(40)]            # 144 KB of UTF-8
    fb = make(history=turns)
    assert len(json.dumps(fb.to_dict(), ensure_ascii=False).encode()) <= feedback.MAX_RECORD_BYTES
    assert 0 < len(fb.history) < 40 and fb.history[-1][0] == "q39"              # the newest turns are kept


def test_a_full_file_drops_its_oldest_records_and_a_damaged_line_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "MAX_FILE_BYTES", 4000)
    ids = []
    for i in range(20):
        fb = make(question=f"Question number {i}?")
        ids.append(fb.id)
        feedback.record(tmp_path, fb)
    assert (tmp_path / "feedback.jsonl").stat().st_size <= 4000
    kept = [f.id for f in feedback.read(tmp_path).records]
    assert kept and kept == ids[-len(kept):] and len(kept) < 20                   # the newest, in order
    with open(tmp_path / "feedback.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"id": "cut short by a cra\n')
    assert feedback.read(tmp_path).skipped == 1


def test_concurrent_appends_keep_every_line_whole(tmp_path):
    threads = [threading.Thread(target=lambda: [feedback.record(tmp_path, make()) for _ in range(25)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = feedback.read(tmp_path)
    assert len(stored.records) == 100 and stored.skipped == 0


def test_no_index_folder_is_a_clear_error(tmp_path):
    with pytest.raises(rag.RagError, match="no index folder"):
        feedback.record(tmp_path / "none", make())
    assert feedback.read(tmp_path / "none").records == []


# -- rag eval --feedback ---------------------------------------------------------------------------------------
@pytest.fixture
def rated_index(seed_index, tmp_path):
    """A copy of the seed index with five verdicts on real answers of the rules answerer (which answers the seed's
    questions alike on every machine): two that the current system passes, three that it fails."""
    index = shutil.copytree(seed_index, tmp_path / "index")
    chain = rag.load_chain(index, answerer="rules")
    port = chain.ask("Which port will the corridor improve?")
    assert port.outcome == "answer" and port.citations
    cited = [c.to_dict() for c in port.citations]
    quote = port.citations[0].quote

    def rate(answer, verdict, note="", citations=None):
        feedback.record(index, feedback.make(answer.question, [], answer.text, answer.outcome,
                                             cited if citations is None else citations, verdict, note))

    rate(port, "up")                                                            # passes: still cites the same span
    rate(port, "down", " ".join(quote.split()[3:9]).upper())                   # passes: a citation holds the note
    rate(port, "down", "the minutes of the meeting")                            # fails: no citation holds it
    rate(port, "down")                                                          # fails: the same answer as before
    assert all(c["start"] >= 10 for c in cited)
    elsewhere = [{"source": cited[0]["source"], "start": 0, "end": 10, "quote": rag.read_source(SEEDS / cited[0]["source"])[:10]}]
    rate(port, "up", citations=elsewhere)                                       # fails: no longer cites that span
    return index


def test_eval_feedback_scores_the_current_system_on_the_verdicts(rated_index, tmp_path):
    result = runner.invoke(app, ["eval", "--feedback", str(rated_index), "--answerer", "rules", "--report", str(tmp_path / "rep")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = load_report(tmp_path / "rep")
    overall = report["metrics"]["overall"]
    assert report["kind"] == "feedback" and report["inputs"]["records"] == overall["items"] == 5
    assert overall["passed"] == 2 and overall["pass_rate"] == pytest.approx(0.4) and overall["answered"] == 5
    assert report["metrics"]["thumbs up"]["passed"] == 1 and report["metrics"]["thumbs down"]["passed"] == 1
    results = [json.loads(line) for line in (tmp_path / "rep" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    why = sorted(r["feedback"]["why"] for r in results if not r["feedback"]["passed"])
    assert why[0].startswith("no citation holds the note") and why[1].startswith("no longer cites")
    assert why[2] == "the same answer as the one marked wrong"
    assert "pass_rate" in result.stdout and "the same answer as the one marked wrong" in result.stdout
    assert (tmp_path / "rep" / "scores.png").is_file()


def test_eval_feedback_errors_are_one_line(seed_index, tmp_path):
    index = shutil.copytree(seed_index, tmp_path / "index")
    for args, needle in [
        (["--feedback", str(index)], "no feedback in"),
        (["--feedback", str(index), "--index", str(index)], "--feedback INDEX names the index it scores"),
        (["--feedback", str(index), "--limit", "3"], "--limit, --sample and --split apply to --benchmark"),
    ]:
        result = runner.invoke(app, ["eval", *args])
        assert result.exit_code == 1, result.output
        assert needle in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_rebuild_keeps_the_feedback(seed_index, tmp_path):
    index = shutil.copytree(seed_index, tmp_path / "index")
    feedback.record(index, make())
    before = (index / "CURRENT").read_text()
    assert rag.build_index(SEEDS, index, force=True).built and (index / "CURRENT").read_text() != before
    assert len(feedback.read(index).records) == 1
