"""The Chat page in Chromium: limits, drafts, regenerate, edit, copy, settings, older messages,
Check only on real answers, Retry."""

import dataclasses

import pytest

from tests.browser.conftest import page_errors

OPEN = "#socket-status[data-state=open]"


@pytest.fixture
def config(config):
    # A smaller frame limit than the default 1 MiB, so that the byte limit is reached by text
    # that is within the message's character limit.
    return dataclasses.replace(config, ws_max_message_size=64 * 1024)


async def open_answered_chat(open_page, stores, question="Capital of France?",
                             answer="Paris."):
    """A conversation of one question and its answer, open in a page whose socket is open:
    (page, conversation, the question's row, the answer's row)."""
    conversation = await stores.conversations.create({"title": "c"})
    user = await stores.messages.add(conversation.id, "user", question)
    reply = await stores.messages.add(conversation.id, "assistant", answer, reply_to=user.id)
    page = await open_page("/chat/%d" % conversation.id)
    await page.wait_for_selector(OPEN)
    return page, conversation, user, reply


async def value(page, selector):
    return await page.locator(selector).input_value()


@pytest.mark.gen_test(timeout=60)
async def test_too_long_is_refused_before_sending_and_the_text_is_kept(open_page, app,
                                                                       fake_lmstudio):
    page = await open_page("/chat")
    await page.wait_for_selector(OPEN)
    long_text = "x" * 200_001
    await page.fill("#message", long_text)
    await page.click("#send")
    error = page.locator("#chat-error")
    await error.wait_for()
    assert "200,001 characters" in await error.inner_text()
    assert "the limit is 200,000" in await error.inner_text()
    assert await value(page, "#message") == long_text
    # Within the character limit but over the frame limit (64 KiB here).
    await page.fill("#message", "y" * 100_000)
    await page.click("#send")
    await page.wait_for_selector("#chat-error >> text=the limit is 64 KiB")
    assert len(await value(page, "#message")) == 100_000
    await page.wait_for_timeout(300)
    assert await app.settings["stores"].messages.list() == []
    assert await page.is_visible(OPEN)  # the socket was never closed by an oversized frame
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_draft_survives_reload_and_error_and_goes_once_stored(open_page, app,
                                                                     fake_lmstudio):
    stores = app.settings["stores"]
    page, conversation, _, _ = await open_answered_chat(open_page, stores)
    await page.fill("#message", "half-written thought")
    await page.reload()
    await page.wait_for_selector(OPEN)
    assert await value(page, "#message") == "half-written thought"
    # Another conversation has its own draft.
    await page.goto(page.url.replace("/chat/%d" % conversation.id, "/chat"))
    await page.wait_for_selector(OPEN)
    assert await value(page, "#message") == ""
    await page.go_back()
    await page.wait_for_selector(OPEN)
    assert await value(page, "#message") == "half-written thought"
    other = await open_page("/chat")  # another browser: its own storage
    await other.wait_for_selector(OPEN)
    # An error keeps the text: the conversation is deleted under the page.
    await stores.conversations.delete(conversation.id)
    await page.click("#send")
    await page.wait_for_selector("#chat-error >> text=No conversation with id")
    assert await value(page, "#message") == "half-written thought"
    assert await page.evaluate("Object.values(localStorage)") == ["half-written thought"]
    # Stored: the box and the draft are cleared.
    fake_lmstudio.script_answer("Noted.")
    await other.fill("#message", "a new conversation")
    await other.click("#send")
    await other.wait_for_selector("li.message.assistant[data-status=complete]")
    assert await value(other, "#message") == ""
    drafts = await other.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('orchestra.chat.draft.'))")
    assert drafts == []
    await other.reload()
    await other.wait_for_selector(OPEN)
    assert await value(other, "#message") == ""
    assert page_errors(other) == []


