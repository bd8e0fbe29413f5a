"""The chat page: ``rag serve`` starts a Gradio app over one shared :class:`rag.Chain`.

- Chat with streamed answers, each saying how sure it is in words; citation markers are links that show their
  passage in the sources panel (the quoted span highlighted inside its paragraph, under its file, page or section
  heading; the character offsets in a details line). "Export" downloads the conversation as Markdown.
- Abstentions look different and list the closest passages as related reading; a follow-up shows the query
  that was actually searched.
- Each browser session keeps its own history (``gr.State``); answering requests queue with a concurrency limit.
- Thumbs up / down on each answer (after a thumbs-down, an optional note on where the right answer is), stored
  beside the index by :mod:`rag.feedback` for ``rag eval --feedback``.
- ``/ask`` API: ``Client(url).predict(question, history, api_name="/ask")`` returns the ``rag ask --json``
  object, ``history`` being a list of ``{"question", "answer"}``.
- The HTTP API under ``/v1/`` (``ui.api``: ask, search, documents, OpenAI-compatible chat completions) on the same
  server and over the same :class:`ChatService`.
- A documents panel: upload files (.txt, .md, .pdf, .html, .docx) into the corpus folder, see what is indexed
  (name, pages or size, chunks, when added), move a document to the trash (after a confirmation) or restore it;
  each change and its re-index is one transaction (:class:`rag.DocumentManager`) run in the background while
  questions go on being answered. Who may change the corpus: :func:`manage_policy`, checked on every request.
  Every open page refreshes the corpus's parts within :data:`REFRESH_SECONDS` of a change.
- The heading names the corpus and its document count; the example questions come from its documents.

Example:
    $ rag serve --port 7860 --index index --corpus seeds
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the app never calls home

import atexit
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, Optional

import gradio as gr
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import rag
from rag import feedback
from ui import render

log = logging.getLogger("ui")
err = Console(stderr=True)

MODES = ("hybrid", "dense", "bm25")
MAX_K = 20
DEFAULT_CONCURRENCY = 4
HISTORY_SENT = 10
"""Earlier turns of a conversation that go with each question (the rewrite step reads the last few)."""
DOC_COLUMNS = ["document", "pages or size", "chunks", "added (UTC)"]
MAX_FILES_PER_ADD = 20
"""Files one "Add to the index" may bring."""
UPLOAD_CACHE = (300, 900)
"""Gradio's upload folder is swept every 5 minutes of files older than 15 (uploads that were never added)."""
REFRESH_SECONDS = 3.0
"""How often each open page checks whether the corpus changed (a cheap version check)."""
GENERIC_ERROR = "Sorry, something went wrong while answering. Please try again."


def llm_configured(settings: rag.Settings) -> bool:
    """Whether the settings name an LLM provider (``RAG_LLM_PROVIDER`` other than ``none``)."""
    provider = getattr(settings, "llm_provider", None) or os.environ.get("RAG_LLM_PROVIDER", "")
    return str(provider).strip().lower() not in ("", "none")


