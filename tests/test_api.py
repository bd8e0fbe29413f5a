"""The HTTP API under /v1 for real: `rag serve` in a subprocess (tests/test_ui.py's `serving`), driven by the
official `openai` client (chat completions, plain and streamed, with history; the models list) and by plain HTTP
(httpx): /v1/ask, /v1/search, /v1/documents (with and without the admin password), credentials, bad input (a
4xx JSON error, never a traceback), the OpenAPI document, and 50 concurrent questions. The warm p50 latency of
/v1/ask and /v1/chat/completions is printed beside the in-process `chain.ask` p50 (not asserted)."""

from __future__ import annotations

import base64
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import rag
from tests.conftest import SEEDS
from tests.test_ui import assert_exact_citations, serving
from tests.test_ui_documents import NOTES, PASSWORD, corpus_with_notes

pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

LOGIN = ("reader", "open sesame")
API_KEY = "sk-rag-test-key"
ROUTES = {"/v1/ask": {"post"}, "/v1/search": {"post"}, "/v1/documents": {"get", "post"},
          "/v1/documents/{name}": {"delete"}, "/v1/models": {"get"}, "/v1/chat/completions": {"post"}}
QUESTIONS = ["Which port will the corridor improve?", "Who is the author?", "When did the Taliban return to power?",
             "What did China thank Pakistan for?", "Which organisation will Pakistan chair?"]


