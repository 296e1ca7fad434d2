""""Read the page" over a real /ws: a user message links to a page of a local site, the web
service fetches it, the model (the fake LM Studio) is shown its best passages as numbered
sources, and the answer is stored with citations naming the page; refusals (a blocked
address, a message that is not there, links nowhere, or is an answer) change nothing.

`tea_site` is a real web site on a free port; the browser tests use it too."""

import asyncio
import dataclasses

import pytest
import tornado.web

from orchestra.app import close_app, make_app
from orchestra.services.chat_pages import PAGE_INSTRUCTIONS
from tests.fakes.website import LocalSite
from tests.web.test_chat_knowledge import completions, system_text
from tests.web.test_ws import collect_answer, connect, expect, quiet, recv, send, until

TEA = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A Guide to Tea</title>
<meta name="author" content="Ada Leaf">
<script>window.secret = "never shown";</script></head>
<body><nav><a href="/">Home</a></nav>
<main><article>
<h1>A Guide to Tea</h1>
<p>Tea is the leaf of Camellia sinensis, dried and steeped in water. This guide covers how
each kind of tea is brewed, and what goes wrong when the water is too hot or too cold.</p>
<h2>Green tea</h2>
<p>Sencha is steeped at 70 to 80 degrees Celsius for one minute; hotter water makes it
bitter. Gyokuro wants even cooler water, around 60 degrees.</p>
<ul><li>Sencha: one minute</li><li>Gyokuro: two minutes</li></ul>
<h2>Black tea</h2>
<p>Assam is steeped with boiling water for four minutes, and takes milk well.</p>
<table><tr><th>Tea</th><th>Minutes</th></tr><tr><td>Assam</td><td>4</td></tr>
<tr><td>Darjeeling</td><td>3</td></tr></table>
<p>See <a href="/tea/oolong">the oolong page</a> and
<a href="https://example.org/teashop">a tea shop</a>.</p>
<img src="/pixel.png" alt="A cup">
</article></main>
<footer>Copyright 2024 The Tea Society.</footer>
</body></html>"""

OOLONG = """<!doctype html><html><head><title>Oolong</title></head><body><main><article>
<h1>Oolong</h1><p>Oolong is partly oxidised, between green and black tea, and is steeped
several times at 90 degrees.</p></article></main></body></html>"""


class TeaPage(tornado.web.RequestHandler):
    async def get(self, name):
        site = self.settings["site"]
        if name not in site.pages:
            raise tornado.web.HTTPError(404)
        site.hits.append(self.request.path)
        await site.open.wait()      # a test holds the answer back by clearing it
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(site.pages[name])


class TeaSite(LocalSite):
    """/tea (a guide with headings, a list, a table and links) and /tea/oolong. Pages are
    answered while `open` is set (it is, unless a test clears it)."""

    def __init__(self):
        self.hits = []
        self.open = asyncio.Event()
        self.open.set()
        self.pages = {"tea": TEA, "tea/oolong": OOLONG}
        self.serve([(r"/(tea(?:/oolong)?)", TeaPage)])

    async def close(self):
        self.open.set()
        await super().close()


@pytest.fixture
def tea_site(io_loop):
    site = TeaSite()
    yield site
    io_loop.run_sync(site.close)


@pytest.fixture
def allow_private():
    """The test site is on 127.0.0.1: allowed, except where a test sets this to False."""
    return True


@pytest.fixture
def config(config, allow_private):
    return dataclasses.replace(config, fetch_allow_private=allow_private)


@pytest.fixture
def app(config, io_loop):
    """The app, with no politeness delay between requests to the one test host."""
    application = make_app(config, web_options={"politeness_delay": 0})
    yield application
    io_loop.run_sync(lambda: close_app(application), timeout=30)


async def ask(conn, text):
    """Send `text` as a new conversation's first message; its stored user message."""
    send(conn, "chat:send", {"message": text}, id="ask")
    user, _, _, _ = await collect_answer(conn)
    return user["data"]