class ChatService:
    """What the page and the API do, independent of the layout; one chain serves every session."""

    def __init__(self, chain: rag.Chain, settings: rag.Settings, corpus_dir: str | Path | None,
                 answerers: tuple[str, ...] = ("rules",), default_answerer: str = "rules", manage: str = "open",
                 upload_dir: Path | None = None):
        self.chain = chain
        self.settings = settings
        self.corpus_dir = Path(corpus_dir) if corpus_dir is not None else None
        self.reader = render.SourceReader(corpus_dir, read=rag.read_source)
        self.answerers = answerers
        self.default_answerer = default_answerer if default_answerer in answerers else answerers[0]
        self._indexing = threading.Lock()
        self.manager = rag.DocumentManager(corpus_dir, settings.index_dir, settings) if corpus_dir is not None else None
        self.manage = manage
        """Who may change the corpus: "open" (anyone who reaches the page), "password" or "off" (:func:`manage_policy`)."""
        self.upload_dir = upload_dir
        """Where this server's upload route puts files (None: anywhere, for a service used in-process)."""
        self.version = 0
        """Counts changes to the corpus and indexing notices, so every session's panel can tell when to refresh."""
        self.pending: list[str] = []
        self.examples = rag.example_questions(chain.retriever.index)
        """Example questions drawn from the documents (refreshed when the index changes)."""

    @property
    def first_question(self) -> str:
        """A question to warm up with: the first example, else a generic one."""
        return (self.examples or ["What do the documents say?"])[0]

    def warm_up(self) -> None:
        """Answer one question before the first user does (loads the models and fills their caches once)."""
        try:
            for name in self.answerers:
                if name != "llm":
                    self.chain.ask(self.first_question, answerer=name)
        except Exception:  # noqa: BLE001 - a warm-up failure shows up, properly reported, at the first question
            log.debug("warm-up failed", exc_info=True)

    # -- the corpus ---------------------------------------------------------------------------------------------
    def corpus_line(self) -> str:
        """The corpus's name and how many documents and passages the index holds (Markdown, names escaped)."""
        counts = self.chain.retriever.index.manifest.get("counts", {})
        name = self.corpus_dir.resolve().name if self.corpus_dir else "the index"
        docs = counts.get("documents", 0)
        return (f"Corpus **{render.esc(name)}**: {docs} document{'s' if docs != 1 else ''}, "
                f"{counts.get('chunks', 0)} passages")

    def documents(self) -> list[list]:
        """The documents panel's rows: name, pages (PDF) or size, chunks, when added."""
        rows = []
        for d in rag.list_documents(self.chain.retriever.index, self.corpus_dir):
            size = f"{d.pages} page{'s' if d.pages != 1 else ''}" if d.pages else f"{d.size / 1024:.1f} KB"
            rows.append([rag.documents.shown_name(d.name), size, d.chunks, d.added.replace("T", " ").replace("+00:00", "")])
        return rows

    # -- changing the corpus (adding, removing, restoring) ------------------------------------------------------
    def _authorize(self, password: Any) -> rag.DocumentManager:
        """The document manager, if this request may change the corpus; else a :class:`rag.RagError` saying why.
        Checked on every change, whatever sent it (the page or a raw call to the queue API)."""
        if self.manager is None:
            raise rag.RagError("this chat was started without a corpus folder (--corpus): documents cannot be changed here")
        if self.manage == "off":
            raise rag.RagError("adding and removing documents is off: this server listens beyond this machine and "
                               "RAG_ADMIN_PASSWORD is not set")
        if self.manage == "password":
            given = password if isinstance(password, str) else ""
            if not same_secret(given, self.settings.admin_password.get_secret_value()):
                time.sleep(1)  # no quick guessing
                raise rag.RagError("wrong or missing admin password: adding and removing documents needs RAG_ADMIN_PASSWORD")
        return self.manager

    def _changed(self, change: rag.Change) -> str:
        """Swap the new index in (when one was built) and tell every session; returns the status line."""
        if change.report is not None and change.report.built:
            self.chain = rag.load_chain(self.settings.index_dir, answerer=self.chain.answerer, llm=self.chain.llm,
                                        settings=self.settings)
            self.examples = rag.example_questions(self.chain.retriever.index)
        self.version += 1
        return change.summary()

    @contextlib.contextmanager
    def _pending(self, what: str):
        """Announce ``what`` is being indexed to every session while the block runs."""
        self.pending.append(what)
        self.version += 1
        try:
            yield
        finally:
            self.pending.remove(what)
            self.version += 1

    def _own_upload(self, path: Path) -> Path:
        """``path`` if it is a file this server received on its upload route; a :class:`rag.RagError` otherwise."""
        real = path.resolve()
        if self.upload_dir is not None and not real.is_relative_to(self.upload_dir.resolve()) or not real.is_file():
            raise rag.RagError(f"{rag.documents.shown_name(path.name)} is not a file uploaded to this page: upload it again")
        return real

    def upload(self, files: list | None, password: Any = None, progress=None) -> str:
        """Check, store and index uploaded files (a clash gets a new name, never an overwrite); the uploads are
        deleted from the upload folder afterwards."""
        paths = [Path(f if isinstance(f, str) else getattr(f, "name", f)) for f in files or []]
        if not paths:
            return "Choose one or more files first."
        manager = self._authorize(password)
        if len(paths) > MAX_FILES_PER_ADD:
            raise rag.RagError(f"at most {MAX_FILES_PER_ADD} files at a time ({len(paths)} chosen)")
        real = [self._own_upload(p) for p in paths]
        try:
            with self._indexing, self._pending(f"adding {', '.join(p.name for p in paths)}"):
                return self._changed(manager.add(real, [p.name for p in paths], progress=_progress(progress)))
        finally:
            for p in real:
                if self.upload_dir is not None:
                    p.unlink(missing_ok=True)

    def remove(self, name: str | None, password: Any = None, progress=None) -> str:
        """Move an indexed document to the trash beside the index and drop it from the index."""
        if not name or not isinstance(name, str):
            return "Choose a document to remove."
        return self._change(password, f"removing {name}", lambda manager: manager.remove(name, progress=_progress(progress)))

    def restore(self, entry: str | None, password: Any = None, progress=None) -> str:
        """Put a document back from the trash."""
        if not entry or not isinstance(entry, str):
            return "Choose a document in the trash to restore."
        return self._change(password, f"restoring {entry}", lambda manager: manager.restore(entry, progress=_progress(progress)))

    def _change(self, password: Any, what: str, action) -> str:
        """Run ``action(manager)`` if this request may change the corpus, announcing ``what`` while it runs."""
        manager = self._authorize(password)
        with self._indexing, self._pending(what):
            return self._changed(action(manager))

    def trash(self) -> list[tuple[str, str]]:
        """The trash as (label, entry id) choices, most recent first."""
        if self.manager is None:
            return []
        return [(f"{rag.documents.shown_name(e.source)} (removed {e.removed.replace('T', ' ')[:16]})", e.id)
                for e in self.manager.trash()]

    def notice(self) -> str:
        """What the documents panel says above its controls: who may change the corpus, what is being indexed."""
        lines = []
        if self.pending:
            lines.append(f"Indexing in progress ({render.esc('; '.join(self.pending))}): answers come from the documents "
                         "already indexed until it finishes.")
        if self.manager is None:
            lines.append("This chat was started without a corpus folder: documents cannot be changed here.")
        elif self.manage == "off":
            lines.append("Adding and removing documents is off on this server (it listens beyond this machine and "
                         "RAG_ADMIN_PASSWORD is not set).")
        elif self.manage == "password":
            lines.append("Adding, removing and restoring documents needs the admin password.")
        return "\n\n".join(lines)

    # -- options from the settings accordion (never trusted) ------------------------------------------------
    def options(self, k: Any = None, mode: Any = None, answerer: Any = None) -> dict:
        try:
            k = min(max(int(k), 1), MAX_K) if k is not None else None
        except (TypeError, ValueError):
            k = None
        return {
            "k": k,
            "mode": mode if mode in MODES else None,
            "answerer": answerer if answerer in self.answerers else self.default_answerer,
        }

    # -- the chat ---------------------------------------------------------------------------------------------
    @staticmethod
    def messages(turns: list[dict]) -> list[dict]:
        out = []
        for t in turns:
            out.append({"role": "user", "content": t["user_html"]})
            out.append({"role": "assistant", "content": t["bot_html"]})
        return out

    def respond(self, message: str | None, turns: list[dict] | None, k=None, mode=None, answerer=None):
        """Stream one turn: yields ``(chat messages, turns, sources panel, input box)``."""
        question = encodable(message) if isinstance(message, str) else ""
        turns = list(turns or [])
        number = turns[-1]["turn"] + 1 if turns else 1
        asked = {"role": "user", "content": render.user_html(question)}
        shown = self.messages(turns) + [asked]
        yield shown, gr.skip(), gr.skip(), ""
        history = [(t["question"], t["answer"]) for t in turns if t["ok"]][-HISTORY_SENT:]
        text, answer = "", None
        try:
            for piece in self.chain.stream(question, history, **self.options(k, mode, answerer)):
                if isinstance(piece, rag.Answer):
                    answer = piece
                    break
                text += piece
                bot = render.answer_html(number, text, streaming=True)
                yield shown + [{"role": "assistant", "content": bot}], gr.skip(), gr.skip(), gr.skip()
            if answer is None:
                raise RuntimeError("the chain ended without an answer")
        except rag.RagError as exc:
            turns.append(self._failed(number, question, render.friendly_error(exc)))
            yield self.messages(turns), turns, gr.skip(), question.strip()
            return
        except Exception:  # noqa: BLE001 - never a stack trace in the chat; the log has it
            log.exception("answering %r failed", question[:200])
            turns.append(self._failed(number, question, GENERIC_ERROR))
            yield self.messages(turns), turns, gr.skip(), question.strip()
            return
        turns.append(self._turn(number, question, answer))
        yield self.messages(turns), turns, render.sources_html(turns), gr.skip()

    def _turn(self, number: int, question: str, answer: rag.Answer) -> dict:
        cards = render.answer_cards(answer, self.reader)
        rewritten = answer.rewritten_query if " ".join(answer.rewritten_query.split()) != " ".join(answer.question.split()) else None
        bot = render.answer_html(number, answer.text, cards=cards, abstained=answer.abstained, rewritten=rewritten,
                                 short_answer=answer.short.quote if answer.short else None, notice=answer.notice,
                                 outcome=answer.outcome, assessment=answer.assessment)
        return {"turn": number, "question": answer.question, "answer": answer.text, "ok": True,
                "user_html": render.user_html(question), "bot_html": bot, "cards": cards,
                "id": uuid.uuid4().hex, "outcome": answer.outcome, "citations": [c.to_dict() for c in answer.citations],
                "assessment": answer.assessment, "related": [p.to_dict() for p in answer.related()]}

    @staticmethod
    def _failed(number: int, question: str, message: str) -> dict:
        return {"turn": number, "question": question, "answer": "", "ok": False,
                "user_html": render.user_html(question), "bot_html": render.error_html(message), "cards": []}

    @staticmethod
    def new_conversation():
        return [], [], render.EMPTY_PANEL, ""

    # -- verdicts on answers (rag.feedback) ---------------------------------------------------------------------
    @staticmethod
    def rated_turn(turns: list[dict] | None, message: Any) -> dict | None:
        """The answered turn shown as chat message number ``message`` (from the client: never trusted), or None."""
        turns = list(turns or [])
        if type(message) is not int or message % 2 != 1 or not 0 <= message // 2 < len(turns):
            return None
        turn = turns[message // 2]
        return turn if turn.get("ok") and turn.get("id") else None

    def rate(self, turns: list[dict] | None, turn_id: str, verdict: str | None, note: str = "") -> None:
        """Store (``verdict`` ``up`` or ``down``, with ``note`` saying where the right answer is) or withdraw
        (``verdict`` None) a verdict on the answer ``turn_id`` of this conversation, beside the index."""
        turns = list(turns or [])
        at = next((i for i, t in enumerate(turns) if t.get("ok") and t.get("id") == turn_id), None)
        if at is None:
            raise rag.RagError("that answer is no longer in this conversation")
        if verdict is None:
            feedback.withdraw(self.settings.index_dir, turn_id)
            return
        turn = turns[at]
        history = [{"question": t["question"], "answer": t["answer"]} for t in turns[:at] if t["ok"]][-HISTORY_SENT:]
        feedback.record(self.settings.index_dir, feedback.make(
            turn["question"], history, turn["answer"], turn["outcome"], turn["citations"], verdict, note,
            id=turn_id, settings=self.settings))

    # -- the API ----------------------------------------------------------------------------------------------
    def ask(self, question: str, history: list | None = None) -> dict:
        """Answer ``question`` given earlier turns; returns the ``rag ask --json`` object."""
        turns = parse_history(history, self.settings)
        try:
            return self.chain.ask(question, turns, **self.options()).to_dict()
        except rag.RagError as exc:
            raise gr.Error(render.friendly_error(exc), print_exception=False) from None
        except Exception:  # noqa: BLE001
            log.exception("/ask failed for %r", str(question)[:200])
            raise gr.Error(GENERIC_ERROR, print_exception=False) from None


def export_file(turns: list[dict] | None, session: str | None, folder: Path) -> str | None:
    """The answered turns of a session as Markdown (:func:`rag.conversation_markdown`) in one file of
    ``folder`` per session, rewritten after each answer; None before the first answer."""
    answered = [t for t in turns or [] if t.get("ok")]
    if not answered:
        return None
    path = folder / hashlib.sha256(str(session).encode("utf-8", "replace")).hexdigest()[:32] / "conversation.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(rag.conversation_markdown(answered), encoding="utf-8")
    return str(path)


def same_secret(given: str, expected: str) -> bool:
    """Whether a typed secret equals the configured one, in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


def encodable(text: str) -> str:
    """``text`` without the characters UTF-8 cannot carry (lone surrogates), which would break the page's stream."""
    return text.encode("utf-8", "ignore").decode("utf-8")


def _progress(progress):
    """A build's progress callback feeding Gradio's progress bar (or nothing)."""
    if progress is None:
        return None
    return lambda stage, done, total: progress((done, total), desc=stage)


def manage_policy(settings: rag.Settings, host: str) -> str:
    """Who may add and remove documents: with RAG_ADMIN_PASSWORD whoever gives it ("password"); without it,
    anyone on a loopback-only server ("open": the person at this machine, who can edit the folder anyway),
    nobody on a server reachable from other machines ("off")."""
    if settings.admin_password is not None:
        return "password"
    return "open" if is_loopback(host) else "off"


def parse_history(history: Any, settings: rag.Settings) -> list[tuple[str, str]]:
    """Turns from a list of ``{"question", "answer"}`` (or ``[question, answer]`` pairs) within the history
    limits (:func:`rag.history_turns`); a gr.Error otherwise."""
    try:
        return rag.history_turns(history, settings)
    except rag.RagError as exc:
        raise gr.Error(render.friendly_error(exc), print_exception=False) from None


def build_demo(service: ChatService, concurrency: int = DEFAULT_CONCURRENCY) -> gr.Blocks:
    """The page: chat and settings on the left, the sources panel on the right; plus the ``/ask`` endpoint.

    Start it with :func:`launch`, which adds the page's CSS and the citation-click script.
    """
    settings = service.settings
    with gr.Blocks(title="rag-chat: ask the documents", analytics_enabled=False, delete_cache=UPLOAD_CACHE) as demo:
        turns = gr.State([])
        gr.Markdown(
            "## Ask the documents\nEvery answer quotes the corpus. Choose a marker such as **[1]** to see the "
            "supporting passage, highlighted in its paragraph, in the sources panel.",
            elem_id="rag-intro",
        )
        corpus_line = gr.Markdown(service.corpus_line(), elem_id="rag-corpus")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=380):
                chat = gr.Chatbot(
                    label="Chat", show_label=False, elem_id="rag-chat", height=540, sanitize_html=False, latex_delimiters=[],
                    feedback_options=("Like", "Dislike"), buttons=["copy"], group_consecutive_messages=False,
                    examples=[{"text": q} for q in service.examples] or None,
                    placeholder="**Start with an example** or type your own question below." if service.examples
                    else "Type a question about the documents below.",
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask a question about the documents and press Enter",
                        show_label=False, lines=1, max_lines=6, scale=1, elem_id="rag-input", autofocus=True,
                    )
                    ask_btn = gr.Button("Ask", variant="primary", size="md", scale=0, min_width=90, elem_id="rag-ask")
                    new_btn = gr.Button("New conversation", size="md", scale=0, min_width=190, elem_id="rag-new")
                    export_btn = gr.DownloadButton("Export", value=None, size="md", scale=0, min_width=110, interactive=False,
                                                   elem_id="rag-export")
                rated = gr.Markdown("", elem_id="rag-feedback-status")
                with gr.Row(visible=False, elem_id="rag-note-row") as note_row:
                    note = gr.Textbox(label="Where is the right answer? (optional: a phrase from it, or the document's name)",
                                      max_length=feedback.MAX_NOTE_CHARS, lines=1, scale=4, elem_id="rag-note")
                    note_btn = gr.Button("Send", size="md", scale=0, min_width=90, elem_id="rag-note-send")
                    disliked = gr.State(None)
                with gr.Accordion("Settings", open=False, elem_id="rag-settings"):
                    k = gr.Slider(1, MAX_K, value=min(settings.top_k, MAX_K), step=1, label="Passages to retrieve")
                    mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode")
                    llm_note = "" if "llm" in service.answerers else " (no LLM configured: set RAG_LLM_PROVIDER to add one)"
                    answerer = gr.Radio(list(service.answerers), value=service.default_answerer,
                                        label="Answerer", info="evidence (the default) quotes the smallest set of passages that answers; "
                                        "reader and rules quote one sentence; llm writes an answer" + llm_note)
            with gr.Column(scale=2, min_width=320):
                gr.Markdown("### Sources")
                panel = gr.HTML(render.EMPTY_PANEL, elem_id="rag-sources-panel", js_on_load=None)
                with gr.Accordion("Documents", open=False, elem_id="rag-documents"):
                    notice = gr.Markdown(service.notice(), elem_id="rag-doc-notice")
                    can_change = service.manage != "off" and service.manager is not None
                    password = gr.Textbox(label="Admin password", type="password", visible=service.manage == "password",
                                          elem_id="rag-admin-password")
                    files = gr.File(label=f"Add documents (.txt, .md, .pdf, .html, .docx; at most {settings.max_upload_mb:g} MB "
                                          f"each, {MAX_FILES_PER_ADD} at a time)",
                                    file_count="multiple", file_types=list(rag.documents.KINDS), elem_id="rag-upload",
                                    visible=can_change)
                    add_btn = gr.Button("Add to the index", variant="primary", elem_id="rag-add", visible=can_change)
                    rows = service.documents()
                    table = gr.Dataframe(rows, headers=DOC_COLUMNS, interactive=False, wrap=True, elem_id="rag-doc-table")
                    with gr.Row(visible=can_change):
                        chosen = gr.Dropdown([r[0] for r in rows], value=None, allow_custom_value=False,
                                             label="Document to remove", scale=3, elem_id="rag-doc-choice")
                        remove_btn = gr.Button("Remove…", variant="stop", scale=1, elem_id="rag-remove")
                    with gr.Row(visible=False, elem_id="rag-confirm") as confirm_row:
                        confirm_text = gr.Markdown("", elem_id="rag-confirm-text")
                        confirm_btn = gr.Button("Move to the trash", variant="stop", scale=0, elem_id="rag-confirm-remove")
                        cancel_btn = gr.Button("Cancel", scale=0, elem_id="rag-cancel-remove")
                    with gr.Row(visible=can_change):
                        trashed = gr.Dropdown(service.trash(), value=None, allow_custom_value=False, label="Trash",
                                              scale=3, elem_id="rag-trash-choice")
                        restore_btn = gr.Button("Restore", scale=1, elem_id="rag-restore")
                    status = gr.Markdown("", elem_id="rag-doc-status")
                    seen = gr.State(-1)
                    to_remove = gr.State(None)

        outputs = [chat, turns, panel, box]
        quiet = {"api_visibility": "private", "show_progress": "hidden", "queue": False}
        answering = {"concurrency_limit": concurrency, "concurrency_id": "answer", "api_visibility": "private",
                     "show_progress": "hidden"}
        gr.on([box.submit, ask_btn.click], service.respond, [box, turns, k, mode, answerer], outputs, **answering)

        def ask_example(selected: gr.SelectData, state, k_, mode_, answerer_):
            value = selected.value if isinstance(selected.value, dict) else {"text": str(selected.value)}
            yield from service.respond(value.get("text") or "", state, k_, mode_, answerer_)

        chat.example_select(ask_example, [turns, k, mode, answerer], outputs, **answering)
        for reset in (new_btn.click, chat.clear):
            reset(service.new_conversation, None, outputs, api_visibility="private", queue=False, show_progress="hidden")

        exports = Path(tempfile.mkdtemp(prefix="rag-exports-"))
        atexit.register(shutil.rmtree, exports, True)

        def exported(state: list[dict] | None, request: gr.Request) -> dict:
            path = export_file(state, request.session_hash if request else None, exports)
            return gr.update(value=path, interactive=path is not None)

        turns.change(exported, [turns], [export_btn], api_visibility="private", show_progress="hidden", queue=False)
        gr.on([new_btn.click, chat.clear], lambda: gr.update(value=None, interactive=False), None, [export_btn],
              api_visibility="private", show_progress="hidden", queue=False)

        def on_like(liked: gr.LikeData, state):
            """A thumb was clicked (or clicked again, to take it back): store the verdict; a thumbs-down asks where
            the right answer is."""
            turn = service.rated_turn(state, liked.index)
            if turn is None:
                return "Only an answer can be rated.", gr.update(visible=False), None, ""
            verdict = {True: "up", False: "down"}.get(liked.liked)
            try:
                service.rate(state, turn["id"], verdict)
            except rag.RagError as exc:
                return render.esc(render.friendly_error(exc)), gr.update(visible=False), None, ""
            if verdict == "down":
                return "Thanks: recorded as a wrong answer.", gr.update(visible=True), turn["id"], ""
            return ("Thanks: recorded as a good answer." if verdict else "Rating taken back."), gr.update(visible=False), None, ""

        def send_note(text, turn_id, state):
            try:
                service.rate(state, turn_id, "down", text if isinstance(text, str) else "")
            except rag.RagError as exc:
                return render.esc(render.friendly_error(exc)), gr.skip(), gr.skip(), gr.skip()
            return "Thanks: your note was recorded with the wrong answer.", gr.update(visible=False), None, ""

        noted = [rated, note_row, disliked, note]
        chat.like(on_like, [turns], noted, **quiet)
        gr.on([new_btn.click, chat.clear], lambda: ("", gr.update(visible=False), None, ""), None, noted, **quiet)
        gr.on([note_btn.click, note.submit], send_note, [note, disliked, turns], noted, **quiet)

        def ask(question: str, history: list[dict] | None = None) -> dict:
            """Answer a question about the documents; history is a list of {"question", "answer"} (oldest first). Returns the `rag ask --json` object."""
            return service.ask(question, history)

        gr.api(ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="answer")

        def panel_state(version: int):
            """Every part of the page that shows the corpus, for a session that saw ``version``."""
            if version == service.version:
                return (gr.skip(),) * 7
            rows = service.documents()
            names = [r[0] for r in rows]
            return (service.version, service.corpus_line(), rows, gr.update(choices=names, value=None),
                    gr.update(choices=service.trash(), value=None), service.notice(),
                    gr.update(examples=[{"text": q} for q in service.examples] or None))

        refreshed = [seen, corpus_line, table, chosen, trashed, notice, chat]
        demo.load(panel_state, [seen], refreshed, **quiet)
        gr.Timer(REFRESH_SECONDS).tick(panel_state, [seen], refreshed, **quiet)

        def change(action, *args):
            try:
                message = action(*args)
            except rag.RagError as exc:
                raise gr.Error(render.friendly_error(exc), print_exception=False) from None
            return (render.esc(message), None, gr.update(visible=False), None, *panel_state(-1))

        def add(paths, secret, progress=gr.Progress()):
            return change(service.upload, paths, secret, progress)

        def ask_removal(name):
            if not name:
                return gr.update(visible=False), "", None, "Choose a document to remove."
            question = f"Move **{render.esc(name)}** to the trash? It leaves the index; you can restore it from the trash."
            return gr.update(visible=True), question, name, ""

        def drop(name, secret, progress=gr.Progress()):
            return change(service.remove, name, secret, progress)

        def bring_back(entry, secret, progress=gr.Progress()):
            return change(service.restore, entry, secret, progress)

        indexing = {"concurrency_limit": 1, "concurrency_id": "index", "api_visibility": "private", "show_progress_on": [status]}
        changed_outputs = [status, files, confirm_row, to_remove, *refreshed]
        add_btn.click(add, [files, password], changed_outputs, **indexing)
        confirm_btn.click(drop, [to_remove, password], changed_outputs, **indexing)
        restore_btn.click(bring_back, [trashed, password], changed_outputs, **indexing)
        remove_btn.click(ask_removal, [chosen], [confirm_row, confirm_text, to_remove, status], **quiet)
        cancel_btn.click(lambda: (gr.update(visible=False), None), None, [confirm_row, to_remove], **quiet)
    return demo


