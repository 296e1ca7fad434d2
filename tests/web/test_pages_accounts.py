"""Account pages: the secret is written encrypted, shown masked, and kept when left blank."""

import pytest

from tests.web.conftest import field_error

SECRET = "sk-live-0123456789abcdef"


async def stored_secret(app):
    row = await app.settings["db"].get("SELECT credentials FROM external_api_accounts")
    return app.settings["secrets"].decrypt(row.credentials)


@pytest.mark.gen_test
async def test_secret_is_masked_on_every_page_and_kept_when_left_blank(browser, app):
    await browser.login()
    form = {"service": "openai", "name": "Main", "username": "", "secret": SECRET,
            "active": "on"}
    r = await browser.post("/accounts/new", form)
    assert r.code == 303
    path = r.headers["Location"]
    for page in (path, path + "/edit", "/accounts"):
        text = (await browser.get(page)).text
        assert SECRET not in text and SECRET[:-4] not in text
    assert "\u2022" * 8 + "cdef" in (await browser.get(path)).text
    edit = (await browser.get(path + "/edit")).text
    assert 'type="password" id="f-secret" name="secret"' in edit and 'value=""' in edit

    r = await browser.post(path + "/edit", dict(form, name="Renamed", secret=""))
    assert r.code == 303 and await stored_secret(app) == SECRET
    r = await browser.post(path + "/edit", dict(form, secret="sk-new-secret-9999"))
    assert r.code == 303 and await stored_secret(app) == "sk-new-secret-9999"
    assert "9999" in (await browser.get(path)).text


@pytest.mark.gen_test
async def test_a_new_account_needs_a_secret_and_a_valid_service(browser, fetch):
    await browser.login()
    r = await browser.post("/accounts/new", {"service": "Open AI!", "name": "x", "secret": ""})
    assert r.code == 400
    assert field_error(r.text, "secret") == "Missing data for required field."
    assert "lower-case" in field_error(r.text, "service")
    assert 'value="Open AI!"' in r.text
    assert (await fetch("/api/accounts")).json()["total"] == 0
