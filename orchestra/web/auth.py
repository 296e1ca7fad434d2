"""Logging in and out, and the check a page makes when its socket is refused."""

import tornado.web

from orchestra.web.apidoc import op
from orchestra.web.base import AUTH_COOKIE, ApiHandler, BaseHandler, public, safe_next


class LoginHandler(BaseHandler):
    """Asks for the access token when a browser arrives without it, then goes back to `next`
    (a path on this site; anything else goes to the dashboard)."""

    @public
    def get(self):
        self.render_template("login.html", next=safe_next(self.get_query_argument("next", "/")),
                             error=None)

    @public
    def post(self):
        token = self.get_body_argument("token", "").strip()
        next_url = safe_next(self.get_body_argument("next", "/"))
        if not self.token_is_valid(token):
            self.render_template("login.html", status=403, next=next_url,
                                 error="That token is not valid. Copy it from the line that "
                                       "`orchestra serve` printed, or run `orchestra token`.")
            return
        self.set_auth_cookie()
        self.redirect(next_url)


class LogoutHandler(BaseHandler):
    def post(self):
        self.clear_cookie(AUTH_COOKIE)
        self.redirect(self.reverse_url("login"))


class SessionHandler(ApiHandler):
    """`GET /api/session`: 200 while this browser is logged in, 401 once it is not.

    A refused WebSocket upgrade looks to a page like any dropped connection (the 403 is not
    visible to scripts), so socket.js asks here when a connection closes before `connected`.
    """

    api_doc = {"get": op(
        "Whether this client is logged in",
        description="200 while the token or the session cookie is valid, 401 once it is not "
                    "(the pages ask here when their socket is refused).",
        tags=("Session",), operation_id="getSession",
        responses={200: ("Logged in; `via` says how the request was authenticated.", {
            "type": "object", "required": ["authenticated", "via"],
            "additionalProperties": False,
            "properties": {"authenticated": {"const": True},
                           "via": {"type": "string", "enum": ["header", "query", "cookie"]}}},
            {"authenticated": True, "via": "header"})})}

    def get(self):
        self.write_json({"authenticated": True, "via": self.current_user})


routes = [
    tornado.web.url(r"/login", LoginHandler, name="login"),
    tornado.web.url(r"/logout", LogoutHandler, name="logout"),
    tornado.web.url(r"/api/session", SessionHandler, name="session"),
]
