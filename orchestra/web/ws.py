"""The /ws WebSocket: chat streaming, live metrics, task and indexing progress on one connection.

LiveSocket is a thin adapter: it authenticates, checks the origin, and hands each frame to
`dispatch`, which validates it and calls the coroutine registered for its type. The
ConnectionManager (ws_manager.py) owns the live connections and their topic subscriptions
and relays what services publish on the hub. The protocol is described in the README
("WebSocket protocol").
"""

import logging
import urllib.parse

import tornado.iostream
import tornado.web
import tornado.websocket
from marshmallow import ValidationError

from orchestra.db import DatabaseError, OutOfRange
from orchestra.services.chat import ChatError
from orchestra.services.lmstudio import LMStudioError
from orchestra.web import ws_schemas as wss
from orchestra.web.base import AuthMixin, parse_json
from orchestra.web.ws_manager import (ALL_TASKS, GOING_AWAY, HISTORY_SCHEMA, MESSAGE_SCHEMA,
                                      MONITORING, TASK_SCHEMA, ConnectionManager,
                                      conversation_topic, crawl_topic, encode, error_code,
                                      error_details, knowledge_topic, now_iso, task_topic)

logger = logging.getLogger(__name__)

CONVERSATION_SCHEMA = wss.ConversationSettingsSchema()

__all__ = ["LiveSocket", "ConnectionManager", "dispatch", "routes"]


