"""Request bodies against `orchestra serve` as a real process: the server's max_body_size,
streamed bodies refused with 413 naming the limit (JSON for /api, a page for forms), and
uploads with their own, smaller limit."""

import asyncio
import json
import signal
import socket

import pytest
import tornado.httpclient

from orchestra.web import bodies, knowledge
from tests.conftest import TOKEN
from tests.servers import Server
from tests.web.conftest import Browser, multipart

AUTH = {"Authorization": "Bearer %s" % TOKEN}


@pytest.fixture
def server(config):
    """(base URL) of `orchestra serve` started as a user does; stopped after the test."""
    server = Server(config.data_dir, db_url=config.db_url, token=TOKEN)
    try:
        yield server.base
        server.stop(signal.SIGTERM)
    finally:
        server.kill()


async def call(base, path, method="GET", body=None, headers=AUTH, **kwargs):
    client = tornado.httpclient.AsyncHTTPClient()
    return await client.fetch(base + path, method=method, body=body, headers=headers,
                              raise_error=False, follow_redirects=False,
                              request_timeout=120, **kwargs)


class RealFetch:
    """The `fetch` the page-test Browser expects, against the real server."""

    def __init__(self, base):
        self.base = base

    async def __call__(self, path, method="GET", body=None, token=True, headers=None, **kw):
        from tests.conftest import Response
        return Response(await call(self.base, path, method, body, headers or {}))


def limit_message(what, limit):
    return "The %s is larger than the limit of %s (%d bytes)." % (
        what, bodies.size_text(limit), limit)


