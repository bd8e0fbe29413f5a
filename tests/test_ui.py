"""The chat server for real: `rag serve` in a subprocess on a free loopback port, driven by gradio_client
(the `/ask` API, 20 simultaneous sessions) and by headless Chromium through Playwright (the page itself).

The browser test uses the system Chromium (Debian's `chromium` package; never a downloaded browser). It is
skipped, with the reason, only where no Chromium is installed. Set RAG_CHROMIUM to use another binary and
RAG_UI_SCREENSHOT to choose where the screenshot goes (default: <tmp>/ui_screenshot.png).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import rag
from tests.conftest import ROOT, SEEDS

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from typer.testing import CliRunner  # noqa: E402

from ui.app import cli, make_service  # noqa: E402

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"  # loopback only, never via a proxy

SESSIONS = 20
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command() -> list[str]:
    exe = Path(sys.executable).with_name("rag")
    return [str(exe), "serve"] if exe.exists() else [sys.executable, "-m", "ui.app"]


SERVER_PIDS: dict[str, int] = {}
"""The process of each running test server, by URL (for its memory figures)."""
SERVER_INDEX: dict[str, Path] = {}


def server_index(url: str) -> Path:
    return SERVER_INDEX[url]


@contextlib.contextmanager
def serving(index: Path, corpus: Path, log: Path, host: str = "127.0.0.1", env: dict | None = None):
    """`rag serve` over ``index`` on a free port (listening on ``host``, with ``env`` added to the environment);
    yields its loopback URL and stops it afterwards. The page's mechanics are checked with the rules answerer,
    which answers the seed's questions alike on every machine; the default answerer's outcomes are checked in
    tests/test_ui_service.py and tests/test_fusion.py."""
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1", **(env or {}))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            serve_command() + ["--host", host, "--port", str(port), "--index", str(index), "--corpus", str(corpus),
                               "--answerer", "rules"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    SERVER_PIDS[url] = proc.pid
    SERVER_INDEX[url] = index
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rag serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, behind RAG_UI_AUTH
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"rag serve did not start within 180 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(seed_index, tmp_path_factory):
    """`rag serve` over the seed index on a free port."""
    with serving(seed_index, SEEDS, tmp_path_factory.mktemp("serve") / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server, verbose=False)


def assert_exact_citations(result: dict) -> None:
    assert set(result) == {"question", "rewritten_query", "answer", "abstained", "outcome", "citations", "passages", "latency_ms",
                           "short_answer", "confidence", "notice", "assessment", "related"}
    for c in result["citations"]:
        assert f"[{c['n']}]" in result["answer"]
        assert rag.read_source(SEEDS / c["source"])[c["start"] : c["end"]] == c["quote"]


# -- the /ask API -------------------------------------------------------------------------------------------
def test_ask_answers_with_citations(client):
    result = client.predict("Which port will the corridor improve?", [], api_name="/ask")
    assert not result["abstained"] and result["citations"] and "Gwadar" in result["answer"]
    assert_exact_citations(result)
    assert result["passages"] and {"source", "start", "end", "score", "text"} == set(result["passages"][0])


def test_ask_abstains_when_the_documents_do_not_say(client):
    result = client.predict("How many billions of dollars has China invested in CPEC so far?", [], api_name="/ask")
    assert result["abstained"] and result["citations"] == [] and result["passages"]


def test_ask_follow_up_uses_the_history(client):
    first = client.predict("Where were the talks held?", [], api_name="/ask")
    history = [{"question": first["question"], "answer": first["answer"]}]
    result = client.predict("When was it?", history, api_name="/ask")
    assert result["rewritten_query"] != result["question"] and "talks" in result["rewritten_query"]
    assert not result["abstained"] and "January 4, 2026" in result["answer"]
    assert_exact_citations(result)


def test_ask_over_long_or_empty_question_is_a_clear_error(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="limit is 2000"):
        client.predict("why " * 600, [], api_name="/ask")
    with pytest.raises(AppError, match="empty"):
        client.predict("   ", [], api_name="/ask")
    with pytest.raises(AppError, match="[Hh]istory must be"):
        client.predict("Where?", "not a list", api_name="/ask")
    with pytest.raises(AppError, match="51 turns; the limit is 50"):
        client.predict("Where?", [["q", "a"]] * 51, api_name="/ask")
    with pytest.raises(AppError, match="the limit is 50,000"):
        client.predict("Where?", [["q" * 30_000, "a" * 30_000]], api_name="/ask")



def test_ask_over_http_with_a_lone_surrogate_in_the_history(server):
    """Raw JSON can carry a lone surrogate (``\\udc80``) that no Python client would send: it is dropped."""
    import json

    body = b'{"data": ["Where were the talks held?", [["lone \\udc80 surrogate \\u001b[2J", "ok"]]]}'
    request = urllib.request.Request(f"{server}gradio_api/call/ask", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        event = json.loads(resp.read())["event_id"]
    with urllib.request.urlopen(f"{server}gradio_api/call/ask/{event}", timeout=120) as resp:
        stream = resp.read().decode("utf-8")
    assert "event: complete" in stream, stream[-500:]
    data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    assert_exact_citations(data[0])


def test_twenty_simultaneous_sessions(server):
    """Each session is its own client with a two-turn conversation; every request must succeed."""
    questions = ["Where were the talks held?", "Which port will the corridor improve?",
                 "What was said about Kashmir?", "Who did Wang Yi meet?"]

    def session(i: int):
        c = gradio_client.Client(server, verbose=False)
        first = c.predict(questions[i % len(questions)], [], api_name="/ask")
        second = c.predict("And when?", [{"question": first["question"], "answer": first["answer"]}], api_name="/ask")
        assert_exact_citations(first)
        assert_exact_citations(second)
        return first["latency_ms"], second["latency_ms"]

    started = time.perf_counter()
    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(session, i) for i in range(SESSIONS)]
        errors = [f.exception() for f in futures if f.exception() is not None]
    assert not errors, f"{len(errors)} of {SESSIONS} sessions failed: {errors[:3]}"
    print(f"\n{SESSIONS} simultaneous sessions x 2 questions: 0 errors in {time.perf_counter() - started:.1f} s")


def test_load_fifty_concurrent_questions(server):
    """50 questions at once through the queue: zero errors; the p95 latency is printed (not asserted)."""
    questions = ["Which port will the corridor improve?", "Who is the author?", "When did the Taliban return to power?",
                 "What did China thank Pakistan for?", "Which organisation will Pakistan chair?"]

    def one(i: int) -> float:
        c = gradio_client.Client(server, verbose=False)
        started = time.perf_counter()
        result = c.predict(questions[i % len(questions)], [], api_name="/ask")
        assert_exact_citations(result)
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(one, i) for i in range(50)]
        errors = [f.exception() for f in futures if f.exception() is not None]
    assert not errors, f"{len(errors)} of 50 questions failed: {errors[:3]}"
    latencies = sorted(f.result() for f in futures)
    import psutil

    rss = psutil.Process(SERVER_PIDS[server]).memory_info().rss / 2**20
    print(f"\n50 concurrent questions: 0 errors, p50 {latencies[24]:.0f} ms, p95 {latencies[47]:.0f} ms (queue included); "
          f"server RSS {rss:.0f} MiB")


# -- the command line ---------------------------------------------------------------------------------------
def test_serve_errors_are_one_line(tmp_path, server):
    runner = CliRunner()
    busy = int(server.rstrip("/").rsplit(":", 1)[1])
    for args, needle in [
        (["--index", str(tmp_path / "i"), "--corpus", str(tmp_path / "none"), "--port", str(free_port())], "was not found"),
        (["--mode", "fuzzy", "--port", str(free_port())], "invalid setting: mode"),
        (["--answerer", "oracle"], "unknown answerer"),
        (["--port", str(busy)], "cannot listen on"),
        (["--host", "::1", "--port", str(free_port())], "IPv6 address"),
        (["--host", "[::1]", "--port", str(free_port())], "IPv6 address"),
    ]:
        result = runner.invoke(cli, args, prog_name="rag serve")
        assert result.exit_code == 1, (args, result.output)
        assert needle in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_index_is_built_with_a_progress_bar(tmp_path, capsys):
    settings = rag.Settings(index_dir=tmp_path / "index", corpus_dir=SEEDS)
    service = make_service(settings, SEEDS)
    assert (tmp_path / "index" / "CURRENT").is_file()
    assert "building the index" in capsys.readouterr().err
    assert service.chain.ask("Which port will the corridor improve?").passages

    manifest = next((tmp_path / "index").glob("build-*/manifest.json"))
    manifest.write_text(manifest.read_text().replace('"format_version": ', '"format_version": -1, "was": '))
    assert not rag.index_is_current(tmp_path / "index")
    make_service(settings, SEEDS)  # an index from an older version is rebuilt, not an error
    assert rag.index_is_current(tmp_path / "index") and "building the index" in capsys.readouterr().err


# -- the page, in headless Chromium -------------------------------------------------------------------------
def chromium_path() -> str | None:
    for candidate in (os.environ.get("RAG_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


# In-page probe: the time from the Enter key to the first non-empty text of the new answer, both on the
# page's own clock; and whether the answer was seen while still streaming.
PROBE = """
(before) => {
  const probe = window.__probe = {t0: null, t1: null, streamed: false, before};
  const box = document.querySelector('#rag-input textarea');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && probe.t0 === null) probe.t0 = performance.now(); }, true);
  const check = () => {
    const answers = document.querySelectorAll('#rag-chat .rag-answer, #rag-chat .rag-abstain');
    if (answers.length <= probe.before) return;
    const last = answers[answers.length - 1];
    if (probe.t1 === null && last.textContent.trim()) probe.t1 = performance.now();
    if (last.classList.contains('rag-streaming') && last.textContent.trim()) probe.streamed = true;
  };
  probe.observer = new MutationObserver(check);
  probe.observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def card_offsets(card) -> tuple[int, int]:
    """The character offsets in a sources card's details line, opened to read them and closed again."""
    summary = card.locator(".rag-card-foot summary")
    summary.click()
    details = card.locator(".rag-offsets").inner_text()
    summary.click()
    start, end = (int(x) for x in details.split("characters")[1].split(";")[0].strip().split("–"))
    return start, end


