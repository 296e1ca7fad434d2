"""The API page in Chromium: Swagger UI (vendored) lists every operation of the server's
OpenAPI document, and "Try it out" sends real requests with the page's login cookie (and
the XSRF header on a POST), no token typed anywhere."""

import json
import urllib.parse

import pytest

from tests.browser.conftest import page_errors
from tests.browser.test_pages_browser import PHONE, fits

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def operation(document, path, method):
    """The Swagger UI block of one operation (its id is operations-<tag>-<operationId>)."""
    described = document["paths"][path][method]
    return '[id="operations-%s-%s"]' % (described["tags"][0], described["operationId"])


def path_of(request):
    return urllib.parse.urlsplit(request.url).path


async def try_it(page, block, body=None):
    """Open an operation, press Try it out (filling the body), Execute; the status shown."""
    await page.click(block + " .opblock-summary")
    await page.click(block + " .try-out__btn")
    if body is not None:
        editor = page.locator(block + " textarea.body-param__text")
        await editor.fill(json.dumps(body))
    await page.click(block + " .execute")
    status = page.locator(block + " .live-responses-table tr.response .response-col_status").first
    await status.wait_for()
    return (await status.inner_text()).strip()


@pytest.mark.gen_test(timeout=60)
async def test_the_page_lists_every_operation_and_try_it_uses_the_session(open_page, fetch):
    document = (await fetch("/api/openapi.json")).json()
    operations = sum(1 for item in document["paths"].values() for m in item if m in METHODS)
    page = await open_page("/api/docs")
    sent = []
    page.on("request", lambda request: sent.append(request))
    await page.locator(".opblock").first.wait_for()
    assert await page.locator(".opblock").count() == operations
    assert await page.locator("#api-docs-status").is_hidden()
    assert await page.get_by_role("link", name="API", exact=True).get_attribute(
        "aria-current") == "page"

    # GET: the list of templates, with the cookie and without a token.
    listing = operation(document, "/api/templates", "get")
    assert await try_it(page, listing) == "200"
    request = [r for r in sent if path_of(r) == "/api/templates" and r.method == "GET"][-1]
    headers = await request.all_headers()
    assert "authorization" not in headers and "orchestra_auth=" in headers.get("cookie", "")

    # POST: a new template, the XSRF header taken from the cookie.
    body = {"name": "Haiku", "category": "writing", "body": "A haiku about {{topic}}."}
    create = operation(document, "/api/templates", "post")
    assert await try_it(page, create, body) == "201"
    request = [r for r in sent if path_of(r) == "/api/templates" and r.method == "POST"][-1]
    headers = await request.all_headers()
    assert "authorization" not in headers and headers["x-xsrftoken"]
    listed = (await fetch("/api/templates")).json()["items"]
    assert [(t["name"], t["body"]) for t in listed] == [("Haiku", body["body"])]
    response = page.locator(create + " .live-responses-table tr.response"
                            " .response-col_description pre")
    assert json.loads(await response.first.inner_text())["name"] == "Haiku"
    assert page_errors(page) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_page_and_the_documents_need_a_login(open_page, fetch):
    page = await open_page("/api/docs", token=False)
    assert "/login?next=%2Fapi%2Fdocs" in page.url
    for path in ("/api/openapi.json", "/api/asyncapi.json"):
        r = await fetch(path, token=False)
        assert r.code == 401, path


@pytest.mark.gen_test(timeout=60)
async def test_the_page_fits_a_phone(open_page):
    page = await open_page("/api/docs")
    await page.set_viewport_size(PHONE)
    await page.locator(".opblock").first.wait_for()
    size = await fits(page)
    assert size["scroll"] <= size["client"] and size["body"] <= size["client"], size
    assert page_errors(page) == []
