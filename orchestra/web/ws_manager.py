"""ConnectionManager: the live /ws connections, what each follows, and relaying hub events."""

import contextlib
import datetime
import gc
import itertools
import json
import logging
import time

from orchestra import schemas
from orchestra.services.chat import ChatError
from orchestra.services.lmstudio import LMStudioError
from orchestra.web.ws_schemas import MessageFrameSchema

logger = logging.getLogger(__name__)

GOING_AWAY = 1001
MONITORING = "monitoring"
ALL_TASKS = "tasks"  # every task's updates, for lists that must see new tasks appear
TASK_SCHEMA = schemas.CreateTaskSchema()
SUBTASK_SCHEMA = schemas.CreateSubtaskSchema()
MESSAGE_SCHEMA = MessageFrameSchema()
HISTORY_SCHEMA = MessageFrameSchema(many=True)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def encode(type, data, id=None):
    frame = {"type": type, "data": data}
    if id is not None:
        frame["id"] = id
    return json.dumps(frame, separators=(",", ":"), default=str).encode()


def conversation_topic(conversation_id):
    return "conversation:%d" % conversation_id


def task_topic(task_id):
    return "task:%d" % task_id


def knowledge_topic(base_id):
    return "knowledge:%d" % base_id


def crawl_topic(crawl_id):
    return "crawl:%d" % crawl_id


