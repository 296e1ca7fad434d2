"""Access token, auth cookie, XSRF and the start-up route check."""

import re

import pytest
import tornado.web

from orchestra.app import check_routes
from tests.conftest import TOKEN


def cookies_of(response):
    jar = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        jar[name] = rest.split(";")[0]
    return jar


def cookie_header(jar):
    return "; ".join("%s=%s" % kv for kv in jar.items())


@pytest.mark.gen_test
async def test_api_needs_the_token(fetch):
    r = await fetch("/api/templates", token=False)
    assert r.code == 401 and "Bearer" in r.json()["error"]
    r = await fetch("/api/templates", token=False, headers={"Authorization": "Bearer wrong"})
    assert r.code == 401
    assert (await fetch("/api/templates")).code == 200


@pytest.mark.gen_test
async def test_pages_redirect_to_login_and_login_sets_the_cookie(fetch):
    r = await fetch("/templates", token=False)
    assert r.code == 302 and r.headers["Location"] == "/login?next=%2Ftemplates"
    login = await fetch("/login", token=False)
    assert login.code == 200 and 'name="token"' in login.text
    jar = cookies_of(login)
    xsrf = jar["_xsrf"]
    bad = await fetch("/login", method="POST", token=False,
                      body="token=nope&next=/templates&_xsrf=" + xsrf,
                      headers={"Cookie": cookie_header(jar)})
    assert bad.code == 403 and "not valid" in bad.text and "orchestra_auth" not in cookies_of(bad)
    good = await fetch("/login", method="POST", token=False,
                       body="token=%s&next=/templates&_xsrf=%s" % (TOKEN, xsrf),
                       headers={"Cookie": cookie_header(jar)})
    assert good.code == 302 and good.headers["Location"] == "/templates"
    jar.update(cookies_of(good))
    page = await fetch("/", token=False, headers={"Cookie": cookie_header(jar)})
    assert page.code == 200


@pytest.mark.gen_test
async def test_query_token_sets_a_cookie_that_then_authenticates(fetch):
    r = await fetch("/?token=" + TOKEN, token=False)
    assert r.code == 302 and r.headers["Location"] == "/"
    jar = cookies_of(r)
    assert "orchestra_auth" in jar
    assert "httponly" in [h for h in r.headers.get_list("Set-Cookie")
                          if h.startswith("orchestra_auth")][0].lower()
    r = await fetch("/api/templates", token=False, headers={"Cookie": cookie_header(jar)})
    assert r.code == 200
    r = await fetch("/?token=wrong", token=False)
    assert r.code == 302


@pytest.mark.gen_test
async def test_cookie_requests_need_xsrf_and_bearer_requests_do_not(fetch):
    jar = cookies_of(await fetch("/?token=" + TOKEN, token=False))
    jar.update(cookies_of(await fetch("/", token=False, headers={"Cookie": cookie_header(jar)})))
    headers = {"Cookie": cookie_header(jar), "Content-Type": "application/json"}
    body = '{"name": "t", "body": "b"}'
    r = await fetch("/api/templates", method="POST", token=False, body=body, headers=headers)
    assert r.code == 403
    assert (await fetch("/api/templates")).json()["total"] == 0
    r = await fetch("/api/templates", method="POST", token=False, body=body,
                    headers=dict(headers, **{"X-XSRFToken": jar["_xsrf"]}))
    assert r.code == 201
    r = await fetch("/api/templates", method="POST", body=body,
                    headers={"Content-Type": "application/json"})
    assert r.code == 201


@pytest.mark.gen_test
async def test_pages_carry_the_xsrf_token_and_escape_output(fetch):
    r = await fetch("/")
    assert re.search(r'<meta name="xsrf-token" content="[^"]+">', r.text)


def test_the_app_refuses_a_handler_that_skips_auth():
    class Open(tornado.web.RequestHandler):
        pass

    with pytest.raises(RuntimeError, match="Open"):
        check_routes([(r"/open", Open)])


@pytest.mark.gen_test
async def test_unknown_paths_are_404_for_every_method(fetch):
    for method in ("GET", "POST", "DELETE", "PUT"):
        r = await fetch("/api/nope", method=method, json={} if method != "GET" else None)
        assert r.code == 404 and "error" in r.json()
    r = await fetch("/no/such/page")
    assert r.code == 404 and "No page" in r.text