def launch(demo: gr.Blocks, host: str, port: int, *, block: bool = True, quiet: bool = True, max_size: int | None = 256,
           auth: tuple[str, str] | None = None, max_upload_mb: float = 10, app_kwargs: dict | None = None):
    """Queue and start the server (loopback unless ``host`` says otherwise); returns ``(app, url)``. Gradio's
    upload route refuses files over ``max_upload_mb``; ``app_kwargs`` go to the FastAPI app Gradio creates (the
    HTTP API's routes: :meth:`ui.api.HttpApi.app_kwargs`)."""
    demo.queue(max_size=max_size)
    app, url, _ = demo.launch(
        server_name=host, server_port=port, share=False, quiet=quiet, prevent_thread_lock=not block, auth=auth,
        max_file_size=int(max_upload_mb * 2**20), app_kwargs=app_kwargs,
        show_error=False, footer_links=["api", "settings"], run_history=False, ssr_mode=False, mcp_server=False,
        enable_monitoring=False, css=render.CSS, head=render.CLICK_JS,
    )
    return app, url


# -- the command line: `rag serve` ---------------------------------------------------------------------------
cli = typer.Typer(add_completion=False, rich_markup_mode=None, help="Start the chat UI.")


def _settings(**overrides) -> rag.Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return rag.Settings(**given)
    except ValueError as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ["?"], "msg": str(exc)}
        raise rag.RagError(f"invalid setting: {first['loc'][0]}: {first['msg']}") from None


