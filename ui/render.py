"""HTML for the chat page: answers with clickable citation markers, abstentions, errors and the sources panel.

Nothing here imports Gradio, so the rendering is tested on its own. Every piece of text from the corpus or
the user is HTML-escaped; the only markup is ours.

A citation marker ``[n]`` becomes ``<a class="rag-cite" data-turn=T data-key=cN>``; the sources panel holds
one card per citation (or, for an abstention, per related passage) with the id ``rag-src-T-cN``. A click on a
marker shows its card (see ``CLICK_JS``): the file, its page (PDF) or the heading of the section, and the quoted
span highlighted inside its paragraph; the character offsets only in the card's details line.

Example:
    >>> cards = [{"key": "c1", "label": "[1]", "source": "a.txt", "start": 0, "end": 5,
    ...           "before": "", "mark": "Hello", "after": " world.", "clip_left": False, "clip_right": False,
    ...           "para_start": 0, "para_end": 12, "exact": True}]
    >>> 'data-key="c1"' in answer_html(1, "Hello [1]", cards=cards)
    True
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from threading import Lock

import rag

MARKER = re.compile(r"\[(\d+)\]")
CONTEXT_CHARS = 420
"""Characters of paragraph shown on each side of a highlighted span, at most (cut at a sentence or a word)."""
SHOWN_QUESTION_CHARS = 400
RELATED = 3
"""Passages listed as related reading under an abstention."""
RELATED_HEAD = "Related reading: the closest passages, not an answer"

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")


_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_MARKDOWN = {ord(ch): f"&#{ord(ch)};" for ch in "[]()!*_`~#|\\:&<>\"'"}
"""HTML's and Markdown's special characters as character references, in one pass (nothing is escaped twice)."""


def esc(text: str) -> str:
    """Text as inert HTML: escaped, every line break (``\\r`` too) as ``<br>`` so that no blank line ends the HTML
    block, and Markdown's punctuation as character references so that nothing in it is read as a link,
    image, emphasis or code."""
    return _LINE_BREAK.sub("<br>", text.translate(_MARKDOWN))


def _linked(text: str, marker) -> str:
    """``text`` escaped, its citation markers ``[n]`` replaced by ``marker(match)`` (markup of ours)."""
    out, at = [], 0
    for m in MARKER.finditer(text):
        out += [esc(text[at:m.start()]), marker(m)]
        at = m.end()
    return "".join(out) + esc(text[at:])


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


# -- the paragraph around a span ---------------------------------------------------------------------------
class SourceReader:
    """Reads corpus files (strict UTF-8, as indexed) with a small cache; ``None`` if a file is unavailable."""

    def __init__(self, corpus_dir: str | Path | None, read=None, max_files: int = 64):
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        self._read = read
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_files
        self._lock = Lock()

    def text(self, source: str) -> str | None:
        if self.corpus_dir is None:
            return None
        try:
            path = rag.source_path(self.corpus_dir, source)
            mtime = path.stat().st_mtime
            with self._lock:
                hit = self._cache.get(source)
            if hit and hit[0] == mtime:
                return hit[1]
            if self._read is not None:
                text = self._read(path)
            else:
                text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        except Exception:  # noqa: BLE001 - a reader's own error (e.g. rag.RagError): no context, not a crash
            return None
        with self._lock:
            self._cache[source] = (mtime, text)
            self._cache.move_to_end(source)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return text


def _clip_before(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = len(text) - limit
    m = _SENTENCE_END.search(text, cut)
    if m and m.end() < len(text):
        return text[m.end():], True
    space = text.find(" ", cut)
    return (text[space + 1:] if space != -1 else text[cut:]), True


def _clip_after(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit) if m.end() > 0]
    if ends:
        return text[: ends[-1]].rstrip(), True
    space = text.rfind(" ", 0, limit)
    return (text[:space] if space > 0 else text[:limit]), True


def card(key: str, label: str, source: str, start: int, end: int, span_text: str, reader: SourceReader,
         para: tuple[int, int] | None, context: int = CONTEXT_CHARS, page: int | None = None, heading: str = "") -> dict:
    """What a sources-panel card shows: the span inside (a window of) its paragraph, read from the source file,
    and where it is in words (:func:`rag.records.place`: the file, a PDF's ``page``, the section's ``heading``).

    When the file is missing or changed since indexing (the span no longer matches), the card shows the span
    alone, marked ``exact=False``.
    """
    base = {"key": key, "label": label, "source": source, "start": start, "end": end, "mark": span_text,
            "before": "", "after": "", "clip_left": False, "clip_right": False,
            "para_start": start, "para_end": end, "exact": False, "page": page, "heading": heading}
    text = reader.text(source)
    if text is None or text[start:end] != span_text:
        return base
    ps, pe = para if para and para[0] <= start and end <= para[1] <= len(text) else _paragraph(text, start, end)
    before, clip_left = _clip_before(text[ps:start], context)
    after, clip_right = _clip_after(text[end:pe], context)
    return dict(base, before=before, after=after, clip_left=clip_left, clip_right=clip_right,
                para_start=ps, para_end=pe, exact=True)


def _paragraph(text: str, start: int, end: int) -> tuple[int, int]:
    """The blank-line-separated block around ``[start, end)`` (used when no paragraph span is known)."""
    left = max(text.rfind("\n\n", 0, start), text.rfind("\r\n\r\n", 0, start))
    right = [i for i in (text.find("\n\n", end), text.find("\r\n\r\n", end)) if i != -1]
    ps = 0 if left == -1 else left + 2
    return ps, (min(right) if right else len(text))


def answer_cards(answer, reader: SourceReader) -> list[dict]:
    """Cards for an answer: one per citation; for an abstention, one per related passage (:meth:`rag.Answer.related`:
    never a heading, none when nothing relevant was found)."""
    if answer.abstained:
        return [card(f"p{i}", f"Related {i}", p.source, p.start, p.end, p.text, reader, (p.para_start, p.para_end),
                     page=p.page, heading=p.heading)
                for i, p in enumerate(answer.related(RELATED), 1)]
    cards = []
    short_answer = getattr(answer, "short", None)
    for c in answer.citations:
        holder = next((p for p in answer.passages if p.source == c.source and p.start <= c.start and c.end <= p.end), None)
        para = (holder.para_start, holder.para_end) if holder and holder.para_end > holder.para_start else None
        cards.append(card(f"c{c.n}", f"[{c.n}]", c.source, c.start, c.end, c.quote, reader, para, page=c.page,
                          heading=c.heading))
        if short_answer and short_answer.citation == c.n and c.start <= short_answer.start < short_answer.end <= c.end:
            cards[-1]["short"] = [short_answer.start - c.start, short_answer.end - c.start]
    return cards


# -- chat messages -----------------------------------------------------------------------------------------
def user_html(question: str) -> str:
    if not question.strip():
        return '<div class="rag-msg rag-user"><span class="rag-dim">(empty message)</span></div>'
    shown = short(question, SHOWN_QUESTION_CHARS)
    extra = f' <span class="rag-dim">({len(question):,} characters)</span>' if shown != question else ""
    return f'<div class="rag-msg rag-user">{esc(shown)}{extra}</div>'


def _place(c: dict) -> str:
    """Where a card's span is, in words (:func:`rag.records.place`)."""
    return rag.records.place(c["source"], c.get("page"), c.get("heading") or "")


