"""The HTTP API that ``rag serve`` serves under ``/v1/`` beside the chat page, on the same server and over the same
:class:`ui.app.ChatService` (one chain, the page's document policy, its limits).

- ``POST /v1/ask`` {question, history?, k?, mode?, answerer?}: the ``rag ask --json`` object.
- ``POST /v1/search`` {query, k?, mode?}: the best passages (``rag search --json``'s list).
- ``GET /v1/documents``, ``POST /v1/documents`` (multipart, one or more files), ``DELETE /v1/documents/{name}``
  (to the trash): the page's checks, limits and who-may-change policy (the admin password as ``X-Admin-Password``).
- ``POST /v1/chat/completions`` and ``GET /v1/models``: OpenAI-compatible (the last user message is the question,
  the earlier user/assistant pairs its history; ``stream: true`` answers as server-sent events).
- ``GET /openapi.json``: the OpenAPI document of these routes (FastAPI's generator).

With ``RAG_UI_AUTH`` or ``RAG_API_KEY`` set every ``/v1`` request needs credentials, checked before its body is
read; bodies are bounded before they are parsed; answers are computed at most ``--concurrency`` at a time (256
more may wait). Every error is ``{"error": {"message", "type", "param", "code"}}`` (OpenAI's shape), never a
traceback. The routes go into Gradio's own FastAPI app through ``launch(app_kwargs=...)`` (:meth:`HttpApi.app_kwargs`).
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Callable, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

import rag
from rag.chain import clean_question
from ui import render
from ui.app import GENERIC_ERROR, HISTORY_SENT, MAX_FILES_PER_ADD, MAX_K, MODES, ChatService, parse_auth, same_secret

log = logging.getLogger("ui.api")

PREFIX = "/v1"
MODEL = "rag"
"""The one model ``/v1/models`` lists; chat completions accept any model name and answer with this one."""
QUEUE_SIZE = 256
"""Requests that may wait for an answer slot (as the page's queue); more get 503."""
MIN_JSON_BYTES = 2 * 2**20
"""A JSON body may always be this large (2 MiB); more when the question and history limits need it."""
Mode = Literal[MODES]  # hybrid, dense, bm25


class ApiError(HTTPException):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}`` with its HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(status, message, headers)
        self.kind, self.param, self.code = kind, param, code


def error_response(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status, headers)


ERROR_KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
               405: "invalid_request_error", 413: "request_too_large", 503: "server_busy"}


def _in_api(request: Request) -> bool:
    path = request.scope.get("path", "")
    return path == PREFIX or path.startswith(PREFIX + "/")


async def _http_error(request: Request, exc: HTTPException):
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.detail, exc.kind, exc.param, exc.code, exc.headers)
    if not _in_api(request):
        return await http_exception_handler(request, exc)  # Gradio's routes: FastAPI's own answer, as before
    message = {404: f"no route {request.method} {request.url.path}: see /openapi.json",
               405: f"{request.method} is not allowed on {request.url.path}: see /openapi.json"}.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, message, ERROR_KINDS.get(exc.status_code, "invalid_request_error"),
                          headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: RequestValidationError):
    if not _in_api(request):
        return await request_validation_exception_handler(request, exc)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request", "type": ""}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    if first.get("type") == "json_invalid":
        at = first.get("loc", ("body", None))[-1]
        message = "the request body is not valid JSON" + (f" (at character {at})" if isinstance(at, int) else "")
        return error_response(400, message, "invalid_request_error")
    elif not where and first.get("type") in ("model_attributes_type", "dict_type", "missing"):
        message = "the request body must be a JSON object (send Content-Type: application/json)"
    else:
        message = f"{where or 'body'}: {first.get('msg', 'invalid')}"
    return error_response(400, message, "invalid_request_error", where or None)


