"""WebError: why a page could not be read, as a code a client can act on and one sentence."""

#: every code a refused or failed fetch can carry (the API answers 400 {error, code})
CODES = (
    "invalid_url",          # not an absolute http(s) URL
    "blocked_address",      # resolves to a loopback, private, link-local, ... address
    "robots_disallowed",    # the site's robots.txt disallows it
    "timeout",              # no answer, or no complete one, in time
    "too_large",            # over the size limit
    "unsupported_type",     # a content type the service does not read
    "blocked",              # a 403/429 wall, a challenge or CAPTCHA page
    "browser_unavailable",  # the browser renderer was asked for and there is no browser
    "http_error",           # the server answered 4xx/5xx (other than a wall)
    "network_error",        # DNS failure, connection refused or reset, TLS failure
    "render_failed",        # the browser could not render the page (the tab crashed, ...)
)


class WebError(Exception):
    """A page that cannot be used: `code` (one of CODES) and `message` (a sentence)."""

    def __init__(self, code, message, status_code=None):
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code  # the HTTP status the page came with, when it came

    def as_dict(self):
        return {"error": self.message, "code": self.code}
