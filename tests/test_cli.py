import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import rag
from rag.cli import app
from tests.conftest import SEEDS

runner = CliRunner()


def test_search_json_prints_exact_spans(seed_index):
    result = runner.invoke(app, ["search", "Karakoram Highway", "-k", "2", "--index", str(seed_index), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 2 and set(rows[0]) == {"source", "start", "end", "score", "text"}
    text = (SEEDS / rows[0]["source"]).read_bytes().decode("utf-8")
    assert text[rows[0]["start"] : rows[0]["end"]] == rows[0]["text"]


def test_search_table(seed_index):
    result = runner.invoke(app, ["search", "Kashmir", "--index", str(seed_index), "-k", "1"])
    assert result.exit_code == 0 and "Kashmir" in result.stdout


def test_errors_are_one_line_and_non_zero(tmp_path, seed_index):
    for args, needle in [
        (["search", "x", "--index", str(tmp_path)], "no index found"),
        (["search", "  ", "--index", str(seed_index)], "query is empty"),
        (["search", "x", "--index", str(seed_index), "--mode", "fuzzy"], "invalid setting: mode"),
        (["index", "--corpus", str(tmp_path / "none"), "--index", str(tmp_path / "i")], "corpus directory not found"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert needle in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_index_command_builds_then_skips(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "idx")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "index built" in first.stdout
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "up to date" in second.stdout


def test_console_script_is_installed(seed_index):
    exe = Path(sys.executable).with_name("rag")
    proc = subprocess.run([str(exe), "search", "Gwadar", "--index", str(seed_index), "--json", "-k", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Gwadar" in json.loads(proc.stdout)[0]["text"]


def test_ask_with_a_bad_question_exits_cleanly(seed_index):
    """The query encoder warms up in a thread; exiting at once on a bad question must still be a clean exit 1."""
    exe = Path(sys.executable).with_name("rag")
    proc = subprocess.run([str(exe), "ask", "  ", "--index", str(seed_index)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == "error: the question is empty: type a question about the documents"


def test_ask_help_shows_flags_and_defaults():
    result = runner.invoke(app, ["ask", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    for default in ("[default: (RAG_INDEX_DIR or index)]", "[default: (RAG_TOP_K or 5);", "[default: (RAG_MODE or hybrid)]",
                    "[default: (RAG_ANSWERER or evidence)]"):
        assert default in text, default
    assert "--json Print the answer as JSON." in text and "<bool>" not in text   # a flag, no value
    assert " . " not in text and not text.endswith(" .")                        # no help text left empty


def ask_text(*args: str) -> str:
    result = runner.invoke(app, ["ask", *args], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


def test_ask_text_shows_the_searched_query_of_a_follow_up_only(seed_index, tmp_path):
    standalone = rag.load_chain(seed_index).ask("Who chairs the SCO?")
    assert standalone.rewritten_query != standalone.question                    # the acronym is spelled out for the search...
    assert "searched for" not in ask_text("Who chairs the SCO?", "--index", str(seed_index))   # ...yet it was not rewritten
    history = tmp_path / "turns.json"
    history.write_text(json.dumps([{"question": "Which port will the corridor improve?", "answer": "Gwadar Port."}]))
    follow_up = ask_text("When was it?", "--index", str(seed_index), "--history", str(history))
    assert "searched for: When was it?" in follow_up and "Which port" in follow_up


def test_ask_text_prints_the_related_passages(seed_index):
    answer = rag.load_chain(seed_index).ask("Summarize the documents")
    assert answer.outcome == "related" and answer.related()
    text = ask_text("Summarize the documents", "--index", str(seed_index))
    for p in answer.related():
        assert f"{p.source} (characters {p.start}-{p.end})" in text and " ".join(p.text.split()) in text