@contextlib.contextmanager
def chat_page(url: str, **page_options):
    """A headless Chromium page on the chat at ``url`` with its question box ready (a skip without Playwright or
    Chromium; never a downloaded browser)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**({"viewport": {"width": 1400, "height": 1000}} | page_options))
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#rag-input textarea").wait_for(timeout=30_000)
            yield page
        finally:
            browser.close()


def ask_in_page(page, question: str) -> dict:
    """Type ``question``, press Enter, wait for the finished answer; returns the probe's measurements."""
    before = page.locator("#rag-chat .rag-answer, #rag-chat .rag-abstain").count()
    page.evaluate(PROBE, before)
    box = page.locator("#rag-input textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "(n) => { const a = document.querySelectorAll('#rag-chat .rag-answer:not(.rag-streaming), #rag-chat .rag-abstain');"
        " return a.length > n; }", arg=before, timeout=60_000)
    probe = page.evaluate("() => { window.__probe.observer.disconnect(); const {t0, t1, streamed} = window.__probe; return {t0, t1, streamed}; }")
    assert probe["t0"] is not None and probe["t1"] is not None, probe
    return {"first_text_ms": probe["t1"] - probe["t0"], "streamed": probe["streamed"]}


def test_browser_chat_citation_click_shows_the_highlighted_passage(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    screenshot = Path(os.environ.get("RAG_UI_SCREENSHOT", Path(tempfile.gettempdir()) / "ui_screenshot.png"))
    text = rag.read_source(SEEDS / "china-pakistan-strategic-dialogue-2026.txt")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server, wait_until="domcontentloaded")
            page.locator("#rag-input textarea").wait_for(timeout=30_000)

            # An example question (drawn from the corpus) starts the conversation (and warms the server up).
            example = rag.example_questions(rag.load_index(server_index(server)))[0]
            page.get_by_text(example, exact=True).first.click()
            page.locator("#rag-chat .rag-answer:not(.rag-streaming) a.rag-cite").first.wait_for(timeout=60_000)

            # A follow-up shows the query that was searched.
            ask_in_page(page, "When was it?")
            assert "Searched for" in page.locator("#rag-chat .rag-rewritten").last.inner_text()

            # Measured questions on the warm server, each in a fresh conversation (questions not asked before).
            runs = []
            for question in ("What did China say about the Kashmir issue?", "Which three sectors will CPEC 2.0 focus on?",
                             "Which port's development and operation will be optimized?"):
                page.click("#rag-new")
                page.wait_for_function("() => document.querySelectorAll('#rag-chat .rag-msg').length === 0")
                assert page.locator(".rag-sources-empty").is_visible()
                runs.append(ask_in_page(page, question))
            latencies = [r["first_text_ms"] for r in runs]
            print(f"\nfirst streamed text after Enter (warm server): {', '.join(f'{ms:.0f} ms' for ms in latencies)}"
                  f"; median {statistics.median(latencies):.0f} ms; streamed: {[r['streamed'] for r in runs]}")
            # Text was on the page before the answer was complete (in at least one run: a loaded machine may
            # deliver a whole short answer in one batch).
            assert any(r["streamed"] for r in runs), runs

            # Click the citation of the last answer: its passage shows, highlighted in its paragraph.
            answer = page.locator("#rag-chat .rag-answer").last
            assert "Gwadar" in answer.inner_text()
            cite = answer.locator("a.rag-cite").first
            key, turn = cite.get_attribute("data-key"), cite.get_attribute("data-turn")
            cite.click()
            card = page.locator(f"#rag-src-{turn}-{key}")
            card.wait_for(state="visible")
            assert page.locator(".rag-card.active").count() == 1 and "active" in card.get_attribute("class")
            head = card.locator(".rag-card-head").inner_text()
            assert "china-pakistan-strategic-dialogue-2026.txt" in head and "characters" not in head
            start, end = card_offsets(card)
            mark = card.locator("mark.rag-quote")
            assert mark.is_visible() and mark.inner_text() == text[start:end] and "Gwadar" in mark.inner_text()
            para = card.locator(".rag-para").inner_text()
            assert len(para) > len(mark.inner_text())  # the quote sits inside its surrounding text
            assert "[1]" in cite.inner_text() and "selected" in cite.get_attribute("class")
            cite.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot: {screenshot}")

            # An over-long message gets a friendly message in the chat, never a stack trace.
            page.locator("#rag-input textarea").fill("why " * 600)
            page.locator("#rag-input textarea").press("Enter")
            error = page.locator("#rag-chat .rag-error").last
            error.wait_for(timeout=30_000)
            assert "limit is 2000" in error.inner_text() and "Traceback" not in page.content()

            # Another browser session starts with its own, empty history.
            other = browser.new_context().new_page()
            other.goto(server, wait_until="domcontentloaded")
            other.locator("#rag-input textarea").wait_for(timeout=30_000)
            assert other.locator("#rag-chat .rag-msg").count() == 0
        finally:
            browser.close()


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "pyproject.toml"), str(SEEDS / "china-pakistan-strategic-dialogue-2026.txt")])
def test_server_serves_no_files_beyond_the_page(server, path):
    for prefix in ("gradio_api/file=", "file="):
        try:
            with urllib.request.urlopen(f"{server.rstrip('/')}/{prefix}{path}", timeout=10) as resp:
                body = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status, body = exc.code, b""
        assert status >= 400 or b"root:" not in body and b"[project]" not in body and b"Wang Yi" not in body, (prefix, path, status)