def parse_auth(settings: rag.Settings) -> tuple[str, str] | None:
    """``(user, password)`` from ``RAG_UI_AUTH=user:password``, or None; a clear error if malformed."""
    if settings.ui_auth is None:
        return None
    user, sep, password = settings.ui_auth.get_secret_value().partition(":")
    if not (user and sep and password):
        raise rag.RagError("RAG_UI_AUTH must be user:password")
    return user, password


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False


def check_port(host: str, port: int) -> None:
    """Fail early, before the chain is loaded, when ``host:port`` cannot be bound (or is an IPv6 address, which
    the server's own URL handling does not take)."""
    try:
        if ipaddress.ip_address(host.strip("[]")).version == 6:
            raise rag.RagError(f"--host {host} is an IPv6 address, which the chat server does not support: "
                               "use 127.0.0.1 (this machine), 0.0.0.0 (every IPv4 interface) or a host name")
    except ValueError:
        pass  # a host name or an IPv4 address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise rag.RagError(f"cannot resolve --host {host}: {exc.strerror or exc}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            raise rag.RagError(f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port") from None


def warm_route(port: int, auth: tuple[str, str] | None, question: str) -> None:
    """Ask one question through the server's own ``/ask`` route over loopback, so the first user's answer does not
    pay for the server's first-request start-up (about a second); a failure here changes nothing."""
    try:
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{port}/", auth=auth, verbose=False, analytics_enabled=False,
                        download_files=False, httpx_kwargs={"trust_env": False})
        client.predict(question, [], api_name="/ask")
    except Exception:  # noqa: BLE001 - e.g. bound to one non-loopback address: the first question is just slower
        log.debug("warming the /ask route failed", exc_info=True)


