"""`orchestra serve` as a real process: SIGTERM closes sockets with 1001 and stores answers."""

import asyncio
import json
import os
import signal
import sys

import pytest
import tornado.websocket
from tornado.testing import bind_unused_port

from orchestra import db as dblib
from tests.conftest import TOKEN

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    sock, port = bind_unused_port()
    sock.close()
    return port


async def start_server(config, lmstudio_url):
    port = free_port()
    args = [sys.executable, "-m", "orchestra.cli", "serve", "--port", str(port),
            "--data-dir", config.data_dir, "--lmstudio-url", lmstudio_url, "--token", TOKEN]
    if config.db_url:
        args += ["--db", config.db_url]
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line, "the server exited: %s" % b"".join(output).decode()
        output.append(line)
        if b"Orchestra is running" in line:
            return proc, port


async def recv(conn):
    raw = await asyncio.wait_for(conn.read_message(), 10)
    return json.loads(raw) if raw is not None else None


@pytest.mark.gen_test(timeout=60)
async def test_sigterm_closes_sockets_with_1001_and_stores_the_answer(config, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(500)), chunk_delay=0.02)
    proc, port = await start_server(config, fake_lmstudio.url)
    try:
        conn = await tornado.websocket.websocket_connect(
            "ws://127.0.0.1:%d/ws?token=%s" % (port, TOKEN))
        assert (await recv(conn))["type"] == "connected"
        conn.write_message(json.dumps({"type": "chat:send", "data": {"message": "long"}}))
        frame = await recv(conn)
        while frame["type"] != "chat:streaming":
            frame = await recv(conn)
        message_id = frame["data"]["messageId"]
        proc.send_signal(signal.SIGTERM)
        while await recv(conn) is not None:
            pass
        assert conn.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    database = dblib.Connection(config.database_url)
    try:
        row = database.get("SELECT * FROM chat_messages WHERE id = %s", message_id)
    finally:
        database.close()
    assert row.status == "incomplete" and row.finish_reason == "shutdown"
    assert row.content.startswith("w0")
