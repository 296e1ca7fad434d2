"""`orchestra serve` as a real process: SIGTERM closes sockets with 1001 and stores answers."""

import asyncio
import json
import signal

import pytest
import tornado.websocket

from orchestra import db as dblib
from tests.conftest import TOKEN
from tests.servers import Server


async def recv(conn):
    raw = await asyncio.wait_for(conn.read_message(), 10)
    return json.loads(raw) if raw is not None else None


@pytest.mark.gen_test(timeout=60)
async def test_sigterm_closes_sockets_with_1001_and_stores_the_answer(config, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("w%d" % i for i in range(500)), chunk_delay=0.02)
    server = Server(config.data_dir, db_url=config.db_url, lmstudio_url=fake_lmstudio.url,
                    token=TOKEN)
    try:
        conn = await tornado.websocket.websocket_connect(
            "ws://127.0.0.1:%d/ws?token=%s" % (server.port, TOKEN))
        assert (await recv(conn))["type"] == "connected"
        conn.write_message(json.dumps({"type": "chat:send", "data": {"message": "long"}}))
        frame = await recv(conn)
        while frame["type"] != "chat:streaming":
            frame = await recv(conn)
        message_id = frame["data"]["messageId"]
        server.proc.send_signal(signal.SIGTERM)
        while await recv(conn) is not None:
            pass
        assert conn.close_code == 1001
        server.wait(timeout=10)  # which asserts the exit status 0
    finally:
        server.kill()
    database = dblib.Connection(config.database_url)
    try:
        row = database.get("SELECT * FROM chat_messages WHERE id = %s", message_id)
    finally:
        database.close()
    assert row.status == "incomplete" and row.finish_reason == "shutdown"
    assert row.content.startswith("w0")
