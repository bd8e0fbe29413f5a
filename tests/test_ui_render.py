"""The chat page's HTML, without a server: citation links, abstentions, the passage inside its paragraph."""

from __future__ import annotations

import re

import pytest

import rag
from tests.conftest import SEEDS

pytest.importorskip("gradio")

from ui import render  # noqa: E402
from ui.app import ChatService, parse_history  # noqa: E402

SOURCE = "china-pakistan-strategic-dialogue-2026.txt"


@pytest.fixture(scope="module")
def text() -> str:
    return rag.read_source(SEEDS / SOURCE)


@pytest.fixture(scope="module")
def reader() -> render.SourceReader:
    return render.SourceReader(SEEDS, read=rag.read_source)


def _answer(text: str, start: int, end: int) -> rag.Answer:
    quote = text[start:end]
    passage = rag.Passage(7, SOURCE, start, end, quote, 0.5, para_start=0, para_end=len(text))
    return rag.Answer("q?", f"{quote} [1]", [rag.Citation(1, SOURCE, start, end, quote)], [passage], False, "q?")


def test_markers_become_links_to_cards_with_the_quote_in_its_paragraph(text, reader):
    start = text.index("Gwadar")
    start = text.rindex(". ", 0, start) + 2
    end = text.index(".", start) + 1
    answer = _answer(text, start, end)
    cards = render.answer_cards(answer, reader)
    assert [c["key"] for c in cards] == ["c1"]
    card = cards[0]
    assert card["exact"] and card["mark"] == text[start:end]
    assert text[start - len(card["before"]) : start] == card["before"]  # the context is the file's own text
    assert text[end : end + len(card["after"])] == card["after"]
    assert 0 < len(card["before"]) <= render.CONTEXT_CHARS and 0 < len(card["after"]) <= render.CONTEXT_CHARS

    message = render.answer_html(3, answer.text, cards=cards)
    link = re.search(r'<a class="rag-cite" href="#rag-src-3-c1" data-turn="3" data-key="c1"[^>]*>\[1\]</a>', message)
    assert link, message
    panel = render.sources_html([{"turn": 3, "question": "Which port?", "cards": cards}])
    assert 'id="rag-src-3-c1"' in panel and "rag-card active" in panel
    assert f"characters {start}–{end}" in panel and SOURCE in panel
    assert f'<mark class="rag-quote">{render.esc(text[start:end])}</mark>' in panel


def test_a_turn_without_cards_never_shows_an_earlier_turns_card(text, reader):
    """Issue 32: the latest turn decides what the panel shows; the earlier cards stay for their markers."""
    start = text.index("Gwadar")
    cards = render.answer_cards(_answer(text, start, start + 6), reader)
    turns = [{"turn": 1, "question": "Which port?", "cards": cards}, {"turn": 2, "question": "Summarize it", "cards": []}]
    panel = render.sources_html(turns)
    assert 'id="rag-src-1-c1"' in panel and panel.count(" active") == 1
    assert re.search(r'class="rag-card rag-card-none active" id="rag-src-2-none"', panel) and render.NO_PASSAGES in panel
    related = [dict(cards[0], key="p1", label="Related 1")]
    panel = render.sources_html(turns[:1] + [dict(turns[1], cards=related)])
    assert 'class="rag-card active" id="rag-src-2-p1"' in panel and "Related reading" in panel and "rag-card-none" not in panel


def test_streaming_markers_are_placeholders_and_unknown_markers_stay_text():
    assert 'rag-pending">[2]<' in render.answer_html(1, "Some text [2]", streaming=True)
    final = render.answer_html(1, "Some text [2]", cards=[])
    assert "[2]" in final and "<a " not in final


