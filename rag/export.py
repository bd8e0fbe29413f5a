"""A conversation as Markdown, to keep or share: each question, its answer, and the citations with their quotes
and where they are (file, page, section), the character offsets in a small line of details.

A turn is the ``rag ask --json`` object (:meth:`rag.Answer.to_dict`), or just ``{"question", "answer"}`` (a turn of
a ``--history`` file); the chat page's export and ``rag ask --export`` both write :func:`conversation_markdown`.
Text from the documents and the user is data, never markup: every Markdown (and HTML) special character in it is
escaped, so a quote cannot become a link, an image, a heading or raw HTML.

Example:
    >>> print(conversation_markdown([{"question": "Who?", "answer": "Ann [1]", "citations": [
    ...     {"n": 1, "source": "a.txt", "start": 0, "end": 3, "quote": "Ann"}]}]))     # doctest: +NORMALIZE_WHITESPACE
    # Conversation with the documents
    <BLANKLINE>
    ## 1. Who?
    <BLANKLINE>
    Ann [1]
    <BLANKLINE>
    **[1]** a.txt
    <BLANKLINE>
    > Ann
    <BLANKLINE>
    <sub>characters 0–3</sub>
    <BLANKLINE>
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.records import place

TITLE = "Conversation with the documents"
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
"""Characters that Markdown (or HTML inside it) may read as markup anywhere in a line: backslash-escaped."""
_LINE_START = re.compile(r"^([ \t]*)([-=+#]|\d+(?=[.)](?:[ \t]|$)))", re.M)
"""What starts a list, a heading underline or a quote at the beginning of a line."""
_MARKER = re.compile(r"\[(\d+)\]")


def escape(text: str) -> str:
    """``text`` as literal Markdown: special characters backslash-escaped, no line read as a list or a heading,
    no indentation read as code."""
    text = re.sub(r"\r\n?|[\v\f\x85\u2028\u2029]", "\n", text)
    text = re.sub(r"^[ \t]+", "", _SPECIAL.sub(r"\\\1", text), flags=re.M)
    return _LINE_START.sub(lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit() else "\\" + m.group(2)), text)


def _answer_text(text: str) -> str:
    """An answer's text escaped, its citation markers ``[n]`` kept as they are."""
    out, at = [], 0
    for m in _MARKER.finditer(text):
        out += [escape(text[at:m.start()]), m.group(0)]
        at = m.end()
    return "".join(out) + escape(text[at:])


def _quoted(text: str) -> str:
    """A quote as a Markdown block quote."""
    return "\n".join("> " + line if line else ">" for line in escape(text).split("\n"))


def _items(value) -> list[dict]:
    """The objects of a list (a turn read from a file may hold anything)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _number(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _span(label: str, item: dict, text_key: str) -> list[str]:
    """A citation or related passage: where it is in words, the quote, the offsets as a line of details."""
    page, start, end = _number(item.get("page")), _number(item.get("start")), _number(item.get("end"))
    lines = [f"**{label}** {escape(place(str(item.get('source', '')), page, str(item.get('heading') or '')))}", "",
             _quoted(str(item.get(text_key, ""))), ""]
    return lines + ([f"<sub>characters {start}–{end}</sub>", ""] if start is not None and end is not None else [])


def turn_markdown(number: int, turn: dict) -> str:
    """One turn: the question as a heading, the assessment, the answer, its citations or related reading."""
    question = " ".join(str(turn.get("question", "")).split())
    lines = [f"## {number}. {escape(question)}", ""]
    if turn.get("assessment"):
        lines += [f"*{escape(str(turn['assessment']))}*", ""]
    lines += [_answer_text(str(turn.get("answer", ""))), ""]
    for i, c in enumerate(_items(turn.get("citations")), 1):
        lines += _span(f"[{_number(c.get('n')) or i}]", c, "quote")
    related = _items(turn.get("related"))
    if related:
        lines += ["**Related reading** (the closest passages, not an answer)", ""]
        for i, p in enumerate(related, 1):
            lines += _span(f"{i}.", p, "text")
    return "\n".join(lines)


def conversation_markdown(turns: Iterable[dict], title: str = TITLE) -> str:
    """The whole conversation, oldest turn first (see the module)."""
    parts = [f"# {escape(title)}", ""]
    parts += [turn_markdown(i, t) for i, t in enumerate(turns, 1)]
    return "\n".join(parts).rstrip("\n") + "\n"
