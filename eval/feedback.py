"""``rag eval --feedback INDEX``: the users' verdicts kept beside an index (:mod:`rag.feedback`) as a regression set.

Each record's question is asked again, with its history, through the current chain, and judged (:func:`judge`):

- thumbs up on an answer: passes when the answer is still an answer and every span it cited overlaps a span the
  new answer cites (same file, overlapping characters; a rebuilt index may cut passages differently);
- thumbs up on "related" or "none": passes when the outcome is the same;
- thumbs down with a note ("the right answer is in …"): passes when the new answer is an answer and one of its
  citations holds the note's text (case and spacing aside), or the note names a cited file;
- thumbs down without a note: passes when the answer changed: another outcome, or another set of cited spans.

Example:
    >>> chain = rag.load_chain("index")                                  # doctest: +SKIP
    >>> records = run_feedback(chain, rag.feedback.read("index").records)  # doctest: +SKIP
    >>> summarize(records)["overall"]["pass_rate"]                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

import rag
from rag.feedback import Feedback
from eval.metrics import percentiles

GROUPS = {"up": "thumbs up", "down": "thumbs down"}


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _overlaps(a: dict, b: dict) -> bool:
    return a["source"] == b["source"] and a["start"] < b["end"] and b["start"] < a["end"]


def _spans(citations: Sequence[dict]) -> set[tuple[str, int, int]]:
    return {(c["source"], c["start"], c["end"]) for c in citations}


def judge(fb: Feedback, now: dict) -> tuple[bool, str]:
    """Whether the current answer ``now`` (the ``rag ask --json`` object) passes the verdict ``fb``, and why not."""
    before = [{"source": c.source, "start": c.start, "end": c.end} for c in fb.citations]
    cited = now["citations"]
    if fb.verdict == "up":
        if now["outcome"] != fb.outcome:
            return False, f"was {fb.outcome}, now {now['outcome']}"
        lost = [c for c in before if not any(_overlaps(c, n) for n in cited)]
        if fb.outcome == "answer" and lost:
            return False, "no longer cites " + ", ".join(f"{c['source']}:{c['start']}-{c['end']}" for c in lost)
        return True, ""
    if fb.note:
        if now["outcome"] != "answer":
            return False, f"now {now['outcome']}, not an answer"
        note = _fold(fb.note)
        found = any(note in _fold(c["quote"]) or _fold(PurePosixPath(c["source"]).name) in note for c in cited)
        return (True, "") if found else (False, f"no citation holds the note {fb.note!r}")
    if now["outcome"] != fb.outcome or _spans(cited) != _spans(before):
        return True, ""
    return False, "the same answer as the one marked wrong"


def run_feedback(chain: rag.Chain, records: Sequence[Feedback], on_item: Callable[[], None] | None = None) -> list[dict]:
    """Ask every record's question again (with its history); one ``rag ask --json`` object per record, plus
    ``id``, ``type`` (its group) and ``feedback`` (the verdict, the note, whether it passed, and why not)."""
    out = []
    for fb in records:
        now = chain.ask(fb.question, list(fb.history)).to_dict()
        passed, why = judge(fb, now)
        out.append({"id": fb.id, "type": GROUPS[fb.verdict], **now,
                    "feedback": {"verdict": fb.verdict, "note": fb.note, "time": fb.time, "outcome_then": fb.outcome,
                                 "passed": passed, "why": why}})
        if on_item:
            on_item()
    return out


def summarize(records: Sequence[dict]) -> dict:
    """Overall and per verdict: items, passed, pass rate, answered (outcome ``answer`` now), latency."""
    groups: dict[str, list[dict]] = {"overall": list(records)}
    for r in records:
        groups.setdefault(r["type"], []).append(r)
    out = {}
    for name, rs in groups.items():
        passed = sum(r["feedback"]["passed"] for r in rs)
        lat = percentiles([r["latency_ms"] for r in rs])
        out[name] = {"items": len(rs), "passed": passed, "pass_rate": passed / len(rs),
                     "answered": sum(r["outcome"] == "answer" for r in rs),
                     "latency_p50_ms": lat["p50"], "latency_p95_ms": lat["p95"]}
    return out


def failures(records: Sequence[dict], limit: int = 10) -> list[str]:
    """One line per failed record (at most ``limit``): its verdict, question and why it failed."""
    lines = [f"failed ({r['type']}): {r['question']!r}: {r['feedback']['why']}" for r in records if not r["feedback"]["passed"]]
    return lines[:limit] + ([f"… and {len(lines) - limit} more (see the per-item results)"] if len(lines) > limit else [])
