"""The Models page and /api/models over HTTP, against the fake LM Studio."""

import json

import pytest

CHAT = "qwen2.5-7b-instruct"
CODER = "qwen2.5-coder-7b-instruct"


@pytest.mark.gen_test
async def test_list_models(fetch, fake_lmstudio):
    response = await fetch("/api/models")
    assert response.code == 200
    data = response.json()
    assert data["activeModel"] == CHAT
    assert data["models"][0] == {
        "id": CHAT, "type": "llm", "publisher": "lmstudio-community", "arch": "qwen2",
        "quantization": "Q4_K_M", "state": "loaded", "loaded": True,
        "maxContextLength": 32768, "capabilities": ["tool_use"]}


@pytest.mark.gen_test
async def test_list_models_needs_the_token(fetch, fake_lmstudio):
    response = await fetch("/api/models", token=False)
    assert response.code == 401
    assert "error" in response.json()


@pytest.mark.gen_test
async def test_unreachable_lmstudio_is_503(fetch, config):
    response = await fetch("/api/models")
    assert response.code == 503
    assert "is not reachable; start it or check the URL" in response.json()["error"]
    status = await fetch("/api/models/status")
    assert status.code == 200 and status.json()["reachable"] is False
    # Nothing has answered, so nothing says it is LM Studio.
    assert status.json()["server"] == "The model server at %s" % config.lmstudio_url


@pytest.mark.gen_test
async def test_status(fetch, fake_lmstudio):
    data = (await fetch("/api/models/status")).json()
    assert data["reachable"] is True and data["activeModel"] == CHAT
    assert data["server"] == "LM Studio at %s" % fake_lmstudio.url  # its /api/v0 answered
    assert {m["id"] for m in data["models"]} >= {CHAT, CODER}


@pytest.mark.gen_test
async def test_load_model(fetch, fake_lmstudio):
    response = await fetch("/api/models/load", method="POST", json={"model": CODER})
    assert response.code == 200
    assert response.json() == {"model": CODER, "loaded": True, "loadTimeS": 0.42,
                               "method": "api/v1"}


@pytest.mark.gen_test
async def test_load_unknown_model_is_404(fetch, fake_lmstudio):
    response = await fetch("/api/models/load", method="POST", json={"model": "nope"})
    assert response.code == 404
    assert "nope" in response.json()["error"]


@pytest.mark.gen_test
async def test_load_validates_input(fetch, fake_lmstudio):
    response = await fetch("/api/models/load", method="POST", json={"model": "", "x": 1})
    assert response.code == 400
    assert set(response.json()["fields"]) == {"model", "x"}
    malformed = await fetch("/api/models/load", method="POST", body=b"{not json")
    assert malformed.code == 400


@pytest.mark.gen_test
async def test_upstream_failure_is_502(fetch, fake_lmstudio):
    fake_lmstudio.fail_next(500, "out of memory", path="/api/v1/models/load")
    response = await fetch("/api/models/load", method="POST", json={"model": CODER})
    assert response.code == 502
    assert "out of memory" in response.json()["error"]


@pytest.mark.gen_test
async def test_switch_with_fallbacks(fetch, fake_lmstudio, app):
    fake_lmstudio.fail_next(500, "out of memory", path="/api/v1/models/load")
    response = await fetch("/api/models/switch", method="POST",
                           json={"model": CODER, "fallbacks": ["deepseek-r1-distill-qwen-7b"]})
    assert response.code == 200
    data = response.json()
    assert data["active"] == "deepseek-r1-distill-qwen-7b" and data["fellBack"] is True
    assert "out of memory" in data["errors"][CODER]
    assert app.settings["lmstudio"].active_model == "deepseek-r1-distill-qwen-7b"


@pytest.mark.gen_test
async def test_benchmark_is_stored_and_listed(fetch, fake_lmstudio):
    response = await fetch("/api/models/benchmark", method="POST",
                           json={"model": CHAT, "prompt": "Count to five"})
    assert response.code == 201
    result = response.json()
    assert result["model"] == CHAT and result["id"]
    assert result["tokensGenerated"] > 0 and result["totalMs"] > 0
    listed = (await fetch("/api/models/benchmarks")).json()["benchmarks"]
    assert [b["id"] for b in listed] == [result["id"]]
    assert listed[0]["prompt"] == "Count to five" and listed[0]["createdAt"].endswith("Z")
    filtered = (await fetch("/api/models/benchmarks?model=other")).json()["benchmarks"]
    assert filtered == []


@pytest.mark.gen_test
async def test_compare(fetch, fake_lmstudio):
    fake_lmstudio.default_answer = lambda body: f"I am {body['model']}"
    response = await fetch("/api/models/compare", method="POST",
                           json={"prompt": "Who are you?", "models": [CHAT, CODER],
                                 "maxTokens": 50})
    assert response.code == 200
    results = response.json()["results"]
    assert [r["text"] for r in results] == [f"I am {CHAT}", f"I am {CODER}"]
    assert results[0]["timings"]["ttftMs"] is not None
    assert results[0]["finishReason"] == "stop" and results[0]["problems"] == []
    one = await fetch("/api/models/compare", method="POST",
                      json={"prompt": "x", "models": [CHAT]})
    assert one.code == 400 and "models" in one.json()["fields"]


@pytest.mark.gen_test
async def test_recommend(fetch, fake_lmstudio):
    data = (await fetch("/api/models/recommend?taskType=code")).json()
    assert data["model"] == CODER and data["taskType"] == "code" and data["reason"]
    bad = await fetch("/api/models/recommend?taskType=poetry")
    assert bad.code == 400 and "taskType" in bad.json()["fields"]


@pytest.mark.gen_test
async def test_models_page(fetch, fake_lmstudio):
    fake_lmstudio.models[0]["id"] = "</script><b>x"
    response = await fetch("/models")
    assert response.code == 200
    assert 'id="models-table"' in response.text
    assert "js/models.js" in response.text
    assert "</script><b>x" not in response.text  # escaped in the table and the inline JSON


@pytest.mark.gen_test
async def test_models_page_when_lmstudio_is_down(fetch):
    response = await fetch("/models")
    assert response.code == 200
    assert "not reachable" in response.text


@pytest.mark.gen_test
async def test_page_session_calls_the_api_with_the_xsrf_header(browser, fake_lmstudio):
    # What models.js does: the cookie session plus the X-XSRFToken header from the page.
    await browser.login()
    page = await browser.get("/models")
    assert page.code == 200
    body = '{"model": "%s"}' % CODER
    headers = browser._headers({"Content-Type": "application/json"})
    forged = await browser._fetch("/api/models/switch", method="POST", body=body, token=False,
                                  headers=headers)
    assert forged.code == 403
    headers["X-XSRFToken"] = browser.xsrf
    allowed = await browser._fetch("/api/models/switch", method="POST", body=body,
                                   token=False, headers=headers)
    assert allowed.code == 200 and allowed.json()["active"] == CODER


@pytest.mark.gen_test
async def test_a_model_request_over_its_limit_is_413_json(fetch, fake_lmstudio):
    body = json.dumps({"prompt": "x" * 200_000, "models": ["a", "b"]})
    r = await fetch("/api/models/compare", method="POST", body=body)
    assert r.code == 413
    assert r.json() == {"error": "The model request is larger than the limit of 100 kB "
                                 "(100000 bytes)."}
    assert fake_lmstudio.requests == []  # nothing reached the model server