# -- the request bodies ----------------------------------------------------------------------------------------
class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str
    answer: str


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "When was it?", "history": [{"question": "Where were the talks held?", "answer": "In Islamabad [1]."}]}]})
    question: str = Field(description="A question about the documents (at most RAG_MAX_QUESTION_CHARS characters).")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first (RAG_MAX_HISTORY_TURNS, "
                                "RAG_MAX_HISTORY_CHARS).")
    k: int | None = Field(None, ge=1, le=MAX_K, description="Passages to retrieve (default: the server's).")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the server's).")
    answerer: str | None = Field(None, description="One of the answerers the server offers (default: its default).")


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"query": "Gwadar port", "k": 3}]})
    query: str = Field(description="What to look for (at most RAG_MAX_QUESTION_CHARS characters).")
    k: int | None = Field(None, ge=1, le=MAX_K, description="Passages to return (default: the server's).")
    mode: Mode | None = Field(None, description="Retrieval mode (default: the server's).")


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; parameters that steer a generative model (temperature, max_tokens, …) are
    accepted and ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": MODEL, "messages": [{"role": "user", "content": "Where were the talks held?"}]}]})
    model: str = Field(MODEL, description=f"Any name: the documents answer (the reply names {MODEL!r}).")
    messages: list[Message] = Field(min_length=1, description="The conversation; the last message must be the user's.")
    stream: bool = Field(False, description="Answer as server-sent events (chat.completion.chunk objects, then [DONE]).")
    k: int | None = Field(None, ge=1, le=MAX_K, description="Extension: passages to retrieve.")
    mode: Mode | None = Field(None, description="Extension: retrieval mode.")
    answerer: str | None = Field(None, description="Extension: one of the answerers the server offers.")


