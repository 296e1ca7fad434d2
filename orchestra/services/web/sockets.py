"""SocketRelay: a page's WebSockets, connected by us to checked addresses and relayed.

Playwright's WebSocketRoute.connect_to_server() would have the page itself open the
connection, and the browser cannot resolve any name (see browser.py). So the relay opens the
connection from here, through a resolver that answers only addresses safety.resolve accepted
(the check and the connection use the same answer: no DNS rebinding in between), and passes
messages both ways until either side closes.
"""

import asyncio
import logging
import socket
import urllib.parse

import tornado.httpclient
import tornado.netutil
import tornado.websocket

from orchestra.services.web import safety
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
MAX_MESSAGE = 10 * 1024 * 1024
POLICY_VIOLATION = 1008   # the close code a refused socket gets


class CheckedResolver(tornado.netutil.Resolver):
    """Tornado resolver that answers only the addresses safety.resolve allows."""

    def initialize(self, allow_private=False):
        self.allow_private = allow_private

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        addresses = await asyncio.get_running_loop().run_in_executor(
            None, safety.resolve, host, port, self.allow_private)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET,
                 (a, port) if ":" not in a else (a, port, 0, 0)) for a in addresses]


class SocketRelay:
    """The WebSockets of one render: opened on the page's behalf, closed with it."""

    def __init__(self, allow_private, origin):
        self.allow_private = allow_private
        self.origin = origin          # callable: the page's origin for the Origin header
        self.connections = []

    async def route(self, route):
        """Playwright's route_web_socket handler."""
        try:
            safety.check_url(route.url, ("ws", "wss"))
            connection = await tornado.websocket.websocket_connect(
                tornado.httpclient.HTTPRequest(route.url, headers={"Origin": self.origin()},
                                               connect_timeout=CONNECT_TIMEOUT),
                subprotocols=route.protocols or None, max_message_size=MAX_MESSAGE,
                resolver=CheckedResolver(allow_private=self.allow_private))
        except WebError as e:
            logger.info("Browser WebSocket refused: %s (%s)", route.url, e.code)
            await _quietly(route.close(code=POLICY_VIOLATION, reason=e.code))
            return
        except Exception as e:  # noqa: BLE001 - unreachable, refused, not a WebSocket, ...
            logger.info("Browser WebSocket %s failed: %s", route.url, e)
            await _quietly(route.close(code=1011, reason="unreachable"))
            return
        self.connections.append(connection)
        route.on_message(lambda message: _send(connection, message))
        route.on_close(lambda code, reason: connection.close(code, reason))
        asyncio.ensure_future(self._pump(connection, route))

    async def _pump(self, connection, route):
        while True:
            message = await connection.read_message()
            if message is None:
                await _quietly(route.close(code=connection.close_code or 1000,
                                           reason=connection.close_reason or ""))
                return
            try:
                route.send(message)
            except Exception:  # noqa: BLE001 - the page is gone
                connection.close()
                return

    def close(self):
        for connection in self.connections:
            connection.close()
        self.connections = []


def page_origin(url):
    parts = urllib.parse.urlsplit(url)
    return "%s://%s" % (parts.scheme, parts.netloc) if parts.scheme in ("http", "https") \
        else "null"


def _send(connection, message):
    try:
        sent = connection.write_message(message, binary=isinstance(message, bytes))
    except tornado.websocket.WebSocketClosedError:
        return
    sent.add_done_callback(lambda f: f.cancelled() or f.exception())


async def _quietly(awaitable):
    try:
        await awaitable
    except Exception:  # noqa: BLE001 - the page may be gone already
        pass
