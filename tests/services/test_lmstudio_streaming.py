"""The streamed answer's HTTP reader (`lmstudio.streaming`): the response's framing cut right
however the bytes are split, and every way it can end. Through a real server, the streams
of `test_lmstudio_stream.py` and `test_lmstudio_errors.py` exercise it."""

import asyncio

import pytest
from tornado.httpclient import HTTPRequest
from tornado.simple_httpclient import HTTPStreamClosedError

from orchestra.services.lmstudio.streaming import StreamingConnection

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")
EVENTS = [b"data: {\"n\": %d}\n\n" % i for i in range(5)]
CHUNKED = HEAD + b"".join(b"%x;ext=1\r\n%s\r\n" % (len(e), e) for e in EVENTS) + \
    b"0\r\nX-Trailer: yes\r\n\r\n"


class Transport:
    def __init__(self):
        self.closed = False

    def close(self):
        self.closed = True


def connection(loop):
    got = {"lines": [], "body": []}
    request = HTTPRequest("http://127.0.0.1:1/v1/chat/completions", method="POST", body="{}",
                          streaming_callback=got["body"].append,
                          header_callback=got["lines"].append)
    future = loop.create_future()
    conn = StreamingConnection(request, future)
    conn.connection_made(Transport())
    return conn, future, got


def feed(conn, data, step):
    for at in range(0, len(data), step):
        conn.data_received(data[at:at + step])


@pytest.mark.parametrize("step", [1, 2, 3, 7, 16, 1000])
@pytest.mark.gen_test
async def test_a_chunked_answer_split_anywhere_gives_the_same_bytes(step):
    conn, future, got = connection(asyncio.get_running_loop())
    feed(conn, CHUNKED, step)
    assert future.done() and future.result().code == 200
    assert b"".join(got["body"]) == b"".join(EVENTS)
    assert got["lines"] == ["HTTP/1.1 200 OK\r\n", "Content-Type: text/event-stream\r\n",
                            "Transfer-Encoding: chunked\r\n", "\r\n"]
    assert conn.transport.closed


@pytest.mark.parametrize("step", [1, 5, 1000])
@pytest.mark.gen_test
async def test_a_sized_answer_ends_at_its_length_and_an_interim_answer_is_skipped(step):
    conn, future, got = connection(asyncio.get_running_loop())
    body = b'{"error": "no"}'
    feed(conn, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: %d"
         b"\r\n\r\n%s" % (len(body), body), step)
    assert future.done() and (future.result().code, future.result().reason) == (
        404, "Not Found")
    assert b"".join(got["body"]) == body
    assert got["lines"][0] == "HTTP/1.1 404 Not Found\r\n"


@pytest.mark.gen_test
async def test_an_answer_without_a_length_ends_with_its_connection():
    conn, future, got = connection(asyncio.get_running_loop())
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n")
    assert not future.done()
    conn.connection_lost(None)
    assert future.result().code == 200 and got["body"] == [b"data: x\n\n"]


@pytest.mark.parametrize("data", [
    HEAD + b"zz\r\nhello\r\n",                      # a size that is not hex
    HEAD + b"5\r\nhelloXX\r\n",                     # data longer than its size
    HEAD + b"5\r\nhel",                             # cut off, then the connection ends
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",                 # not HTTP at all
    b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70000,  # a head that never ends
])
@pytest.mark.gen_test
async def test_a_broken_answer_fails_as_a_closed_stream(data):
    conn, future, got = connection(asyncio.get_running_loop())
    conn.data_received(data)
    if not future.done():
        conn.connection_lost(None)
    with pytest.raises(HTTPStreamClosedError):
        future.result()
    assert conn.transport.closed


@pytest.mark.gen_test
async def test_an_aborted_request_reads_nothing_more():
    conn, future, got = connection(asyncio.get_running_loop())
    conn.data_received(CHUNKED[:len(HEAD) + 20])
    delivered = list(got["body"])
    conn.abort(RuntimeError("aborted"))
    conn.data_received(CHUNKED[len(HEAD) + 20:])
    conn.connection_lost(None)
    assert got["body"] == delivered and conn.transport.closed
    with pytest.raises(RuntimeError, match="aborted"):
        future.result()
