"""Chat conversations and their messages.

An answer names the user message it answers (`reply_to`); regenerating adds another answer
to the same message, and the old one stays. A user message edited and sent again is a new
message that names the one it revises (`edit_of`, always the first version). The prompt of
a new answer follows the conversation's current path: the latest version of each user
message and the latest answer to each (see `current_path`).

A conversation may name knowledge bases (`knowledge_base_ids`, JSON text; read back as a
list, [] for none); an answer written with them keeps what it cites (`citations`, JSON text;
None for answers written without knowledge bases).
"""

import json

from orchestra.db import Row, utcnow
from orchestra.store.base import TableStore

SETTINGS = ("system_prompt", "temperature", "max_tokens", "model", "knowledge_base_ids")


class ConversationStore(TableStore):
    table = "chat_conversations"
    columns = ("title", "model", "system_prompt", "temperature", "max_tokens",
               "knowledge_base_ids")
    json_columns = ("knowledge_base_ids",)
    order_by = "updated_at DESC, id DESC"

    def decode(self, row):
        return decode_conversation(row)

    async def missing_knowledge_bases(self, ids):
        """Those of `ids` that name no knowledge base, in the order given."""
        ids = [int(i) for i in ids or ()]
        if not ids:
            return []
        rows = await self.db.query(
            "SELECT id FROM knowledge_bases WHERE id IN (%s)" % ", ".join(["%s"] * len(ids)),
            *ids)
        found = {int(r.id) for r in rows}
        return [i for i in ids if i not in found]

    async def touch(self, id):
        await self.db.execute(
            "UPDATE chat_conversations SET updated_at = %s WHERE id = %s", utcnow(), id)

    async def search(self, q, limit=50, offset=0):
        """(conversations whose title or any message contains `q`, their count): newest
        first, case-insensitive for ASCII on SQLite and under MySQL's default collations.
        `q` is plain text: LIKE's wildcards in it match themselves."""
        pattern = "%" + q.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
        where = (" WHERE c.title LIKE %s ESCAPE '!' OR EXISTS (SELECT 1 FROM chat_messages m"
                 " WHERE m.conversation_id = c.id AND m.content LIKE %s ESCAPE '!')")
        rows = await self.db.query(
            "SELECT c.* FROM chat_conversations c" + where
            + " ORDER BY c.updated_at DESC, c.id DESC LIMIT %s OFFSET %s",
            pattern, pattern, int(limit), int(offset))
        total = await self.db.get("SELECT COUNT(*) AS n FROM chat_conversations c" + where,
                                  pattern, pattern)
        return [self.decode(r) for r in rows], int(total.n)

    async def save_settings(self, id, settings):
        """Store the given settings (a subset of SETTINGS); the row, or None when missing."""
        return await self.update(id, {k: v for k, v in settings.items() if k in SETTINGS})