def _link(turn: int, c: dict, text: str, cls: str = "rag-cite") -> str:
    title = esc(_place(c))
    return (f'<a class="{cls}" href="#rag-src-{turn}-{c["key"]}" data-turn="{turn}" data-key="{c["key"]}" '
            f'title="{title}">{text}</a>')


def answer_html(turn: int, text: str, *, cards: list[dict] | None = None, abstained: bool = False,
                rewritten: str | None = None, streaming: bool = False, short_answer: str | None = None,
                notice: str | None = None, outcome: str = "answer", assessment: str | None = None) -> str:
    """The assistant's message: the ``assessment`` (:func:`rag.records.assessment`: how sure, in words), text with
    citation links (a leading short answer in bold), the rewritten query, a notice on how it was made, or an
    abstention's look (``outcome`` ``related``: no direct answer, the closest passages; ``none``: nothing relevant)."""
    by_key = {c["key"]: c for c in cards or []}

    def marker(m: re.Match) -> str:
        c = by_key.get(f"c{m.group(1)}")
        if c is None:
            return f'<span class="rag-cite rag-pending">{m.group(0)}</span>' if streaming else m.group(0)
        return _link(turn, c, m.group(0))  # "[n]": digits and brackets only

    lead = f"{short_answer} — " if short_answer else ""
    if lead and text.startswith(lead):
        body = f'<strong class="rag-short">{esc(short_answer)}</strong> — ' + _linked(text[len(lead):], marker)
    else:
        body = _linked(text, marker)
    parts = []
    if notice:
        parts.append(f'<div class="rag-notice">{esc(notice)}</div>')
    if rewritten:
        parts.append(f'<div class="rag-rewritten">Searched for: <q>{esc(rewritten)}</q></div>')
    if abstained:
        head = "No direct answer found" if outcome == "related" else "Not found in the documents"
        parts.append(f'<div class="rag-abstain-head">{head}</div><div class="rag-text">{body}</div>')
        if cards:
            items = "".join(
                f'<li>{_link(turn, c, esc(_place(c)))}'
                f'<span class="rag-snippet"> {esc(short(c["mark"], 140))}</span></li>'
                for c in cards
            )
            parts.append(f'<div class="rag-related"><div class="rag-related-head">{RELATED_HEAD}</div><ol>{items}</ol></div>')
        return f'<div class="rag-msg rag-abstain" data-turn="{turn}" data-outcome="{esc(outcome)}">{"".join(parts)}</div>'
    state = " rag-streaming" if streaming else ""
    if assessment:
        parts.insert(0, f'<div class="rag-assessment">{esc(assessment)}</div>')
    parts.append(f'<div class="rag-text">{body}</div>')
    return f'<div class="rag-msg rag-answer{state}" data-turn="{turn}">{"".join(parts)}</div>'


