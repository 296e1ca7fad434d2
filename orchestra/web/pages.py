"""Pages that belong to no single area: login, logout and the dashboard."""

import tornado.web

from orchestra.web.base import BaseHandler, public


class LoginHandler(BaseHandler):
    """Asks for the access token when a browser arrives without it."""

    @public
    def get(self):
        self.render_template("login.html", next=self.get_query_argument("next", "/"), error=None)

    @public
    def post(self):
        token = self.get_body_argument("token", "").strip()
        next_url = self.get_body_argument("next", "/")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/"
        if not self.token_is_valid(token):
            self.render_template("login.html", status=403, next=next_url,
                                 error="That token is not valid. Copy it from the line that "
                                       "`orchestra serve` printed.")
            return
        self.set_auth_cookie()
        self.redirect(next_url)


class LogoutHandler(BaseHandler):
    def post(self):
        self.clear_cookie("orchestra_auth")
        self.redirect(self.reverse_url("login"))


class DashboardHandler(BaseHandler):
    async def get(self):
        self.render_template("dashboard.html")


routes = [
    tornado.web.url(r"/", DashboardHandler, name="dashboard"),
    tornado.web.url(r"/login", LoginHandler, name="login"),
    tornado.web.url(r"/logout", LogoutHandler, name="logout"),
]
