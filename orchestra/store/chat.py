"""Chat conversations and their messages."""

from orchestra.db import Row, utcnow
from orchestra.store.base import TableStore


class ConversationStore(TableStore):
    table = "chat_conversations"
    columns = ("title", "model")
    order_by = "updated_at DESC, id DESC"

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


class MessageStore(TableStore):
    table = "chat_messages"
    columns = ("conversation_id", "role", "content", "model", "status", "prompt_tokens",
               "completion_tokens", "finish_reason", "error")
    has_updated_at = False

    async def history(self, conversation_id, limit=50):
        """The last `limit` messages of a conversation, oldest first."""
        rows = await self.db.query(
            "SELECT * FROM chat_messages WHERE conversation_id = %s ORDER BY id DESC LIMIT %s",
            conversation_id, int(limit))
        return rows[::-1]

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

    async def start_exchange(self, conversation_id, text, model, title, history=10):
        """Store a user's message and a placeholder for the answer in one transaction.

        With no conversation_id a conversation is created (titled `title`). Returns a Row
        with conversation, message, answer and history (the last `history` messages before
        the answer, oldest first), or None when the conversation does not exist. One trip to
        the database and one commit: this sits between the user's Enter and the first token.
        """
        return await self.db.run(self._start_exchange, conversation_id, text, model, title,
                                 history)

    def _start_exchange(self, conn, conversation_id, text, model, title, history):
        now = utcnow()
        with conn.transaction():
            if conversation_id is None:
                conversation_id = self.insert(conn, "chat_conversations", {
                    "title": title, "model": model, "created_at": now, "updated_at": now})
            else:
                conn.execute("UPDATE chat_conversations SET updated_at = %s WHERE id = %s",
                             now, conversation_id)
            conversation = conn.get("SELECT * FROM chat_conversations WHERE id = %s",
                                    conversation_id)
            if conversation is None:
                return None
            model = model or conversation.model
            message = self._get(conn, self._create(conn, {
                "conversation_id": conversation_id, "role": "user", "content": text,
                "model": model}))
            rows = conn.query(
                "SELECT * FROM chat_messages WHERE conversation_id = %s ORDER BY id DESC"
                " LIMIT %s", conversation_id, int(history))
            answer = self._get(conn, self._create(conn, {
                "conversation_id": conversation_id, "role": "assistant", "content": "",
                "model": model, "status": "streaming"}))
        return Row(conversation=conversation, message=message, answer=answer,
                   history=rows[::-1])

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