def test_abstention_looks_different_and_lists_related_reading(text, reader):
    answer = rag.Answer("q?", "The documents do not contain an answer to this question.", [],
                        [rag.Passage(i, SOURCE, s, s + 100, text[s : s + 100], 0.1, para_start=0, para_end=len(text))
                         for i, s in enumerate((0, 500, 1000, 1500))], True, "q?")
    cards = render.answer_cards(answer, reader)
    assert [c["key"] for c in cards] == ["p1", "p2", "p3"]  # the closest passages, at most three
    message = render.answer_html(2, answer.text, cards=cards, abstained=True)
    assert "rag-abstain" in message and "rag-answer" not in message
    assert "Related reading" in message and message.count('class="rag-cite"') == 3


def test_no_direct_answer_and_nothing_relevant_look_different(text, reader):
    passages = [rag.Passage(i, SOURCE, s, s + 100, text[s : s + 100], 0.1, para_start=0, para_end=len(text)) for i, s in enumerate((0, 500))]
    related = rag.Answer("q?", rag.answerers.base.RELATED_TEXT, [], passages, True, "q?", outcome="related")
    cards = render.answer_cards(related, reader)
    message = render.answer_html(2, related.text, cards=cards, abstained=True, outcome="related")
    assert "No direct answer found" in message and "Related reading" in message and len(cards) == 2
    nothing = rag.Answer("q?", rag.answerers.ABSTAIN_TEXT, [], passages, True, "q?", outcome="none")
    assert render.answer_cards(nothing, reader) == []  # nothing relevant: no passage offered as reading
    message = render.answer_html(3, nothing.text, cards=[], abstained=True, outcome="none")
    assert "Not found in the documents" in message and "Related reading" not in message and 'data-outcome="none"' in message


def test_related_reading_says_where_in_words_and_never_offers_a_heading(text, reader):
    """A related passage is named by its file, page and section; the offsets wait in the card's details line;
    a heading-like paragraph (a title without sentence punctuation) is never an item of its own."""
    start = text.index("Gwadar")
    title = rag.Passage(0, "faq.md", 2, 17, "Ports and roads", 0.9, para_start=2, para_end=17)  # a whole short paragraph
    body = rag.Passage(1, SOURCE, start, start + 60, text[start:start + 60], 0.5, para_start=0, para_end=len(text),
                       heading="Ports <b>&</b> roads", page=2)
    answer = rag.Answer("q?", rag.answerers.base.RELATED_TEXT, [], [title, body], True, "q?", outcome="related")
    cards = render.answer_cards(answer, reader)
    assert [c["mark"] for c in cards] == [body.text]
    message = render.answer_html(2, answer.text, cards=cards, abstained=True, outcome="related")
    item = re.search(r"<li>(.*?)</li>", message).group(1)
    assert f"{SOURCE}, page 2 · Ports &#60;b&#62;&#38;&#60;/b&#62; roads" in item and "characters" not in item
    panel = render.sources_html([{"turn": 2, "question": "q?", "cards": cards}])
    head = re.search(r'<div class="rag-card-head">(.*?)</div>', panel).group(1)
    assert "page 2" in head and "rag-section" in head and "characters" not in head and "<b>" not in head
    assert f'<span class="rag-offsets">characters {start}–{start + 60}' in panel


def test_an_answer_says_how_sure_it_is_in_words():
    assert [rag.records.assessment("answer", c) for c in (0.9, 0.5, 0.3, None)] == [
        "Direct answer found — high confidence", "Direct answer found — medium confidence",
        "Possible answer — low confidence: check the quoted passage", "Direct answer found"]
    assert rag.records.assessment("related", 0.2).startswith("No direct answer")
    assert rag.records.assessment("none", 0.0) == "Not found in the documents"
    message = render.answer_html(1, "Text [1]", cards=[], assessment="Direct answer found — high confidence")
    assert '<div class="rag-assessment">Direct answer found — high confidence</div>' in message


def test_everything_is_escaped():
    evil = '<img src=x onerror="alert(1)"> [1]'
    assert "<img" not in render.user_html(evil)
    assert "<img" not in render.answer_html(1, evil, streaming=True)
    assert "<img" not in render.error_html(evil)
    assert "\n\n" not in render.answer_html(1, "one\n\ntwo", streaming=True)  # a blank line would end the HTML block