class ProtocolError(Exception):
    """A frame that cannot be served; becomes an `error` frame and the socket stays open."""

    def __init__(self, code, message, fields=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields


def _consume(future):
    # Writes are not awaited (a broadcast must not wait for its slowest reader); a write to a
    # socket that closed meanwhile fails its future, which nobody else would look at.
    if not future.cancelled():
        future.exception()


class LiveSocket(AuthMixin, tornado.websocket.WebSocketHandler):
    """One browser tab (or script) connected to /ws."""

    connection_id = None

    @property
    def manager(self):
        return self.settings["ws"]

    def prepare(self):
        if self.authenticate() is None:
            raise tornado.web.HTTPError(403, "The access token is missing or wrong.")

    def check_origin(self, origin):
        # Only reached for requests that look cross-origin: accept an exact host match only.
        netloc = urllib.parse.urlsplit(origin).netloc.lower()
        return bool(netloc) and netloc == self.request.headers.get("Host", "").lower()

    def open(self):
        if self.manager.closing:
            self.close(GOING_AWAY, "The server is shutting down.")
            return
        # Chunks are small and must go out at once: Nagle's algorithm would hold them back
        # until the client's delayed ACK (tens of milliseconds).
        self.set_nodelay(True)
        self.manager.add(self)
        config = self.config
        self.send("connected", {
            "connectionId": self.connection_id, "serverTime": now_iso(),
            "maxMessageSize": config.ws_max_message_size,
            "maxChatMessageLength": wss.MAX_CHAT_MESSAGE,
            "pingIntervalSeconds": config.ws_ping_interval,
            "metricsIntervalSeconds": config.metrics_interval})

    async def on_message(self, message):
        await dispatch(self, message)

    def on_close(self):
        self.manager.remove(self)

    def send(self, type, data, id=None):
        return self.write_raw(encode(type, data, id))

    def write_raw(self, payload):
        """Queue one encoded text frame; False (and the socket dropped) when it is closed.

        The frame goes to the connection's stream as Tornado's `write_message` writes it, less
        the Task that `write_message` wraps around each write for its caller to await: nobody
        awaits these (a broadcast must not wait for its slowest reader), and that Task was a
        tenth of the CPU of relaying a token. A write to a socket that closed meanwhile fails
        its stream's future, which the stream itself marks as seen. With a compressed
        connection (none is offered today) it is `write_message`."""
        protocol = self.ws_connection
        if protocol is None or protocol.is_closing():
            self.manager.remove(self)
            return False
        if getattr(protocol, "_compressor", None) is not None \
                or not hasattr(protocol, "_write_frame"):
            try:
                future = self.write_message(payload)
            except tornado.websocket.WebSocketClosedError:
                self.manager.remove(self)
                return False
            future.add_done_callback(_consume)
            return True
        try:
            protocol._write_frame(True, 0x1, payload)
        except tornado.iostream.StreamClosedError:
            self.manager.remove(self)
            return False
        return True

    def send_error_frame(self, code, message, request_type=None, id=None, fields=None,
                         extra=None):
        data = {"code": code, "message": message}
        if request_type:
            data["requestType"] = request_type
        if fields:
            data["fields"] = fields
        data.update(extra or {})
        self.send("error", data, id)


# -- dispatch --------------------------------------------------------------------------------

HANDLERS = {}  # type -> (coroutine(socket, data, frame), schema)


def handles(*types, schema=None):
    def register(fn):
        for type in types:
            HANDLERS[type] = (fn, schema or wss.EmptySchema())
        return fn
    return register


class Frame:
    """What a handler needs to answer: the frame's type and id."""

    __slots__ = ("type", "id")

    def __init__(self, type, id):
        self.type = type
        self.id = id


async def dispatch(socket, raw):
    """Validate one frame and run its handler; every failure becomes an `error` frame."""
    frame = Frame(None, None)
    try:
        envelope = parse(raw)
        frame.type, frame.id = envelope["type"], envelope["id"]
        if frame.type not in HANDLERS:
            raise ProtocolError("unknown_type", "Unknown message type %r; see the protocol "
                                "description for the types the server accepts." % frame.type)
        handler, schema = HANDLERS[frame.type]
        try:
            data = schema.load(envelope["data"])
        except ValidationError as e:
            raise ProtocolError("invalid_fields", "Invalid data for %s." % frame.type,
                                fields=e.messages)
        await handler(socket, data, frame)
    except ProtocolError as e:
        socket.send_error_frame(e.code, e.message, frame.type, frame.id, e.fields)
    except ChatError as e:
        socket.send_error_frame(e.code, e.message, frame.type, frame.id, e.fields)
    except LMStudioError as e:
        socket.send_error_frame(error_code(e), e.message, frame.type, frame.id,
                                extra=error_details(e))
    except OutOfRange as e:  # the schemas refuse these first; this is the net under them
        socket.send_error_frame("invalid_fields", str(e), frame.type, frame.id)
    except DatabaseError as e:
        logger.warning("database error on %s: %s", frame.type, e)
        socket.send_error_frame("database_error", "The database is not available: %s" % e,
                                frame.type, frame.id)
    except Exception:
        logger.exception("failed to handle %s", frame.type)
        socket.send_error_frame("internal_error", "The server failed to handle this message; "
                                "the details are in its log.", frame.type, frame.id)


def parse(raw):
    if isinstance(raw, bytes):
        raise ProtocolError("invalid_message", "Frames must be JSON text, not binary.")
    try:
        frame = parse_json(raw)
    except ValueError as e:
        raise ProtocolError("invalid_json", "Malformed JSON: %s." % e)
    if not isinstance(frame, dict):
        raise ProtocolError("invalid_message", 'A frame must be a JSON object: '
                            '{"type": ..., "data": {...}, "id"?: ...}.')
    try:
        return wss.EnvelopeSchema().load(frame)
    except ValidationError as e:
        raise ProtocolError("invalid_message", "The frame's envelope is invalid.",
                            fields=e.messages)


@handles("ping")
async def on_ping(socket, data, frame):
    socket.send("pong", {"time": now_iso()}, frame.id)


@handles("chat:send", "chat:streaming", schema=wss.ChatSendSchema())
async def on_chat_send(socket, data, frame):
    manager = socket.manager
    message = await manager.chat.send(
        data["message"], data["conversation_id"], data["model"], owner=socket.connection_id,
        origin=(socket.connection_id, frame.id, frame.type), settings=data["settings"])
    manager.follow(socket, message["conversation_id"])


@handles("chat:regenerate", schema=wss.ChatRegenerateSchema())
async def on_chat_regenerate(socket, data, frame):
    answer = await socket.manager.chat.regenerate(
        data["message_id"], data["model"], owner=socket.connection_id,
        origin=(socket.connection_id, frame.id, frame.type))
    socket.manager.follow(socket, answer["conversation_id"])


@handles("chat:edit", schema=wss.ChatEditSchema())
async def on_chat_edit(socket, data, frame):
    message = await socket.manager.chat.edit(
        data["message_id"], data["message"], data["model"], owner=socket.connection_id,
        origin=(socket.connection_id, frame.id, frame.type))
    socket.manager.follow(socket, message["conversation_id"])


@handles("chat:settings", schema=wss.ChatSettingsSchema())
async def on_chat_settings(socket, data, frame):
    conversation_id = data.pop("conversation_id")
    row = await socket.manager.chat.save_settings(conversation_id, data)
    socket.manager.relay(conversation_topic(conversation_id), "chat:settings",
                         CONVERSATION_SCHEMA.dump(row), (socket.connection_id, frame.id))


@handles("chat:stop", schema=wss.ChatStopSchema())
async def on_chat_stop(socket, data, frame):
    chat = socket.manager.chat
    conversation_id = data["conversation_id"]
    generation = chat.running.get(conversation_id)
    if generation is None:
        await chat.conversation(conversation_id)  # not_found first, when it does not exist
        raise ChatError("not_running", "No answer is being written in conversation %d."
                        % conversation_id)
    await chat.stop(conversation_id)
    stored = await socket.manager.stores.messages.get(generation.message_id)
    socket.send("chat:message", MESSAGE_SCHEMA.dump(stored), frame.id)


@handles("chat:history", schema=wss.ChatHistorySchema())
async def on_chat_history(socket, data, frame):
    conversation_id, limit, before = data["conversation_id"], data["limit"], data["before"]
    chat = socket.manager.chat
    conversation = await chat.conversation(conversation_id)
    # One more than asked says whether older messages remain.
    rows = await chat.history(conversation_id, limit + 1, before)
    socket.manager.follow(socket, conversation_id)
    socket.send("chat:history", {
        "conversationId": conversation_id, "before": before,
        "hasMore": len(rows) > limit, "messages": HISTORY_SCHEMA.dump(rows[-limit:]),
        "conversation": CONVERSATION_SCHEMA.dump(conversation)}, frame.id)


@handles("chat:read_page", schema=wss.ChatReadPageSchema())
async def on_chat_read_page(socket, data, frame):
    """Fetch the page a user message links to, then answer the message from it: `chat:page`
    once fetched, then the frames of an answer. The fetch runs beside this read loop (it can
    take half a minute; pongs must still be read); its failure comes as an `error` frame."""
    manager, origin = socket.manager, (socket.connection_id, frame.id, frame.type)

    def on_page(message, page):
        manager.relay(conversation_topic(message.conversation_id), "chat:page", {
            "conversationId": message.conversation_id, "messageId": message.id,
            "url": page["url"], "finalUrl": page.get("finalUrl"), "fetchId": page["id"],
            "title": page.get("title"), "fromCache": page.get("fromCache")}, origin)

    message = await manager.chat.read_page(data["message_id"], data["url"], data["model"],
                                           owner=socket.connection_id, origin=origin,
                                           on_page=on_page)
    manager.follow(socket, message.conversation_id)


@handles("monitoring:subscribe")
async def on_monitoring_subscribe(socket, data, frame):
    """Answers with the last hour of chart points; the latest full sample follows at once
    (the collector takes a fresh one for the first subscriber)."""
    manager = socket.manager
    metrics = manager.metrics
    watched = metrics.watched
    manager.subscribe(socket, MONITORING)
    socket.send("monitoring:subscribed", {
        "intervalSeconds": metrics.interval, "historySeconds": metrics.history_seconds,
        "history": metrics.history()}, frame.id)
    if watched and metrics.latest is not None and metrics.latest["lmstudio"] is not None:
        socket.write_raw(manager.metrics_frame(metrics.latest))  # at once, not in 10 s


@handles("monitoring:unsubscribe")
async def on_monitoring_unsubscribe(socket, data, frame):
    socket.manager.unsubscribe(socket, MONITORING)
    socket.send("monitoring:unsubscribed", {}, frame.id)


@handles("task:subscribe", schema=wss.TaskSchema())
async def on_task_subscribe(socket, data, frame):
    task_id = data["task_id"]
    task = await socket.manager.stores.tasks.get(task_id)
    if task is None:
        raise ProtocolError("not_found", "No task with id %d." % task_id)
    socket.manager.subscribe(socket, task_topic(task_id))
    socket.send("task:subscribed", {"taskId": task_id, "task": TASK_SCHEMA.dump(task)}, frame.id)


@handles("task:unsubscribe", schema=wss.TaskSchema())
async def on_task_unsubscribe(socket, data, frame):
    socket.manager.unsubscribe(socket, task_topic(data["task_id"]))
    socket.send("task:unsubscribed", {"taskId": data["task_id"]}, frame.id)


@handles("tasks:subscribe")
async def on_tasks_subscribe(socket, data, frame):
    socket.manager.subscribe(socket, ALL_TASKS)
    socket.send("tasks:subscribed", {}, frame.id)


@handles("tasks:unsubscribe")
async def on_tasks_unsubscribe(socket, data, frame):
    socket.manager.unsubscribe(socket, ALL_TASKS)
    socket.send("tasks:unsubscribed", {}, frame.id)


@handles("knowledge:subscribe", schema=wss.KnowledgeBaseSchema())
async def on_knowledge_subscribe(socket, data, frame):
    """Answers with the progress of the base's sources being indexed now; `knowledge:update`
    frames follow."""
    base_id = data["knowledge_base_id"]
    if not await socket.manager.stores.knowledge_bases.count(id=base_id):
        raise ProtocolError("not_found", "No knowledge base with id %d." % base_id)
    socket.manager.subscribe(socket, knowledge_topic(base_id))
    socket.send("knowledge:subscribed", {
        "knowledgeBaseId": base_id,
        "sources": socket.settings["services"]["knowledge"].progress(base_id)}, frame.id)


@handles("knowledge:unsubscribe", schema=wss.KnowledgeBaseSchema())
async def on_knowledge_unsubscribe(socket, data, frame):
    socket.manager.unsubscribe(socket, knowledge_topic(data["knowledge_base_id"]))
    socket.send("knowledge:unsubscribed", {"knowledgeBaseId": data["knowledge_base_id"]},
                frame.id)


routes = [
    tornado.web.url(r"/ws", LiveSocket, name="ws"),
]


# -- web crawls --------------------------------------------------------------------------------

@handles("crawl:subscribe", schema=wss.CrawlSchema())
async def on_crawl_subscribe(socket, data, frame):
    """Answers with the crawl as it stands (its pages so far); `crawl:update` frames follow
    as pages are read, and one when it ends."""
    crawl_id = data["crawl_id"]
    crawl = await socket.settings["services"]["web"].crawl_result(crawl_id)
    if crawl is None:
        raise ProtocolError("not_found", "No crawl with id %d." % crawl_id)
    socket.manager.subscribe(socket, crawl_topic(crawl_id))
    socket.send("crawl:subscribed", {"crawlId": crawl_id, "crawl": crawl}, frame.id)


@handles("crawl:unsubscribe", schema=wss.CrawlSchema())
async def on_crawl_unsubscribe(socket, data, frame):
    socket.manager.unsubscribe(socket, crawl_topic(data["crawl_id"]))
    socket.send("crawl:unsubscribed", {"crawlId": data["crawl_id"]}, frame.id)
