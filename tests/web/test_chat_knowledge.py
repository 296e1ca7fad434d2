"""Chat with knowledge bases over a real /ws: numbered sources in the prompt the model server
receives, citations stored with the answer and sent in its final chat:message, refusals that
store nothing, and knowledgeBaseIds through the API."""

import pytest

from orchestra.services.knowledge.prompting import CITE_INSTRUCTIONS, NOT_FOUND_INSTRUCTIONS
from tests.web.test_ws import collect_answer, connect, expect, send

SENCHA = ("# Green tea\n\nSencha is steeped at 70 to 80 degrees Celsius for one minute, "
          "which keeps sencha sweet.\n\nIt grows mostly in Shizuoka.")
ASSAM = "# Black tea\n\nAssam tea is steeped with boiling water for four minutes."
QUESTION = "How long is sencha steeped, and at what temperature?"


def completions(fake):
    return [body for path, body in fake.requests if path == "/v1/chat/completions"]


def system_text(body):
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


async def make_base(fetch, app, name, sources):
    """A knowledge base with text sources ({title: content}), indexed; (base, {title: id})."""
    r = await fetch("/api/knowledge-bases", method="POST", json={"name": name})
    assert r.code == 201, r.text
    base = r.json()
    ids = {}
    for title, content in sources.items():
        r = await fetch("/api/knowledge-sources", method="POST", json={
            "knowledgeBaseId": base["id"], "kind": "text", "title": title, "content": content})
        assert r.code == 201, r.text
        ids[title] = r.json()["id"]
    await app.settings["services"]["knowledge"].wait()
    return base, ids


async def only_chunk(app, source_id):
    chunks = await app.settings["stores"].knowledge_chunks.for_source(source_id)
    assert len(chunks) == 1, chunks
    return chunks[0]


@pytest.mark.gen_test
async def test_an_answer_cites_the_numbered_sources_it_was_shown(
        ws_connect, app, fetch, fake_lmstudio):
    base, sources = await make_base(fetch, app, "Tea", {"Green tea": SENCHA, "Black tea": ASSAM})
    sencha = await only_chunk(app, sources["Green tea"])
    assam = await only_chunk(app, sources["Black tea"])
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer(
        "Sencha is steeped for one minute at 70 to 80 degrees Celsius [1]. Assam takes "
        "boiling water for four minutes [2].")
    send(conn, "chat:send", {"message": QUESTION, "knowledgeBaseIds": [base["id"]]}, id="ask")
    user, _, _, final = await collect_answer(conn)
    conversation_id = user["data"]["conversationId"]

    # The model was shown both passages as numbered sources, and asked to cite them.
    body = completions(fake_lmstudio)[-1]
    system = system_text(body)
    assert CITE_INSTRUCTIONS in system
    assert "[1] Green tea" in system and "Sencha is steeped at 70 to 80 degrees" in system
    assert "[2] Black tea" in system and "Assam tea is steeped" in system
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}

    # The final chat:message carries the citations, and so does the stored answer.
    citations = final["data"]["citations"]
    assert final["id"] == "ask" and final["data"]["status"] == "complete"
    assert [(c["n"], c["chunkId"], c["sourceId"], c["sourceTitle"], c["knowledgeBaseId"])
            for c in citations] == [
        (1, sencha["id"], sources["Green tea"], "Green tea", base["id"]),
        (2, assam["id"], sources["Black tea"], "Black tea", base["id"])]
    assert "70 to 80 degrees Celsius for one minute" in citations[0]["quote"]
    assert citations[1]["quote"] == "Assam tea is steeped with boiling water for four minutes."
    stored = await app.settings["stores"].messages.get(final["data"]["id"])
    assert stored.citations == citations
    send(conn, "chat:history", {"conversationId": conversation_id}, id="h")
    history = await expect(conn, "chat:history")
    assert history["data"]["conversation"]["knowledgeBaseIds"] == [base["id"]]
    assert history["data"]["messages"][-1]["citations"] == citations
    assert history["data"]["messages"][0]["citations"] is None   # the question cites nothing
    r = await fetch("/api/messages/%d" % final["data"]["id"])
    assert r.json()["citations"] == citations

    # Regenerating searches again for the same question; an answer citing nothing has [].
    fake_lmstudio.script_answer("Sencha wants cooler water than black tea.")
    send(conn, "chat:regenerate", {"messageId": final["data"]["id"]}, id="again")
    await expect(conn, "chat:message")
    again = await expect(conn, "chat:message")
    assert again["data"]["content"] == "Sencha wants cooler water than black tea."
    assert again["data"]["citations"] == []
    assert "[1] Green tea" in system_text(completions(fake_lmstudio)[-1])


