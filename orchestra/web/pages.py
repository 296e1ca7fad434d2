"""Pages that belong to no single area: the dashboard (login and logout are in auth.py)."""

import asyncio

import tornado.web

from orchestra.services.lmstudio import status as lmstudio_status
from orchestra.web.base import BaseHandler

STATUS_TIMEOUT = 2.5


class DashboardHandler(BaseHandler):
    """Live charts come over /ws; LM Studio's state is also read here so that the page says
    something useful while the socket is down."""

    async def get(self):
        try:
            lmstudio = await asyncio.wait_for(lmstudio_status(self.lmstudio), STATUS_TIMEOUT)
        except asyncio.TimeoutError:
            lmstudio = {"reachable": False, "server": self.lmstudio.server.sentence,
                        "activeModel": None, "models": []}
        self.render_template("dashboard.html", lmstudio=lmstudio,
                             lmstudio_url=self.lmstudio.base_url)


routes = [
    tornado.web.url(r"/", DashboardHandler, name="dashboard"),
]