@pytest.mark.gen_test(timeout=180)
async def test_api_bodies_over_the_limit_answer_413_with_the_limit(server):
    base = json.loads((await call(server, "/api/knowledge-bases", "POST",
                                  json.dumps({"name": "Big"}))).body)
    # The largest legitimate request passes: a source of schemas.HUGE characters.
    text = "a" * 4_999_000
    r = await call(server, "/api/knowledge-sources", "POST", json.dumps({
        "knowledgeBaseId": base["id"], "kind": "text", "title": "Huge", "content": text}))
    assert r.code == 201, r.body[:300]

    too_big = json.dumps({"knowledgeBaseId": base["id"], "kind": "text", "title": "Too big",
                          "content": "\u00e9" * (bodies.MAX_BODY // 2)}, ensure_ascii=False)
    assert len(too_big.encode()) > bodies.MAX_BODY
    r = await call(server, "/api/knowledge-sources", "POST", too_big.encode(),
                   headers=dict(AUTH, **{"Content-Type": "application/json"}))
    assert r.code == 413
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.body) == {"error": limit_message("request body", bodies.MAX_BODY)}
    # Sent without a length (chunked), the same.
    chunk = b"x" * 1_000_000

    async def produce(write):
        for _ in range(bodies.MAX_BODY // len(chunk) + 2):
            await write(chunk)

    r = await call(server, "/api/templates", "POST", body_producer=produce)
    assert r.code == 413 and json.loads(r.body)["error"] == limit_message(
        "request body", bodies.MAX_BODY)
    # Nothing was written, and the server goes on answering.
    stored = json.loads((await call(server, "/api/knowledge-sources")).body)
    assert [s["title"] for s in stored["items"]] == ["Huge"]
    assert json.loads((await call(server, "/api/templates")).body)["total"] == 0


@pytest.mark.gen_test(timeout=120)
async def test_a_declared_length_past_any_limit_is_refused_before_the_body(server):
    port = int(server.rsplit(":", 1)[1])

    def ask(headers):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(("POST /api/templates HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\n%s\r\n" % headers).encode())
            answer = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    return answer.decode()
                answer += data

    # Far past the limit, authenticated: answered at once, the connection closed, and the
    # answer says so.
    answer = await asyncio.get_running_loop().run_in_executor(None, ask, (
        "Authorization: Bearer %s\r\nContent-Length: %d\r\n" % (TOKEN, 10 ** 12)))
    assert answer.startswith("HTTP/1.1 413 ")
    assert limit_message("request body", bodies.MAX_BODY) in answer
    assert "400 Bad Request" not in answer and "\r\nConnection: close\r\n" in answer
    # Without the token nothing is read either: 401 first.
    answer = await asyncio.get_running_loop().run_in_executor(
        None, ask, "Content-Length: %d\r\n" % 10 ** 9)
    assert answer.startswith("HTTP/1.1 401 ") and "Authentication required" in answer
    assert "400 Bad Request" not in answer and "\r\nConnection: close\r\n" in answer


@pytest.mark.gen_test(timeout=120)
async def test_an_answer_before_the_body_tells_a_keep_alive_client_the_connection_closes(
        server):
    """A method no route takes (TRACE, QUERY) or a refused token is answered before the
    body is read, and the server then closes the connection: the answer says
    `Connection: close`, so a client does not send its next request on it. An answer after
    the body keeps the connection open for the next request."""
    port = int(server.rsplit(":", 1)[1])
    auth = "Authorization: Bearer %s\r\n" % TOKEN

    def exchange(requests, closes=False):
        """Sends each request on one connection, reading each answer (Content-Length
        framed); returns the answers' heads and, where `closes`, whether the server then
        closed the connection."""
        heads = []
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            stream = sock.makefile("rb")
            for request in requests:
                sock.sendall(request.encode())
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = stream.readline()
                    assert line, "closed before an answer to %r" % request[:40]
                    head += line
                head = head.decode()
                length = int(head.lower().split("content-length: ")[1].split("\r\n")[0])
                stream.read(length)
                heads.append(head)
            closed = closes and stream.read(1) == b""
        return heads, closed

    loop = asyncio.get_running_loop()
    get = "GET /api/templates HTTP/1.1\r\nHost: x\r\n%s\r\n" % auth
    heads, closed = await loop.run_in_executor(None, exchange, [get, get])
    assert [h.split("\r\n")[0] for h in heads] == ["HTTP/1.1 200 OK"] * 2
    assert "Connection: close" not in "".join(heads)

    for first in ("TRACE /api/templates/1 HTTP/1.1\r\nHost: x\r\n%s\r\n" % auth,
                  "QUERY /api/tasks/1 HTTP/1.1\r\nHost: x\r\n%s\r\n" % auth,
                  "POST /api/templates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n"):
        heads, closed = await loop.run_in_executor(None, exchange, [first], True)
        assert heads[0].split(" ")[1] in ("405", "401"), heads[0]
        assert "\r\nConnection: close\r\n" in heads[0], heads[0]
        assert closed


@pytest.mark.gen_test(timeout=120)
async def test_uploads_have_their_own_limit_and_a_page_says_it(server):
    browser = Browser(RealFetch(server))
    await browser.login()
    r = await browser.post("/knowledge-bases/new", {"name": "Handbook", "description": ""})
    assert r.code == 303
    base_path = r.headers["Location"]

    ok = b"line\n" * 1000
    r = await browser.post(base_path + "/sources", {"kind": "file", "title": ""},
                           files={"file": ("notes.txt", ok)})
    assert r.code == 303, r.text[:500]

    # Just past the file's limit but within the upload's: the form says so.
    r = await browser.post(base_path + "/sources", {"kind": "file", "title": "Big"},
                           files={"file": ("big.txt", b"a" * (knowledge.MAX_UPLOAD + 1))})
    assert r.code == 413 and "The file is larger than the limit of 50 MB (50000000 bytes)." \
        in r.text and 'value="Big"' in r.text

    # Past the upload's limit: a 413 page naming it, sent before the body is read (the client
    # asks with Expect: 100-continue, so it waits for that answer instead of sending).
    body, content_type = multipart([("kind", "file"), ("_xsrf", browser.xsrf)],
                                   {"file": ("huge.txt", b"a" * knowledge.MAX_UPLOAD_BODY)})
    r = await call(server, base_path + "/sources", "POST", body, headers={
        "Content-Type": content_type, "Cookie": "; ".join(
            "%s=%s" % kv for kv in browser.cookies.items())}, expect_100_continue=True)
    assert r.code == 413 and r.headers["Content-Type"].startswith("text/html")
    assert limit_message("upload", knowledge.MAX_UPLOAD_BODY) in r.body.decode()
    assert "<html" in r.body.decode().lower()

    # The text form (not an upload) takes long pasted text, up to the general limit.
    r = await browser.post(base_path + "/sources", {"kind": "text", "title": "Long",
                                                    "content": "word " * 1_000_000})
    assert r.code == 303, r.text[:500]
    titles = sorted(s["title"] for s in json.loads(
        (await call(server, "/api/knowledge-sources")).body)["items"])
    assert titles == ["Long", "notes.txt"]


@pytest.mark.gen_test(timeout=60)
async def test_forms_check_xsrf_after_the_streamed_body(server):
    browser = Browser(RealFetch(server))
    await browser.login()
    r = await browser.post("/templates/new", {"name": "T", "body": "Hi {{name}}"}, xsrf=False)
    assert r.code == 403
    body, content_type = multipart([("name", "T"), ("body", "Hi"), ("_xsrf", "forged")], {})
    r = await call(server, "/templates/new", "POST", body, headers={
        "Content-Type": content_type, "Cookie": "; ".join(
            "%s=%s" % kv for kv in browser.cookies.items())})
    assert r.code == 403
    assert json.loads((await call(server, "/api/templates")).body)["total"] == 0
    r = await browser.post("/templates/new", {"name": "T", "body": "Hi {{name}}"})
    assert r.code == 303
    assert json.loads((await call(server, "/api/templates")).body)["total"] == 1