@pytest.mark.gen_test
async def test_an_edited_question_is_searched_again(ws_connect, app, fetch, fake_lmstudio):
    base, _ = await make_base(fetch, app, "Tea", {"Green tea": SENCHA, "Black tea": ASSAM})
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("One minute [1].")
    send(conn, "chat:send", {"message": "How long is sencha steeped?",
                             "knowledgeBaseIds": [base["id"]]})
    user, _, _, _ = await collect_answer(conn)
    assert "[1] Green tea" in system_text(completions(fake_lmstudio)[-1])
    fake_lmstudio.script_answer("Four minutes [1].")
    send(conn, "chat:edit", {"messageId": user["data"]["id"],
                             "message": "How long is Assam steeped?"})
    _, _, _, final = await collect_answer(conn)
    system = system_text(completions(fake_lmstudio)[-1])
    assert "[1] Black tea" in system
    assert final["data"]["citations"][0]["sourceTitle"] == "Black tea"


@pytest.mark.gen_test
async def test_a_question_nothing_matches_is_told_to_say_so(ws_connect, app, fetch,
                                                            fake_lmstudio):
    base, _ = await make_base(fetch, app, "Tea", {"Green tea": SENCHA})
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("That is not in the knowledge base.")
    send(conn, "chat:send", {"message": "Which river flows through Lima?",
                             "knowledgeBaseIds": [base["id"]]})
    _, _, _, final = await collect_answer(conn)
    system = system_text(completions(fake_lmstudio)[-1])
    assert NOT_FOUND_INSTRUCTIONS in system and "[1]" not in system
    assert final["data"]["citations"] == []


@pytest.mark.gen_test
async def test_without_knowledge_bases_nothing_is_searched_and_citations_are_null(
        ws_connect, app, fetch, fake_lmstudio):
    await make_base(fetch, app, "Tea", {"Green tea": SENCHA})
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("One minute [1].")
    send(conn, "chat:send", {"message": QUESTION})
    _, _, _, final = await collect_answer(conn)
    assert final["data"]["citations"] is None
    assert all(m["role"] != "system" for m in completions(fake_lmstudio)[-1]["messages"])


@pytest.mark.gen_test
async def test_sources_are_cut_to_fit_the_models_context(ws_connect, app, fetch,
                                                         fake_lmstudio):
    fake_lmstudio.model("qwen2.5-7b-instruct")["max_context_length"] = 1024
    fake_lmstudio.limit_context(1024)
    filler = " ".join("Sencha leaves are rolled and dried in the sun." for _ in range(25))
    base, _ = await make_base(fetch, app, "Tea", {
        "Part %d" % i: "Sencha note %d. %s" % (i, filler) for i in range(8)})
    conn = await connect(ws_connect)
    fake_lmstudio.script_answer("Rolled and dried [1].")
    send(conn, "chat:send", {"message": "How are sencha leaves dried?",
                             "knowledgeBaseIds": [base["id"]], "model": "qwen2.5-7b-instruct"})
    _, _, _, final = await collect_answer(conn)
    assert final["data"]["status"] == "complete"
    system = system_text(completions(fake_lmstudio)[-1])
    assert "[1] Part" in system and "[3] Part" not in system
    assert len(" ".join(m["content"] for m in completions(fake_lmstudio)[-1]["messages"])
               .split()) < 1024 // 2


@pytest.mark.gen_test
async def test_unknown_knowledge_bases_are_refused_and_nothing_is_stored(
        ws_connect, app, fetch, fake_lmstudio):
    base, _ = await make_base(fetch, app, "Tea", {"Green tea": SENCHA})
    conn = await connect(ws_connect)
    stores = app.settings["stores"]
    send(conn, "chat:send", {"message": QUESTION, "knowledgeBaseIds": [base["id"], 999]},
         id="bad")
    error = await expect(conn, "error")
    assert error["id"] == "bad" and error["data"]["code"] == "invalid_fields"
    assert "999" in error["data"]["fields"]["knowledgeBaseIds"][0]
    send(conn, "chat:send", {"message": QUESTION, "knowledgeBaseIds": list(range(1, 12))},
         id="many")
    error = await expect(conn, "error")
    assert error["id"] == "many" and "knowledgeBaseIds" in error["data"]["fields"]
    assert await stores.conversations.list() == [] and await stores.messages.list() == []
    assert completions(fake_lmstudio) == []

    # chat:settings refuses the same, and leaves the conversation's bases as they were.
    fake_lmstudio.script_answer("Hello.")
    send(conn, "chat:send", {"message": "Hi", "knowledgeBaseIds": [base["id"]]})
    user, _, _, _ = await collect_answer(conn)
    conversation_id = user["data"]["conversationId"]
    send(conn, "chat:settings", {"conversationId": conversation_id,
                                 "knowledgeBaseIds": [999]}, id="s")
    error = await expect(conn, "error")
    assert error["id"] == "s" and error["data"]["code"] == "invalid_fields"
    assert (await stores.conversations.get(conversation_id)).knowledge_base_ids == [base["id"]]
    send(conn, "chat:settings", {"conversationId": conversation_id, "knowledgeBaseIds": []},
         id="clear")
    settings = await expect(conn, "chat:settings")
    assert settings["id"] == "clear" and settings["data"]["knowledgeBaseIds"] == []
    assert (await stores.conversations.get(conversation_id)).knowledge_base_ids == []


