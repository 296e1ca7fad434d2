"""Login over HTTP: `?token=` leaves the URL, `next=` stays on the site, the session probe."""

import urllib.parse

import pytest

from tests.conftest import TOKEN
from tests.web.test_auth import cookie_header, cookies_of


@pytest.mark.gen_test
async def test_query_token_sets_the_cookie_and_redirects_to_the_url_without_it(fetch):
    r = await fetch("/tasks?status=running&token=%s&page=2" % TOKEN, token=False)
    assert r.code == 302
    assert r.headers["Location"] == "/tasks?status=running&page=2"
    jar = cookies_of(r)
    assert "orchestra_auth" in jar
    page = await fetch(r.headers["Location"], token=False, headers={"Cookie": cookie_header(jar)})
    assert page.code == 200 and TOKEN not in page.text
    home = await fetch("/?token=" + TOKEN, token=False)
    assert home.code == 302 and home.headers["Location"] == "/"


@pytest.mark.gen_test
async def test_api_calls_with_a_query_token_are_answered_in_place(fetch):
    r = await fetch("/api/templates?token=" + TOKEN, token=False)
    assert r.code == 200 and r.json()["total"] == 0


@pytest.mark.gen_test
async def test_a_wrong_query_token_goes_to_login_without_the_token_in_next(fetch):
    r = await fetch("/chat?c=3&token=wrong", token=False)
    assert r.code == 302
    assert r.headers["Location"] == "/login?" + urllib.parse.urlencode({"next": "/chat?c=3"})
    assert "orchestra_auth" not in cookies_of(r)


async def login(fetch, next_url):
    form = await fetch("/login", token=False)
    jar = cookies_of(form)
    body = urllib.parse.urlencode({"token": TOKEN, "next": next_url, "_xsrf": jar["_xsrf"]})
    return await fetch("/login", method="POST", token=False, body=body,
                       headers={"Cookie": cookie_header(jar)})


@pytest.mark.gen_test
@pytest.mark.parametrize("next_url", [
    "/\\evil.example", "/\\/evil.example", "//evil.example", "///evil.example",
    "/\t/evil.example", "/\n/evil.example", "https://evil.example/", "http:/evil.example",
    "javascript:alert(1)", "evil.example", "",
])
async def test_login_never_sends_the_browser_off_site(fetch, next_url):
    r = await login(fetch, next_url)
    assert r.code == 302 and r.headers["Location"] == "/"
    assert "orchestra_auth" in cookies_of(r)


@pytest.mark.gen_test
@pytest.mark.parametrize("next_url", ["/chat?c=3#m12", "/tasks/7", "/models?refresh=1"])
async def test_login_goes_back_to_a_path_on_this_site(fetch, next_url):
    r = await login(fetch, next_url)
    assert r.code == 302 and r.headers["Location"] == next_url


@pytest.mark.gen_test
async def test_the_login_form_carries_only_a_safe_next(fetch):
    r = await fetch("/login?next=" + urllib.parse.quote("/\\evil.example"), token=False)
    assert r.code == 200 and 'name="next" value="/"' in r.text
    r = await fetch("/login?next=" + urllib.parse.quote("/chat?c=1#m2"), token=False)
    assert 'name="next" value="/chat?c=1#m2"' in r.text


@pytest.mark.gen_test
async def test_the_session_probe_says_whether_the_browser_is_logged_in(fetch):
    r = await fetch("/api/session", token=False)
    assert r.code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    jar = cookies_of(await fetch("/?token=" + TOKEN, token=False))
    r = await fetch("/api/session", token=False, headers={"Cookie": cookie_header(jar)})
    assert r.code == 200 and r.json() == {"authenticated": True, "via": "cookie"}
    forged = dict(jar, orchestra_auth=jar["orchestra_auth"][:-4] + "AAAA")
    r = await fetch("/api/session", token=False, headers={"Cookie": cookie_header(forged)})
    assert r.code == 401


@pytest.mark.gen_test
async def test_every_api_refusal_for_authentication_names_the_scheme(fetch):
    r = await fetch("/api/templates", method="POST", json={"name": "t", "body": "b"},
                    token=False)
    assert r.code == 401 and "WWW-Authenticate" in r.headers
    assert (await fetch("/api/templates")).json()["total"] == 0
