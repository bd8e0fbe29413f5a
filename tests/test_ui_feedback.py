"""Thumbs up / down on the chat's answers, in headless Chromium against `rag serve`: the verdicts (and a thumbs-down's
note) land beside the index as JSON lines, and `rag eval --feedback INDEX` scores the system on them."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

import rag
from rag import feedback
from rag.cli import app
from tests.conftest import SEEDS
from tests.test_ui import ask_in_page, chat_page, serving

pytest.importorskip("gradio")


def thumb(page, label: str) -> None:
    """Click the Like or Dislike button of the last answer."""
    page.locator(f"#rag-chat button[aria-label='{label}']").last.click()


def test_browser_thumbs_and_a_note_become_a_regression_set(seed_index, tmp_path):
    index = shutil.copytree(seed_index, tmp_path / "index")
    stored = index / feedback.FILE
    with serving(index, SEEDS, tmp_path / "serve.log") as url, chat_page(url) as page:
        status = page.locator("#rag-feedback-status")
        note_row = page.locator("#rag-note-row")

        # The settings say which answerer is the default.
        page.locator("#rag-settings").get_by_text("Settings").first.click()
        page.get_by_text("evidence (the default)", exact=False).first.wait_for(timeout=10_000)

        # Thumbs up on an answer: stored at once, no note asked for.
        ask_in_page(page, "Which port will the corridor improve?")
        thumb(page, "Like")
        page.wait_for_function("() => document.querySelector('#rag-feedback-status').innerText.includes('good answer')")
        assert not note_row.is_visible()

        # A follow-up, thumbs down, then where the right answer is.
        ask_in_page(page, "When was it?")
        thumb(page, "Dislike")
        page.wait_for_function("() => document.querySelector('#rag-feedback-status').innerText.includes('wrong answer')")
        note_row.wait_for(state="visible")
        page.locator("#rag-note textarea").fill("Gwadar <b>Port</b>")
        page.locator("#rag-note-send").click()
        page.wait_for_function("() => document.querySelector('#rag-feedback-status').innerText.includes('note was recorded')")
        assert not note_row.is_visible() and "<b>" not in status.inner_html()

    lines = [json.loads(line) for line in stored.read_text(encoding="utf-8").splitlines()]
    assert [line["verdict"] for line in lines] == ["up", "down", "down"] and lines[1]["id"] == lines[2]["id"]
    records = feedback.read(index).records
    up, down = records
    assert up.question == "Which port will the corridor improve?" and up.history == () and up.citations
    assert "Gwadar" in up.citations[0].quote and up.outcome == "answer"
    text = rag.read_source(SEEDS / up.citations[0].source)
    assert all(text[c.start:c.end] == c.quote for c in up.citations)               # exact spans, as answered
    assert down.question == "When was it?" and down.history[0][0] == up.question and down.note == "Gwadar <b>Port</b>"
    assert set(lines[0]) == {"id", "time", "verdict", "question", "history", "answer", "outcome", "citations", "note"}

    result = CliRunner().invoke(app, ["eval", "--feedback", str(index), "--answerer", "rules", "--out", str(tmp_path / "r.jsonl")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["feedback"]["verdict"] for r in results] == ["up", "down"]
    assert results[0]["feedback"]["passed"]                                          # the same system: still the same citation
    assert "pass_rate" in result.stdout
