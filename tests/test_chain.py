import re

import pytest
from langchain_core.runnables import Runnable

import rag
from eval.gold import load_gold
from rag.answer_types import answer_type, holds_type, specifics
from rag.answerers.rules import _MULTI
from rag.rewrite import follow_up, is_follow_up, rewrite_query
from tests.conftest import GOLD, SEEDS


@pytest.fixture(scope="module")
def chain(seed_index):
    return rag.load_chain(seed_index)


@pytest.fixture(scope="module")
def rules(seed_index):
    """The rule-based answerer (the registered fallback); its own behaviours are tested with it."""
    return rag.load_chain(seed_index, answerer="rules")


@pytest.fixture(scope="module")
def gold():
    return load_gold(GOLD, SEEDS)


def found(answer: rag.Answer, needle: str) -> bool:
    """The answer says ``needle``; or, with no direct answer, the closest passage does (never "nothing relevant")."""
    if answer.outcome == "answer":
        return needle in answer.text
    return answer.outcome == "related" and needle in answer.passages[0].text


def source_text(name: str) -> str:
    return rag.read_source(SEEDS / name)


def test_citations_are_exact_spans_and_match_the_markers(chain, gold):
    for item in gold:
        answer = chain.ask(item.question, item.turns)
        markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
        assert markers == {c.n for c in answer.citations}, item.id
        for c in answer.citations:
            assert source_text(c.source)[c.start : c.end] == c.quote, item.id
        assert answer.abstained == (not answer.citations)


@pytest.mark.parametrize(
    "question",
    ["What is the boiling point of mercury?", "Who won the 2018 football World Cup?", "How many moons does Jupiter have?"],
)
def test_clearly_unanswerable_questions_abstain(chain, rules, question):
    answer = chain.ask(question)
    assert answer.abstained and not answer.citations and answer.outcome in ("related", "none")
    assert ("do not contain" in answer.text) == (answer.outcome == "none")
    assert answer.passages, "the closest passages are kept (as related reading, when relevant)"
    answer = rules.ask(question)
    assert answer.abstained and "do not contain" in answer.text and answer.outcome == "related"


@pytest.mark.parametrize(
    ("question", "needle"),
    [
        ("Which port will the corridor develop?", "Gwadar Port"),
        ("In which year did the Taliban return to power?", "2021"),
        ("Which organisation will Pakistan chair?", "Shanghai Cooperation Organisation"),
    ],
)
def test_answerable_questions_are_answered_with_citations(chain, question, needle):
    answer = chain.ask(question)
    assert found(answer, needle) and len(answer.text.split()) <= 90


def test_follow_up_is_rewritten_with_the_previous_turn(chain):
    history = [("Which organisation will Pakistan chair?", "The Shanghai Cooperation Organisation, in 2026-2027 [1].")]
    answer = chain.ask("What does China support it doing?", history)
    assert answer.rewritten_query.startswith("What does China support it doing?")
    assert "Shanghai Cooperation Organisation" in answer.rewritten_query and "[1]" not in answer.rewritten_query
    assert found(answer, "greater role")


def test_rewrite_rules():
    assert rewrite_query("Which amendment did Pakistan pass in 2025?", [("a", "b")]).text == "Which amendment did Pakistan pass in 2025?"
    assert is_follow_up("And when?") and is_follow_up("Why is that a worry for them?")
    assert not is_follow_up("Which constitutional amendment did Pakistan pass in November?")
    assert not is_follow_up("What was said about Kashmir?") and is_follow_up("what city was that in")
    assert rewrite_query("When was it?", None) == rag.Query("When was it?")
    assert follow_up("And when?") == "sure" and follow_up("Where were the talks held?") == "maybe"


def test_the_searched_query_carries_the_subject_never_an_answers_text_or_a_refusal():
    long_answer = ("Deputy Prime Minister and Foreign Minister Ishaq Dar led the delegation, which identified new areas "
                   "of future cooperation with Beijing, including an upgraded version of the corridor [1].")
    context = rewrite_query("and who did he meet?", [("who led the pakistani delegation", long_answer)]).context
    assert context == "who led the pakistani delegation Deputy Prime Minister and Foreign Minister Ishaq Dar Beijing"
    assert "cooperation" not in context and "[1]" not in context
    for refusal in (rag.answerers.base.ABSTAIN_TEXT, rag.answerers.base.RELATED_TEXT, *rag.answerers.base.REQUEST_TEXTS.values()):
        query = rewrite_query("and who did he meet?", [("who led the pakistani delegation", refusal)])
        assert query.context == "who led the pakistani delegation"
    two = [("Which organisation will Pakistan chair?", "The Shanghai Cooperation Organisation [1]."),
           ("And when?", "In 2026-2027 [1].")]
    assert (rewrite_query("What does China support it doing?", two).context
            == "Which organisation will Pakistan chair? And when? Shanghai Cooperation Organisation")