def test_the_upload_route_refuses_files_over_the_limit(server):
    """Gradio's upload route is open to every client: over max_upload_mb (10 MB) it answers with an error."""
    def upload(size: int) -> int:
        boundary = "rag-test-boundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
                "Content-Type: text/plain\r\n\r\n").encode() + b"a" * size + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{server.rstrip('/')}/gradio_api/upload", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert upload(1000) == 200
    assert upload(11 * 2**20) == 413


def test_browser_document_and_question_text_never_becomes_markup(tmp_path):
    """A corpus file and a question holding Markdown after lone carriage returns: no image is fetched (a
    tracking pixel on a local server counts requests), no link is made, the text shows as text."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    hits: list[str] = []

    class Pixel(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    pixel = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
    threading.Thread(target=pixel.serve_forever, daemon=True).start()
    image = f"http://127.0.0.1:{pixel.server_address[1]}/t.png"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text(
        f"The harbour at Gwadar was dredged in 2024.\r\r![t]({image}?doc)\r \r[click here](javascript:alert(1)) "
        f"and [log in](http://evil.example/login) **now**.\n", encoding="utf-8", newline="")
    rag.build_index(corpus, tmp_path / "index")
    try:
        with serving(tmp_path / "index", corpus, tmp_path / "serve.log") as url, sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(url, wait_until="domcontentloaded")
                page.locator("#rag-input textarea").wait_for(timeout=30_000)
                ask_in_page(page, "When was the harbour at Gwadar dredged?")
                ask_in_page(page, f"What about this?\r\r![t]({image}?question) [x](javascript:alert(2))")
                chat = page.locator("#rag-chat")
                cite = chat.locator("a.rag-cite").first
                cite.click()
                page.locator(".rag-card.active").wait_for(state="visible")
                page.wait_for_timeout(1000)  # time for any image the page would fetch
                assert chat.locator("img").count() == 0 and page.locator(".rag-sources img").count() == 0
                links = chat.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
                assert links and all(href.startswith("#rag-src-") for href in links), links
                assert "[click here](javascript:alert(1))" in " ".join(page.locator(".rag-sources").inner_text().split())
                assert f"![t]({image}?question)" in " ".join(chat.inner_text().split())
                assert chat.locator("strong:not(.rag-short)").count() == 0
            finally:
                browser.close()
    finally:
        pixel.shutdown()
    assert hits == []


def test_browser_upload_pdf_and_docx_then_cite_the_pdfs_second_page(tmp_path):
    """Upload a multi-page PDF and a Word file in the page, ask what only the PDF's second page says, click the
    citation: the card names the file and page 2 and highlights the exact stored text."""
    from tests.documents import make_docx, make_pdf, paragraphs

    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(ROOT / "tests" / "fixtures" / "notes", corpus, ignore=shutil.ignore_patterns("*.jsonl"))
    rag.build_index(corpus, index)
    paras = paragraphs()
    uploads = [make_pdf(tmp_path / "dialogue.pdf", [paras[:3], paras[3:5], paras[5:]]),
               make_docx(tmp_path / "crew.docx", ["Michael Collins flew the command module Columbia."])]
    screenshot = Path(os.environ.get("RAG_UI_SCREENSHOT", Path(tempfile.gettempdir()) / "ui_screenshot.png"))
    screenshot = screenshot.with_name(screenshot.stem + "_upload.png")
    with serving(index, corpus, tmp_path / "serve.log") as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#rag-input textarea").wait_for(timeout=30_000)
            assert "4 documents" in page.locator("#rag-corpus").inner_text()
            page.locator("#rag-documents").get_by_text("Documents").first.click()
            page.locator("#rag-upload input[type=file]").set_input_files([str(p) for p in uploads])
            page.wait_for_timeout(1500)  # the files reach the server before the button is pressed
            page.click("#rag-add")
            page.wait_for_function("() => (document.querySelector('#rag-doc-status')?.innerText || '').includes('Added')",
                                   timeout=300_000)
            status = page.locator("#rag-doc-status").inner_text()
            assert "dialogue.pdf" in status and "crew.docx" in status, status
            assert "6 documents" in page.locator("#rag-corpus").inner_text()
            table = page.locator("#rag-doc-table").inner_text()
            assert "dialogue.pdf" in table and "pages" in table and "crew.docx" in table
            assert (corpus / "dialogue.pdf").is_file() and (corpus / "crew.docx").is_file()

            ask_in_page(page, "What did the two countries announce for 2026?")
            answer = page.locator("#rag-chat .rag-answer").last
            cite = answer.locator("a.rag-cite").first
            key, turn = cite.get_attribute("data-key"), cite.get_attribute("data-turn")
            cite.click()
            card = page.locator(f"#rag-src-{turn}-{key}")
            card.wait_for(state="visible")
            head = card.locator(".rag-card-head").inner_text()
            assert "dialogue.pdf" in head and "page 2" in head and "characters" not in head, head
            start, end = card_offsets(card)
            stored = rag.load_index(index).texts["dialogue.pdf"].text
            mark = card.locator("mark.rag-quote")
            assert mark.is_visible() and mark.inner_text() == stored[start:end] and "2026" in mark.inner_text()
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot: {screenshot}")
        finally:
            browser.close()


def test_browser_on_a_phone_a_tapped_citation_brings_its_quote_into_view(server):
    with chat_page(server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True) as page:
        ask_in_page(page, "Which port's development and operation will be optimized?")
        cite = page.locator("#rag-chat .rag-answer a.rag-cite").last
        cite.scroll_into_view_if_needed()
        cite.tap()
        mark = page.locator(".rag-card.active mark.rag-quote")
        mark.wait_for(state="visible")
        page.wait_for_timeout(800)  # smooth scrolling, if any, settles
        box = mark.bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + min(box["height"], 200) <= 844, box


def test_browser_sources_panel_follows_the_latest_turn_when_it_cites_nothing(server):
    """Issue 32: after an answer with a citation, a turn without citations never leaves that card in the sources
    panel: a summary request shows its related reading (labelled so), an answer with nothing relevant says that no
    passage is cited; the earlier answer's marker still shows its own card."""
    with chat_page(server) as page:
        panel, shown = page.locator("#rag-sources-panel"), page.locator("#rag-sources-panel .rag-card.active")

        ask_in_page(page, "Which port will the corridor improve?")
        first = page.locator("#rag-src-1-c1")
        first.wait_for(state="visible", timeout=30_000)
        quote = first.locator("mark.rag-quote").inner_text()
        assert "Gwadar" in quote

        # A summary request (the rules answerer only quotes): its related reading replaces the earlier card.
        ask_in_page(page, "summarize the article in two sentences")
        related = page.locator("#rag-src-2-p1")
        related.wait_for(state="visible", timeout=30_000)
        assert not first.is_visible() and shown.count() == 1
        assert "Related reading" in related.locator(".rag-related-head").inner_text()

        # Nothing relevant (the evidence answerer says so): no card at all, a note instead.
        page.locator("#rag-settings").get_by_text("Settings", exact=True).click()
        page.locator("#rag-settings").get_by_label("evidence", exact=True).check()
        ask_in_page(page, "What is the capital of France?")
        assert page.locator("#rag-chat .rag-abstain").last.get_attribute("data-outcome") == "none"
        note = page.locator("#rag-src-3-none")
        note.wait_for(state="visible", timeout=30_000)
        assert "No passages cited for this answer." in note.inner_text()
        assert shown.count() == 1 and not first.is_visible() and not related.is_visible()
        assert quote not in panel.inner_text() and "Gwadar" not in panel.inner_text()

        # The first answer's marker still shows its card (and the note goes). The chat may still scroll itself to
        # the last answer while it settles, moving the marker from under the first click: click again then.
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        marker = page.locator('#rag-chat a.rag-cite[data-turn="1"][data-key="c1"]').first
        for _ in range(3):
            marker.click()
            try:
                first.wait_for(state="visible", timeout=5_000)
                break
            except PlaywrightTimeout:
                continue
        assert first.is_visible()
        assert not note.is_visible() and shown.count() == 1 and quote in panel.inner_text()


