"""The chat handler in-process (no server): streaming, follow-ups, friendly errors, the LLM answerer."""

from __future__ import annotations

import pytest

import rag
from tests.conftest import SEEDS

pytest.importorskip("gradio")

from ui.app import ChatService, llm_configured  # noqa: E402


@pytest.fixture(scope="module")
def service(retriever) -> ChatService:
    return ChatService(rag.Chain(retriever), retriever.settings, SEEDS)


def run(service: ChatService, message: str, turns=None, answerer="rules"):
    """All updates of one turn: lists of (messages, turns, panel, box)."""
    return list(service.respond(message, turns or [], 5, "hybrid", answerer))


def test_the_default_answerer_says_when_nothing_relevant_was_found(retriever):
    service = ChatService(rag.Chain(retriever), retriever.settings, SEEDS, ("evidence", "rules"), "evidence")
    assert service.default_answerer == "evidence"
    messages, turns, _, _ = run(service, "What is the boiling point of liquid nitrogen in kelvin?", answerer="evidence")[-1]
    content = messages[-1]["content"]
    assert "rag-abstain" in content and turns[-1]["ok"]
    if 'data-outcome="none"' in content:
        assert "Not found in the documents" in content and not turns[-1]["cards"]
    else:
        assert "No direct answer found" in content and "Related reading" in content


def is_skip(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_a_turn_streams_then_fills_the_sources_panel(service):
    updates = run(service, "Which port will the corridor improve?")
    first, last = updates[0], updates[-1]
    assert first[0][-1]["role"] == "user" and first[3] == ""  # the question shows at once; the box clears
    streaming = [u for u in updates[1:-1] if "rag-streaming" in u[0][-1]["content"]]
    assert len(streaming) >= 2  # the text arrives in pieces
    messages, turns, panel, _ = last
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert 'class="rag-cite"' in messages[-1]["content"] and "Gwadar" in messages[-1]["content"]
    assert turns[-1]["ok"] and turns[-1]["cards"] and 'rag-card active' in panel and "Gwadar" in panel


def test_a_follow_up_shows_the_rewritten_query(service):
    turns = run(service, "Where were the talks held?")[-1][1]
    messages, turns, _, _ = run(service, "When was it?", turns)[-1]
    assert len(turns) == 2 and "Searched for" in messages[-1]["content"]
    assert "Searched for" not in messages[1]["content"]


def test_over_long_and_empty_messages_get_a_friendly_message(service):
    long = "why " * 600
    messages, turns, panel, box = run(service, long)[-1]
    assert "limit is 2000" in messages[-1]["content"] and "rag-error" in messages[-1]["content"]
    assert box == long.strip() and not turns[-1]["ok"] and is_skip(panel)  # the text comes back to be shortened
    messages, turns, _, _ = run(service, "", turns)[-1]
    assert "empty" in messages[-1]["content"] and len(turns) == 2
    # failed turns are not history: the next question is not treated as their follow-up
    messages, turns, _, _ = run(service, "When was it?", turns)[-1]
    assert "Searched for" not in messages[-1]["content"]


def test_an_unexpected_failure_is_a_message_not_a_stack_trace(service, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")
        yield  # pragma: no cover

    monkeypatch.setattr(service.chain, "stream", broken)
    messages, turns, _, _ = run(service, "Where were the talks held?")[-1]
    assert "something went wrong" in messages[-1]["content"] and "boom" not in messages[-1]["content"]


def test_abstention_lists_related_reading(service):
    messages, turns, panel, _ = run(service, "How many billions of dollars has China invested in CPEC so far?")[-1]
    assert "rag-abstain" in messages[-1]["content"] and "Related reading" in messages[-1]["content"]
    assert [c["key"] for c in turns[-1]["cards"]] == ["p1", "p2", "p3"] and 'id="rag-src-1-p1"' in panel


def test_the_llm_answerer_streams_its_text(retriever):
    fake = pytest.importorskip("langchain_core.language_models.fake_chat_models")
    reply = "The sides agreed to optimize the development and operation of Gwadar Port [1]."
    chain = rag.Chain(retriever, answerer="llm", llm=fake.FakeListChatModel(responses=[reply] * 4))
    service = ChatService(chain, retriever.settings, SEEDS, ("rules", "llm"), "rules")
    updates = run(service, "Which port will the corridor improve?", answerer="llm")
    assert any("Gwadar Port" in u[0][-1]["content"] and "rag-streaming" in u[0][-1]["content"] for u in updates[1:-1])
    messages, turns, _, _ = updates[-1]
    assert turns[-1]["ok"] and "Gwadar" in messages[-1]["content"] and "rag-error" not in messages[-1]["content"]


def test_llm_is_offered_only_when_configured():
    assert not llm_configured(rag.Settings())
    assert llm_configured(rag.Settings(llm_provider="ollama")) if "llm_provider" in rag.Settings.model_fields else True


def test_an_llm_that_does_not_answer_gives_the_offline_answer_with_a_notice_in_the_chat(retriever):
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = retriever.settings.model_copy(update={"llm_provider": "openai", "llm_model": "any", "llm_timeout": 5, "answerer": "rules",
                                                     "llm_base_url": f"http://127.0.0.1:{port}/v1"})
    chain = rag.Chain(retriever, answerer="llm", settings=settings)
    service = ChatService(chain, settings, SEEDS, ("rules", "llm"), "llm")
    messages, turns, panel, _ = run(service, "Which port will the corridor improve?", answerer="llm")[-1]
    html = messages[-1]["content"]
    assert turns[-1]["ok"] and 'class="rag-notice"' in html and "did not answer" in html
    assert "Gwadar" in html and 'class="rag-cite"' in html and "rag-error" not in html


def test_an_over_long_message_reports_the_same_length_everywhere(service):
    """5,000 characters typed: the chat's note on the message and the error both say 5,000."""
    question = "why " * 1250
    *_, (messages, _, _, _) = list(service.respond(question, [], None, None, None))
    assert "(5,000 characters)" in messages[-2]["content"]
    assert "5,000 characters long" in messages[-1]["content"] and "4,999" not in str(messages)


def test_warm_up_prepares_every_offline_answerer_before_the_first_question(retriever):
    chain = rag.Chain(retriever, answerer="rules")
    service = ChatService(chain, rag.Settings(), SEEDS, ("rules",), "rules")
    rules = chain._get("rules")
    assert len(rules._cache) == 0
    service.warm_up()
    assert len(rules._cache) > 0  # the answerer ran once: its model and sentence vectors are loaded