def test_what_an_acronym_stands_for_is_answered_by_its_definition(rules):
    answer = rules.ask("What does CPEC stand for?")
    assert [c.quote for c in answer.citations if "China-Pakistan Economic Corridor (CPEC)" in c.quote], answer.text


def test_answer_types():
    assert answer_type("When did it start?") == "date" and answer_type("How many ships?") == "number"
    assert answer_type("Which city hosted it?") == "place" and answer_type("Who chaired it?") == "name"
    assert holds_type("date", "It began in March 2020.", "When did it begin?")
    assert not holds_type("number", "Chinese nationals work there.", "How many Chinese nationals work there?")
    assert holds_type("place", "They met in Lahore.", "Where did they meet?")
    assert answer_type("What does AFC stand for?") == "name" and answer_type("What does China stand for?") is None
    assert holds_type("name", "The American Football Conference (AFC) champion won.", "What does AFC stand for?")
    assert not holds_type("name", "AFC and NFC teams met; the Broncos won.", "What does AFC stand for?")


def test_stream_ends_with_the_same_answer_as_ask(chain):
    pieces = list(chain.stream("What did the two sides agree about terrorism?"))
    final = pieces[-1]
    assert isinstance(final, rag.Answer) and all(isinstance(p, str) for p in pieces[:-1])
    assert "".join(pieces[:-1]) == final.text
    asked = chain.ask("What did the two sides agree about terrorism?")
    assert {**final.to_dict(), "latency_ms": 0} == {**asked.to_dict(), "latency_ms": 0}


def test_runnable_invoke(chain):
    runnable = chain.as_runnable()
    assert isinstance(runnable, Runnable)
    answer = runnable.invoke({"question": "Where did the author see police restrictions?", "history": []})
    assert isinstance(answer, rag.Answer) and "Lahore" in answer.text
    assert answer.latency_ms > 1  # measured from the start of the run, not from the answer step


def test_the_runnable_is_typed_streams_like_the_chain_and_reports_its_retriever(chain):
    import asyncio

    from langchain_core.callbacks import BaseCallbackHandler

    runnable, question = chain.as_runnable(), "What did the two sides agree about terrorism?"
    tool = runnable.as_tool(name="ask_documents", description="Answer a question from the documents.")
    assert set(tool.args) == {"question", "history", "k", "mode", "answerer"}
    assert isinstance(tool.invoke({"question": question}), rag.Answer)
    expected = list(chain.stream(question))
    streamed = list(runnable.stream({"question": question}))

    async def collect():
        return [piece async for piece in runnable.astream({"question": question})]

    for pieces in (streamed, asyncio.run(collect())):
        assert pieces[:-1] == expected[:-1] and len(pieces) > 2 and pieces[-1].text == expected[-1].text
    follow = runnable.invoke({"question": "And when?", "history": [{"question": question, "answer": expected[-1].text}]})
    assert follow.rewritten_query.startswith("And when?")

    class Seen(BaseCallbackHandler):
        def __init__(self):
            self.retrievals = []

        def on_retriever_end(self, documents, *, parent_run_id=None, **kwargs):
            self.retrievals.append((len(documents), parent_run_id))

    seen = Seen()
    runnable.invoke({"question": question, "k": 3}, config={"callbacks": [seen]})
    assert len(seen.retrievals) == 1 and seen.retrievals[0][0] == 3 and seen.retrievals[0][1] is not None
    for bad, why in (({"question": question, "k": 0}, "k"), ({"question": question, "mode": "fuzzy"}, "mode"), ({}, "question")):
        with pytest.raises(rag.RagError, match=f"invalid chain input: {why}"):
            runnable.invoke(bad)


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("  \t\n ", "empty"), ("x" * 2001, "limit is 2000"), ("\x00\x07", "empty")],
)
def test_bad_questions_are_clear_errors(chain, question, message):
    with pytest.raises(rag.RagError, match=message):
        chain.ask(question)


def test_control_characters_are_removed(chain):
    answer = chain.ask("Which\x00 port\x1b will the corridor develop?")
    assert answer.question == "Which port will the corridor develop?"


def test_unknown_answerer_is_a_clear_error(chain):
    with pytest.raises(rag.RagError, match="unknown answerer"):
        chain.ask("Gwadar?", answerer="oracle")


def test_a_deputy_does_not_answer_who_holds_the_role():
    question = "Who is the prime minister?"
    assert not holds_type("name", "Deputy Prime Minister Ali Khan met the envoy.", question)
    assert not holds_type("name", "Ali Khan met the envoy in March.", question)  # the role is not named
    assert holds_type("name", "Prime Minister Sara Malik met the envoy.", question)