def _build(settings: rag.Settings) -> None:
    """Build the index of the corpus with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    err.print(f"building the index of {settings.corpus_dir} in {settings.index_dir} (none yet, or from an older version)…",
              highlight=False, markup=False, soft_wrap=True)
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("embedding chunks", total=None)
        report = rag.build_index(
            settings.corpus_dir, settings.index_dir, settings,
            progress=lambda stage, done, total: bar.update(task, description=stage, completed=done, total=total),
        )
    counts = report.manifest.get("counts", {})
    err.print(f"index built: {counts.get('documents', '?')} document(s), {counts.get('chunks', '?')} chunks", highlight=False, soft_wrap=True)
    for line in report.warnings:
        err.print(f"warning: {line}", highlight=False, markup=False, soft_wrap=True)


def _reader_available(settings: rag.Settings) -> bool:
    """Whether the reader (the shipped one, or RAG_READER_MODEL's) can be loaded."""
    try:
        rag.load_reader(settings.reader_model)
    except rag.RagError:
        return False
    return True


def make_service(settings: rag.Settings, corpus_dir: Path | None, answerer: str | None = None, **options) -> ChatService:
    """Build the index if it is missing or from an older version, load the chain once; offer every registered
    answerer, the LLM one only when an LLM is configured."""
    if not rag.index_is_current(settings.index_dir):
        if not Path(settings.corpus_dir).is_dir():
            raise rag.RagError(f"no index in {settings.index_dir}, and the corpus directory {settings.corpus_dir} to build it from "
                               "was not found: point --corpus at a folder of .txt, .md, .pdf, .html or .docx files")
        _build(settings)
    answerer = rag.answerers.check_name(answerer or settings.answerer)
    offline = tuple(name for name in rag.answerers.names() if name != "llm" and (name != "reader" or _reader_available(settings)))
    if answerer == "llm" or llm_configured(settings):
        try:
            chain = rag.load_chain(settings.index_dir, answerer="llm", settings=settings)
            return ChatService(chain, settings, corpus_dir, offline + ("llm",), answerer, **options)
        except (rag.RagError, ImportError) as exc:
            if answerer == "llm":
                raise rag.RagError(f"the LLM answerer is not available: {exc}") from None
            err.print(f"warning: LLM not available, serving the offline answerers only ({exc})", highlight=False, markup=False, soft_wrap=True)
    chain = rag.load_chain(settings.index_dir, answerer=answerer, settings=settings)
    return ChatService(chain, settings, corpus_dir, offline, answerer, **options)


@cli.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes the app to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    index: Annotated[Optional[Path], typer.Option("--index", help="Index directory (default: RAG_INDEX_DIR or index).")] = None,
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Corpus directory, indexed on first run and read to show each passage in its paragraph (default: RAG_CORPUS_DIR or seeds).")] = None,
    k: Annotated[Optional[int], typer.Option("-k", "--k", min=1, max=MAX_K, help="Default passages per answer (default: RAG_TOP_K or 5).")] = None,
    mode: Annotated[Optional[str], typer.Option("--mode", help="Default retrieval mode: hybrid, dense or bm25 (default: RAG_MODE or hybrid).")] = None,
    answerer: Annotated[Optional[str], typer.Option("--answerer", help="Default answerer (default: RAG_ANSWERER or evidence). " + rag.answerers.describe())] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Answers computed at once; more requests wait in the queue.")] = DEFAULT_CONCURRENCY,
):
    """Chat with the documents in the browser: streamed answers, clickable citations, a sources panel."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if answerer is not None:
            rag.answerers.check_name(answerer)
        settings = _settings(index_dir=index, corpus_dir=corpus, top_k=k, mode=mode)
        check_port(host, port)
        auth = parse_auth(settings)
        if auth is None and not is_loopback(host):
            err.print(f"warning: serving on {host} without a log-in: anyone who can reach this machine can use it "
                      "(set RAG_UI_AUTH=user:password)", highlight=False, markup=False, soft_wrap=True)
        uploads = Path(tempfile.mkdtemp(prefix="rag-serve-uploads-"))  # this server's own: no other app's uploads
        os.environ["GRADIO_TEMP_DIR"] = str(uploads)
        try:
            service = make_service(settings, settings.corpus_dir, answerer, manage=manage_policy(settings, host),
                                   upload_dir=uploads)
            service.warm_up()
            demo = build_demo(service, concurrency)
            from ui.api import HttpApi  # the /v1 HTTP API, on the same server and service

            api = HttpApi(service, concurrency)
            _, url = launch(demo, host, port, block=False, auth=auth, max_upload_mb=settings.max_upload_mb,
                            app_kwargs=api.app_kwargs())
            warm_route(port, auth, service.first_question)
            err.print(f"rag chat on {url}  (index {settings.index_dir}; Ctrl-C to stop)", highlight=False, markup=False, soft_wrap=True)
            err.print(f"HTTP API on {url}v1/  (OpenAPI: {url}openapi.json)", highlight=False, markup=False, soft_wrap=True)
            try:
                while demo.is_running:
                    time.sleep(0.2)
            finally:
                demo.close()
        finally:
            shutil.rmtree(uploads, ignore_errors=True)
    except rag.RagError as exc:
        err.print(f"error: {exc}", style="red", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:  # e.g. the port is taken
        err.print(f"error: cannot start the server on {host}:{port}: {exc}", style="red", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("stopped")
        raise typer.Exit(130) from None


if __name__ == "__main__":
    cli(prog_name="python -m ui.app")