@pytest.mark.gen_test
async def test_a_failed_search_fails_the_answer_and_keeps_the_question(
        ws_connect, app, fetch, fake_lmstudio):
    base, _ = await make_base(fetch, app, "Tea", {"Green tea": SENCHA})
    db = app.settings["db"]
    conn = await connect(ws_connect)
    # The chunks' table disappears under the search: the database answers with an error.
    await db.execute("ALTER TABLE knowledge_chunks RENAME TO knowledge_chunks_away")
    try:
        send(conn, "chat:send", {"message": QUESTION, "knowledgeBaseIds": [base["id"]]},
             id="ask")
        user = await expect(conn, "chat:message")
        error = await expect(conn, "error")
        final = await expect(conn, "chat:message")
    finally:
        await db.execute("ALTER TABLE knowledge_chunks_away RENAME TO knowledge_chunks")
    assert user["data"]["content"] == QUESTION
    assert error["id"] == "ask" and error["data"]["code"] == "knowledge_unavailable"
    assert error["data"]["messageId"] == final["data"]["id"] and error["data"]["retryable"]
    assert final["data"]["status"] == "incomplete"
    assert final["data"]["error"].startswith("Searching the knowledge bases failed")
    assert completions(fake_lmstudio) == []
    stored = await app.settings["stores"].messages.get(user["data"]["id"])
    assert stored.content == QUESTION
    # Once the database is back, asking again works.
    fake_lmstudio.script_answer("One minute [1].")
    send(conn, "chat:regenerate", {"messageId": final["data"]["id"]})
    await expect(conn, "chat:message")
    again = await expect(conn, "chat:message")
    assert again["data"]["status"] == "complete" and again["data"]["citations"][0]["n"] == 1


@pytest.mark.gen_test
async def test_the_api_stores_a_conversations_knowledge_bases(app, fetch):
    first, _ = await make_base(fetch, app, "Tea", {})
    second, _ = await make_base(fetch, app, "Coffee", {})
    r = await fetch("/api/conversations", method="POST", json={
        "title": "Brewing", "knowledgeBaseIds": [first["id"], second["id"], first["id"]]})
    assert r.code == 201, r.text
    conversation = r.json()
    assert conversation["knowledgeBaseIds"] == [first["id"], second["id"]]
    r = await fetch("/api/conversations/%d" % conversation["id"])
    assert r.json()["knowledgeBaseIds"] == [first["id"], second["id"]]
    r = await fetch("/api/conversations", method="POST", json={"title": "Plain"})
    assert r.json()["knowledgeBaseIds"] == []

    for bad, message in (([first["id"], 999], "No such record: 999."),
                         (list(range(1, 12)), "Longer than maximum length 10."),
                         (["1"], "Not a valid integer."), ([0], None)):
        r = await fetch("/api/conversations/%d" % conversation["id"], method="PATCH",
                        json={"knowledgeBaseIds": bad})
        assert r.code == 400, (bad, r.text)
        assert "knowledgeBaseIds" in r.json()["fields"]
        if message:
            assert message in str(r.json()["fields"]["knowledgeBaseIds"])
    r = await fetch("/api/conversations/%d" % conversation["id"])
    assert r.json()["knowledgeBaseIds"] == [first["id"], second["id"]]

    r = await fetch("/api/conversations/%d" % conversation["id"], method="PATCH",
                    json={"knowledgeBaseIds": [second["id"]]})
    assert r.code == 200 and r.json()["knowledgeBaseIds"] == [second["id"]]
    r = await fetch("/api/messages", method="POST", json={
        "conversationId": conversation["id"], "content": "Hi", "citations": []})
    assert r.code == 400 and "citations" in r.json()["fields"]


@pytest.mark.gen_test
async def test_the_chat_page_names_the_bases_in_use_in_its_html(app, fetch):
    tea, _ = await make_base(fetch, app, "Tea", {})
    coffee, _ = await make_base(fetch, app, "Coffee", {})
    r = await fetch("/api/conversations", method="POST",
                    json={"title": "Brewing", "knowledgeBaseIds": [coffee["id"], tea["id"]]})
    with_bases = r.json()
    plain = (await fetch("/api/conversations", method="POST", json={"title": "Plain"})).json()
    page = (await fetch("/chat/%d" % with_bases["id"])).text
    assert '<span id="kb-in-use" data-count="2">in use: Coffee, Tea</span>' in page
    page = (await fetch("/chat/%d" % plain["id"])).text
    assert ">none: answers from the model alone</span>" in page
