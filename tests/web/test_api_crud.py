"""The generic JSON API over HTTP: create, list, get, update, delete, and its errors."""

import pytest

from tests.fakes.website import fake_site  # noqa: F401

ENTITIES = {
    "templates": ({"name": "Summary", "body": "Summarise {{text}} for {{audience}}"},
                  {"name": "Short summary"}),
    "workflows": ({"name": "Review",
                   "steps": [{"prompt": "Draft {{topic}}"},
                             {"name": "Polish", "prompt": "Polish: {{previous}}"}]},
                  {"description": "Draft then polish"}),
    "instructions": ({"name": "Tone", "content": "Answer briefly."}, {"active": False}),
    "knowledge-bases": ({"name": "Handbook", "description": "Team notes"}, {"name": "Wiki"}),
    "accounts": ({"service": "github", "name": "Work", "secret": "ghp_abcdefghijklmnop1234"},
                 {"name": "Personal"}),
    "conversations": ({"title": "Ideas"}, {"title": "Better ideas"}),
    "tasks": ({"title": "Write a haiku", "description": "About autumn", "priority": "high"},
              {"priority": "low", "description": "About winter"}),
    "model-benchmarks": ({"model": "qwen", "prompt": "hi", "totalMs": 12.5}, {"totalMs": 13}),
    "model-versions": ({"model": "qwen-ft", "version": "1"}, {"notes": "better"}),
    "training-datasets": ({"name": "qa", "content": "{}"}, {"description": "x"}),
    "training-jobs": ({"baseModel": "qwen"}, {"progress": 0.5}),
}


@pytest.mark.parametrize("name", ENTITIES)
@pytest.mark.gen_test
async def test_crud_cycle(fetch, name):
    create, change = ENTITIES[name]
    r = await fetch("/api/" + name, method="POST", json=create)
    assert r.code == 201, r.text
    created = r.json()
    id = created["id"]
    assert r.headers["Location"].endswith("/api/%s/%d" % (name, id))
    assert "createdAt" in created and created["createdAt"].endswith("Z")

    second = (await fetch("/api/" + name, method="POST", json=create)).json()
    page = (await fetch("/api/%s?limit=1" % name)).json()
    assert page["total"] == 2 and [i["id"] for i in page["items"]] == [second["id"]]

    got = (await fetch("/api/%s/%d" % (name, id))).json()
    assert got == created

    r = await fetch("/api/%s/%d" % (name, id), method="PATCH", json=change)
    assert r.code == 200, r.text
    updated = r.json()
    for key, value in change.items():
        assert updated[key] == value or key == "completedAt" and updated[key].startswith(value[:19])

    r = await fetch("/api/%s/%d" % (name, id), method="DELETE")
    assert r.code == 204
    assert (await fetch("/api/%s/%d" % (name, id))).code == 404
    assert (await fetch("/api/%s/%d" % (name, id), method="DELETE")).code == 404


@pytest.mark.gen_test
async def test_invalid_payload_lists_fields_and_writes_nothing(fetch):
    r = await fetch("/api/templates", method="POST", json={"name": "", "colour": "red"})
    assert r.code == 400
    body = r.json()
    assert body["error"] and set(body["fields"]) == {"name", "body", "colour"}
    assert (await fetch("/api/templates")).json()["total"] == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", "\"text\""])
@pytest.mark.gen_test
async def test_malformed_json_is_400(fetch, body):
    r = await fetch("/api/templates", method="POST", body=body,
                    headers={"Content-Type": "application/json"})
    assert r.code == 400 and "error" in r.json()


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "x\\udc00y"])
@pytest.mark.gen_test
async def test_a_lone_surrogate_is_not_text_and_is_refused(fetch, escape):
    # json.loads takes it, but no UTF-8 database can store it: it was a 500.
    body = '{"name": "%s", "content": "{}"}' % escape
    r = await fetch("/api/training-datasets", method="POST", body=body,
                    headers={"Content-Type": "application/json"})
    assert r.code == 400, r.text
    assert r.json()["error"].startswith("Malformed JSON: a string holds")
    assert (await fetch("/api/training-datasets")).json()["total"] == 0
    pair = '{"name": "\\ud83d\\ude00 \\\\ud800", "content": "{}"}'  # a pair; an escaped "\\"
    r = await fetch("/api/training-datasets", method="POST", body=pair,
                    headers={"Content-Type": "application/json"})
    assert r.code == 201 and r.json()["name"] == "\U0001F600 \\ud800"


@pytest.mark.gen_test
async def test_patch_unknown_id_is_404_and_invalid_patch_changes_nothing(fetch):
    assert (await fetch("/api/templates/999", method="PATCH", json={"name": "x"})).code == 404
    t = (await fetch("/api/templates", method="POST", json={"name": "a", "body": "b"})).json()
    r = await fetch("/api/templates/%d" % t["id"], method="PATCH", json={"name": "z" * 300})
    assert r.code == 400 and "name" in r.json()["fields"]
    assert (await fetch("/api/templates/%d" % t["id"])).json()["name"] == "a"


