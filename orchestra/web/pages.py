"""Pages that belong to no single area: login, logout and the dashboard."""

import asyncio

import tornado.web

from orchestra.services.lmstudio import status as lmstudio_status
from orchestra.web.base import BaseHandler, public

STATUS_TIMEOUT = 2.5


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
    """Live charts come over /ws; LM Studio's state is also read here so that the page says
    something useful while the socket is down."""

    async def get(self):
        try:
            lmstudio = await asyncio.wait_for(lmstudio_status(self.lmstudio), STATUS_TIMEOUT)
        except asyncio.TimeoutError:
            lmstudio = {"reachable": False, "activeModel": None, "models": []}
        self.render_template("dashboard.html", lmstudio=lmstudio,
                             lmstudio_url=self.lmstudio.base_url)


routes = [
    tornado.web.url(r"/", DashboardHandler, name="dashboard"),
    tornado.web.url(r"/login", LoginHandler, name="login"),
    tornado.web.url(r"/logout", LogoutHandler, name="logout"),
]