def http(**kwargs) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory):
    """`rag serve` over the seed index, loopback, no log-in (the seeds folder is never changed here)."""
    with serving(seed_index, SEEDS, tmp_path_factory.mktemp("api") / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def web(server):
    with http(base_url=server) as client:
        yield client


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server with RAG_UI_AUTH, RAG_API_KEY and RAG_ADMIN_PASSWORD over its own corpus (uploads at most 1 MB)."""
    folder = tmp_path_factory.mktemp("guarded")
    corpus, index = corpus_with_notes(folder)
    env = {"RAG_UI_AUTH": ":".join(LOGIN), "RAG_API_KEY": API_KEY, "RAG_ADMIN_PASSWORD": PASSWORD, "RAG_MAX_UPLOAD_MB": "1"}
    with serving(index, corpus, folder / "serve.log", env=env) as url:
        yield url, corpus, index


def error_of(response: httpx.Response, status: int | tuple[int, ...]) -> str:
    """The message of an OpenAI-shaped JSON error with ``status``; never a traceback."""
    assert response.status_code in ((status,) if isinstance(status, int) else status), (response.status_code, response.text)
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), error
    return error["message"]


# -- the OpenAPI document -----------------------------------------------------------------------------------
def test_the_openapi_document_lists_every_route(web):
    doc = web.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path, methods in ROUTES.items():
        assert methods <= set(doc["paths"][path]), (path, doc["paths"].get(path))
    assert "question" in doc["components"]["schemas"]["AskRequest"]["properties"]
    assert not any(p.startswith("/gradio_api") for p in doc["paths"])  # only the API's routes


# -- /v1/ask and /v1/search ---------------------------------------------------------------------------------
def test_ask_returns_the_rag_ask_json_object(web):
    result = web.post("/v1/ask", json={"question": "Which port will the corridor improve?"}).raise_for_status().json()
    assert_exact_citations(result)
    assert not result["abstained"] and "Gwadar" in result["answer"]


def test_ask_follows_up_with_the_history(web):
    first = web.post("/v1/ask", json={"question": "Where were the talks held?"}).json()
    history = [{"question": first["question"], "answer": first["answer"]}]
    result = web.post("/v1/ask", json={"question": "When was it?", "history": history, "k": 5, "mode": "hybrid"}).json()
    assert "talks" in result["rewritten_query"] and "January 4, 2026" in result["answer"]
    assert_exact_citations(result)


def test_search_returns_passages(web):
    result = web.post("/v1/search", json={"query": "Gwadar port", "k": 2, "mode": "dense"}).raise_for_status().json()
    assert result["query"] == "Gwadar port" and len(result["passages"]) == 2
    for p in result["passages"]:
        assert set(p) == {"source", "start", "end", "score", "text"}
        assert rag.read_source(SEEDS / p["source"])[p["start"]:p["end"]] == p["text"]
    assert any("Gwadar" in p["text"] for p in result["passages"])


def test_documents_are_listed(web):
    listed = web.get("/v1/documents").raise_for_status().json()
    assert [d["name"] for d in listed["documents"]] == sorted(p.name for p in SEEDS.iterdir() if p.is_file())
    assert listed["documents"][0]["chunks"] > 0 and listed["indexing"] == []


# -- bad input ----------------------------------------------------------------------------------------------
BAD = [
    ("/v1/ask", b'{"question": "Where', 400, "not valid JSON"),
    ("/v1/ask", b'["Where?"]', 400, "JSON object"),
    ("/v1/ask", b'{"question": 3}', 400, "question: Input should be a valid string"),
    ("/v1/ask", b'{}', 400, "question: Field required"),
    ("/v1/ask", b'{"question": "   "}', 400, "empty"),
    ("/v1/ask", json.dumps({"question": "why " * 600}).encode(), 400, "limit is 2000"),
    ("/v1/ask", json.dumps({"question": "Where?", "history": [{"question": "q", "answer": "a"}] * 51}).encode(), 400, "51 turns"),
    ("/v1/ask", json.dumps({"question": "Where?", "history": [{"question": "q" * 30_000, "answer": "a" * 30_000}]}).encode(), 400, "50,000"),
    ("/v1/ask", b'{"question": "Where?", "history": "not a list"}', 400, "history"),
    ("/v1/ask", b'{"question": "Where?", "k": 0}', 400, "k: Input should be greater than or equal to 1"),
    ("/v1/ask", b'{"question": "Where?", "k": "many"}', 400, "k: "),
    ("/v1/ask", b'{"question": "Where?", "mode": "fuzzy"}', 400, "mode: "),
    ("/v1/ask", b'{"question": "Where?", "answerer": "oracle"}', 400, "unknown answerer"),
    ("/v1/ask", b'{"question": "Where?", "temperature": 1}', 400, "temperature: Extra inputs are not permitted"),
    ("/v1/search", b'{"query": ""}', 400, "empty"),
    ("/v1/chat/completions", b'{"model": "rag", "messages": []}', 400, "messages: "),
    ("/v1/chat/completions", b'{"model": "rag"}', 400, "messages: Field required"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "Where?"}, {"role": "assistant", "content": "Here."}]}',
     400, "last message must be the user's"),
    ("/v1/chat/completions", b'{"messages": [{"role": "wizard", "content": "Where?"}]}', 400, "role"),
    ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}',
     400, "only text parts"),
    ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "why " * 600}], "stream": True}).encode(),
     400, "limit is 2000"),
    ("/v1/ask", b'{"question": "' + b"a" * (3 * 2**20) + b'"}', 413, "over"),
]


@pytest.mark.parametrize("path,body,status,needle", BAD, ids=[f"{i}-{b[:30]!r}" for i, (_, b, _, _) in enumerate(BAD)])
def test_bad_input_is_a_clear_4xx_json_error(web, path, body, status, needle):
    response = web.post(path, content=body, headers={"Content-Type": "application/json"})
    assert needle in error_of(response, status)


def test_unknown_routes_methods_and_documents_are_json_errors(web):
    assert "no route" in error_of(web.get("/v1/nothing"), 404)
    assert "not allowed" in error_of(web.get("/v1/ask"), 405)
    assert "not_found" in web.get("/v1/models/gpt-4").json()["error"]["type"]
    assert web.get("/gradio_api/nothing").json() == {"detail": "Not Found"}  # Gradio's own routes answer as before


def test_a_chunked_body_over_the_limit_is_refused(web):
    def chunks():
        for _ in range(40):
            yield b"x" * 2**17  # 5 MB in all, with no Content-Length

    assert "over" in error_of(web.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"}), 413)
    ok = web.post("/v1/ask", content=iter([b'{"question": ', b'"Where were the talks held?"}']),
                  headers={"Content-Type": "application/json"})
    assert ok.status_code == 200 and "Beijing" in ok.json()["answer"]


# -- the OpenAI client --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "v1", api_key="not-needed-on-loopback", http_client=http())


def test_models_lists_one_model(client):
    assert [m.id for m in client.models.list()] == ["rag"]
    assert client.models.retrieve("rag").id == "rag"


def test_chat_completion_answers_with_citations(client, web):
    reply = client.chat.completions.create(model="rag", messages=[
        {"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Which port will the corridor improve?"}])
    expected = web.post("/v1/ask", json={"question": "Which port will the corridor improve?"}).json()
    message = reply.choices[0].message
    assert reply.object == "chat.completion" and reply.model == "rag" and reply.choices[0].finish_reason == "stop"
    assert message.role == "assistant" and message.content == expected["answer"] and "[1]" in message.content
    assert reply.citations == expected["citations"] == message.citations and reply.outcome == "answer"


def test_chat_completion_with_history_follows_up(client):
    first = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "Where were the talks held?"}])
    reply = client.chat.completions.create(model="anything", messages=[
        {"role": "user", "content": "Where were the talks held?"},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "When was it?"}]},
    ])
    assert "January 4, 2026" in reply.choices[0].message.content and "talks" in reply.rewritten_query
    assert reply.citations and reply.citations[0]["source"] == "china-pakistan-strategic-dialogue-2026.txt"


def test_chat_completion_streams_the_pieces(client):
    messages = [{"role": "user", "content": "Where were the talks held?"}, {"role": "assistant", "content": "In Beijing [1]."},
                {"role": "user", "content": "When was it?"}]
    plain = client.chat.completions.create(model="rag", messages=messages)
    chunks = list(client.chat.completions.create(model="rag", messages=messages, stream=True))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 3, pieces
    assert "".join(pieces) == plain.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.citations == plain.citations and last.citations


def test_a_stream_ends_with_done(web):
    with web.stream("POST", "/v1/chat/completions", json={"stream": True, "messages": [{"role": "user", "content": "Who is the author?"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)


def test_the_openai_client_raises_on_bad_input(client):
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": " "}])


# -- load and latency ---------------------------------------------------------------------------------------
def test_fifty_concurrent_asks_each_answer_matches_its_question(server, web):
    expected = {q: web.post("/v1/ask", json={"question": q}).json()["answer"] for q in QUESTIONS}

    def one(i: int) -> tuple[str, dict]:
        question = QUESTIONS[i % len(QUESTIONS)]
        with http(base_url=server) as c:
            response = c.post("/v1/ask", json={"question": question})
        response.raise_for_status()
        return question, response.json()

    started = time.perf_counter()
    with ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(one, i) for i in range(50)]
        errors = [f.exception() for f in futures if f.exception() is not None]
    assert not errors, f"{len(errors)} of 50 requests failed: {errors[:3]}"
    for f in futures:
        question, result = f.result()
        assert result["question"] == question and result["answer"] == expected[question]
        assert_exact_citations(result)
    print(f"\n50 concurrent /v1/ask: 0 errors, every answer its question's, {time.perf_counter() - started:.1f} s in all")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def test_warm_latency_against_the_in_process_chain(seed_index, web, client):
    """Printed, not asserted (the issue's target: the HTTP p50 within 20 ms of the in-process p50). The three are
    timed in turn, round after round, so that whatever else runs on the machine weighs on each alike. The
    in-process call runs in a worker thread, as the server runs it (on a busy machine the query embedder's threads
    are far slower from the main thread); the server's own ``latency_ms`` is printed too."""
    question = "Which port will the corridor improve?"
    chain = rag.load_chain(seed_index, answerer="rules")
    inside_ms = []

    def ask_http():
        inside_ms.append(web.post("/v1/ask", json={"question": question}).raise_for_status().json()["latency_ms"])

    with ThreadPoolExecutor(1) as worker:
        calls = {
            "in-process chain.ask": lambda: worker.submit(chain.ask, question).result(),
            "/v1/ask": ask_http,
            "/v1/chat/completions": lambda: client.chat.completions.create(model="rag", messages=[{"role": "user", "content": question}]),
        }
        for fn in [*calls.values()] * 3:  # warm
            fn()
        inside_ms.clear()
        times = {name: [] for name in calls}
        for _ in range(40):
            for name, fn in calls.items():
                times[name].append(timed(fn))
    p50 = {name: statistics.median(t) for name, t in times.items()}
    base = p50["in-process chain.ask"]
    print("\nwarm p50 over 40 rounds: " + "; ".join(
        f"{name} {ms:.1f} ms" + (f" ({ms - base:+.1f} ms)" if name != "in-process chain.ask" else "") for name, ms in p50.items())
        + f"; the server's own latency_ms p50 {statistics.median(inside_ms):.1f} ms")


# -- credentials and the documents --------------------------------------------------------------------------
def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_every_route_needs_credentials_when_rag_ui_auth_is_set(guarded):
    url, _, _ = guarded
    with http(base_url=url) as web:
        for method, path in [("GET", "/v1/models"), ("GET", "/v1/documents"), ("POST", "/v1/ask"), ("POST", "/v1/search"),
                             ("POST", "/v1/chat/completions"), ("POST", "/v1/documents"), ("DELETE", "/v1/documents/wifi.txt"),
                             ("GET", "/v1/nothing")]:
            response = web.request(method, path, json={"question": "Where?"} if method == "POST" else None)
            assert "missing credentials" in error_of(response, 401), (method, path)
            assert response.headers["www-authenticate"].startswith("Basic")
        assert web.get("/openapi.json").json()["security"]  # the document itself is public, and says so
        assert "wrong credentials" in error_of(web.get("/v1/models", headers={"Authorization": "Bearer guess"}), 401)
        assert "wrong" in error_of(web.get("/v1/models", headers=basic(LOGIN[0], "guess")), 401)
        for headers in (basic(*LOGIN), {"Authorization": f"Bearer {LOGIN[1]}"}, {"Authorization": f"Bearer {API_KEY}"}):
            assert web.get("/v1/models", headers=headers).status_code == 200, headers
        answer = web.post("/v1/ask", json={"question": "Where were the talks held?"}, headers=basic(*LOGIN)).json()
        assert "Beijing" in answer["answer"]


def test_the_openai_client_uses_the_api_key(guarded):
    url, _, _ = guarded
    good = openai.OpenAI(base_url=url + "v1", api_key=API_KEY, http_client=http())
    reply = good.chat.completions.create(model="rag", messages=[{"role": "user", "content": "How often is recycling collected?"}])
    assert "Monday" in reply.choices[0].message.content and reply.citations[0]["source"] == "leaflet.txt"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "v1", api_key="sk-wrong", http_client=http()).models.list()


def test_documents_change_only_with_the_admin_password(guarded, tmp_path):
    url, corpus, index = guarded
    auth = {"Authorization": f"Bearer {API_KEY}"}
    pool = ("pool.txt", b"The swimming pool closes at eight in the evening.\n\nLessons start in May.\n", "text/plain")
    with http(base_url=url, headers=auth) as web:
        assert "admin password" in error_of(web.post("/v1/documents", files=[("files", pool)]), 403)
        assert "admin password" in error_of(web.post("/v1/documents", files=[("files", pool)],
                                                     headers={"X-Admin-Password": "guess"}), 403)
        assert not (corpus / "pool.txt").exists()
        admin = {"X-Admin-Password": PASSWORD}
        assert "files" in error_of(web.post("/v1/documents", data={"note": "no file"}, headers=admin), 400)
        big = ("big.txt", b"word " * 300_000, "text/plain")  # 1.5 MB, over RAG_MAX_UPLOAD_MB=1
        assert "over 1 MB" in error_of(web.post("/v1/documents", files=[("files", big)], headers=admin), 413)
        hours = ("hours.md", b"# Library\n\nThe library opens at nine on Saturdays.\n", "text/markdown")
        added = web.post("/v1/documents", files=[("files", pool), ("files", hours)], headers=admin)
        assert added.status_code == 200, added.text
        body = added.json()
        assert "Added" in body["message"] and {"pool.txt", "hours.md"} <= {d["name"] for d in body["documents"]}
        assert (corpus / "pool.txt").is_file() and (corpus / "hours.md").is_file()
        again = web.post("/v1/documents", files=[("files", pool)], headers=admin).json()
        assert "already in the corpus" in again["message"]
        answer = web.post("/v1/ask", json={"question": "What time does the swimming pool close?"}).json()
        assert answer["citations"] and answer["citations"][0]["source"] == "pool.txt"

        assert "admin password" in error_of(web.delete("/v1/documents/pool.txt"), 403)
        assert (corpus / "pool.txt").is_file()
        assert "no indexed document" in error_of(web.delete("/v1/documents/nothing.txt", headers=admin), 404)
        removed = web.delete("/v1/documents/pool.txt", headers=admin)
        assert removed.status_code == 200 and "trash" in removed.json()["message"], removed.text
        assert "pool.txt" not in {d["name"] for d in removed.json()["documents"]}
        assert not (corpus / "pool.txt").exists()
        assert any(json.loads(e.read_text())["source"] == "pool.txt" for e in (index / "trash").glob("*/entry.json"))
        assert set(NOTES) <= {d["name"] for d in web.get("/v1/documents").json()["documents"]}
