"""Login in Chromium: a restart keeps the page logged in; a refused API call or socket takes
the page to the login page, and logging in brings it back where it was."""

import re
import urllib.parse

import pytest

from tests.browser.conftest import page_errors
from tests.conftest import TOKEN
from tests.servers import Server, run

WAIT_MS = 30000


def login_next(url):
    """The `next` of a /login?next=... URL."""
    parts = urllib.parse.urlsplit(url)
    assert parts.path == "/login", url
    return urllib.parse.parse_qs(parts.query)["next"][0]


async def log_in(page, token):
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Log in").click()


async def socket_state(page, state):
    await page.wait_for_function(
        "state => document.getElementById('socket-status')?.dataset.state === state", arg=state,
        timeout=WAIT_MS)


@pytest.mark.gen_test(timeout=90)
async def test_an_api_call_refused_for_authentication_goes_to_login_and_back(
        open_page, base_url):
    page = await open_page("/models?tab=compare#compare")
    await page.context.clear_cookies()  # as after `orchestra token --reset` and a restart
    await page.get_by_role("button", name="Refresh").click()
    await page.wait_for_url(re.compile(r".*/login\?next="), timeout=WAIT_MS)
    assert login_next(page.url) == "/models?tab=compare#compare"
    await log_in(page, TOKEN)
    await page.wait_for_url(base_url + "/models?tab=compare#compare", timeout=WAIT_MS)
    await page.get_by_role("button", name="Refresh").click()
    assert page.url == base_url + "/models?tab=compare#compare"
    # the browser reports the refused call itself; nothing else went wrong
    assert [e for e in page_errors(page) if "status of 401" not in e] == []


@pytest.mark.gen_test(timeout=180)
async def test_restarts_keep_the_page_logged_in_and_a_new_token_sends_it_to_login(
        tmp_path, chromium):
    data = tmp_path / "data"
    servers = [Server(data)]
    try:
        browser = await chromium()
        page = await (await browser.new_context()).new_page()
        base = servers[0].base
        await page.goto(base + "/chat?token=" + servers[0].token)
        assert page.url == base + "/chat"  # the token left the address bar
        await page.goto(base + "/chat#draft")
        await socket_state(page, "open")

        servers[0].stop()
        await socket_state(page, "closed")
        servers.append(Server(data, port=servers[0].port))
        await socket_state(page, "open")  # reconnected with the same login
        assert page.url == base + "/chat#draft"

        servers[1].stop()
        new_token = run("token", "--reset", "--data-dir", str(data)).stdout.strip()
        servers.append(Server(data, port=servers[0].port))
        assert servers[2].token == new_token
        # the socket is refused (403, invisible to the page); its probe sends it to login
        await page.wait_for_url(re.compile(r".*/login\?next="), timeout=WAIT_MS)
        assert login_next(page.url) == "/chat#draft"
        await log_in(page, servers[0].token)  # the old token no longer works
        assert "That token is not valid" in await page.locator("[role=alert]").inner_text()
        await log_in(page, new_token)
        await page.wait_for_url(base + "/chat#draft", timeout=WAIT_MS)
        await socket_state(page, "open")
    finally:
        for server in servers:
            server.kill()
