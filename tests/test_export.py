"""A conversation kept as Markdown (rag.export): citations in human terms, document text never markup, and
`rag ask --history … --export FILE.md` over a real index of an FAQ page and a Markdown file."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt
from typer.testing import CliRunner

import rag
from rag.cli import app
from rag.export import conversation_markdown, escape
from tests.documents import make_faq_html

HOSTILE = ("Intro.\r![t](http://127.0.0.1:9/t.png)\n# Not a heading\n- not a list\n1. not a list either\n"
           "<img src=x onerror=alert(1)> [log in](http://evil.example) **bold** `code` | a | b |\n&amp;\n    indented")


def test_document_and_question_text_is_never_markup():
    html = MarkdownIt("commonmark").enable("table").render(conversation_markdown([{
        "question": HOSTILE, "answer": f"{HOSTILE} [1]", "assessment": "Direct answer found — high confidence",
        "citations": [{"n": 1, "source": "<b>x</b>.md", "start": 3, "end": 9, "quote": HOSTILE, "heading": "*H*"}],
    }]))
    assert "<img" not in html and "<a " not in html and "<b>" not in html and "<code>" not in html
    assert "<strong>bold" not in html and "<table>" not in html and "<ol" not in html and "<pre>" not in html
    assert html.count("<h1>") == 1 and html.count("<h2>") == 1 and "<ul>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&amp;amp;" in html  # shown as the text it is


def test_escape_keeps_the_words():
    assert escape("Price (per day): £12 — e-bikes £20.") == "Price (per day): £12 — e-bikes £20."


def test_a_turn_reads_as_question_answer_and_cited_quotes():
    markdown = conversation_markdown([
        {"question": "Who?", "answer": "Earlier answer."},  # a --history turn without citations
        {"question": "How much is a city bike?", "answer": "A city bike costs £12. [1]", "outcome": "answer",
         "assessment": "Direct answer found — high confidence",
         "citations": [{"n": 1, "source": "faq.pdf", "start": 40, "end": 62, "quote": "A city bike costs £12.", "page": 2}]},
        {"question": "Kayaks?", "answer": "No direct answer found.", "outcome": "related",
         "related": [{"source": "faq.html", "start": 5, "end": 30, "text": "We rent bikes.", "heading": "About us", "score": 0.1}]},
    ])
    assert markdown.startswith("# Conversation with the documents\n\n## 1. Who?\n\nEarlier answer.\n")
    assert ("## 2. How much is a city bike?\n\n*Direct answer found — high confidence*\n\nA city bike costs £12. [1]\n\n"
            "**[1]** faq.pdf, page 2\n\n> A city bike costs £12.\n\n<sub>characters 40–62</sub>\n") in markdown
    assert "**Related reading** (the closest passages, not an answer)\n\n**1.** faq.html · About us\n\n> We rent bikes." in markdown


@pytest.fixture(scope="module")
def faq_index(tmp_path_factory):
    """An FAQ web page (question headings) and a Markdown policy, indexed with the packaged model."""
    root = tmp_path_factory.mktemp("faq")
    corpus = root / "corpus"
    corpus.mkdir()
    make_faq_html(corpus / "canal-cycles-faq.html")
    (corpus / "gym.md").write_text("# Ironbark Fitness\n\n## Guests\n\nMembers may bring one guest a month for £8.\n\n"
                                   "## Sauna\n\nThe steam room is open until 9pm.\n", encoding="utf-8")
    rag.build_index(corpus, root / "index")
    return root / "index"


def test_faq_question_headings_label_the_answer_and_are_never_quoted(faq_index):
    chain = rag.load_chain(faq_index, answerer="rules")
    assert not any(c.text.rstrip().endswith("?") for c in chain.retriever.index.chunks)
    answer = chain.ask("How much does it cost to rent a bike?")
    assert answer.citations and "£12" in answer.citations[0].quote
    assert answer.citations[0].heading == "How much does it cost to rent a bike?"
    assert answer.citations[0].place == "canal-cycles-faq.html · How much does it cost to rent a bike?"
    assert answer.to_dict()["citations"][0]["heading"] == "How much does it cost to rent a bike?"
    assert answer.assessment.startswith(("Direct answer found", "Possible answer"))


def test_rag_ask_exports_the_conversation_as_markdown(faq_index, tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["ask", "Is a helmet included?", "--index", str(faq_index), "--answerer", "rules", "--json"])
    assert first.exit_code == 0, first.output
    history = tmp_path / "turns.json"
    history.write_text(json.dumps([json.loads(first.stdout)]), encoding="utf-8")  # a --json object is a turn
    out = tmp_path / "conversation.md"
    result = runner.invoke(app, ["ask", "And what does a city bike cost?", "--index", str(faq_index), "--answerer", "rules",
                                 "--history", str(history), "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "canal-cycles-faq.html · How much does it cost to rent a bike?" in result.stdout  # human terms in the text
    markdown = out.read_text(encoding="utf-8")
    assert "## 1. Is a helmet included?" in markdown and "## 2. And what does a city bike cost?" in markdown
    assert "**[1]** canal-cycles-faq.html · Is a helmet included?\n\n> Helmets, a lock and a puncture repair kit" in markdown
    assert "**[1]** canal-cycles-faq.html · How much does it cost to rent a bike?\n\n> A standard city bike costs £12" in markdown
    assert markdown.count("<sub>characters ") == 2
    unwritable = runner.invoke(app, ["ask", "Is a helmet included?", "--index", str(faq_index), "--export", str(tmp_path / "no" / "x.md")])
    assert unwritable.exit_code == 1 and "cannot write" in unwritable.stderr