@pytest.mark.gen_test(timeout=60)
async def test_regenerate_keeps_the_old_answer_reachable(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    page, conversation, user, first = await open_answered_chat(open_page, stores)
    fake_lmstudio.script_answer("Paris, on the Seine.")
    await page.locator("li.message.assistant").get_by_role("button", name="Regenerate").click()
    shown = page.locator("li.message.assistant:not([hidden])")
    await page.wait_for_selector(
        "li.message.assistant[data-status=complete]:not([hidden]) >> text=on the Seine")
    assert await shown.count() == 1
    assert "answer 2 of 2" in await shown.locator(".variants").inner_text()
    await shown.get_by_role("button", name="Previous answer").click()
    assert await shown.locator(".body").inner_text() == "Paris."
    assert "answer 1 of 2" in await shown.locator(".variants").inner_text()
    rows = await stores.messages.list(conversation_id=conversation.id)
    answers = [r for r in rows if r.role == "assistant"]
    assert len(answers) == 2 and {r.reply_to for r in answers} == {user.id}
    await page.reload()
    await page.wait_for_selector("li.message.assistant .variants >> text=answer 2 of 2")
    await page.locator("li.message.assistant:not([hidden])").get_by_role(
        "button", name="Previous answer").click()
    await page.wait_for_selector("li.message.assistant:not([hidden]) >> text=Paris.")
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_edit_a_message_and_send_it_again(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    page, conversation, user, _ = await open_answered_chat(open_page, stores,
                                                           "Capital of Frnace?")
    question = page.locator("li.message.user[data-id='%d']" % user.id)
    await question.get_by_role("button", name="Edit").click()
    box = question.get_by_role("textbox", name="Edited message")
    assert await box.input_value() == "Capital of Frnace?"
    await box.fill("Capital of France, please?")
    fake_lmstudio.script_answer("Paris, again.")
    await question.get_by_role("button", name="Send edited").click()
    await page.wait_for_selector("li.message.user >> text=Capital of France, please?")
    await page.wait_for_selector("li.message.assistant[data-status=complete] >> text=again")
    assert await question.locator(".edit-box").count() == 0
    assert await question.locator(".body").inner_text() == "Capital of Frnace?"  # kept
    rows = await stores.messages.list(conversation_id=conversation.id)
    edited = [r for r in rows if r.edit_of == user.id]
    assert [r.content for r in edited] == ["Capital of France, please?"]
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_copy_an_answer(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    page, _, _, _ = await open_answered_chat(open_page, stores, answer="Copy **me**, please.")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.locator("li.message.assistant").get_by_role("button", name="Copy").click()
    await page.wait_for_selector("li.message.assistant button.copy >> text=Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == "Copy **me**, please."


@pytest.mark.gen_test(timeout=60)
async def test_settings_are_stored_and_used(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    page, conversation, _, _ = await open_answered_chat(open_page, stores)
    await page.click(".chat-settings summary")
    await page.fill("#settings textarea[name=systemPrompt]", "Answer like a pirate.")
    await page.fill("#settings input[name=temperature]", "0.3")
    await page.fill("#settings input[name=maxTokens]", "77")
    await page.click("#save-settings")
    await page.wait_for_selector("#settings-note >> text=temperature 0.3")
    stored = await stores.conversations.get(conversation.id)
    assert (stored.system_prompt, stored.temperature, stored.max_tokens) == (
        "Answer like a pirate.", 0.3, 77)
    await page.reload()
    await page.wait_for_selector("#settings-note >> text=max 77 tokens")
    assert await value(page, "#settings input[name=temperature]") == "0.3"
    fake_lmstudio.script_answer("Arr.")
    await page.fill("#message", "Hello")
    await page.click("#send")
    await page.wait_for_selector("li.message.assistant[data-status=complete] >> text=Arr.")
    body = [b for p, b in fake_lmstudio.requests if p == "/v1/chat/completions"][-1]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert body["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    # A value out of range is refused by the form and nothing changes.
    await page.click(".chat-settings summary")
    await page.fill("#settings input[name=temperature]", "7")
    await page.click("#save-settings")
    await page.wait_for_timeout(300)
    assert (await stores.conversations.get(conversation.id)).temperature == 0.3
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_new_conversation_takes_the_settings_with_its_first_message(
        open_page, app, fake_lmstudio):
    page = await open_page("/chat")
    await page.wait_for_selector(OPEN)
    await page.click(".chat-settings summary")
    await page.fill("#settings textarea[name=systemPrompt]", "Be terse.")
    await page.fill("#settings input[name=maxTokens]", "12")
    fake_lmstudio.script_answer("Ok.")
    await page.fill("#message", "Hi")
    await page.click("#send")
    await page.wait_for_selector("li.message.assistant[data-status=complete]")
    [conversation] = await app.settings["stores"].conversations.list()
    assert (conversation.system_prompt, conversation.max_tokens) == ("Be terse.", 12)


@pytest.mark.gen_test(timeout=90)
async def test_older_messages_load_on_scroll_up(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "long"})
    for i in range(120):
        await stores.messages.add(conversation.id, "user", "message number %d" % i)
    page = await open_page("/chat/%d" % conversation.id)
    await page.wait_for_selector("li.message.user >> text=message number 119")
    assert await page.locator("li.message").count() == 50
    for _ in range(10):
        if await page.locator("li.message").count() == 120:
            break
        count = await page.locator("li.message").count()
        await page.evaluate("document.getElementById('messages').scrollTop = 0")
        await page.wait_for_function(
            "n => document.querySelectorAll('li.message').length > n", arg=count)
    assert await page.locator("li.message").count() == 120
    texts = await page.locator("li.message .body").all_inner_texts()
    assert texts == ["message number %d" % i for i in range(120)]
    assert await page.is_hidden("#load-older")
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_check_only_on_complete_answers_with_text(open_page, app, fake_lmstudio):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "c"})
    for content, status, error in (("Fine.", "complete", None),
                                   ("", "complete", None),
                                   ("Half", "incomplete", "the model server closed"),
                                   ("", "incomplete", "the model server is down")):
        user = await stores.messages.add(conversation.id, "user", "q")
        await stores.messages.add(conversation.id, "assistant", content, status=status,
                                  error=error, reply_to=user.id)
    page = await open_page("/chat/%d" % conversation.id)
    await page.wait_for_selector(OPEN)
    await page.wait_for_selector("li.message.assistant >> nth=3")
    checks = page.locator("li.message.assistant button.check")
    assert await checks.count() == 1
    assert await page.locator("li.message.assistant").nth(0).locator(
        "button.check").count() == 1
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_broken_answer_offers_retry(open_page, app, fake_lmstudio):
    page = await open_page("/chat")
    await page.wait_for_selector(OPEN)
    fake_lmstudio.script_answer("one two three four five six seven eight")
    fake_lmstudio.disconnect_mid_stream(after_chunks=2)
    await page.fill("#message", "Count for me")
    await page.click("#send")
    broken = page.locator("li.message.assistant[data-status=incomplete]")
    await broken.wait_for()
    retry = broken.get_by_role("button", name="Retry")
    await retry.wait_for()
    assert await broken.locator(".failure").is_visible()
    assert await broken.locator("button.check").count() == 0
    fake_lmstudio.script_answer("one two three")
    await retry.click()
    await page.wait_for_selector(
        "li.message.assistant[data-status=complete]:not([hidden]) >> text=one two three")
    await page.wait_for_selector(".variants >> text=answer 2 of 2")
    rows = [r for r in await app.settings["stores"].messages.list() if r.role == "assistant"]
    assert sorted(r.status for r in rows) == ["complete", "incomplete"]
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_a_prompt_longer_than_the_context_shows_the_numbers(open_page, app, fake_lmstudio):
    page = await open_page("/chat")
    await page.wait_for_selector(OPEN)
    # llama-cpp-python's wording of the overflow; the client reads the numbers from it.
    fake_lmstudio.fail_next(status=400, message="Requested tokens (5000) exceed context "
                                                "window of 4096")
    await page.fill("#message", "A very long question")
    await page.click("#send")
    await page.wait_for_selector("#chat-error:not([hidden])")
    failure = page.locator("li.message.assistant .failure")
    await failure.wait_for()
    text = await failure.inner_text()
    assert "5,000" in text and "4,096" in text, text
    assert "5000" in await page.locator("#chat-error").inner_text()
    assert page_errors(page) == []