def test_a_first_name_needs_a_name_next_to_the_surname():
    question = "What is Minister Dar's first name?"
    assert answer_type(question) == "name"
    assert not holds_type("name", "Foreign Minister Dar met officials in China.", question)
    assert holds_type("name", "Ishaq Dar met officials.", question)


def test_numbers_and_hyphenated_names_of_the_question_must_be_repeated():
    assert specifics("When was the China-Bangladesh-Pakistan mechanism set up in 2025?") == {"china-bangladesh-pakistan", "2025"}
    assert specifics("an all-weather friend") == set()


def test_a_sentence_that_lists_the_asked_number_of_things_answers_alone(rules):
    answer = rules.ask("Which three sectors will CPEC 2.0 focus on?")
    assert len(answer.citations) == 1 and "three key sectors of industry, agriculture, and mining" in answer.text


def test_multi_part_questions():
    assert _MULTI.search("Which two mechanisms does it mention?") and _MULTI.search("Since when, and how has it hurt?")
    assert not _MULTI.search("And what is it for?") and not _MULTI.search("Why do both countries want it?")


def test_follow_up_context_does_not_change_what_is_asked():
    query = rewrite_query("When was it held?", [("Which round was held in 2026?", "The Seventh Round [1].")])
    assert query.asked == "When was it held?" and query.context == "Which round was held in 2026? Seventh Round"
    assert query.text == "When was it held? Which round was held in 2026? Seventh Round" and not query.maybe


def test_a_standalone_question_after_another_topic_is_searched_alone(chain):
    """"Where were the talks held?" names nothing but stands alone: the corridor answer before it must not be
    pasted into its query."""
    corridor = chain.ask("Which port will the corridor develop?")
    answer = chain.ask("Where were the talks held?", [(corridor.question, corridor.text)])
    assert answer.rewritten_query == "Where were the talks held?"
    assert found(answer, "Beijing")


def test_before_is_the_previous_chunk_of_the_same_paragraph(retriever):
    chunks = retriever.chunks
    found = 0
    for passage in retriever.search("China-Bangladesh-Pakistan trilateral cooperation mechanism", k=5):
        previous = retriever.before(passage)
        if previous is not None:
            found += 1
            assert previous.id == passage.id - 1 and previous.end <= passage.start
            assert (previous.source, previous.para_start) == (passage.source, passage.para_start)
    assert found
    first = chunks[0]
    assert retriever.before(rag.Passage(first.id, first.source, first.start, first.end, first.text, 1.0)) is None


def test_what_is_it_called_needs_a_name_beside_the_thing():
    question = "What is the new road plan called?"
    assert answer_type(question) == "name"
    assert holds_type("name", "The plan, called Silk Link, opens next year.", question)
    assert not holds_type("name", "Compared with the initial plan, the work has been slow in China.", question)
    assert not holds_type("name", "Roads and plans were discussed.", question)  # no name at all


def test_acronyms_the_corpus_defines(tmp_path):
    """"the NVR" is matched as "the NVR (Northern Valley Railway)", so it answers a question about "the railway"
    (without the spelled-out name the sentence about the railway's museum wins); "What does NVR stand for?" is
    answered by the sentence with those initials, not by the one closest in meaning."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "The Northern Valley Railway (NVR) opened in 1990 and links four towns in the hills.\n\n"
        "Passengers on the railway enjoy views of lakes and forests, and a small museum of old trains stands near"
        " the main station.\n\nExtending the NVR to the coast requires new signals, two tunnels and longer platforms.\n",
        encoding="utf-8",
    )
    rag.build_index(corpus, tmp_path / "index")
    chain = rag.load_chain(tmp_path / "index", answerer="rules")
    answer = chain.ask("What is needed to lengthen the railway?")
    assert [c.quote for c in answer.citations] == ["Extending the NVR to the coast requires new signals, two tunnels and longer platforms."]
    answer = chain.ask("What does NVR stand for?")
    assert [c.quote[:34] for c in answer.citations] == ["The Northern Valley Railway (NVR) "], "the sentence that spells it out"
    assert chain.ask("What does XYZ stand for?").abstained


def test_a_request_for_a_summary_or_an_opinion_is_declined_with_the_closest_passages(chain):
    from rag.answer_types import request_kind

    assert request_kind("summarize the article in two sentences") == "summary"
    assert request_kind("What is this document about?") == "summary"
    assert request_kind("what do you think of the corridor") == "opinion"
    assert request_kind("Which port will the corridor develop?") is None and request_kind("Should I bring ID?") is None
    for question, kind in (("summarize the article in two sentences", "summary"), ("what do you think of CPEC?", "opinion")):
        answer = chain.ask(question)
        assert answer.outcome == "related" and answer.text == rag.answerers.base.REQUEST_TEXTS[kind] and answer.passages
        streamed = list(chain.stream(question))
        assert streamed[-1].text == answer.text and "".join(p for p in streamed if isinstance(p, str)).strip() == answer.text
