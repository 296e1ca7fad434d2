"""The Chat page in Chromium: streamed answers, Stop, safe Markdown, conversations."""

import re

import pytest

from tests.browser.conftest import page_errors

ANSWER = "Here is **bold** text and `code`:\n\n```python\nprint('hi')\n```\n\nThe end."


async def send_message(page, text):
    await page.fill("#message", text)
    await page.click("#send")


@pytest.mark.gen_test(timeout=60)
async def test_send_and_see_the_streamed_answer(open_page, app, fake_lmstudio):
    fake_lmstudio.script_answer(ANSWER, chunk_delay=0.03)
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await send_message(page, "Show me some Markdown")
    await page.wait_for_selector("li.message.user >> text=Show me some Markdown")
    streaming = page.locator("li.message.assistant.streaming")
    await streaming.wait_for()
    assert await page.is_visible("#stop")
    answer = page.locator("li.message.assistant[data-status=complete]")
    await answer.wait_for()
    assert await answer.locator(".body strong").inner_text() == "bold"
    assert "print('hi')" in await answer.locator("pre code").inner_text()
    assert await page.is_hidden("#stop")
    assert re.search(r"/chat/\d+$", page.url)
    await page.wait_for_selector("#conversations li[aria-current=true] >> text=Show me some")
    rows = await app.settings["stores"].messages.list()
    assert {(r.role, r.status) for r in rows} == {("user", "complete"),
                                                  ("assistant", "complete")}
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_stop_an_answer(open_page, app, fake_lmstudio):
    fake_lmstudio.script_answer(" ".join("word%d" % i for i in range(400)), chunk_delay=0.03)
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await send_message(page, "Talk for a long time")
    await page.wait_for_selector("li.message.assistant.streaming >> text=word3")
    await page.click("#stop")
    stopped = page.locator("li.message.assistant[data-status=incomplete]")
    await stopped.wait_for()
    assert "incomplete" in await stopped.locator(".meta").inner_text()
    assert await page.is_hidden("#stop")
    rows = [r for r in await app.settings["stores"].messages.list() if r.role == "assistant"]
    assert rows[0].status == "incomplete" and rows[0].content.startswith("word0 word1")
    assert len(rows[0].content.split()) < 400
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_model_output_cannot_run_script(open_page, fake_lmstudio):
    fake_lmstudio.script_answer(
        'Look: <img src="x" onerror="window.__pwned = 1"> '
        '<script>window.__pwned = 2</script> [click](javascript:window.__pwned=3) '
        '<a href="#" onclick="window.__pwned=4">link</a> done')
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await send_message(page, "<b>user html</b>")
    answer = page.locator("li.message.assistant[data-status=complete]")
    await answer.wait_for()
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.__pwned") is None
    html = await answer.locator(".body").inner_html()
    assert "onerror" not in html and "<script" not in html and "javascript:" not in html
    assert "onclick" not in html
    user = page.locator("li.message.user .body")
    assert await user.inner_text() == "<b>user html</b>"  # shown as text, not markup
    assert await user.locator("b").count() == 0


@pytest.mark.gen_test(timeout=60)
async def test_rename_and_delete_a_conversation(open_page, app):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "Old name"})
    await stores.messages.add(conversation.id, "user", "hello from history")
    page = await open_page("/chat/%d" % conversation.id)
    await page.wait_for_selector("li.message.user >> text=hello from history")
    page.once("dialog", lambda dialog: dialog.accept("New name"))
    await page.click("#conversations li[data-id='%d'] button[data-action=rename]"
                     % conversation.id)
    await page.wait_for_selector("#conversations >> text=New name")
    assert (await stores.conversations.get(conversation.id)).title == "New name"
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#conversations li[data-id='%d'] button[data-action=delete]"
                     % conversation.id)
    await page.wait_for_url(re.compile(r"/chat$"))
    assert await stores.conversations.get(conversation.id) is None


@pytest.mark.gen_test(timeout=60)
async def test_check_button_shows_a_result_or_the_error(open_page, app):
    stores = app.settings["stores"]
    conversation = await stores.conversations.create({"title": "c"})
    await stores.messages.add(conversation.id, "user", "Capital of France?")
    await stores.messages.add(conversation.id, "assistant", "Paris.")
    page = await open_page("/chat/%d" % conversation.id)
    button = page.locator("li.message.assistant button.check")
    await button.click()
    result = page.locator("li.message.assistant .check-result")
    await page.wait_for_function(
        "el => el.textContent && el.textContent !== 'Checking…'",
        arg=await result.element_handle())
    text = await result.inner_text()
    assert text.startswith("Check failed:") or re.search(r"score", text)


@pytest.mark.gen_test(timeout=60)
async def test_page_says_when_the_socket_is_down(open_page, app):
    page = await open_page("/chat")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await app.settings["ws"].shutdown()  # closes every socket with 1001 and refuses new ones
    status = page.locator("#socket-status[data-state=closed]")
    await status.wait_for()
    assert "Offline" in await status.inner_text()
    assert await page.is_disabled("#send")


@pytest.mark.gen_test(timeout=60)
async def test_model_picker_lists_the_servers_chat_models_and_uses_the_choice(
        open_page, app, fake_lmstudio):
    page = await open_page("/chat")
    await page.wait_for_selector("#model option[value='qwen2.5-coder-7b-instruct']",
                                 state="attached")
    options = await page.locator("#model option").evaluate_all("o => o.map(x => x.value)")
    assert "text-embedding-nomic-embed-text-v1.5" not in options  # not a chat model
    await page.select_option("#model", "qwen2.5-coder-7b-instruct")
    await page.wait_for_selector("#socket-status[data-state=open]")
    await send_message(page, "Which model are you?")
    await page.locator("li.message.assistant[data-status=complete]").wait_for()
    rows = [r for r in await app.settings["stores"].messages.list() if r.role == "assistant"]
    assert rows[0].model == "qwen2.5-coder-7b-instruct"
    assert page_errors(page) == []