class ConnectionManager:
    """Every live connection and what it follows; relays hub events to the right sockets."""

    def __init__(self, stores, chat, metrics):
        self.stores = stores
        self.chat = chat
        self.metrics = metrics
        self.sockets = {}  # connection id -> LiveSocket
        self.topics = {}  # topic -> {socket: None} (an ordered set)
        self.following = {}  # socket -> the conversation topic it shows
        self.closing = False
        self.last_broadcast_ms = None
        self._ids = itertools.count(1)

    def attach(self, hub):
        hub.subscribe("chat:message", self.on_chat_message)
        hub.subscribe("chat:streaming", self.on_chat_streaming)
        hub.subscribe("chat:failed", self.on_chat_failed)
        hub.subscribe("task:update", self.broadcast_task_update)
        hub.subscribe("knowledge:update", self.on_knowledge_update)
        hub.subscribe("web:crawl", self.on_web_crawl)
        # Metrics are sampled from start-up, watched or not, so a dashboard opens on the
        # last hour; `shutdown` stops them.
        self.metrics.start()

    # -- connections and topics ------------------------------------------------------------

    def add(self, socket):
        socket.connection_id = "c%d" % next(self._ids)
        self.sockets[socket.connection_id] = socket

    def remove(self, socket):
        if self.sockets.pop(socket.connection_id, None) is None:
            return
        for topic in [t for t, members in self.topics.items() if socket in members]:
            self.unsubscribe(socket, topic)
        self.following.pop(socket, None)
        self.chat.stop_owned_by(socket.connection_id)

    def subscribe(self, socket, topic):
        members = self.topics.setdefault(topic, {})
        members[socket] = None
        if topic == MONITORING and len(members) == 1:
            self.metrics.add_listener(self.on_metrics)

    def unsubscribe(self, socket, topic):
        members = self.topics.get(topic)
        if members is None or socket not in members:
            return
        del members[socket]
        if not members:
            del self.topics[topic]
            if topic == MONITORING:
                self.metrics.remove_listener(self.on_metrics)

    def follow(self, socket, conversation_id):
        """A socket shows one conversation at a time and gets its new messages."""
        topic = conversation_topic(conversation_id)
        previous = self.following.get(socket)
        if previous != topic:
            if previous is not None:
                self.unsubscribe(socket, previous)
            self.following[socket] = topic
            self.subscribe(socket, topic)

    def relay(self, topic, type, data, origin=None):
        """Send to a topic's members; the socket that asked (origin) also gets its frame id."""
        asker = self.sockets.get(origin[0]) if origin else None
        plain = None
        for socket in list(self.topics.get(topic, ())):
            if socket is not asker:
                plain = plain or encode(type, data)
                socket.write_raw(plain)
        if asker is not None:
            asker.write_raw(encode(type, data, origin[1]))

    # -- hub events ------------------------------------------------------------------------

    def on_chat_message(self, message, origin=None):
        self.relay(conversation_topic(message["conversation_id"]), "chat:message",
                   MESSAGE_SCHEMA.dump(message), origin)

    def on_chat_streaming(self, conversation_id, message_id, chunk, done, origin=None):
        self.relay(conversation_topic(conversation_id), "chat:streaming",
                   {"conversationId": conversation_id, "messageId": message_id,
                    "chunk": chunk, "done": done}, origin)

    def on_chat_failed(self, conversation_id, message_id, error, origin=None):
        asker = self.sockets.get(origin[0]) if origin else None
        if asker is not None:
            extra = dict(error_details(error), conversationId=conversation_id,
                         messageId=message_id)
            asker.send_error_frame(error_code(error), getattr(error, "message", str(error)),
                                   origin[2], origin[1], extra=extra)

    def broadcast_task_update(self, task_id, event, task=None, subtask=None):
        """What services call (through the hub) when a task or one of its subtasks changes."""
        # An ordered set: a socket following both this task and all tasks gets one frame.
        members = dict(self.topics.get(task_topic(task_id), {}))
        members.update(self.topics.get(ALL_TASKS, {}))
        if not members:
            return
        data = {"taskId": task_id, "event": event,
                "task": TASK_SCHEMA.dump(task) if task is not None else None}
        if subtask is not None:
            data["subtask"] = SUBTASK_SCHEMA.dump(subtask)
        payload = encode("task:update", data)
        for socket in list(members):
            socket.write_raw(payload)

    def on_knowledge_update(self, base_id, payload):
        """Indexing progress of a source (the knowledge service's payload, camelCase), to the
        followers of its knowledge base."""
        self.relay(knowledge_topic(base_id), "knowledge:update", payload)

    def on_web_crawl(self, crawl):
        """A crawl's progress (the web service's crawl dict), to the followers of that crawl."""
        self.relay(crawl_topic(crawl["id"]), "crawl:update", {"crawl": crawl})

    def metrics_frame(self, snapshot):
        data = dict(snapshot, websocket={
            "clients": len(self.sockets),
            "monitoring": len(self.topics.get(MONITORING, ())),
            "lastBroadcastMs": self.last_broadcast_ms})
        return encode("monitoring:metrics", data)

    def on_metrics(self, snapshot):
        started = time.perf_counter()
        payload = self.metrics_frame(snapshot)
        with collection_deferred():
            for socket in list(self.topics.get(MONITORING, ())):
                socket.write_raw(payload)
        self.last_broadcast_ms = round((time.perf_counter() - started) * 1000.0, 3)
        logger.debug("metrics sent to %d subscribers in %.1f ms",
                     len(self.topics.get(MONITORING, ())), self.last_broadcast_ms)

    # -- shutdown --------------------------------------------------------------------------

    async def shutdown(self):
        """Tell every client we are going away (1001), then store unfinished answers."""
        self.closing = True
        self.metrics.stop()
        for socket in list(self.sockets.values()):
            socket.close(GOING_AWAY, "The server is shutting down.")
        await self.chat.shutdown()


@contextlib.contextmanager
def collection_deferred():
    """Keep the garbage collector out of a fan-out loop.

    Each write allocates a few objects; with thousands of subscribers that starts collections
    in the middle of the loop, and a full one (every few broadcasts, over every connection's
    objects) held the last subscribers' frames back by ~90 ms. It runs after the loop instead.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def error_code(error):
    """The protocol's code of a model-server or chat error (each error class names its own)."""
    if isinstance(error, (LMStudioError, ChatError)):
        return error.code
    return "internal_error"


def error_details(error):
    """What an error frame carries besides code and message: `retryable` for every
    model-server error, and `promptTokens`, `contextLength` for context_too_long."""
    if isinstance(error, LMStudioError):
        return error.details()
    return {"retryable": bool(getattr(error, "retryable", False))}
