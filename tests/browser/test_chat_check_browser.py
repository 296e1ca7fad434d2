"""The Chat page's Check button in Chromium: verdict, flagged sentences, flags shown as text."""

import pytest

from tests.browser.conftest import page_errors

CLAIM = "The Eiffel Tower <img src=x onerror=window.__pwned=true> is 330 metres tall."
ANSWER = CLAIM + " It stands in Paris."
# The check's extra samples agree with everything but the height.
SAMPLE = ANSWER.replace("330", "300")
# The claim as the checker reads it: Markdown's emphasis marks ("__") are not part of it.
SHOWN = CLAIM.replace("__", "")


def script_errors(page):
    # The answer's sanitised <img src=x> asks the server for "x"; that 404 is not a fault.
    return [e for e in page_errors(page) if not e.startswith("Failed to load resource")]


@pytest.mark.gen_test(timeout=60)
async def test_check_flags_the_sentence_the_samples_contradict(open_page, app, fake_lmstudio):
    fake_lmstudio.script_answer(ANSWER, chunk_delay=0.01)
    fake_lmstudio.default_answer = SAMPLE  # every completion after the answer
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await page.fill("#message", "How tall is the Eiffel Tower?")
    await page.click("#send")
    answer = page.locator("li.message.assistant[data-status=complete]")
    button = answer.get_by_role("button", name="Check")
    await button.wait_for()
    message_id = int(await answer.get_attribute("data-id"))
    async with page.expect_response("**/api/check") as info:
        await button.click()
    response = await info.value
    assert response.request.method == "POST"
    assert response.request.post_data_json == {"messageId": message_id}
    assert response.status == 200
    result = answer.locator(".check-result")
    await result.locator(".badge").wait_for()
    shown = await result.inner_text()
    assert await result.locator(".badge").inner_text() == "likely hallucinated", shown
    assert await result.locator(".badge.likely-hallucinated").count() == 1
    assert "score 0.25" in await result.locator("p").first.inner_text()
    # One claim per sentence, each with its verdict; the contradicted one says why.
    contradicted = result.locator(".claim.contradicted")
    assert await contradicted.count() == 1
    assert await result.locator(".claim.supported .claim-text").inner_text() == (
        "It stands in Paris.")
    assert await contradicted.locator(".claim-text").inner_text() == SHOWN
    assert "The other samples say 300 instead." in await contradicted.inner_text()
    # The flagged sentence is text: no element came out of it and its handler never ran.
    assert await result.locator("img").count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert await button.is_enabled()
    samples = [body for path, body in fake_lmstudio.requests
               if path == "/v1/chat/completions" and body and not body.get("stream")]
    assert len(samples) == 3
    assert all(body["model"] == "qwen2.5-7b-instruct" for body in samples)
    assert all(body["messages"][-1]["content"] == "How tall is the Eiffel Tower?"
               for body in samples)
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_check_says_when_the_samples_could_not_be_taken(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "c"})
    await stores.messages.add(conversation.id, "user", "How tall is the Eiffel Tower?")
    await stores.messages.add(conversation.id, "assistant", ANSWER)
    page = await open_page("/chat/%d" % conversation.id)
    button = page.locator("li.message.assistant").get_by_role("button", name="Check")
    await button.wait_for()
    fake_lmstudio.stop()
    await button.click()
    result = page.locator("li.message.assistant .check-result")
    await result.locator(".badge").wait_for()
    assert await result.locator(".badge").inner_text() == "unchecked"  # unverified: not ok
    problem = result.locator("p.error")
    assert await problem.count() == 1
    assert await problem.inner_text() == (
        "Self-consistency could only use 0 of 3 samples: LM Studio at %s is not reachable; "
        "start LM Studio's local server (Developer tab, Start Server) or check the URL."
        % fake_lmstudio.url)
    assert await button.is_enabled()
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_check_result_survives_a_reconnect(open_page, app, fake_lmstudio):
    fake_lmstudio.script_answer(ANSWER)
    fake_lmstudio.default_answer = SAMPLE
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await page.fill("#message", "How tall is the Eiffel Tower?")
    await page.click("#send")
    answer = page.locator("li.message.assistant[data-status=complete]")
    await answer.get_by_role("button", name="Check").click()
    flag = answer.locator(".check-result .claim.contradicted")
    await flag.wait_for()
    # The server drops the socket; the page reconnects and gets the history again.
    history = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda payload: history.append(payload)
        if '"chat:history"' in str(payload) else None))
    for socket in list(app.settings["ws"].sockets.values()):
        socket.close(1011, "test")
    while not history:
        await page.wait_for_timeout(20)
    # The page handles the frame before it paints again.
    await page.evaluate("() => new Promise(r => requestAnimationFrame(() => "
                        "requestAnimationFrame(r)))")
    assert await page.locator("li.message").count() == 2
    assert await flag.count() == 1
    assert await flag.locator(".claim-text").inner_text() == SHOWN
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_check_shows_claims_with_evidence_coloured_by_verdict(open_page, app,
                                                                   fake_lmstudio):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "c"})
    await stores.messages.add(conversation.id, "user", "How tall is the Eiffel Tower?")
    await stores.messages.add(conversation.id, "assistant", ANSWER)
    fake_lmstudio.default_answer = SAMPLE
    page = await open_page("/chat/%d" % conversation.id)
    answer = page.locator("li.message.assistant")
    await answer.get_by_role("button", name="Check").click()
    claims = answer.locator(".check-result .claims .claim")
    await claims.first.wait_for()
    assert await claims.count() == 2
    contradicted = answer.locator(".claim.contradicted")
    assert await contradicted.locator(".claim-text").inner_text() == SHOWN
    # The evidence is the samples' sentence, shown as text: its <img> stays words.
    assert await contradicted.locator(".evidence-text").first.inner_text() == (
        SHOWN.replace("330", "300"))
    assert await answer.locator(".claim.supported .claim-text").inner_text() == (
        "It stands in Paris.")
    colour = await contradicted.locator(".claim-verdict").evaluate(
        "e => getComputedStyle(e).color")
    assert colour == "rgb(180, 35, 24)"
    green = await answer.locator(".claim-verdict.supported").evaluate(
        "e => getComputedStyle(e).color")
    assert green == "rgb(6, 118, 71)"
    assert await answer.locator(".check-result img, .check-result b").count() == 0
    assert script_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_every_verdict_badge_is_styled_on_the_chat_page(open_page):
    page = await open_page("/chat")
    colours = await page.evaluate("""() => ['ok', 'suspect', 'likely hallucinated',
        'unchecked'].map((v) => {
          const b = document.createElement('span');
          b.className = `badge ${v}`;
          document.body.append(b);
          return getComputedStyle(b).color;
        })""")
    assert colours == ["rgb(6, 118, 71)", "rgb(181, 71, 8)", "rgb(180, 35, 24)",
                       "rgb(93, 104, 117)"]
