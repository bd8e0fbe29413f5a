"""The question-answering chain: rewrite → retrieve → answer, composed from LangChain runnables.

The answerer is a setting (``answerer``, default ``evidence``); the chain builds answerers through
:mod:`rag.answerers` and knows no kind of its own.

Example:
    >>> chain = load_chain("index")                                   # doctest: +SKIP
    >>> answer = chain.ask("Where were the talks held?")               # doctest: +SKIP
    >>> answer.text, answer.citations[0].quote[:30]                    # doctest: +SKIP
    ('Beijing — On January 4, 2026, ... in Beijing ... [1]', 'On January 4, 2026, Member of ')
    >>> chain.as_runnable().invoke({"question": "And when?", "history": [["Where were the talks held?", answer.text]]})  # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from rag.answer_types import request_kind
from rag.answerers import ABSTAIN_TEXT, Answerer, Query, Reply, check_name, make_answerer
from rag.answerers.base import REQUEST_TEXTS, stream_words
from rag.config import Mode, Settings
from rag.errors import RagError
from rag.records import Answer, Citation, Passage
from rag.retrieval import Retriever, load_retriever
from rag.rewrite import rewrite_query

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

__all__ = ["ABSTAIN_TEXT", "Chain", "History", "clean_question", "history_turns", "load_chain"]

History = list[tuple[str, str]]


class ChainInput(BaseModel):
    """What the chain's Runnable takes (:meth:`Chain.as_runnable`)."""

    question: str = Field(description="A question about the documents.")
    history: list[tuple[str, str] | dict[str, str]] = Field(
        default_factory=list, description='Earlier turns, oldest first: (question, answer) pairs or {"question", "answer"}.')
    k: int | None = Field(None, ge=1, le=100, description="Passages to retrieve (default: the top_k setting).")
    mode: Mode | None = Field(None, description="Retrieval mode: hybrid, dense or bm25 (default: the mode setting).")
    answerer: str | None = Field(None, description="evidence, rules, reader or llm (default: the answerer setting).")


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters removed and whitespace folded; a clear error if unusable."""
    if not isinstance(question, str):
        raise RagError("the question must be text")
    cleaned = " ".join("".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question).split())
    if not cleaned:
        raise RagError("the question is empty: type a question about the documents")
    if len(cleaned) > max_chars:
        raise RagError(f"the question is {len(question):,} characters long; the limit is {max_chars} (RAG_MAX_QUESTION_CHARS)")
    return cleaned


def _text(value) -> str:
    """A history entry as text: control characters and lone surrogates removed."""
    return "".join(ch for ch in str(value or "") if unicodedata.category(ch) not in ("Cc", "Cs"))


def history_turns(data, settings: Settings) -> History:
    """Earlier turns sent by a client (a list of ``{"question", "answer"}`` or ``[question, answer]``), checked
    against ``max_history_turns`` and ``max_history_chars``; a clear error for anything else."""
    if data in (None, "", []):
        return []
    shape = 'history must be a list of {"question": ..., "answer": ...} objects'
    if not isinstance(data, list):
        raise RagError(shape)
    if len(data) > settings.max_history_turns:
        raise RagError(f"the history has {len(data)} turns; the limit is {settings.max_history_turns} (RAG_MAX_HISTORY_TURNS)")
    turns = []
    for item in data:
        if isinstance(item, dict) and "question" in item and "answer" in item:
            turns.append((_text(item["question"]), _text(item["answer"])))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            turns.append((_text(item[0]), _text(item[1])))
        else:
            raise RagError(shape)
    size = sum(len(q) + len(a) for q, a in turns)
    if size > settings.max_history_chars:
        raise RagError(f"the history is {size:,} characters long; the limit is {settings.max_history_chars:,} (RAG_MAX_HISTORY_CHARS)")
    return turns


class Chain:
    """Answers questions with verified citations; safe to call from many threads at once."""

    def __init__(self, retriever: Retriever, answerer: str | None = None, llm=None, settings: Settings | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.answerer = check_name(answerer or self.settings.answerer)
        self.llm = llm
        self._answerers: dict[str, Answerer] = {}
        self._lock = threading.Lock()
        self._get(self.answerer)  # a missing model or LLM is reported now, not at the first question
        self._runnable = None

    def _get(self, name: str | None) -> Answerer:
        name = check_name(name or self.answerer)
        with self._lock:
            if name not in self._answerers:
                self._answerers[name] = make_answerer(name, self.retriever, self.settings, self.llm)
            return self._answerers[name]

    def as_runnable(self) -> Runnable:
        """The chain as a LangChain ``Runnable``: input :class:`ChainInput` (``{"question", "history"?, "k"?,
        "mode"?, "answerer"?}``, typed, so ``as_tool()`` needs no arguments), output :class:`Answer`. Its steps
        (rewrite, retrieve with the retriever as a child run, answer) show in callbacks and traces; ``stream`` and
        ``astream`` yield the pieces :meth:`stream` yields, then the :class:`Answer`."""
        if self._runnable is None:  # LangChain is imported on first use only (about a second of start-up)
            from langchain_core.runnables import RunnableLambda, RunnablePassthrough

            self._runnable = (
                RunnableLambda(self._start, name="start")
                | RunnablePassthrough.assign(query=RunnableLambda(self._rewrite, name="rewrite"))
                | RunnableLambda(self._retrieve_traced, name="retrieve")
                | RunnableLambda(self._answer_pieces, afunc=self._answer_pieces_async, name="answer")
            ).with_types(input_type=ChainInput, output_type=Answer)
        return self._runnable

    @staticmethod
    def _start(inputs) -> dict:
        """The Runnable's input validated (a clear :class:`RagError` otherwise), and the clock started."""
        from pydantic import ValidationError

        try:
            given = ChainInput.model_validate(inputs).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "input"
            raise RagError(f"invalid chain input: {where}: {first['msg']}") from None
        return dict(given, started=time.perf_counter())

    def _retrieve_traced(self, state: dict, run_manager=None) -> dict:
        """:meth:`_retrieve`, reported to the callbacks as a retriever run (query in, documents out)."""
        if run_manager is None:
            return self._retrieve(state)
        from langchain_core.documents import Document

        run = run_manager.get_child().on_retriever_start({"name": "rag.Retriever"}, state["query"].text, name="Retriever")
        try:
            state = self._retrieve(state)
        except BaseException as exc:
            run.on_retriever_error(exc)
            raise
        run.on_retriever_end([Document(page_content=p.text, metadata={"source": p.source, "start": p.start, "end": p.end,
                                                                        "score": p.score}) for p in state["passages"]])
        return state

    def _answer_pieces(self, state: dict) -> Iterator[str | Answer]:
        """The answer step as a generator: the text in pieces, then the :class:`Answer` (``invoke`` keeps the last)."""
        yield from self._pieces(state)

    async def _answer_pieces_async(self, state: dict) -> AsyncIterator[str | Answer]:
        """:meth:`_answer_pieces` for ``ainvoke`` / ``astream``: each piece computed in a worker thread."""
        import asyncio

        loop, pieces, end = asyncio.get_running_loop(), iter(self._pieces(state)), object()
        while (piece := await loop.run_in_executor(None, next, pieces, end)) is not end:
            yield piece

    def ask(self, question: str, history: History | None = None, *, k: int | None = None, mode: Mode | None = None, answerer: str | None = None) -> Answer:
        """Answer ``question``; ``history`` is the earlier ``(question, answer)`` turns, oldest first."""
        inputs = {"question": question, "history": history or [], "k": k, "mode": mode, "answerer": answerer}
        return self._answer(self._prepare(inputs))

    def stream(self, question: str, history: History | None = None, **options) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is ready, then the final :class:`Answer` (equal to ``ask``'s)."""
        return self._pieces(self._prepare({"question": question, "history": history or [], **options}))

    def _pieces(self, state: dict) -> Iterator[str | Answer]:
        answerer = self._get(state.get("answerer"))
        if (request := self._request(answerer, state)) is not None:
            pieces = stream_words(request)
        elif hasattr(answerer, "stream"):
            pieces = answerer.stream(state["query"], state["passages"])
        else:
            pieces = stream_words(answerer.answer(state["query"], state["passages"]))
        for piece in pieces:
            yield piece if isinstance(piece, str) else self._finish(state, piece)

    # -- the steps ---------------------------------------------------------------------------------------
    def _prepare(self, inputs: dict) -> dict:
        state = dict(inputs, started=time.perf_counter())
        state["query"] = self._rewrite(state)
        return self._retrieve(state)

    def _rewrite(self, inputs: dict) -> Query:
        question = clean_question(inputs["question"], self.settings.max_question_chars)
        history = history_turns(list(inputs.get("history") or []), self.settings)
        answerer = self._get(inputs.get("answerer"))
        if history and hasattr(answerer, "condense"):
            return Query(answerer.condense(question, history))
        return rewrite_query(question, history)

    def _retrieve(self, state: dict) -> dict:
        """Search the query; a question that may stand alone is searched both ways and the reading with the
        stronger evidence (:meth:`_evidence`) is kept."""
        query: Query = state["query"]
        passages = self._search(query, state)
        if query.maybe:
            alone = self._search(query.alone(), state)
            if alone and (not passages or self._evidence(query.alone(), alone) > self._evidence(query, passages)):
                query, passages = query.alone(), alone
        return dict(state, query=query, passages=passages)

    def _evidence(self, query: Query, passages: list[Passage]) -> float:
        """How well the best passage answers what was asked (the question alone, not its context, which may quote
        that very passage): the reader's score, or the cosine similarity of question and passage."""
        reader = self.retriever.reader
        if reader is not None:
            return float(reader.score(query.asked, [(passages[0].text, "")])[0])
        return float(self.retriever.cosines(query.asked, [passages[0].text])[0])

    def _search(self, query: Query, state: dict) -> list[Passage]:
        return list(self.retriever.search(query.text, k=state.get("k"), mode=state.get("mode")))

    def _answer(self, state: dict) -> Answer:
        answerer = self._get(state.get("answerer"))
        reply = self._request(answerer, state) or answerer.answer(state["query"], state["passages"])
        return self._finish(state, reply)

    @staticmethod
    def _request(answerer, state: dict) -> Reply | None:
        """For an answerer that only quotes, a request for a summary or an opinion gets a reply saying so, with the
        passages that best match it as related reading (not "the documents do not contain an answer")."""
        kind = request_kind(state["query"].asked)
        if kind is None or getattr(answerer, "writes", False) or not state["passages"]:
            return None
        return Reply(REQUEST_TEXTS[kind], [], True, None, None, outcome="related")

    def _finish(self, state: dict, reply: Reply) -> Answer:
        question = clean_question(state["question"], self.settings.max_question_chars)
        started = state.get("started", time.perf_counter())
        index = self.retriever.index
        passages = [replace(p, heading=index.chunks[p.id].heading, page=index.page_of(p.source, p.start)) for p in state["passages"]]
        citations = [replace(c, page=index.page_of(c.source, c.start), heading=_heading_of(c, passages)) for c in reply.citations]
        return Answer(question, reply.text, citations, passages, reply.abstained,
                      self.retriever.expand(state["query"].text), (time.perf_counter() - started) * 1000,
                      reply.short, reply.confidence, reply.notice, reply.kind)


def _heading_of(citation: Citation, passages: list[Passage]) -> str:
    """The heading of the section a citation sits in: that of the passage holding it (empty: none)."""
    return next((p.heading for p in passages
                 if p.source == citation.source and p.start <= citation.start and citation.end <= p.end), "")


def load_chain(index_dir: str | Path = "index", answerer: str | None = None, llm=None, settings: Settings | None = None) -> Chain:
    """Load the index and build a :class:`Chain`; ``answerer`` defaults to the ``answerer`` setting, ``llm`` is
    any LangChain chat model (else the configured one, used only by the ``llm`` answerer)."""
    settings = settings or Settings()
    return Chain(load_retriever(index_dir, settings), answerer=answerer, llm=llm, settings=settings)
