"""The knowledge API: search a base (and every way to ask it wrongly), upload files of each
kind as sources (unreadable ones stored as failed, with the reason), 413 before an oversized
upload is read, and a source's chunks. On SQLite and MariaDB."""

import asyncio
import json
import os
import socket
import urllib.parse
import uuid

import pytest

from orchestra.web import knowledge_api
from tests.conftest import TOKEN
from tests.web.conftest import multipart
from tests.knowledge_helpers import add_base, add_text

AUTH = {"Authorization": "Bearer %s" % TOKEN}


# -- documents: tests/fixtures/documents (made by make_documents.py there), and plain text ---

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "documents")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


# filename -> (bytes, the format it is stored in, a word only it holds, a heading of that word)
DOCUMENTS = {
    "notes.txt": (b"Plain notes.\n\nThe zeppelin hangar opens at nine every morning.\n",
                  "text", "zeppelin", None),
    "guide.md": ("# Wildlife\n\nIntro.\n\n## Habitat\n\nThe quokka lives on Rottnest "
                 "Island, caf\u00e9 owners say.\n".encode(), "markdown", "quokka", "Habitat"),
    "page.html": (fixture("page.html"), "markdown", "download", "Install"),
    "guide.pdf": (fixture("guide.pdf"), "pdf", "wombat", "Page 3"),
    "notes.docx": (fixture("notes.docx"), "markdown", "activate", "Setup"),
}
# filename -> the one sentence the source's error says
UNREADABLE = {
    "encrypted.pdf": "The PDF is encrypted; remove its password and upload it again.",
    "corrupt.pdf": "The PDF cannot be read; it may be damaged.",
    "scanned.pdf": "The PDF has no text layer (it looks scanned); run OCR on it first.",
}


# -- helpers ---------------------------------------------------------------------------------


async def upload(fetch, base_id, filename, content, title=None):
    fields = [("title", title)] if title is not None else []
    body, content_type = multipart(fields, {"file": (filename, content)})
    return await fetch("/api/knowledge-bases/%d/files" % base_id, method="POST", body=body,
                       headers={"Content-Type": content_type})


async def search(fetch, base_id, **args):
    return await fetch("/api/knowledge-bases/%d/search?%s" % (base_id,
                                                              urllib.parse.urlencode(args)))


@pytest.fixture
def knowledge(app):
    return app.settings["services"]["knowledge"]


# -- search ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_search_answers_the_best_passages_of_that_base(fetch, knowledge, config):
    base = await add_base(fetch)
    other = await add_base(fetch, "Other")
    tea = await add_text(fetch, base, "Tea", "# Tea\n\n## Brewing\n\nSteep green tea at 80 "
                         "degrees for two minutes.\n\n## Storage\n\nKeep leaves dry and dark.")
    await add_text(fetch, base, "Coffee", "# Coffee\n\nGrind beans just before brewing coffee.")
    await add_text(fetch, other, "Elsewhere", "Green tea steeping in another base.")
    await knowledge.wait()

    r = await search(fetch, base, q="steep green tea")
    assert r.code == 200, r.text
    body = r.json()
    assert body["mode"] == {"fullText": "sqlite-fts5" if config.db_url is None
                            else "mariadb-fulltext", "embeddingModel": None}
    top = body["items"][0]
    assert set(top) == {"chunkId", "sourceId", "sourceTitle", "headingPath", "text", "score"}
    assert top["sourceId"] == tea["id"] and top["sourceTitle"] == "Tea"
    assert "80 degrees" in top["text"] and top["headingPath"][-1] == "Brewing"
    assert isinstance(top["score"], float)
    scores = [hit["score"] for hit in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {hit["sourceTitle"] for hit in body["items"]} <= {"Tea", "Coffee"}

    assert len((await search(fetch, base, q="tea coffee brewing", limit=1)).json()["items"]) == 1
    # Only words that say nothing: no passage, and no error.
    assert (await search(fetch, base, q="the of and")).json()["items"] == []
    assert (await search(fetch, base, q="nowhere")).json()["items"] == []


@pytest.mark.parametrize("args, field", [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "a" * 501}, "q"),
    ({"q": "tea " * 250}, "q"),          # the 1,000-character query
    ({"q": "tea", "limit": "0"}, "limit"),
    ({"q": "tea", "limit": "51"}, "limit"),
    ({"q": "tea", "limit": "ten"}, "limit"),
])
@pytest.mark.gen_test
async def test_bad_searches_answer_400_naming_the_field(fetch, args, field):
    base = await add_base(fetch)
    r = await search(fetch, base, **args)
    assert r.code == 400, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert list(r.json()["fields"]) == [field] and r.json()["error"]


