"""Users' verdicts on answers (thumbs up / down, an optional note), kept beside the index as JSON lines so that a team
can turn them into a regression set (``rag eval --feedback INDEX``).

The store is ``<index>/feedback.jsonl``, beside ``CURRENT`` and never inside a ``build-*`` folder, so rebuilds keep
it. One JSON object per line (:meth:`Feedback.to_dict`); a later line with the same ``id`` replaces an earlier one
(a note sent after a thumbs-down, a changed verdict), and a line ``{"id", "withdrawn": true}`` takes a verdict
back (:func:`withdraw`). Nothing is pickled. What is stored is what was typed and
answered, and when: the question, the earlier turns sent with it, the answer, its outcome and citations, the verdict
and the note; no address, user name or session.

Bounds: every field is checked (:func:`make`); a record is at most :data:`MAX_RECORD_BYTES` (the oldest turns of
its history are dropped to fit, else it is refused); the file is at most :data:`MAX_FILE_BYTES`: an append that
would pass it first drops the oldest lines, down to three quarters of the limit (the newest verdicts are kept).
Appends and that rewrite hold an exclusive lock (``<index>/.feedback.lock``), so servers and commands on one index
may write at once.

Example:
    >>> fb = make("Where were the talks held?", [], "In Beijing [1].", "answer",
    ...           [{"source": "talks.txt", "start": 0, "end": 40, "quote": "The talks were held in Beijing."}], "up")
    >>> record("index", fb)                                   # doctest: +SKIP
    >>> [f.verdict for f in read("index").records]            # doctest: +SKIP
    ['up']
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import unicodedata
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from rag.chain import clean_question, history_turns
from rag.config import Settings
from rag.errors import RagError
from rag.locks import exclusive

FILE = "feedback.jsonl"
LOCK = ".feedback.lock"
VERDICTS = ("up", "down")
OUTCOMES = ("answer", "related", "none")
MAX_NOTE_CHARS = 500
MAX_ANSWER_CHARS = 10_000
MAX_CITATIONS = 20
MAX_QUOTE_CHARS = 4_000
MAX_SOURCE_CHARS = 1_000
MAX_RECORD_BYTES = 128 * 1024
MAX_FILE_BYTES = 8 * 2**20
_ID = re.compile(r"^[0-9a-f]{32}$")

log = logging.getLogger(__name__)
_local = threading.Lock()


@dataclass(frozen=True)
class Cited:
    """A span the answer cited: ``quote == source_text[start:end]``."""

    source: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class Feedback:
    """One verdict on one answer. ``verdict`` is ``up`` or ``down``; ``note`` says where the right answer is
    (optional, after a thumbs-down); ``time`` is UTC, ISO 8601, to the second."""

    id: str
    time: str
    verdict: str
    question: str
    history: tuple[tuple[str, str], ...]
    answer: str
    outcome: str
    citations: tuple[Cited, ...]
    note: str = ""

    def to_dict(self) -> dict:
        """The JSON line: history as a list of ``{"question", "answer"}``, citations as ``{"source", "start", "end", "quote"}``."""
        return {"id": self.id, "time": self.time, "verdict": self.verdict, "question": self.question,
                "history": [{"question": q, "answer": a} for q, a in self.history], "answer": self.answer,
                "outcome": self.outcome, "citations": [asdict(c) for c in self.citations], "note": self.note}

    @classmethod
    def from_dict(cls, data: dict, settings: Settings | None = None) -> Feedback:
        """A record read back, checked as :func:`make` checks a new one."""
        if not isinstance(data, dict):
            raise RagError("a feedback record must be a JSON object")
        return make(data.get("question"), data.get("history"), data.get("answer"), data.get("outcome"),
                    data.get("citations"), data.get("verdict"), data.get("note") or "", id=data.get("id"),
                    time=data.get("time"), settings=settings)


@dataclass(frozen=True)
class Stored:
    """What :func:`read` found: the records (the latest line of each id, oldest first) and how many lines were unusable."""

    records: list[Feedback]
    skipped: int
    path: Path


def path(index_dir: str | Path) -> Path:
    """Where an index's feedback lives."""
    return Path(index_dir) / FILE