def error_html(message: str) -> str:
    return f'<div class="rag-msg rag-error">{esc(message)}</div>'


def friendly_error(exc: Exception) -> str:
    """A RagError's message as a sentence for the chat."""
    text = str(exc).strip() or "that did not work"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


# -- the sources panel -------------------------------------------------------------------------------------
EMPTY_PANEL = (
    '<div class="rag-sources" id="rag-sources"><div class="rag-sources-empty">'
    "Ask a question: the passages that support the answer appear here. "
    "Choose a citation marker such as <b>[1]</b> to see its passage.</div></div>"
)


def card_html(turn: int, question: str, c: dict, siblings: list[dict], active: bool) -> str:
    chips = "".join(_link(turn, s, esc(s["label"]), "rag-cite rag-chip" + (" current" if s["key"] == c["key"] else ""))
                    for s in siblings) if len(siblings) > 1 else ""
    left = "… " if c["clip_left"] else ""
    right = " …" if c["clip_right"] else ""
    offsets = f'characters {c["start"]}–{c["end"]}'
    if c["exact"]:
        shown_from = c["start"] - len(c["before"])
        shown_to = c["end"] + len(c["after"])
        window = "" if (shown_from, shown_to) == (c["para_start"], c["para_end"]) else f"; showing {shown_from}–{shown_to}"
        details = f'{offsets}; paragraph {c["para_start"]}–{c["para_end"]}{window}'
        warning = ""
    else:
        details = offsets
        warning = ('<div class="rag-card-warn">The source file is not available or has changed since indexing: '
                   "showing the indexed text only.</div>")
    return (
        f'<section class="rag-card{" active" if active else ""}" id="rag-src-{turn}-{c["key"]}" '
        f'data-turn="{turn}" data-key="{c["key"]}">'
        f'<div class="rag-card-q">For: <q>{esc(short(question, 160))}</q></div>'
        + (f'<div class="rag-related-head">{RELATED_HEAD}</div>'
           if c["key"].startswith("p") else "")
        + (f'<div class="rag-chips">{chips}</div>' if chips else "")
        + f'<div class="rag-card-head"><span class="rag-card-label">{esc(c["label"])}</span>'
        f'<span class="rag-file">{esc(c["source"])}</span>'
        + (f'<span class="rag-page">page {c["page"]}</span>' if c.get("page") else "")
        + (f'<span class="rag-section">{esc(c["heading"])}</span>' if c.get("heading") else "")
        + f'</div>{warning}'
        f'<div class="rag-para">{left}{esc(c["before"])}<mark class="rag-quote">{_mark(c)}</mark>{esc(c["after"])}{right}</div>'
        f'<details class="rag-card-foot"><summary>Details</summary><span class="rag-offsets">{details}</span></details></section>'
    )