@pytest.mark.gen_test
async def test_search_of_a_missing_base_is_404(fetch):
    r = await search(fetch, 999, q="tea")
    assert r.code == 404 and r.json() == {"error": "No knowledge base with id 999."}
    assert (await fetch("/api/knowledge-bases/999/search?q=tea", token=False)).code == 401
    base = await add_base(fetch)
    assert (await fetch("/api/knowledge-bases/%d/search?q=tea" % base, method="POST")).code \
        == 405


# -- uploads ---------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_each_kind_of_file_becomes_a_searchable_source(fetch, knowledge):
    base = await add_base(fetch)
    created = {}
    for filename, (content, fmt, word, heading) in DOCUMENTS.items():
        r = await upload(fetch, base, filename, content)
        assert r.code == 201, (filename, r.text)
        source = r.json()
        assert r.headers["Location"] == "/api/knowledge-sources/%d" % source["id"]
        assert (source["kind"], source["title"], source["status"]) == ("file", filename,
                                                                       "indexing"), filename
        assert source["knowledgeBaseId"] == base and source["error"] is None
        created[filename] = source["id"]
    await knowledge.wait()

    for filename, (content, fmt, word, heading) in DOCUMENTS.items():
        stored = (await fetch("/api/knowledge-sources/%d" % created[filename])).json()
        assert stored["status"] == "ready" and stored["chunkCount"] >= 1, stored
        assert stored["format"] == fmt, filename
        items = (await search(fetch, base, q=word)).json()["items"]
        assert items and {h["sourceId"] for h in items} == {created[filename]}, filename
        assert all(word in h["text"].lower() for h in items)
        if heading:
            assert any(heading in h["headingPath"] for h in items), (filename, items)
    html = (await fetch("/api/knowledge-sources/%d" % created["page.html"])).json()
    assert "do not keep" not in html["content"] and "# The Orchestra Handbook" in html["content"]
    assert "caf\u00e9" in (await fetch("/api/knowledge-sources/%d"
                                       % created["guide.md"])).json()["content"]


@pytest.mark.gen_test(timeout=60)
async def test_a_title_given_with_the_file_is_kept(fetch, knowledge):
    base = await add_base(fetch)
    r = await upload(fetch, base, "notes.txt", b"Zeppelins fly.", title="  Airships  ")
    assert r.code == 201 and r.json()["title"] == "Airships"
    r = await upload(fetch, base, "notes.txt", b"Zeppelins fly.", title="t" * 201)
    assert r.code == 400 and list(r.json()["fields"]) == ["title"]
    await knowledge.wait()


@pytest.mark.parametrize("filename, content", [
    *((name, fixture(name)) for name in UNREADABLE),
    ("archive.docx", fixture("not-a-document.zip")),
    ("latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1")),
    ("program.exe", b"MZ\x90\x00\x03"),
])
@pytest.mark.gen_test(timeout=60)
async def test_an_unreadable_file_is_stored_failed_with_the_reason(fetch, knowledge, filename,
                                                                   content):
    base = await add_base(fetch)
    r = await upload(fetch, base, filename, content)
    assert r.code == 201, r.text
    source = r.json()
    assert source["status"] == "failed" and source["title"] == filename
    reason = source["error"]
    assert reason and reason.endswith(".") and "\n" not in reason and len(reason) < 300
    assert "Traceback" not in reason
    await knowledge.wait()
    stored = (await fetch("/api/knowledge-sources/%d" % source["id"])).json()
    assert (stored["status"], stored["error"], stored["chunkCount"]) == ("failed", reason, 0)
    chunks = await fetch("/api/knowledge-sources/%d/chunks" % source["id"])
    assert chunks.json() == {"items": []}
    if filename in UNREADABLE:
        assert reason == UNREADABLE[filename]


@pytest.mark.gen_test
async def test_uploads_that_store_nothing(fetch):
    base = await add_base(fetch)
    body, content_type = multipart([("title", "No file")], {})
    r = await fetch("/api/knowledge-bases/%d/files" % base, method="POST", body=body,
                    headers={"Content-Type": content_type})
    assert r.code == 400 and r.json()["fields"] == {"file": ["Choose a file to upload."]}
    r = await upload(fetch, base, "empty.txt", b"")
    assert r.code == 400 and r.json()["fields"] == {"file": ["The file is empty."]}
    r = await fetch("/api/knowledge-bases/%d/files" % base, method="POST", json={"file": "x"})
    assert r.code == 400 and list(r.json()["fields"]) == ["file"]
    r = await upload(fetch, 999, "notes.txt", b"text")
    assert r.code == 404 and r.json() == {"error": "No knowledge base with id 999."}
    body, content_type = multipart([], {"file": ("notes.txt", b"text")})
    r = await fetch("/api/knowledge-bases/%d/files" % base, method="POST", body=body,
                    token=False, headers={"Content-Type": content_type})
    assert r.code == 401
    assert (await fetch("/api/knowledge-sources?knowledgeBaseId=%d" % base)).json()[
        "total"] == 0


