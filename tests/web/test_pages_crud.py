"""The generic entity pages, for every entity: list, create, show, edit, delete, refusals."""

import re

import pytest

from tests.web.conftest import field_error, input_value

# page -> (API name, valid form, a change, an invalid form and the fields it must flag)
ENTITIES = {
    "templates": ("templates",
                  {"name": "Summary", "category": "writing", "description": "Short",
                   "body": "Summarise {{text}}"},
                  {"name": "Brief summary"},
                  {"name": "  ", "description": "kept <b>text</b>", "body": ""},
                  ("name", "body")),
    "workflows": ("workflows",
                  {"name": "Review", "description": "Two passes", "steps-0-kind": "prompt",
                   "steps-0-prompt": "Draft a note"},
                  {"name": "Careful review"},
                  {"name": "", "description": "kept <b>text</b>"},
                  ("name",)),
    "instructions": ("instructions",
                     {"name": "Tone", "content": "Answer briefly.", "active": "on",
                      "position": "2"},
                     {"name": "Terse tone"},
                     {"name": "", "content": "kept <b>text</b>", "position": "many"},
                     ("name", "position")),
    "knowledge-bases": ("knowledge-bases",
                        {"name": "Handbook", "description": "Team notes"},
                        {"name": "Wiki"},
                        {"name": "x" * 201, "description": "kept <b>text</b>"},
                        ("name",)),
    "accounts": ("accounts",
                 {"service": "github", "name": "Work", "username": "me",
                  "secret": "ghp_abcdefghijklmnop1234", "active": "on"},
                 {"name": "Personal"},
                 {"service": "Git Hub", "name": "", "username": "kept <b>text</b>"},
                 ("service", "name", "secret")),
}
KEPT_FIELD = {"templates": "description", "workflows": "description",
              "instructions": "content", "knowledge-bases": "description",
              "accounts": "username"}


async def total(fetch, api_name):
    return (await fetch("/api/" + api_name)).json()["total"]


@pytest.mark.parametrize("page", ENTITIES)
@pytest.mark.gen_test
async def test_list_create_show_edit_delete(browser, fetch, page):
    api_name, valid, change, _, _ = ENTITIES[page]
    await browser.login()
    r = await browser.get("/" + page)
    assert r.code == 200 and "/%s/new" % page in r.text

    r = await browser.get("/%s/new" % page)
    assert r.code == 200 and 'name="_xsrf"' in r.text
    r = await browser.post("/%s/new" % page, valid)
    assert r.code == 303, r.text
    match = re.fullmatch(r"/%s/(\d+)" % page, r.headers["Location"])
    assert match
    id = int(match.group(1))
    shown = await browser.follow(r)
    assert shown.code == 200 and valid["name"] in shown.text
    assert 'class="flash"' in shown.text and "created" in shown.text

    listing = await browser.get("/" + page)
    assert valid["name"] in listing.text and 'href="/%s/%d"' % (page, id) in listing.text

    edit = await browser.get("/%s/%d/edit" % (page, id))
    assert edit.code == 200 and input_value(edit.text, "name") == valid["name"]
    r = await browser.post("/%s/%d/edit" % (page, id), dict(valid, **change))
    assert r.code == 303 and r.headers["Location"] == "/%s/%d" % (page, id)
    shown = await browser.follow(r)
    assert change["name"] in shown.text and "saved" in shown.text
    assert (await fetch("/api/%s/%d" % (api_name, id))).json()["name"] == change["name"]

    r = await browser.post("/%s/%d/delete" % (page, id))
    assert r.code == 303 and r.headers["Location"] == "/" + page
    assert "deleted" in (await browser.follow(r)).text
    assert (await fetch("/api/%s/%d" % (api_name, id))).code == 404
    assert (await browser.post("/%s/%d/delete" % (page, id))).code == 404
    assert (await browser.get("/%s/%d" % (page, id))).code == 404
    assert (await browser.get("/%s/%d/edit" % (page, id))).code == 404


@pytest.mark.parametrize("page", ENTITIES)
@pytest.mark.gen_test
async def test_invalid_input_is_shown_beside_fields_kept_and_not_written(browser, fetch, page):
    api_name, valid, _, invalid, bad_fields = ENTITIES[page]
    await browser.login()
    r = await browser.post("/%s/new" % page, invalid)
    assert r.code == 400
    for name in bad_fields:
        assert field_error(r.text, name), (name, r.text)
        assert re.search(r'name="%s"[^>]*aria-describedby="[^"]*%s-error' % (name, name), r.text) \
            or re.search(r'aria-describedby="[^"]*%s-error[^>]*name="%s"' % (name, name), r.text)
    kept = KEPT_FIELD[page]
    assert input_value(r.text, kept) == "kept <b>text</b>"
    assert "kept <b>" not in r.text  # escaped, not markup
    assert await total(fetch, api_name) == 0

    # The same on edit: the stored row is unchanged.
    created = await browser.post("/%s/new" % page, valid)
    id = int(created.headers["Location"].rsplit("/", 1)[1])
    r = await browser.post("/%s/%d/edit" % (page, id), dict(valid, **invalid))
    assert r.code == 400 and field_error(r.text, bad_fields[0])
    assert (await fetch("/api/%s/%d" % (api_name, id))).json()["name"] == valid["name"]


@pytest.mark.parametrize("page", ENTITIES)
@pytest.mark.gen_test
async def test_post_without_xsrf_is_refused_and_writes_nothing(browser, fetch, page):
    api_name, valid, _, _, _ = ENTITIES[page]
    await browser.login()
    r = await browser.post("/%s/new" % page, valid, xsrf=False)
    assert r.code == 403
    assert await total(fetch, api_name) == 0
    created = await browser.post("/%s/new" % page, valid)
    path = created.headers["Location"]
    assert (await browser.post(path + "/delete", xsrf=False)).code == 403
    assert (await browser.post(path + "/edit", {"name": "changed"}, xsrf=False)).code == 403
    assert await total(fetch, api_name) == 1


@pytest.mark.parametrize("page", ENTITIES)
@pytest.mark.gen_test
async def test_pages_need_the_token(browser, fetch, page):
    api_name, valid, _, _, _ = ENTITIES[page]
    for path in ("/" + page, "/%s/new" % page, "/%s/1" % page):
        r = await browser.get(path)
        assert r.code == 302 and r.headers["Location"].startswith("/login?next=")
    r = await fetch("/%s/new" % page, method="POST", token=False,
                    body="name=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.code in (401, 403)
    assert await total(fetch, api_name) == 0