class MessageStore(TableStore):
    table = "chat_messages"
    columns = ("conversation_id", "role", "content", "model", "status", "prompt_tokens",
               "completion_tokens", "finish_reason", "error", "reply_to", "edit_of",
               "citations")
    json_columns = ("citations",)
    has_updated_at = False

    async def history(self, conversation_id, limit=50, before=None):
        """The last `limit` messages of a conversation (older than message `before` when
        given), oldest first."""
        if before is None:
            rows = await self.db.query(
                "SELECT * FROM chat_messages WHERE conversation_id = %s"
                " ORDER BY id DESC LIMIT %s", conversation_id, int(limit))
        else:
            rows = await self.db.query(
                "SELECT * FROM chat_messages WHERE conversation_id = %s AND id < %s"
                " ORDER BY id DESC LIMIT %s", conversation_id, int(before), int(limit))
        return [self.decode(r) for r in rows[::-1]]

    async def add(self, conversation_id, role, content, **values):
        """Store a message and bump its conversation; returns the stored row."""
        return await self.db.run(self._add, conversation_id, role, content, values)

    def _add(self, conn, conversation_id, role, content, values):
        with conn.transaction():
            data = dict(values, conversation_id=conversation_id, role=role, content=content)
            id = self._create(conn, data)
            conn.execute("UPDATE chat_conversations SET updated_at = %s WHERE id = %s",
                         utcnow(), conversation_id)
            return self._get(conn, id)

    async def start_exchange(self, conversation_id, text, model, title, history=10,
                             settings=None, regenerate=None, edit=None):
        """Store what a new answer needs in one transaction, and the row (status
        "streaming") that its answer is written into.

        - a new message `text` (with no conversation_id a conversation is created, titled
          `title`, with `settings`; given settings are stored on the conversation);
        - `regenerate`: a message id; another answer to that user message (or to the user
          message an answer with that id answers); no new user message;
        - `edit`: a user message's id; `text` is stored as its new version, answered with
          the conversation as it stood before that message.
        Returns a Row with conversation, message (the new user message, or the one answered
        again), answer, and history (the current path's last `history` messages the model
        sees, oldest first, the user message included); None when the conversation or the
        message does not exist. One trip to the database and one commit: this sits between
        the user's Enter and the first token.
        """
        return await self.db.run(self._start_exchange, conversation_id, text, model, title,
                                 history, settings or {}, regenerate, edit)

    def _start_exchange(self, conn, conversation_id, text, model, title, history, settings,
                        regenerate, edit):
        now = utcnow()
        settings = {k: v for k, v in settings.items() if k in SETTINGS}
        if settings.get("knowledge_base_ids") is not None:
            settings["knowledge_base_ids"] = json.dumps(settings["knowledge_base_ids"])
        with conn.transaction():
            target = None
            if regenerate is not None or edit is not None:
                target = self._get(conn, regenerate if regenerate is not None else edit)
                if target is None or (conversation_id is not None
                                      and target.conversation_id != conversation_id):
                    return None
                conversation_id = target.conversation_id
            if conversation_id is None:
                conversation_id = self.insert(conn, "chat_conversations", dict(
                    {"model": model}, **settings, title=title, created_at=now,
                    updated_at=now))
            else:
                values = dict(settings, updated_at=now)
                conn.execute("UPDATE chat_conversations SET %s WHERE id = %%s" % ", ".join(
                    "%s = %%s" % k for k in values), *values.values(), conversation_id)
            conversation = decode_conversation(conn.get(
                "SELECT * FROM chat_conversations WHERE id = %s", conversation_id))
            if conversation is None:
                return None
            model = model or conversation.model
            if regenerate is not None:
                message = self._answered(conn, target)
                if message is None:
                    return None
                cutoff = message.id
            elif edit is not None:
                message = self._get(conn, self._create(conn, {
                    "conversation_id": conversation_id, "role": "user", "content": text,
                    "model": model, "edit_of": target.edit_of or target.id}))
                cutoff = target.id
            else:
                message = self._get(conn, self._create(conn, {
                    "conversation_id": conversation_id, "role": "user", "content": text,
                    "model": model}))
                cutoff = message.id
            rows = self._path(conn, conversation_id, cutoff, history)
            rows.append(message)
            answer = self._get(conn, self._create(conn, {
                "conversation_id": conversation_id, "role": "assistant", "content": "",
                "model": model, "status": "streaming", "reply_to": message.id}))
        return Row(conversation=conversation, message=message, answer=answer,
                   history=rows[-history:])

    def _answered(self, conn, target):
        """The user message that `target` (a user message, or an answer) answers."""
        if target.role == "user":
            return target
        if target.reply_to is not None:
            return self._get(conn, target.reply_to)
        # An answer from before answers named their question: the user message before it.
        return conn.get("SELECT * FROM chat_messages WHERE conversation_id = %s AND id < %s"
                        " AND role = 'user' ORDER BY id DESC LIMIT 1",
                        target.conversation_id, target.id)

    def _path(self, conn, conversation_id, cutoff, history):
        # Some rows read are left out (old versions, older answers): read a few times more.
        rows = conn.query(
            "SELECT * FROM chat_messages WHERE conversation_id = %s AND id < %s"
            " ORDER BY id DESC LIMIT %s", conversation_id, cutoff, int(history) * 4 + 10)
        latest = {r.edit_of: r.id for r in conn.query(
            "SELECT edit_of, MAX(id) AS id FROM chat_messages WHERE conversation_id = %s"
            " AND edit_of IS NOT NULL GROUP BY edit_of", conversation_id)}
        return current_path(rows[::-1], latest)

    async def finish(self, id, values):
        """Write an answer once, when it ends (never per streamed chunk); the stored row."""
        return await self.update(id, values)

    async def interrupt_unfinished(self):
        """Answers left 'streaming' by a process that stopped abruptly: mark them incomplete.

        Run once at start-up, before any answer of this process begins.
        """
        return await self.db.execute_rowcount(
            "UPDATE chat_messages SET status = %s, error = %s WHERE status = %s",
            "incomplete", "The server stopped while this answer was being written.",
            "streaming")


def decode_conversation(row):
    if row is not None:
        ids = row.get("knowledge_base_ids")
        row["knowledge_base_ids"] = json.loads(ids) if isinstance(ids, str) else (ids or [])
    return row


def current_path(rows, latest_version):
    """The conversation as the model sees it, from `rows` (oldest first). A user message with
    a newer version (`latest_version` maps a first version's id to its newest version's id)
    is left out with its answers; each user message is followed by its latest answer only.
    Answers from before answers named their question keep their place."""
    latest_answer = {}
    for row in rows:
        if row.role == "assistant" and row.reply_to is not None:
            latest_answer[row.reply_to] = row
    path = []
    for row in rows:
        if row.role == "user":
            if latest_version.get(row.edit_of or row.id, row.id) != row.id:
                continue
            path.append(row)
            if row.id in latest_answer:
                path.append(latest_answer[row.id])
        elif row.reply_to is None:
            path.append(row)
    return path
