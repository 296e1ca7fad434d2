"""A browser-like session for page tests: cookies from `?token=`, forms posted with `_xsrf`."""

import collections
import html
import http.cookies
import re
import urllib.parse
import uuid

import pytest

from tests.conftest import TOKEN
from tests.web import fuzzing


class Browser:
    """Keeps cookies like a browser, and posts forms (urlencoded or multipart) with `_xsrf`."""

    def __init__(self, fetch):
        self._fetch = fetch
        self.cookies = {}

    async def login(self):
        r = await self.get("/?" + urllib.parse.urlencode({"token": TOKEN}))
        if r.code == 302:  # the cookie is set; the page drops the token from its URL
            r = await self.get(r.headers["Location"])
        assert r.code == 200, r.text
        assert "orchestra_auth" in self.cookies and "_xsrf" in self.cookies
        return self

    @property
    def xsrf(self):
        return self.cookies["_xsrf"]

    def _headers(self, extra=None):
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        return headers

    def _keep_cookies(self, response):
        for header in response.headers.get_list("Set-Cookie"):
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expired = morsel["expires"] and "1970" in morsel["expires"] or \
                    morsel["max-age"] == "0"
                if expired or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def get(self, path):
        r = await self._fetch(path, token=False, headers=self._headers())
        self._keep_cookies(r)
        return r

    async def post(self, path, data=(), files=None, xsrf=True):
        """POST a form; `data` is a dict or a list of pairs, `files` {name: (filename, bytes)}."""
        pairs = list(data.items() if isinstance(data, dict) else data)
        if xsrf:
            pairs.append(("_xsrf", self.xsrf))
        if files is not None:
            body, content_type = multipart(pairs, files)
        else:
            body = urllib.parse.urlencode(pairs)
            content_type = "application/x-www-form-urlencoded"
        r = await self._fetch(path, method="POST", body=body, token=False,
                              headers=self._headers({"Content-Type": content_type}))
        self._keep_cookies(r)
        return r

    async def follow(self, response):
        """GET the page a 303 points at."""
        assert response.code == 303, (response.code, response.text[:500])
        return await self.get(response.headers["Location"])


def multipart(pairs, files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in pairs:
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                     % (boundary.encode(), name.encode(), str(value).encode()))
    for name, (filename, content) in files.items():
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
                     b"Content-Type: application/octet-stream\r\n\r\n%s\r\n"
                     % (boundary.encode(), name.encode(), filename.encode(), content))
    parts.append(b"--%s--\r\n" % boundary.encode())
    return b"".join(parts), "multipart/form-data; boundary=%s" % boundary


@pytest.fixture
def browser(fetch):
    """An unauthenticated browser; `await browser.login()` visits `/?token=`."""
    return Browser(fetch)


def field_error(page, name):
    """The message shown beside input `name` (its field-error paragraph), or None."""
    match = re.search(r'<p class="field-error" id="[^"]*%s-error">([^<]*)</p>' % re.escape(name),
                      page)
    return html.unescape(match.group(1)) if match else None


def input_value(page, name):
    """The value an <input> or <textarea> named `name` shows."""
    match = re.search(r'<input [^>]*name="%s"[^>]*value="([^"]*)"' % re.escape(name), page)
    if match:
        return html.unescape(match.group(1))
    match = re.search(r'<textarea [^>]*name="%s"[^>]*>([^<]*)</textarea>' % re.escape(name), page)
    return html.unescape(match.group(1)) if match else None


def pytest_terminal_summary(terminalreporter):
    """The property runs' figures (tests/web/test_fuzz_*.py), per database, at the end of the
    report and in ORCHESTRA_FUZZ_REPORT when set (.ci/run prints it)."""
    if not fuzzing.FIGURES:
        return
    lines = []
    for database in sorted({figure[0] for figure in fuzzing.FIGURES}):
        runs = [f for f in fuzzing.FIGURES if f[0] == database]
        bodies = [f for f in runs if f[1].endswith(" bodies")]
        statuses = sum((collections.Counter(f[3]) for f in bodies), collections.Counter())
        frames = [f for f in runs if f[1] == "/ws frames"]
        codes = sum((collections.Counter(f[3]) for f in frames), collections.Counter())
        lines.append("hypothesis %s: %d entities' bodies, %d requests (%s); %d /ws frames "
                     "(error codes: %s)" % (
                         database, len(bodies), sum(f[2] for f in bodies),
                         ", ".join("%s %d" % kv for kv in sorted(statuses.items())),
                         sum(f[2] for f in frames),
                         ", ".join("%s %d" % kv for kv in sorted(codes.items())) or "none"))
    fuzzing.report(terminalreporter, "hypothesis over entity bodies and /ws frames", lines)