async def message_count(app, conversation_id):
    return len(await app.settings["stores"].messages.history(conversation_id, 100))


@pytest.mark.gen_test(timeout=30)
async def test_read_the_page_answers_from_its_passages_with_citations(
        ws_connect, app, fetch, fake_lmstudio, tea_site):
    conn = await connect(ws_connect)
    url = tea_site.url + "/tea"
    fake_lmstudio.script_answer("I cannot open links.")
    user = await ask(conn, "At what temperature is sencha steeped? See %s." % url)

    fake_lmstudio.script_answer("Sencha is steeped at 70 to 80 degrees Celsius [1]. Source "
                                "[9] does not exist.")
    send(conn, "chat:read_page", {"messageId": user["id"]}, id="read")
    page = await recv(conn)
    assert page["type"] == "chat:page" and page["id"] == "read"
    assert page["data"]["messageId"] == user["id"]
    assert page["data"]["url"] == url and page["data"]["title"] == "A Guide to Tea"
    fetch_id = page["data"]["fetchId"]
    started, chunks, done, final = await collect_answer(conn)
    answer = final["data"]
    assert started["data"]["status"] == "streaming" and started["id"] == "read"
    assert answer["replyTo"] == user["id"] and answer["status"] == "complete"
    assert answer["content"].startswith("Sencha is steeped at 70 to 80")

    # The model saw the page's passages, numbered, the green tea one among them.
    body = completions(fake_lmstudio)[-1]
    system = system_text(body)
    assert PAGE_INSTRUCTIONS in system and url in system
    assert "[1] A Guide to Tea" in system
    assert "Sencha is steeped at 70 to 80 degrees Celsius" in system
    assert "never shown" not in system and "Copyright" not in system
    assert body["messages"][-1]["content"] == user["content"]

    # The answer cites the page: url, title, the quote, the stored fetch; [9] names nothing.
    citations = answer["citations"]
    assert [(c["n"], c["url"], c["title"], c["fetchId"]) for c in citations] == [
        (1, url, "A Guide to Tea", fetch_id)]
    assert "70 to 80 degrees Celsius" in citations[0]["quote"]
    stored = await app.settings["stores"].messages.get(answer["id"])
    assert stored.citations == citations
    r = await fetch("/api/web/fetches/%d" % fetch_id)
    assert r.code == 200 and "Sencha" in r.json()["markdown"]

    # Read again within the hour: the stored page is reused, the site is not asked again.
    hits = len(tea_site.hits)
    fake_lmstudio.script_answer("Four minutes for Assam [1].")
    send(conn, "chat:read_page", {"messageId": user["id"], "url": url}, id="again")
    page = await expect(conn, "chat:page")
    assert page["data"]["fromCache"] is True and page["data"]["fetchId"] == fetch_id
    _, _, _, final = await collect_answer(conn)
    assert final["data"]["citations"][0]["fetchId"] == fetch_id
    assert len(tea_site.hits) == hits
    answers = [m for m in await app.settings["stores"].messages.history(
        user["conversationId"], 100) if m.reply_to == user["id"]]
    assert len(answers) == 3    # the first answer and two read from the page, all kept