def _plain(value, limit: int, what: str) -> str:
    """``value`` as text without control characters (tab and newline aside) or lone surrogates, at most ``limit`` characters."""
    if not isinstance(value, str):
        raise RagError(f"the feedback's {what} must be text")
    text = "".join(ch for ch in value if ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    if len(text) > limit:
        raise RagError(f"the feedback's {what} is {len(text):,} characters long; the limit is {limit:,}")
    return text


def _checked_id(value) -> str:
    if not (isinstance(value, str) and _ID.match(value)):
        raise RagError("a feedback id is 32 hexadecimal digits")
    return value


def _cited(item) -> Cited:
    if not isinstance(item, dict):
        raise RagError('each citation must be an object {"source", "start", "end", "quote"}')
    start, end = item.get("start"), item.get("end")
    if not (type(start) is int and type(end) is int and 0 <= start <= end):
        raise RagError("a citation's start and end must be whole numbers with 0 <= start <= end")
    return Cited(_plain(item.get("source"), MAX_SOURCE_CHARS, "citation source"), start, end,
                 _plain(item.get("quote"), MAX_QUOTE_CHARS, "citation quote"))


def make(question, history, answer, outcome, citations, verdict, note: str = "", *, id: str | None = None,
         time: str | None = None, settings: Settings | None = None) -> Feedback:
    """A checked record: the question and history within the same limits as asking (``max_question_chars``,
    ``max_history_turns``, ``max_history_chars``), the other fields within this module's limits; the oldest turns of
    the history are dropped until the record fits :data:`MAX_RECORD_BYTES`. Anything else is a :class:`RagError`."""
    settings = settings or Settings()
    if verdict not in VERDICTS:
        raise RagError(f"the verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if outcome not in OUTCOMES:
        raise RagError(f"the outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    id = uuid.uuid4().hex if id is None else _checked_id(id)
    if time is None:
        time = datetime.now(timezone.utc).isoformat(timespec="seconds")
    else:
        try:
            datetime.fromisoformat(_plain(time, 40, "time"))
        except ValueError:
            raise RagError(f"the feedback's time is not an ISO 8601 time: {time!r}") from None
    if citations is None:
        citations = []
    if not isinstance(citations, (list, tuple)) or len(citations) > MAX_CITATIONS:
        raise RagError(f"the citations must be a list of at most {MAX_CITATIONS}")
    turns = tuple(history_turns(history if history is not None else [], settings))
    fb = Feedback(id, time, verdict, clean_question(question, settings.max_question_chars), turns,
                  _plain(answer, MAX_ANSWER_CHARS, "answer"), outcome, tuple(_cited(c) for c in citations),
                  " ".join(_plain(note or "", MAX_NOTE_CHARS, "note").split()))
    while len(_line(fb)) > MAX_RECORD_BYTES:
        if not fb.history:
            raise RagError(f"the feedback record is over {MAX_RECORD_BYTES // 1024} KB")
        fb = replace(fb, history=fb.history[1:])
    return fb


def _line(fb: Feedback) -> bytes:
    return (json.dumps(fb.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")


def record(index_dir: str | Path, fb: Feedback) -> Path:
    """Append ``fb`` to the index's feedback (dropping the oldest lines first when the file would pass
    :data:`MAX_FILE_BYTES`); returns the file's path."""
    return _append(Path(index_dir), _line(fb))


def withdraw(index_dir: str | Path, id: str) -> Path:
    """Take back the verdict ``id`` (a thumb clicked again): a line ``{"id", "withdrawn": true}``."""
    return _append(Path(index_dir), (json.dumps({"id": _checked_id(id), "withdrawn": True}) + "\n").encode("utf-8"))


def _append(index_dir: Path, line: bytes) -> Path:
    """Append one line under the lock, first dropping the oldest lines when the file would pass the limit."""
    if not index_dir.is_dir():
        raise RagError(f"no index folder {index_dir} to keep feedback in")
    target = path(index_dir)
    try:
        with exclusive(index_dir / LOCK, _local):
            size = target.stat().st_size if target.exists() else 0
            if size + len(line) > MAX_FILE_BYTES:
                _drop_oldest(target, MAX_FILE_BYTES * 3 // 4 - len(line))
            with open(target, "ab") as fh:
                fh.write(line)
    except OSError as exc:
        raise RagError(f"cannot store feedback in {target}: {exc.strerror or exc}") from None
    return target


def _drop_oldest(target: Path, budget: int) -> None:
    """Rewrite ``target`` (atomically) with its newest lines that fit in ``budget`` bytes."""
    kept: list[bytes] = []
    total = 0
    for line in reversed(target.read_bytes().splitlines(keepends=True)):
        if total + len(line) > budget:
            break
        kept.append(line)
        total += len(line)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.writelines(reversed(kept))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    log.warning("feedback store %s reached %d MB: the oldest records were dropped", target, MAX_FILE_BYTES // 2**20)


def read(index_dir: str | Path, settings: Settings | None = None) -> Stored:
    """The index's feedback: the latest line of each id, in the order the ids first appeared; lines that are not
    a valid record (e.g. cut short by a crash) are counted and skipped. No file: no records."""
    target = path(index_dir)
    by_id: dict[str, Feedback] = {}
    skipped = 0
    if not target.is_file():
        return Stored([], 0, target)
    try:
        with exclusive(Path(index_dir) / LOCK, _local):
            lines = target.read_bytes().splitlines()
    except OSError as exc:
        raise RagError(f"cannot read feedback {target}: {exc.strerror or exc}") from None
    for raw in lines:
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("withdrawn") is True and _ID.match(str(data.get("id"))):
                by_id.pop(data["id"], None)
                continue
            fb = Feedback.from_dict(data, settings)
        except (ValueError, RecursionError, RagError):
            skipped += 1
            continue
        by_id[fb.id] = fb
    return Stored(list(by_id.values()), skipped, target)


__all__ = ["Cited", "Feedback", "Stored", "make", "path", "read", "record", "withdraw"]