def test_browser_citations_in_human_terms_question_headings_never_answers_and_export(tmp_path):
    """An FAQ page whose questions are headings: the answer quotes the text under the question, never the
    question; the card names the file and the question it sits under, the character offsets only in its details
    line; the page's heading is drawn in one font; "Export" downloads the conversation as Markdown."""
    from tests.documents import make_faq_html

    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    make_faq_html(corpus / "canal-cycles-faq.html")
    (corpus / "gym.md").write_text("# Ironbark Fitness\n\n## Guests\n\nMembers may bring one guest a month for £8.\n",
                                   encoding="utf-8")
    rag.build_index(corpus, index)
    stored = rag.load_index(index).texts["canal-cycles-faq.html"].text
    question = "How much does it cost to rent a bike?"
    with serving(index, corpus, tmp_path / "serve.log") as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#rag-input textarea").wait_for(timeout=30_000)
            assert not page.locator("#rag-export").is_enabled()  # nothing to keep yet

            # The heading "Ask the documents" is drawn in one font (its "A" was once in another).
            page.evaluate("() => document.fonts.ready")
            cdp = page.context.new_cdp_session(page)
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
            heading = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#rag-intro h2"})["nodeId"]
            fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": heading})["fonts"]
            assert len(fonts) == 1, fonts

            ask_in_page(page, question)
            answer = page.locator("#rag-chat .rag-answer").last
            assert answer.locator(".rag-assessment").inner_text().startswith(("Direct answer found", "Possible answer"))
            assert "£12" in answer.inner_text() and question not in answer.locator(".rag-text").inner_text()
            cite = answer.locator("a.rag-cite").first
            assert cite.get_attribute("title") == f"canal-cycles-faq.html · {question}"
            key, turn = cite.get_attribute("data-key"), cite.get_attribute("data-turn")
            cite.click()
            card = page.locator(f"#rag-src-{turn}-{key}")
            card.wait_for(state="visible")
            head = card.locator(".rag-card-head").inner_text()
            assert "canal-cycles-faq.html" in head and "characters" not in head, head
            assert card.locator(".rag-section").inner_text() == question
            assert not card.locator(".rag-offsets").is_visible()  # offsets wait in the closed details line
            start, end = card_offsets(card)
            assert card.locator("mark.rag-quote").inner_text() == stored[start:end] and "£12" in stored[start:end]

            with page.expect_download() as download:
                page.click("#rag-export")
            assert download.value.suggested_filename == "conversation.md"
            markdown = Path(download.value.path()).read_text(encoding="utf-8")
            assert f"## 1. {question}\n\n*{answer.locator('.rag-assessment').inner_text()}*" in markdown
            assert f"**[1]** canal-cycles-faq.html · {question}\n\n> {stored[start:end]}" in markdown
            assert f"<sub>characters {start}–{end}</sub>" in markdown

            page.click("#rag-new")
            sync_api.expect(page.locator("#rag-export")).to_be_disabled()  # a new conversation has nothing to keep
        finally:
            browser.close()