@pytest.mark.gen_test(timeout=30)
async def test_a_message_with_only_an_address_asks_for_a_summary_of_its_top(
        ws_connect, app, fake_lmstudio, tea_site):
    conn = await connect(ws_connect)
    url = tea_site.url + "/tea/oolong"
    fake_lmstudio.script_answer("A link.")
    user = await ask(conn, url)
    fake_lmstudio.script_answer("Oolong is steeped several times [1].")
    send(conn, "chat:read_page", {"messageId": user["id"]})
    await expect(conn, "chat:page")
    _, _, _, final = await collect_answer(conn)
    system = system_text(completions(fake_lmstudio)[-1])
    assert "say in a few sentences what the page says" in system
    assert "[1] Oolong" in system and "partly oxidised" in system
    assert final["data"]["citations"][0]["title"] == "Oolong"


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("allow_private", [False])
async def test_a_blocked_address_is_refused_with_its_code_and_changes_nothing(
        ws_connect, app, fake_lmstudio, tea_site):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("A link.")
    user = await ask(conn, "Read %s/tea please" % tea_site.url)
    before = await message_count(app, user["conversationId"])
    requests = len(completions(fake_lmstudio))

    send(conn, "chat:read_page", {"messageId": user["id"]}, id="read")
    error = await recv(conn)
    assert error["type"] == "error" and error["id"] == "read"
    assert error["data"]["code"] == "blocked_address"
    assert error["data"]["requestType"] == "chat:read_page"
    assert error["data"]["messageId"] == user["id"]
    assert [f["type"] for f in await quiet(conn)] == []
    assert await message_count(app, user["conversationId"]) == before
    assert len(completions(fake_lmstudio)) == requests and tea_site.hits == []
    assert app.settings["services"]["chat"].reading == {}


@pytest.mark.gen_test(timeout=30)
async def test_refusals_name_the_case_and_change_nothing(ws_connect, app, fake_lmstudio,
                                                          tea_site):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("Hello.")
    plain = await ask(conn, "Hello there")
    send(conn, "chat:send", {"message": "Look at %s/tea" % tea_site.url,
                             "conversationId": plain["conversationId"]})
    linked, _, _, answer = await collect_answer(conn)
    count = await message_count(app, plain["conversationId"])
    cases = [
        ({"messageId": 999999}, "not_found"),
        ({"messageId": plain["id"]}, "no_url"),
        ({"messageId": answer["data"]["id"]}, "invalid_fields"),
        ({"messageId": linked["data"]["id"], "url": "http://elsewhere.example/"},
         "invalid_fields"),
        ({"messageId": "1"}, "invalid_fields"),
        ({}, "invalid_fields"),
    ]
    for n, (data, code) in enumerate(cases):
        send(conn, "chat:read_page", data, id=n)
        error = await expect(conn, "error")
        assert (error["id"], error["data"]["code"]) == (n, code), error
        assert error["data"]["requestType"] == "chat:read_page"
    assert await quiet(conn) == []
    assert await message_count(app, plain["conversationId"]) == count
    assert tea_site.hits == []


@pytest.mark.gen_test(timeout=30)
async def test_a_page_being_read_keeps_the_conversation_busy(ws_connect, app, fake_lmstudio,
                                                             tea_site):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("A link.")
    user = await ask(conn, "What is in %s/tea ?" % tea_site.url)
    # The site holds its answer, so that the conversation is seen while its page is read.
    tea_site.open.clear()
    fake_lmstudio.script_answer("Tea [1].")
    send(conn, "chat:read_page", {"messageId": user["id"]}, id="read")
    send(conn, "chat:send", {"message": "Meanwhile?",
                             "conversationId": user["conversationId"]}, id="send")
    error = await expect(conn, "error")
    assert (error["id"], error["data"]["code"]) == ("send", "busy")
    assert "being read" in error["data"]["message"]
    tea_site.open.set()
    await expect(conn, "chat:page")
    _, _, _, final = await collect_answer(conn)
    assert final["data"]["citations"][0]["n"] == 1
    assert app.settings["services"]["chat"].reading == {}


@pytest.mark.gen_test(timeout=30)
async def test_a_reader_that_leaves_while_the_page_is_fetched_gets_no_answer(
        ws_connect, app, fake_lmstudio, tea_site):
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("A link.")
    user = await ask(conn, "What is in %s/tea ?" % tea_site.url)
    count = await message_count(app, user["conversationId"])
    chat = app.settings["services"]["chat"]
    tea_site.open.clear()
    send(conn, "chat:read_page", {"messageId": user["id"]})

    async def fetching():
        return tea_site.hits and user["conversationId"] in chat.reading

    await until(fetching)
    conn.close()

    async def stopped():
        return not chat.reading

    await until(stopped)
    tea_site.open.set()
    assert await message_count(app, user["conversationId"]) == count