def _mark(c: dict) -> str:
    """The quoted span, its short answer (if any) in bold."""
    if not c.get("short"):
        return esc(c["mark"])
    a, b = c["short"]
    m = c["mark"]
    return f'{esc(m[:a])}<strong class="rag-short">{esc(m[a:b])}</strong>{esc(m[b:])}'


NO_PASSAGES = "No passages cited for this answer."


def sources_html(turns: list[dict]) -> str:
    """All cards of the conversation (an earlier answer's marker still shows its card); shown is the first card of
    the latest turn, or, when that turn has none (nothing relevant found), :data:`NO_PASSAGES`: never the card of
    an earlier turn."""
    if not turns:
        return EMPTY_PANEL
    last = turns[-1]
    out = []
    for t in turns:
        for i, c in enumerate(t.get("cards") or []):
            out.append(card_html(t["turn"], t["question"], c, t["cards"], active=(t is last and i == 0)))
    if not last.get("cards"):  # a card of its own, so that choosing an earlier marker hides it (CLICK_JS)
        out.append(f'<section class="rag-card rag-card-none active" id="rag-src-{last["turn"]}-none" '
                   f'data-turn="{last["turn"]}"><div class="rag-card-q">For: <q>{esc(short(last["question"], 160))}</q></div>'
                   f'<div class="rag-sources-empty">{NO_PASSAGES}</div></section>')
    return f'<div class="rag-sources" id="rag-sources">{"".join(out)}</div>'


CLICK_JS = """
<script>
(() => {
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  const show = (link) => {
    const card = document.getElementById('rag-src-' + link.dataset.turn + '-' + link.dataset.key);
    if (!card) return false;
    document.querySelectorAll('.rag-card.active').forEach((el) => el.classList.remove('active'));
    card.classList.add('active');
    document.querySelectorAll('.rag-cite.selected').forEach((el) => el.classList.remove('selected'));
    document.querySelectorAll('.rag-cite[data-turn="' + link.dataset.turn + '"][data-key="' + link.dataset.key + '"]')
      .forEach((el) => el.classList.add('selected'));
    const rect = card.getBoundingClientRect();
    if (rect.top < 0 || rect.bottom > window.innerHeight) card.scrollIntoView({block: 'nearest'});
    return true;
  };
  document.addEventListener('click', (event) => {
    const link = event.target && event.target.closest ? event.target.closest('a.rag-cite[data-key]') : null;
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    show(link);
  }, true);
})();
</script>
"""