@pytest.mark.gen_test
async def test_a_file_over_the_limit_inside_a_small_body_is_413(fetch, monkeypatch):
    monkeypatch.setattr(knowledge_api, "MAX_FILE", 100)
    base = await add_base(fetch)
    r = await upload(fetch, base, "big.txt", b"a" * 101)
    assert r.code == 413
    assert r.json() == {"error": "The file is larger than the limit of 0.1 kB (100 bytes)."}
    assert (await upload(fetch, base, "fits.txt", b"a" * 100)).code == 201


def raw_post(port, path, length, extra_headers=""):
    """POST headers declaring `length` bytes and none of the body: the whole answer, read
    until the server closes the connection. (Body bytes the server never reads would make
    its close a reset, which can drop the answer before the client reads it.)"""
    boundary = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                      "Content-Type: multipart/form-data; boundary=%s\r\n"
                      "Content-Length: %d\r\n\r\n" % (path, port, extra_headers, boundary,
                                                      length)).encode())
        answer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                return answer.decode("utf-8", "replace")
            answer += data


@pytest.mark.gen_test(timeout=60)
async def test_a_200_mb_upload_is_refused_before_it_is_read(fetch, http_port):
    base = await add_base(fetch)
    loop = asyncio.get_running_loop()
    limit = knowledge_api.MAX_UPLOAD_BODY
    message = "The upload is larger than the limit of 50.1 MB (%d bytes)." % limit
    # The client sent the headers of 200 MB and waits: the answer comes without the body.
    answer = await loop.run_in_executor(None, raw_post, http_port,
                                        "/api/knowledge-bases/%d/files" % base, 200_000_000,
                                        "Authorization: Bearer %s\r\n" % TOKEN)
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413 "), answer[:300]
    assert json.loads(body) == {"error": message}
    # The form page the same, as a page.
    answer = await loop.run_in_executor(None, raw_post, http_port,
                                        "/knowledge-bases/%d/sources" % base, 200_000_000,
                                        "Authorization: Bearer %s\r\n" % TOKEN)
    assert answer.startswith("HTTP/1.1 413 ") and "text/html" in answer.split("\r\n\r\n")[0]
    assert message in answer and "<html" in answer.lower()
    # Without the token: 401, the body unread too. Nothing was stored.
    answer = await loop.run_in_executor(None, raw_post, http_port,
                                        "/api/knowledge-bases/%d/files" % base, 200_000_000)
    assert answer.startswith("HTTP/1.1 401 ")
    assert (await fetch("/api/knowledge-sources")).json()["total"] == 0
    # Just within the limit by its declaration, the body is read (and this one is small).
    assert (await upload(fetch, base, "small.txt", b"small")).code == 201


# -- chunks ----------------------------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_a_sources_chunks_in_document_order(fetch, knowledge):
    base = await add_base(fetch)
    sections = "\n\n".join("## Part %d\n\n%s" % (n, ("Sentence %d about owls. " % n) * 60)
                           for n in range(1, 6))
    source = await add_text(fetch, base, "Owls", "# Owls\n\n" + sections)
    await knowledge.wait()
    r = await fetch("/api/knowledge-sources/%d/chunks" % source["id"])
    assert r.code == 200
    items = r.json()["items"]
    assert len(items) == (await fetch("/api/knowledge-sources/%d" % source["id"])).json()[
        "chunkCount"] > 1
    assert [c["position"] for c in items] == list(range(len(items)))
    assert set(items[0]) == {"chunkId", "position", "headingPath", "text", "tokens"}
    assert items[0]["headingPath"][0] == "Owls"
    assert all(c["tokens"] > 0 and c["text"] for c in items)
    assert items[-1]["headingPath"][-1] == "Part 5"
    # A hit's chunk id is one of them.
    hit = (await search(fetch, base, q="owls")).json()["items"][0]
    assert hit["chunkId"] in {c["chunkId"] for c in items}

    r = await fetch("/api/knowledge-sources/999/chunks")
    assert r.code == 404 and r.json() == {"error": "No knowledge source with id 999."}
    assert (await fetch("/api/knowledge-sources/%d/chunks" % source["id"],
                        token=False)).code == 401