def test_missing_or_changed_source_falls_back_to_the_indexed_text(tmp_path, text):
    (tmp_path / SOURCE).write_text("completely different text", encoding="utf-8")
    for reader in (render.SourceReader(tmp_path), render.SourceReader(tmp_path / "none"), render.SourceReader(None)):
        card = render.card("c1", "[1]", SOURCE, 0, 20, text[:20], reader, (0, len(text)))
        assert card["exact"] is False and card["mark"] == text[:20] and card["before"] == card["after"] == ""
        assert "not available" in render.card_html(1, "q", card, [card], True)


def test_long_and_empty_questions_are_shown_briefly():
    long = render.user_html("x" * 5000)
    assert "5,000 characters" in long and len(long) < 1000
    assert "(empty message)" in render.user_html("   ")


def test_history_parsing():
    settings = rag.Settings()
    assert parse_history(None, settings) == [] and parse_history([], settings) == []
    assert parse_history([{"question": "a", "answer": "b"}, ["c", "d"]], settings) == [("a", "b"), ("c", "d")]
    for bad in ("text", [{"question": "only"}], [1]):
        with pytest.raises(Exception, match="[Hh]istory must be"):
            parse_history(bad, settings)


def test_history_is_bounded_and_cleaned():
    settings = rag.Settings(max_history_turns=3, max_history_chars=100)
    with pytest.raises(Exception, match="4 turns; the limit is 3"):
        parse_history([["q", "a"]] * 4, settings)
    with pytest.raises(Exception, match="the limit is 100"):
        parse_history([["q" * 60, "a" * 60]], settings)
    assert parse_history([["lone \udc80 surrogate\x1b[2J", "ok"]], settings) == [("lone  surrogate[2J", "ok")]


def test_options_from_the_page_are_validated():
    service = ChatService.__new__(ChatService)
    service.answerers, service.default_answerer = ("rules",), "rules"
    assert service.options(3, "bm25", "rules") == {"k": 3, "mode": "bm25", "answerer": "rules"}
    assert service.options("x", "fuzzy", "llm") == {"k": None, "mode": None, "answerer": "rules"}
    assert service.options(500)["k"] == 20


PAYLOADS = [
    "Intro.\r\r![t](http://127.0.0.1:9/t.png)\r\r[click](javascript:alert(1)) and [login](http://evil.example/)",
    "Intro.\r \r![t](http://127.0.0.1:9/t.png) **bold** `code`",
    "Intro.\u2028\u2028![t](http://127.0.0.1:9/t.png)\n\n<img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_document_and_question_text_never_becomes_markup(payload):
    """Rendered as the Chatbot does (CommonMark, where a lone \\r ends a line): no image, link or emphasis
    comes out of corpus or question text, and the text itself is all still there."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    cards = [{"key": "c1", "label": "[1]", "source": "a.txt", "start": 0, "end": len(payload), "before": "", "mark": payload,
              "after": "", "clip_left": False, "clip_right": False, "para_start": 0, "para_end": len(payload), "exact": True}]
    for html in (render.answer_html(1, payload + " [1]", cards=cards), render.user_html(payload),
                 render.answer_html(1, payload, abstained=True, cards=cards), render.card_html(1, payload, cards[0], cards, True)):
        out = md.render(html)
        assert "<img" not in out and "javascript:" not in out and "<strong>" not in out and "<code>" not in out
        assert 'href="http' not in out
        assert re.sub(r"\s+", "", "t](http://127.0.0.1:9/t.png)") in re.sub(r"\s+", "", _text_of(out))


def _text_of(html: str) -> str:
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", "", html))


def test_quotes_and_ampersands_show_as_typed_never_as_entities():
    """Each special character is escaped once: an apostrophe reads as an apostrophe after Markdown and HTML."""
    from markdown_it import MarkdownIt

    text = "Foreign Ministers' \"Strategic\" Dialogue & <co-operation> #7"
    out = MarkdownIt("commonmark").render(render.user_html(text))
    assert _text_of(out) == text
