"""The chat page's documents panel for real (`rag serve` in a subprocess): who may change the corpus, enforced on
Gradio's queue API itself (raw HTTP against the page's fn indexes, as an attacker would call them); removing is
deliberate (nothing preselected, a confirmation naming the file) and recoverable (the trash); every open page
sees the current corpus; uploads are this server's own and are cleaned up; chat input that UTF-8 cannot carry
never drops the stream."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import rag
from tests.conftest import SEEDS
from tests.test_ui import CHROMIUM_ARGS, chromium_path, serving

pytest.importorskip("gradio")

PASSWORD = "correct horse battery staple"
NOTES = {
    "wifi.txt": "The Wi-Fi password is printed on the router.\n\nGuests may use it freely.\n",
    "minutes.txt": "The committee met on Tuesday.\n\nIt approved the budget for the new library.\n",
    "leaflet.txt": "Recycling is collected every second Monday.\n\nGlass goes in the green bin.\n",
}


def corpus_with_notes(folder: Path) -> tuple[Path, Path]:
    corpus, index = folder / "corpus", folder / "index"
    shutil.copytree(SEEDS, corpus)
    for name, text in NOTES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    rag.build_index(corpus, index)
    return corpus, index


@pytest.fixture(scope="module")
def open_to_the_network(tmp_path_factory):
    """A server listening on every interface, without RAG_ADMIN_PASSWORD."""
    folder = tmp_path_factory.mktemp("network")
    corpus, index = corpus_with_notes(folder)
    with serving(index, corpus, folder / "serve.log", host="0.0.0.0") as url:
        yield url, corpus


@pytest.fixture(scope="module")
def with_admin(tmp_path_factory):
    """A loopback server whose corpus changes need RAG_ADMIN_PASSWORD."""
    folder = tmp_path_factory.mktemp("admin")
    corpus, index = corpus_with_notes(folder)
    with serving(index, corpus, folder / "serve.log", env={"RAG_ADMIN_PASSWORD": PASSWORD}) as url:
        yield url, corpus, index


# -- raw HTTP against the queue API -------------------------------------------------------------------------
def fn_index(url: str, elem_id: str) -> int:
    """The queue fn index of the event a page element triggers (read from the page's own /config)."""
    with urllib.request.urlopen(url + "config", timeout=10) as resp:
        config = json.load(resp)
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    for i, dep in enumerate(config["dependencies"]):
        if any(ids.get(target[0]) == elem_id for target in dep["targets"]):
            return dep.get("id", i)
    raise AssertionError(f"no event for #{elem_id}")


def call(url: str, fn: int, data: list, session: str | None = None) -> dict:
    """Join the queue as a browser would and return the final message (``success``, ``output``)."""
    session = session or uuid.uuid4().hex[:12]
    body = json.dumps({"data": data, "fn_index": fn, "session_hash": session, "event_data": None, "trigger_id": None}).encode()
    join = urllib.request.Request(url + "gradio_api/queue/join", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(join, timeout=10):
        pass
    with urllib.request.urlopen(url + f"gradio_api/queue/data?session_hash={session}", timeout=300) as resp:
        for line in resp:
            text = line.decode("utf-8").strip()
            if text.startswith("data:"):
                message = json.loads(text[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the queue closed without a result")


def upload(url: str, name: str, content: bytes) -> str:
    """Send a file to Gradio's upload route; returns the server-side path."""
    boundary = "rag-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.load(resp)[0]


def file_data(path: str) -> list[dict]:
    return [{"path": path, "orig_name": Path(path).name, "meta": {"_type": "gradio.FileData"}}]


def remove_raw(url: str, name: str, password: str | None) -> dict:
    """What the Remove… then Move to the trash buttons send, in one session."""
    session = uuid.uuid4().hex[:12]
    call(url, fn_index(url, "rag-remove"), [name, None, None, None], session)
    return call(url, fn_index(url, "rag-confirm-remove"), [None, password], session)


def error_of(message: dict) -> str:
    assert message["success"] is False, message
    return str(message.get("output", {}).get("error") or message.get("title") or message)


def test_beyond_loopback_without_an_admin_password_nobody_changes_the_corpus(open_to_the_network):
    url, corpus = open_to_the_network
    assert "off" in error_of(remove_raw(url, "wifi.txt", None))
    assert (corpus / "wifi.txt").is_file()
    path = upload(url, "new.txt", b"The pool closes at eight.")
    assert "off" in error_of(call(url, fn_index(url, "rag-add"), [file_data(path), None]))
    assert not (corpus / "new.txt").exists()
    assert call(url, fn_index(url, "rag-restore"), ["wifi.txt", None])["success"] is False


def test_only_the_admin_password_changes_the_corpus_and_removing_goes_to_the_trash(with_admin):
    url, corpus, index = with_admin
    for wrong in (None, "", "guess"):
        assert "admin password" in error_of(remove_raw(url, "minutes.txt", wrong))
    assert (corpus / "minutes.txt").is_file()
    done = remove_raw(url, "minutes.txt", PASSWORD)
    assert done["success"], done
    assert not (corpus / "minutes.txt").exists()
    assert [e.source for e in rag.trash.entries(index)] == ["minutes.txt"]
    remove_raw(url, "../index/CURRENT", PASSWORD)  # not a choice: refused before it reaches the trash
    assert (index / "CURRENT").is_file() and [e.source for e in rag.trash.entries(index)] == ["minutes.txt"]


def test_adding_takes_only_this_servers_uploads_and_deletes_them_afterwards(with_admin, tmp_path):
    url, corpus, _ = with_admin
    add = fn_index(url, "rag-add")
    elsewhere = tmp_path / "planted.txt"  # a file on the server's disk that was never uploaded to this page
    elsewhere.write_text("Planted text.", encoding="utf-8")
    call(url, add, [file_data(str(elsewhere)), PASSWORD])
    assert not (corpus / "planted.txt").exists() and elsewhere.is_file()
    path = upload(url, "pool.txt", b"The pool closes at eight on weekdays.")
    assert "admin password" in error_of(call(url, add, [file_data(path), "guess"]))
    done = call(url, add, [file_data(path), PASSWORD])
    assert done["success"] and "Added pool.txt" in done["output"]["data"][0], done
    assert (corpus / "pool.txt").is_file() and not Path(path).exists()


def test_a_lone_surrogate_in_a_chat_message_does_not_drop_the_stream(with_admin):
    url, _, _ = with_admin
    done = call(url, fn_index(url, "rag-ask"), ["Where is the Wi-Fi password printed?\ud800", None, 5, "hybrid", "rules"])
    assert done["success"], done
    assert "Wi-Fi" in json.dumps(done["output"]["data"][0], ensure_ascii=False)


def test_browser_remove_is_deliberate_recoverable_and_every_page_sees_it(with_admin):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium found (install Debian's `chromium` package, or set RAG_CHROMIUM); never downloaded")
    url, corpus, _ = with_admin
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            first, second = (browser.new_page(viewport={"width": 1400, "height": 1100}) for _ in range(2))
            for page in (first, second):
                page.goto(url, wait_until="domcontentloaded")
                page.locator("#rag-input textarea").wait_for(timeout=30_000)
                page.locator("#rag-documents").get_by_text("Documents").first.click()
            count = int(second.locator("#rag-corpus").inner_text().split(":")[1].split()[0])
            assert first.locator("#rag-doc-choice input").input_value() == ""  # nothing preselected
            first.click("#rag-remove")
            first.wait_for_function("() => document.querySelector('#rag-doc-status').innerText.includes('Choose a document')")
            assert not first.locator("#rag-confirm").is_visible()
            first.locator("#rag-doc-choice input").fill("no-such-document.txt")
            first.locator("#rag-doc-choice input").press("Enter")
            first.click("#rag-remove")
            first.wait_for_timeout(500)
            assert not first.locator("#rag-confirm").is_visible()  # a name not in the list is never sent

            first.locator("#rag-admin-password input").fill(PASSWORD)
            first.locator("#rag-doc-choice input").click()
            first.get_by_role("option", name="leaflet.txt").click()
            first.click("#rag-remove")
            first.locator("#rag-confirm").wait_for(state="visible")
            assert "leaflet.txt" in first.locator("#rag-confirm-text").inner_text()
            first.click("#rag-cancel-remove")
            first.locator("#rag-confirm").wait_for(state="hidden")
            assert (corpus / "leaflet.txt").is_file()
            first.click("#rag-remove")
            first.click("#rag-confirm-remove")
            first.wait_for_function("() => document.querySelector('#rag-doc-status').innerText.includes('trash')", timeout=120_000)
            assert not (corpus / "leaflet.txt").exists()
            second.wait_for_function(f"() => document.querySelector('#rag-corpus').innerText.includes('{count - 1} documents')",
                                     timeout=15_000)  # the other page, without a reload
            assert "leaflet.txt" not in second.locator("#rag-doc-table").inner_text()

            first.locator("#rag-trash-choice input").click()
            first.get_by_role("option", name="leaflet.txt").first.click()
            first.click("#rag-restore")
            first.wait_for_function("() => document.querySelector('#rag-doc-status').innerText.includes('Restored')", timeout=120_000)
            second.wait_for_function(f"() => document.querySelector('#rag-corpus').innerText.includes('{count} documents')",
                                     timeout=15_000)
            assert "leaflet.txt" in second.locator("#rag-doc-table").inner_text()
            assert (corpus / "leaflet.txt").read_text(encoding="utf-8") == NOTES["leaflet.txt"]
        finally:
            browser.close()