def _content(message: Message, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise ApiError(400, f"messages.{index}.content: only text parts are supported (got {part.type!r})",
                           param=f"messages.{index}.content")
        parts.append(part.text)
    return "\n".join(parts)


def conversation(messages: list[Message]) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last message, the user's) and the history: each earlier user message with the assistant
    message after it (a user message left unanswered with ""), the last :data:`ui.app.HISTORY_SENT` turns as the
    page sends them; system, developer and tool messages are not part of it."""
    said = [(m.role, _content(m, i)) for i, m in enumerate(messages) if m.role in ("user", "assistant")]
    if not said or said[-1][0] != "user":
        raise ApiError(400, "the last message must be the user's question", param="messages")
    turns: list[tuple[str, str]] = []
    asked = None
    for role, text in said[:-1]:
        if role == "user":
            if asked is not None:
                turns.append((asked, ""))
            asked = text
        elif asked is not None:  # an assistant message before any question (a greeting) is no turn
            turns.append((asked, text))
            asked = None
    if asked is not None:
        turns.append((asked, ""))
    return said[-1][1], turns[-HISTORY_SENT:]


# -- the gate: credentials and body size, before anything is read -------------------------------------------
class Gate:
    """ASGI middleware for ``/v1``: credentials first (401), then the body's size (413), before FastAPI reads it."""

    def __init__(self, app, api: HttpApi):
        self.app, self.api = app, api

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        denied = await self.api.refuse(headers)
        if denied is not None:
            return await denied(scope, receive, send)
        limit = self.api.body_limit(path, scope.get("method", "GET"))
        too_large = error_response(413, f"the request body is over {limit / 2**20:.1f} MB, this route's limit", "request_too_large")
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await error_response(400, "bad Content-Length")(scope, receive, send)
            if int(length) > limit:
                return await too_large(scope, receive, send)
            return await self.app(scope, receive, send)
        if "chunked" not in headers.get("transfer-encoding", "").lower():
            return await self.app(scope, receive, send)
        body, more = bytearray(), True  # a chunked body: read it here, up to the limit
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                return await too_large(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


# -- the API ------------------------------------------------------------------------------------------------
class HttpApi:
    """The ``/v1`` routes over ``service``; :meth:`app_kwargs` adds them to the server's FastAPI app."""

    def __init__(self, service: ChatService, concurrency: int = 4):
        self.service = service
        settings = service.settings
        self.login = parse_auth(settings)
        self.key = settings.api_key.get_secret_value() if getattr(settings, "api_key", None) is not None else None
        self.slots = anyio.CapacityLimiter(concurrency)
        self.waiting = 0
        self.created = int(time.time())
        self.json_limit = max(MIN_JSON_BYTES, 8 * (settings.max_question_chars + settings.max_history_chars))
        self.upload_limit = int(MAX_FILES_PER_ADD * settings.max_upload_mb * 2**20) + 2**20
        self.router = self._routes()
        self._openapi: dict | None = None

    # -- wiring -------------------------------------------------------------------------------------------
    def app_kwargs(self) -> dict:
        """What ``gr.Blocks.launch(app_kwargs=...)`` passes to the FastAPI app Gradio creates: these routes
        (before Gradio's own), the gate, the error shapes for ``/v1`` (Gradio's routes answer as before), and
        ``/openapi.json`` for these routes only."""
        async def openapi_document():
            return JSONResponse(self.openapi())

        document = APIRoute("/openapi.json", openapi_document, methods=["GET"], include_in_schema=False)
        return {
            "routes": [*self.router.routes, document],
            "middleware": [Middleware(Gate, api=self)],
            "exception_handlers": {HTTPException: _http_error, RequestValidationError: _validation_error},
            "openapi_url": None,
        }

    @property
    def protected(self) -> bool:
        return self.login is not None or self.key is not None

    def body_limit(self, path: str, method: str) -> int:
        return self.upload_limit if method == "POST" and path.rstrip("/") == PREFIX + "/documents" else self.json_limit

    async def refuse(self, headers: dict[str, str]):
        """None when the request may go on; else the 401 response (a wrong credential waits a second)."""
        if not self.protected:
            return None
        given = headers.get("authorization", "").strip()
        if given and self._accepts(given):
            return None
        if given:
            await anyio.sleep(1)  # no quick guessing
        challenge = 'Basic realm="rag-chat", charset="UTF-8"' if self.login else 'Bearer realm="rag-chat"'
        what = ("HTTP Basic with the RAG_UI_AUTH log-in, or Authorization: Bearer <its password>" if self.login else "")
        if self.key:
            what += (" or " if what else "") + "Authorization: Bearer <RAG_API_KEY>"
        return error_response(401, f"{'wrong' if given else 'missing'} credentials: this API needs {what}",
                              "authentication_error", code="invalid_api_key", headers={"WWW-Authenticate": challenge})

    def _accepts(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            secrets = [s for s in (self.key, self.login[1] if self.login else None) if s]
            return any(same_secret(value, s) for s in secrets)
        if scheme.lower() == "basic" and self.login:
            try:
                user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return same_secret(user, self.login[0]) & same_secret(password, self.login[1])
        return False

    # -- computing answers: at most `concurrency` at once ---------------------------------------------------
    async def _slot(self) -> object:
        if self.slots.available_tokens == 0 and self.waiting >= QUEUE_SIZE:
            raise ApiError(503, "the server is busy: try again shortly", "server_busy")
        borrower = object()
        self.waiting += 1
        try:
            await self.slots.acquire_on_behalf_of(borrower)
        finally:
            self.waiting -= 1
        return borrower

    async def _compute(self, fn: Callable[[], Any]) -> Any:
        borrower = await self._slot()
        try:
            return await self._thread(fn)
        finally:
            self.slots.release_on_behalf_of(borrower)

    @staticmethod
    async def _thread(fn: Callable[[], Any]) -> Any:
        """``fn()`` in a worker thread; a RagError is a 400 with its reason, anything else a 500 (logged)."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except ApiError:
            raise
        except rag.RagError as exc:
            raise ApiError(400, render.friendly_error(exc)) from None
        except Exception:
            log.exception("an API request failed")
            raise ApiError(500, GENERIC_ERROR, "server_error") from None

    @staticmethod
    def _check(fn: Callable[[], Any], param: str | None = None) -> Any:
        """Run a cheap check before waiting for a slot: its RagError is a 400."""
        try:
            return fn()
        except rag.RagError as exc:
            raise ApiError(400, render.friendly_error(exc), param=param) from None

    def _answerer(self, name: str | None) -> str:
        if name is None:
            return self.service.default_answerer
        if name not in self.service.answerers:
            raise ApiError(400, f"unknown answerer {name!r}: this server offers {', '.join(self.service.answerers)}",
                           param="answerer")
        return name

    def _question(self, question: str, history: list, param: str) -> tuple[str, list[tuple[str, str]]]:
        settings = self.service.settings
        self._check(lambda: clean_question(question, settings.max_question_chars), param)
        return question, self._check(lambda: rag.history_turns(history, settings), "history")

    # -- the routes -------------------------------------------------------------------------------------------
    def _routes(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, responses={
            400: {"description": "Bad input: `{\"error\": {\"message\", \"type\"}}`"},
            401: {"description": "Missing or wrong credentials (when RAG_UI_AUTH or RAG_API_KEY is set)"},
            413: {"description": "The body is over the route's limit"},
            503: {"description": "Too many requests waiting"},
        })
        service = self.service

        @router.post("/ask", tags=["answers"], summary="Answer a question: the `rag ask --json` object")
        async def ask(body: AskRequest):
            answerer = self._answerer(body.answerer)
            question, turns = self._question(body.question, [t.model_dump() for t in body.history], "question")
            answer = await self._compute(lambda: service.chain.ask(question, turns, k=body.k, mode=body.mode, answerer=answerer))
            return JSONResponse(answer.to_dict())

        @router.post("/search", tags=["answers"], summary="The passages that best match a query")
        async def search(body: SearchRequest):
            query = self._check(lambda: clean_question(body.query, service.settings.max_question_chars), "query")
            passages = await self._compute(lambda: service.chain.retriever.search(query, k=body.k, mode=body.mode))
            return JSONResponse({"query": query, "passages": [p.to_dict() for p in passages]})

        @router.get("/documents", tags=["documents"], summary="The indexed documents")
        async def documents():
            return JSONResponse(self._documents())

        @router.post("/documents", tags=["documents"], summary="Add one or more files (multipart form, field `files`)",
                     openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                         "type": "object", "required": ["files"], "properties": {"files": {
                             "type": "array", "items": {"type": "string", "format": "binary"},
                             "description": f".txt, .md, .pdf, .html, .docx; at most {MAX_FILES_PER_ADD} files of "
                                            f"RAG_MAX_UPLOAD_MB each"}}}}}}})
        async def add(request: Request, x_admin_password: Annotated[str | None, Header(
                description="RAG_ADMIN_PASSWORD, when the server has one")] = None):
            await self._may_change(x_admin_password)
            form = await request.form(max_files=MAX_FILES_PER_ADD, max_fields=MAX_FILES_PER_ADD)
            folder = None
            try:
                uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
                if not uploads:
                    raise ApiError(400, "send one or more files as multipart/form-data (field `files`)", param="files")
                largest = service.settings.max_upload_mb * 2**20
                for u in uploads:
                    if (u.size or 0) > largest:
                        raise ApiError(413, f"{rag.documents.shown_name(_name(u))} is over {service.settings.max_upload_mb:g} MB "
                                       "(RAG_MAX_UPLOAD_MB)", "request_too_large", param="files")
                folder = Path(tempfile.mkdtemp(prefix="api-", dir=service.upload_dir))
                paths = await self._thread(lambda: _store(uploads, folder))
                message = await self._thread(lambda: service.upload([str(p) for p in paths], x_admin_password))
            finally:
                await form.close()
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
            return JSONResponse({"message": message, **self._documents()})

        @router.delete("/documents/{name:path}", tags=["documents"], summary="Move a document to the trash")
        async def remove(name: str, x_admin_password: Annotated[str | None, Header(
                description="RAG_ADMIN_PASSWORD, when the server has one")] = None):
            await self._may_change(x_admin_password)
            if name not in {d["name"] for d in self._documents()["documents"]}:
                raise ApiError(404, f"no indexed document {rag.documents.shown_name(name)!r} (GET /v1/documents lists them)",
                               "not_found_error", param="name")
            message = await self._thread(lambda: service.remove(name, x_admin_password))
            return JSONResponse({"message": message, **self._documents()})

        @router.get("/models", tags=["OpenAI-compatible"], summary="The one model: the documents")
        async def models():
            return JSONResponse({"object": "list", "data": [self._model()]})

        @router.get("/models/{model}", tags=["OpenAI-compatible"], summary="One model")
        async def model(model: str):
            if model != MODEL:
                raise ApiError(404, f"no model {model!r}: this server has one, {MODEL!r}", "not_found_error", "model",
                               "model_not_found")
            return JSONResponse(self._model())

        @router.post("/chat/completions", tags=["OpenAI-compatible"], summary="A chat completion (stream: server-sent events)")
        async def chat(body: ChatRequest):
            answerer = self._answerer(body.answerer)
            question, turns = conversation(body.messages)
            question, turns = self._question(question, turns, "messages")
            options = {"k": body.k, "mode": body.mode, "answerer": answerer}
            if body.stream:
                return await self._stream(question, turns, options)
            answer = await self._compute(lambda: service.chain.ask(question, turns, **options))
            return JSONResponse(completion(answer))

        return router

    def _model(self) -> dict:
        return {"id": MODEL, "object": "model", "created": self.created, "owned_by": "rag-chat"}

    def _documents(self) -> dict:
        service = self.service
        listed = rag.list_documents(service.chain.retriever.index, service.corpus_dir)
        return {"documents": [asdict(d) for d in listed],
                "indexing": list(service.pending)}

    async def _may_change(self, password: str | None) -> None:
        """The page's own check (:meth:`ChatService._authorize`), before any upload is read."""
        try:
            await anyio.to_thread.run_sync(lambda: self.service._authorize(password))
        except rag.RagError as exc:
            raise ApiError(403, render.friendly_error(exc), "permission_error") from None

    async def _stream(self, question: str, turns: list, options: dict) -> StreamingResponse:
        """Server-sent events: a role chunk, one chunk per piece of :meth:`rag.Chain.stream`, a final chunk with the
        finish reason and the citations, then ``data: [DONE]``. The first piece is computed before the response
        starts, so a bad question is still a 400."""
        borrower = await self._slot()
        released = False

        def release():
            nonlocal released
            if not released:
                released = True
                self.slots.release_on_behalf_of(borrower)

        try:
            pieces = self.service.chain.stream(question, turns, **options)
            first = await self._thread(lambda: next(pieces, None))
        except BaseException:
            release()
            raise
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def event(delta: dict, finish: str | None = None, **extra) -> str:
            chunk = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                     "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **extra}
            return f"data: {_json(chunk)}\n\n"

        async def events():
            try:
                yield event({"role": "assistant", "content": ""})
                piece, text = first, ""
                while isinstance(piece, str):
                    text += piece
                    yield event({"content": piece})
                    piece = await self._thread(lambda: next(pieces, None))
                if not isinstance(piece, rag.Answer):
                    raise RuntimeError("the chain ended without an answer")
                rest = piece.text[len(text):] if piece.text.startswith(text) else ("\n\n" if text else "") + piece.text
                if rest:
                    yield event({"content": rest})
                citations = [c.to_dict() for c in piece.citations]
                yield event({"citations": citations}, "stop", citations=citations, outcome=piece.outcome,
                            rewritten_query=piece.rewritten_query)
            except ApiError as exc:
                yield f"data: {_json({'error': {'message': exc.detail, 'type': exc.kind, 'param': None, 'code': None}})}\n\n"
            except Exception:  # noqa: BLE001 - never a traceback in the stream; the log has it
                log.exception("streaming an answer failed")
                yield f"data: {_json({'error': {'message': GENERIC_ERROR, 'type': 'server_error', 'param': None, 'code': None}})}\n\n"
            finally:
                release()
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", background=BackgroundTask(release),
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- the OpenAPI document ---------------------------------------------------------------------------------
    def openapi(self) -> dict:
        if self._openapi is None:
            doc = get_openapi(title="rag-chat HTTP API", version=_version(), routes=self.router.routes,
                              description="Questions about the documents, answered with exact citations; an "
                                          "OpenAI-compatible chat completions route. See docs/http-api.md.")
            doc.setdefault("components", {})["securitySchemes"] = {
                "basic": {"type": "http", "scheme": "basic", "description": "the RAG_UI_AUTH log-in"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "RAG_API_KEY, or the RAG_UI_AUTH password"},
            }
            if self.protected:
                doc["security"] = [{"basic": []}, {"bearer": []}]
            self._openapi = doc
        return self._openapi


def completion(answer: rag.Answer) -> dict:
    """A ``chat.completion`` object: the cited answer text as the message, its citations beside it."""
    citations = [c.to_dict() for c in answer.citations]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text, "refusal": None,
                                             "citations": citations},
                     "logprobs": None, "finish_reason": "stop"}],
        "citations": citations, "outcome": answer.outcome, "rewritten_query": answer.rewritten_query,
    }


def _name(upload: UploadFile) -> str:
    return PurePosixPath((upload.filename or "").replace("\\", "/")).name


def _store(uploads: list[UploadFile], folder: Path) -> list[Path]:
    """Write each upload under its own name, each in its own sub-folder of ``folder`` (two may share a name)."""
    paths = []
    for i, upload in enumerate(uploads):
        name = _name(upload)
        if name in ("", ".", ".."):
            raise ApiError(400, "every uploaded file needs a file name", param="files")
        target = folder / str(i) / name
        target.parent.mkdir()
        upload.file.seek(0)
        with open(target, "xb") as out:
            shutil.copyfileobj(upload.file, out, 2**20)
        paths.append(target)
    return paths


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rag-chat")
    except Exception:  # noqa: BLE001 - not installed as a package
        return "0"

