"""The question-answering chain: rewrite → retrieve → answer, composed from LangChain runnables.

Example:
    >>> chain = load_chain("index")                                   # doctest: +SKIP
    >>> answer = chain.ask("Where were the talks held?")               # doctest: +SKIP
    >>> answer.text, answer.citations[0].quote[:30]                    # doctest: +SKIP
    ('On January 4, 2026, ... in Beijing ... [1]', 'On January 4, 2026, Member of ')
    >>> chain.as_runnable().invoke({"question": "And when?", "history": [["Where were the talks held?", answer.text]]})  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from typing import TYPE_CHECKING

from rag.answer import ExtractiveAnswerer, Extraction
from rag.config import Mode, Settings
from rag.errors import RagError
from rag.records import Answer, Citation, Passage
from rag.retrieval import Retriever, load_retriever
from rag.rewrite import rewrite_query

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

ABSTAIN_TEXT = "The documents do not contain an answer to this question."
ANSWERERS = ("extractive", "llm")
History = list[tuple[str, str]]


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters removed and whitespace folded; a clear error if unusable."""
    if not isinstance(question, str):
        raise RagError("the question must be text")
    cleaned = " ".join("".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question).split())
    if not cleaned:
        raise RagError("the question is empty: type a question about the documents")
    if len(cleaned) > max_chars:
        raise RagError(f"the question is {len(cleaned)} characters long; the limit is {max_chars} (RAG_MAX_QUESTION_CHARS)")
    return cleaned


def compose(extraction: Extraction) -> tuple[str, list[Citation]]:
    """Answer text with a marker ``[n]`` after each chosen sentence, and the matching citations."""
    if extraction.abstained:
        return ABSTAIN_TEXT, []
    citations = [Citation(n, s.source, s.start, s.end, s.text) for n, s in enumerate(extraction.sentences, 1)]
    return " ".join(f"{c.quote} [{c.n}]" for c in citations), citations


class Chain:
    """Answers questions with verified citations; safe to call from many threads at once."""

    def __init__(self, retriever: Retriever, answerer: str = "extractive", llm=None, settings: Settings | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.extractive = ExtractiveAnswerer(
            retriever.embedder, idf=retriever.index.bm25.idf, before=retriever.before, spell_out=retriever.spell_out
        )
        self.llm_answerer = None
        if answerer == "llm" or llm is not None or self.settings.llm_provider != "none":
            from rag.llm import LLMAnswerer, make_chat_model

            self.llm_answerer = LLMAnswerer(llm or make_chat_model(self.settings), self.extractive)
        self.answerer = answerer
        self._use_llm({"answerer": answerer})
        self._runnable = None

    def as_runnable(self) -> Runnable:
        """The chain as a LangChain ``Runnable``: input ``{"question", "history"?, "k"?, "mode"?, "answerer"?}``, output :class:`Answer`."""
        if self._runnable is None:  # LangChain is imported on first use only (about a second of start-up)
            from langchain_core.runnables import RunnableLambda, RunnablePassthrough

            self._runnable = (
                RunnablePassthrough.assign(query=RunnableLambda(self._rewrite, name="rewrite"))
                | RunnablePassthrough.assign(passages=RunnableLambda(self._retrieve, name="retrieve"))
                | RunnableLambda(self._answer, name="answer")
            )
        return self._runnable

    def ask(self, question: str, history: History | None = None, *, k: int | None = None, mode: Mode | None = None, answerer: str | None = None) -> Answer:
        """Answer ``question``; ``history`` is the earlier ``(question, answer)`` turns, oldest first."""
        inputs = {"question": question, "history": history or [], "k": k, "mode": mode, "answerer": answerer}
        return self._answer(self._prepare(inputs))

    def stream(self, question: str, history: History | None = None, **options) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is ready, then the final :class:`Answer` (equal to ``ask``'s)."""
        state = self._prepare({"question": question, "history": history or [], **options})
        if self._use_llm(state):
            pieces = []
            for piece in self.llm_answerer.stream(state["query"], state["passages"]):
                pieces.append(piece)
                yield piece
            state["raw"] = "".join(pieces)
            yield self._answer(state)
            return
        answer = self._answer(state)
        for piece in re.findall(r"\S+\s*", answer.text):
            yield piece
        yield answer

    # -- the steps ---------------------------------------------------------------------------------------
    def _prepare(self, inputs: dict) -> dict:
        state = dict(inputs, started=time.perf_counter())
        state["query"] = self._rewrite(state)
        state["passages"] = self._retrieve(state)
        return state

    def _rewrite(self, inputs: dict) -> str:
        question = clean_question(inputs["question"], self.settings.max_question_chars)
        history = [(str(q), str(a)) for q, a in inputs.get("history") or []]
        if history and self._use_llm(inputs):
            return self.retriever.expand(self.llm_answerer.condense(question, history))
        return self.retriever.expand(rewrite_query(question, history))

    def _retrieve(self, inputs: dict) -> list[Passage]:
        return list(self.retriever.search(inputs["query"], k=inputs.get("k"), mode=inputs.get("mode")))

    def _use_llm(self, inputs: dict) -> bool:
        choice = inputs.get("answerer") or self.answerer
        if choice not in ANSWERERS:
            raise RagError(f"unknown answerer {choice!r}: use one of {', '.join(ANSWERERS)}")
        if choice == "llm" and self.llm_answerer is None:
            raise RagError("no LLM is configured: set RAG_LLM_PROVIDER (see the README) or use the extractive answerer")
        return choice == "llm"

    def _answer(self, state: dict) -> Answer:
        question = clean_question(state["question"], self.settings.max_question_chars)
        if self._use_llm(state):
            text, citations, abstained = self.llm_answerer.run(state["query"], state["passages"], state.get("raw"))
        else:
            extraction = self.extractive.run(state["query"], state["passages"])
            (text, citations), abstained = compose(extraction), extraction.abstained
        started = state.get("started", time.perf_counter())
        return Answer(question, text, citations, state["passages"], abstained, state["query"], (time.perf_counter() - started) * 1000)


def load_chain(index_dir: str | Path = "index", answerer: str = "extractive", llm=None, settings: Settings | None = None) -> Chain:
    """Load the index and build a :class:`Chain`; ``llm`` is any LangChain chat model (else the configured one)."""
    settings = settings or Settings()
    return Chain(load_retriever(index_dir, settings), answerer=answerer, llm=llm, settings=settings)
