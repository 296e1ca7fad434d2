"""The Chat page; conversations are renamed and deleted through the generic /api/conversations."""

import logging

import tornado.web

from orchestra.web.base import BaseHandler

logger = logging.getLogger(__name__)

LIST_LIMIT = 200


class ChatPageHandler(BaseHandler):
    """The conversation list and, when one is named, that conversation (its messages load
    over the socket, or from the API when the socket is down)."""

    async def get(self, conversation_id=None):
        selected = None
        if conversation_id is not None:
            selected = await self.stores.conversations.get(
                self.path_id(conversation_id, "conversation"))
            if selected is None:
                raise tornado.web.HTTPError(404, "No conversation with id %s" % conversation_id)
        conversations = await self.stores.conversations.list(limit=LIST_LIMIT)
        self.render_template("chat.html", conversations=conversations, selected=selected,
                             bases_in_use=await self.bases_in_use(selected))

    async def bases_in_use(self, conversation):
        """The names of the conversation's knowledge bases, so that the page says from its
        first paint which are in use (the picker takes over once it has loaded the list)."""
        names = []
        for base_id in (conversation.knowledge_base_ids if conversation else None) or []:
            base = await self.stores.knowledge_bases.get(base_id)
            names.append(base["name"] if base is not None else "#%d (deleted)" % base_id)
        return names


routes = [
    tornado.web.url(r"/chat", ChatPageHandler, name="chat"),
    tornado.web.url(r"/chat/([0-9]+)", ChatPageHandler, name="chat-conversation"),
]