# Gradio's bundled SourceSansPro-SemiBold.woff2 holds 55 glyphs (A, B and some Cyrillic), so text of weight 600 (the
# page's heading, buttons) showed its first "A" in Source Sans Pro and the rest in a fallback font. The last
# @font-face for a weight wins: weight 600 is drawn with the complete Bold file that Gradio ships beside it.
CSS = """
@font-face { font-family: "Source Sans Pro"; src: url("static/fonts/SourceSansPro/SourceSansPro-Bold.woff2") format("woff2");
  font-weight: 600; font-style: normal; }
.rag-msg { line-height: 1.55; }
.rag-user { overflow-wrap: anywhere; }
.rag-dim { opacity: .65; font-size: .9em; }
a.rag-cite, span.rag-cite { display: inline-block; padding: 0 .3em; margin: 0 .1em; border-radius: .35em;
  font-size: .82em; font-weight: 600; text-decoration: none !important; vertical-align: .08em;
  background: #e0ecff; color: #1d4ed8 !important; border: 1px solid #bfd4fb; cursor: pointer; }
a.rag-cite:hover, a.rag-cite:focus-visible { background: #1d4ed8; color: #fff !important; outline: none; }
a.rag-cite.selected { background: #1d4ed8; color: #fff !important; }
span.rag-pending { opacity: .6; cursor: default; }
.rag-rewritten { font-size: .85em; opacity: .75; margin-bottom: .35em; padding-left: .6em; border-left: 2px solid #94a3b8; }
.rag-notice { font-size: .85em; margin-bottom: .35em; padding: .2em .6em; border-left: 3px solid #d97706; background: rgba(217, 119, 6, .08); }
.rag-abstain { border-left: 4px solid #d97706; padding-left: .7em; }
.rag-abstain .rag-abstain-head { font-weight: 700; color: #b45309; margin-bottom: .2em; }
.rag-abstain .rag-text { font-style: italic; }
.rag-related { margin-top: .5em; font-size: .92em; }
.rag-related-head { font-weight: 600; }
.rag-related ol { margin: .2em 0 0 1.2em; padding: 0; }
.rag-related li { margin: .15em 0; }
.rag-related a.rag-cite { font-size: .85em; font-weight: 500; }
.rag-snippet { opacity: .8; }
.rag-error { border-left: 4px solid #dc2626; padding-left: .7em; color: #b91c1c; }
.rag-error::before { content: "Cannot answer: "; font-weight: 700; }
#rag-sources-panel { min-height: 200px; }
.rag-sources-empty { opacity: .7; padding: 1em; border: 1px dashed #cbd5e1; border-radius: .5em; }
.rag-card { display: none; border: 1px solid #cbd5e1; border-radius: .6em; padding: .8em 1em; background: #fff; }
.rag-card.active { display: block; }
.rag-sources .rag-card.rag-card-none { border: 0; padding: 0; background: transparent; }
.rag-card .rag-related-head { font-size: .85em; color: #b45309; margin-bottom: .4em; }
.rag-card-q { font-size: .85em; opacity: .7; margin-bottom: .4em; }
.rag-chips { margin-bottom: .5em; }
.rag-chips a.rag-cite.current { background: #1d4ed8; color: #fff !important; }
.rag-card-head { display: flex; flex-wrap: wrap; gap: .6em; align-items: baseline; margin-bottom: .5em; }
.rag-card-label { font-weight: 700; color: #1d4ed8; }
.rag-file { font-family: ui-monospace, monospace; font-weight: 600; }
.rag-offsets { font-size: .95em; }
.rag-page { font-weight: 600; }
.rag-section { font-style: italic; overflow-wrap: anywhere; }
.rag-card-warn { font-size: .85em; color: #b45309; margin-bottom: .4em; }
.rag-assessment { font-size: .85em; font-weight: 600; margin-bottom: .3em; opacity: .8; }
.rag-para { line-height: 1.6; color: #334155; overflow-wrap: anywhere; }
.rag-short { font-weight: 700; text-decoration: underline; text-decoration-thickness: 2px; }
.rag-para mark.rag-quote { background: #fde68a; color: #111827; padding: .05em .1em; border-radius: .2em; }
.rag-card-foot { margin-top: .6em; font-size: .8em; opacity: .7; }
.rag-card-foot summary { cursor: pointer; }
.dark .rag-card { background: #111827; border-color: #374151; }
.dark .rag-para { color: #e5e7eb; }
.dark a.rag-cite, .dark span.rag-cite { background: #1e3a8a; color: #dbeafe !important; border-color: #1e40af; }
"""