@pytest.mark.gen_test
async def test_template_variables_are_listed(fetch):
    r = await fetch("/api/templates", method="POST",
                    json={"name": "t", "body": "{{a}} and {{ b }} and {{a}}"})
    assert r.json()["variables"] == ["a", "b"]


@pytest.mark.gen_test
async def test_workflow_steps_keep_order_and_refer_to_templates(fetch):
    t = (await fetch("/api/templates", method="POST", json={"name": "t", "body": "{{x}}"})).json()
    steps = [{"name": "one", "templateId": t["id"], "variables": {"x": "1"}},
             {"name": "two", "prompt": "then {{previous}}"}]
    w = (await fetch("/api/workflows", method="POST", json={"name": "w", "steps": steps})).json()
    assert [s["name"] for s in w["steps"]] == ["one", "two"]
    assert w["steps"][0]["templateName"] == "t" and w["steps"][0]["variables"] == {"x": "1"}
    r = await fetch("/api/workflows/%d" % w["id"], method="PATCH",
                    json={"steps": steps[::-1]})
    assert [s["name"] for s in r.json()["steps"]] == ["two", "one"]
    r = await fetch("/api/workflows", method="POST",
                    json={"name": "bad", "steps": [{"name": "neither"}]})
    assert r.code == 400 and "steps" in r.json()["fields"]


@pytest.mark.gen_test
async def test_account_secret_is_encrypted_and_masked(fetch, app):
    secret = "sk-live-0123456789abcdef"
    r = await fetch("/api/accounts", method="POST",
                    json={"service": "openai", "name": "main", "secret": secret})
    account = r.json()
    assert "secret" not in account and secret not in r.text
    assert account["secretMasked"].endswith("cdef")
    row = await app.settings["db"].get("SELECT credentials FROM external_api_accounts")
    assert secret not in row.credentials
    assert app.settings["secrets"].decrypt(row.credentials) == secret
    listing = await fetch("/api/accounts")
    assert secret not in listing.text


@pytest.mark.gen_test
async def test_child_rows_need_an_existing_parent(fetch):
    r = await fetch("/api/messages", method="POST", json={"conversationId": 42, "content": "hi"})
    assert r.code == 400 and r.json()["fields"] == {"conversationId": ["No such record."]}
    kb = (await fetch("/api/knowledge-bases", method="POST", json={"name": "kb"})).json()
    r = await fetch("/api/knowledge-sources", method="POST",
                    json={"knowledgeBaseId": kb["id"], "kind": "text", "title": "a",
                          "content": "facts"})
    assert r.code == 201
    got = (await fetch("/api/knowledge-bases/%d" % kb["id"])).json()
    assert [s["title"] for s in got["sources"]] == ["a"]


@pytest.mark.gen_test
async def test_pagination_arguments_are_checked(fetch):
    assert (await fetch("/api/tasks?limit=0")).code == 400
    assert (await fetch("/api/tasks?limit=abc")).code == 400
    assert (await fetch("/api/nothing-here")).code == 404


@pytest.mark.gen_test
async def test_unknown_api_path_refuses_a_malformed_body_as_json(fetch):
    # Tornado parses a form body before the catch-all's prepare(): its 400 was an HTML page.
    r = await fetch("/api/knowledge-bases/1.5/files", method="POST", body=b"--b\r\n[]--b--\r\n",
                    headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.code == 400 and r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"].startswith("Invalid body")
    r = await fetch("/nothing-here", method="POST", body=b"--b\r\n[]--b--\r\n",
                    headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert r.code == 400 and r.headers["Content-Type"].startswith("text/html")
    r = await fetch("/api/nothing-here", method="PROPFIND")  # a method Tornado does not know
    assert r.code == 405 and r.json()["error"]


@pytest.mark.gen_test
async def test_url_source_created_through_the_api_is_fetched(fetch, app, fake_site):
    kb = (await fetch("/api/knowledge-bases", method="POST", json={"name": "kb"})).json()
    r = await fetch("/api/knowledge-sources", method="POST",
                    json={"knowledgeBaseId": kb["id"], "kind": "url", "title": "Guide", "render": "static",
                          "url": fake_site.url + "/article"})
    assert r.code == 201 and r.json()["status"] == "pending"
    await app.settings["services"]["web"].wait()
    source = (await fetch("/api/knowledge-sources/%d" % r.json()["id"])).json()
    assert source["status"] == "ready" and "Getting started" in source["content"]


@pytest.mark.gen_test
async def test_booleans_are_json_booleans(fetch):
    r = await fetch("/api/instructions", method="POST",
                    json={"name": "n", "content": "c", "active": False})
    assert r.json()["active"] is False
    assert (await fetch("/api/instructions")).json()["items"][0]["active"] is False
