"""ChatService: stores a user's message, streams the model's answer and stores it once, at the end.

Events go out through the hub so that every page showing the conversation sees them:
  "chat:message"   (message_row, origin)  - a stored user message; the row of a
      regenerated answer while it is written (status "streaming"); a finished answer
  "chat:streaming" (conversation_id, message_id, chunk, done, origin)
      Chunks that arrive from LM Studio together (in one network read) go out as one event;
      at a model's pace that is one event per token.
  "chat:failed"    (conversation_id, message_id, error, origin)  - the answer failed upstream
`origin` is whatever the caller passed with the request (the web layer uses it to answer the
requesting frame); the service never looks inside it.

A conversation that names knowledge bases has each question searched in them first: the hits
that fit the model's context join the system message as numbered sources (see
knowledge/prompting.py), and the finished answer is stored with the citations it makes.

"Read the page" (read_page) fetches a page a user message links to through the web service
and writes a new answer to that message, as regenerate does, with the page's passages as its
numbered sources instead (see chat_pages.py); its citations name the page.
"""

import asyncio
import logging

from orchestra.services import chat_pages
from orchestra.services.chat_errors import ChatError
from orchestra.services.chat_pages import PageReader
from orchestra.services.knowledge import prompting
from orchestra.services.lmstudio import LMStudioError

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 10
TITLE_LENGTH = 60
# Retrieval budget: what the model's context holds, less the prompt and room for the answer.
ASSUMED_CONTEXT = 4096      # when the server does not say (OpenAI-only servers)
ANSWER_RESERVE = 1024       # tokens kept for the answer when the conversation sets no maximum
MIN_SOURCE_TOKENS = 256     # even a full window gets one passage (retrieve truncates it)
MAX_SOURCE_TOKENS = 8000    # more sources than this slows the first token and helps no one


class Generation:
    """One answer being written: who asked, what has arrived, and how it should end."""

    def __init__(self, conversation_id, message_id, owner, origin):
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.owner = owner
        self.origin = origin
        self.stream = None
        self.task = None
        self.stop_reason = None
        self.started = False
        self.finishing = False
        self.pending = []  # chunks received and not yet published
        self.hits = None   # the passages the model was shown, when the conversation has bases
        self.page = None   # the web page it answers from (read_page), in the web API's shape


class ChatService(PageReader):
    def __init__(self, stores, lmstudio, hub, history_messages=HISTORY_MESSAGES,
                 knowledge=None, web=None):
        self.stores = stores
        self.lmstudio = lmstudio
        self.hub = hub
        self.knowledge = knowledge  # KnowledgeService: retrieval for conversations with bases
        self.web = web              # WebService: pages read for a message (read_page)
        self.history_messages = history_messages
        self.running = {}  # conversation id -> Generation
        self.reading = {}  # conversation id -> (owner, task): a page being fetched for it
        self.closing = False
        self._recovery = None

    async def recover(self):
        """Mark answers a previous run left unfinished (it was killed) as incomplete."""
        count = await self.stores.messages.interrupt_unfinished()
        if count:
            logger.info("marked %d unfinished answers from the previous run incomplete", count)

    async def recovered(self):
        """Run recover() once, at start; every new answer waits for it, so that it never
        marks an answer of this process as left over from the previous one."""
        if self._recovery is None:
            self._recovery = asyncio.ensure_future(self.recover())
        await asyncio.shield(self._recovery)

    async def conversation(self, conversation_id):
        row = await self.stores.conversations.get(conversation_id)
        if row is None:
            raise ChatError("not_found", "No conversation with id %s." % conversation_id)
        return row

    async def history(self, conversation_id, limit=50, before=None):
        await self.conversation(conversation_id)
        return await self.stores.messages.history(conversation_id, limit, before)

    async def save_settings(self, conversation_id, settings):
        """Store a conversation's settings (system prompt, temperature, max tokens, model,
        knowledge bases)."""
        await self._check_bases(settings)
        row = await self.stores.conversations.save_settings(conversation_id, settings)
        if row is None:
            raise ChatError("not_found", "No conversation with id %s." % conversation_id)
        return row

    async def send(self, text, conversation_id=None, model=None, owner=None, origin=None,
                   settings=None):
        """Store the user's message, start the answer; returns the stored user message.

        `settings` (system prompt, temperature, max tokens, model, knowledge bases) are
        stored on the conversation first. Checks come first so that a refused request changes
        nothing.
        """
        self._check_free(conversation_id)
        await self._check_bases(settings)
        return await self._start(
            "No conversation with id %s." % conversation_id, "message", owner, origin,
            conversation_id, text, model, title_for(text), settings=settings)

    async def regenerate(self, message_id, model=None, owner=None, origin=None):
        """Another answer to the user message that answer `message_id` answers (or to user
        message `message_id`); the old answers stay. Returns the new answer's row."""
        target = await self._message(message_id)
        self._check_free(target.conversation_id)
        return await self._start(
            "Message %s answers no message of yours." % message_id, "answer", owner, origin,
            None, None, model, None, regenerate=message_id)

    async def edit(self, message_id, text, model=None, owner=None, origin=None):
        """Send `text` as a new version of user message `message_id`, answered with the
        conversation as it stood before that message; the old version stays. Returns the new
        user message."""
        target = await self._message(message_id)
        if target.role != "user":
            raise ChatError("not_editable", "Only your own messages can be edited; message "
                                            "%s is an answer (regenerate it instead)." % message_id)
        self._check_free(target.conversation_id)
        return await self._start("No message with id %s." % message_id, "message", owner,
                                 origin, None, text, model, None, edit=message_id)

    async def _start(self, not_found, shown, owner, origin, conversation_id, text, model,
                     title, page=None, **exchange_args):
        """Store the exchange (see MessageStore.start_exchange) and start its answer (from
        `page`, when given); the exchange's `shown` row ("message" or "answer") is published
        and returned."""
        await self.recovered()  # before this process's first answer row exists
        exchange = await self.stores.messages.start_exchange(
            conversation_id, text, model, title, self.history_messages, **exchange_args)
        if exchange is None:
            raise ChatError("not_found", not_found)
        await self._begin(exchange, owner, origin, page)
        row = getattr(exchange, shown)
        self.hub.publish("chat:message", row, origin=origin)
        return row

    async def _message(self, message_id):
        row = await self.stores.messages.get(message_id)
        if row is None:
            raise ChatError("not_found", "No message with id %s." % message_id)
        return row

    async def _check_bases(self, settings):
        ids = (settings or {}).get("knowledge_base_ids") or []
        missing = await self.stores.conversations.missing_knowledge_bases(ids)
        if missing:
            message = "No knowledge base with id %s." % ", ".join(str(i) for i in missing)
            raise ChatError("invalid_fields", message, fields={"knowledgeBaseIds": [message]})

    def _check_free(self, conversation_id):
        if self.closing:
            raise ChatError("shutting_down", "The server is shutting down; try again shortly.")
        if conversation_id is not None and conversation_id in self.running:
            raise ChatError("busy", "An answer is still being written in this "
                                    "conversation; wait for it or stop it first.")
        if conversation_id is not None and conversation_id in self.reading:
            raise ChatError("busy", "A web page is being read for this conversation; its "
                                    "answer follows.")

    async def _begin(self, exchange, owner, origin, page=None):
        answer = exchange.answer
        conversation_id = answer.conversation_id
        if conversation_id in self.running:  # two requests raced for one conversation
            await self.stores.messages.finish(answer.id, {
                "status": "incomplete", "error": "Another answer was being written."})
            raise ChatError("busy", "An answer is still being written in this conversation.")
        generation = Generation(conversation_id, answer.id, owner, origin)
        generation.page = page
        self.running[conversation_id] = generation
        generation.task = asyncio.ensure_future(
            self._answer(generation, answer.model, exchange.history, exchange.conversation))

    async def stop(self, conversation_id, reason="stopped"):
        """Stop the answer being written; True when there was one. It is stored as incomplete."""
        generation = self.running.get(conversation_id)
        if generation is None:
            return False
        self._cancel(generation, reason)
        await asyncio.shield(generation.task)
        return True

    def stop_owned_by(self, owner, reason="disconnected"):
        """The client that asked went away: end its answers (they are stored as incomplete)."""
        for generation in list(self.running.values()):
            if generation.owner == owner:
                self._cancel(generation, reason)
        for reader, task in list(self.reading.values()):
            if reader == owner:
                task.cancel()

    async def shutdown(self):
        """Stop every answer and wait until each is stored as incomplete."""
        self.closing = True
        reads = [task for _, task in self.reading.values()]
        for task in reads:
            task.cancel()
        if reads:
            await asyncio.gather(*reads, return_exceptions=True)
        generations = list(self.running.values())
        for generation in generations:
            self._cancel(generation, "shutdown")
        if generations:
            await asyncio.gather(*(g.task for g in generations), return_exceptions=True)

    def _cancel(self, generation, reason):
        # Once the answer is being stored, let the write finish rather than cut it short. A
        # task cancelled before its first step would never run its cleanup: flag it instead.
        if generation.stop_reason is None and not generation.finishing:
            generation.stop_reason = reason
            if generation.started:
                generation.task.cancel()

    async def prompt(self, history, system_prompt=None):
        """Active instructions and the conversation's system prompt as one system message,
        then `history` (the last messages, oldest first) without answers that are unfinished
        or failed before any text."""
        messages = []
        instructions = await self.stores.instructions.active()
        parts = [i.content.strip() for i in instructions] + [(system_prompt or "").strip()]
        system = "\n\n".join(part for part in parts if part)
        if system:
            messages.append({"role": "system", "content": system})
        messages.extend({"role": row.role, "content": row.content} for row in history
                        if row.content and row.status != "streaming")
        return messages

    async def _answer(self, generation, model, history, conversation=None):
        generation.started = True
        error = None
        stream = None
        conversation = conversation or {}
        try:
            if generation.stop_reason is not None:
                raise asyncio.CancelledError()
            messages = await self.prompt(history, conversation.get("system_prompt"))
            if generation.page is not None:
                generation.hits = await self._page_passages(generation.page, model, history,
                                                            messages, conversation)
                messages = with_sources(messages, chat_pages.sources_message(
                    generation.page, generation.hits, chat_pages.last_question(history)))
            elif conversation.get("knowledge_base_ids"):
                generation.hits = await self._retrieve(conversation, model, history, messages)
                messages = with_sources(messages, prompting.sources_message(generation.hits))
            # None leaves the server's default; the client drops parameters that are None.
            stream = generation.stream = self.lmstudio.stream_completion(
                messages, model=model, temperature=conversation.get("temperature"),
                max_tokens=conversation.get("max_tokens"))
            loop = asyncio.get_running_loop()
            async for chunk in stream:
                # Publish once the loop is free: chunks parsed from one read go out together.
                if not generation.pending:
                    loop.call_soon(self._publish_pending, generation)
                generation.pending.append(chunk)
        except asyncio.CancelledError:
            generation.stop_reason = generation.stop_reason or "stopped"
        except ChatError as e:  # the knowledge search failed; logged where it did
            error = e
        except LMStudioError as e:
            # Expected (the model server is down, refused or broke off): one line, no traceback.
            logger.warning("the answer in conversation %s failed: %s",
                           generation.conversation_id, e.message)
            error = e
        except Exception as e:  # noqa: BLE001 - the answer must still be stored
            logger.exception("chat answer failed")
            error = e
        finally:
            generation.finishing = True
            if stream is not None:
                await stream.aclose()
        await self._finish(generation, stream, model, error)

    async def _retrieve(self, conversation, model, history, messages):
        """The passages of the conversation's knowledge bases for its latest question, as many
        as fit beside the prompt and the answer; ChatError when the search fails."""
        if self.knowledge is None:
            raise ChatError("knowledge_unavailable", "This server has no knowledge search; "
                            "remove the knowledge bases from the conversation.")
        question = chat_pages.last_question(history)
        budget = await self._source_budget(model, messages, conversation.get("max_tokens"))
        try:
            return await self.knowledge.retrieve(conversation["knowledge_base_ids"], question,
                                                 budget)
        except Exception as e:  # noqa: BLE001 - the database or the index failed
            logger.warning("knowledge search for conversation %s failed: %s",
                           conversation["id"], e)
            raise ChatError("knowledge_unavailable", "Searching the knowledge bases failed (%s);"
                            " the question is kept, try again." % e, retryable=True) from e

    async def _source_budget(self, model, messages, max_tokens):
        context = None
        try:
            model = model or await self.lmstudio.default_model()
            models = await self.lmstudio.list_models()
            entry = next((m for m in models if m["id"] == model), None)
            context = (entry or {}).get("max_context_length")
        except LMStudioError:
            pass    # the answer's own call says what is wrong with the server
        context = context or ASSUMED_CONTEXT
        used = sum(self.lmstudio.estimate_tokens(m["content"]) + 4 for m in messages)
        used += self.lmstudio.estimate_tokens(prompting.CITE_INSTRUCTIONS) + 100
        reserve = min(max_tokens or ANSWER_RESERVE, context // 2)
        return max(MIN_SOURCE_TOKENS, min(MAX_SOURCE_TOKENS, context - used - reserve))

    def _publish_pending(self, generation):
        if generation.pending:
            chunk = "".join(generation.pending)
            generation.pending.clear()
            self.hub.publish("chat:streaming", generation.conversation_id,
                             generation.message_id, chunk, False, origin=generation.origin)

    async def _finish(self, generation, stream, model, error):
        self._publish_pending(generation)
        complete = error is None and generation.stop_reason is None
        usage = (stream.usage if stream is not None else None) or {}
        text = stream.text if stream is not None else ""
        values = {
            "content": text,
            "status": "complete" if complete else "incomplete",
            "model": (stream.model if stream is not None else None) or model,
            "finish_reason": (stream.finish_reason if stream is not None and complete
                              else generation.stop_reason),
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "error": getattr(error, "message", None) or (str(error) if error else None),
            "citations": _citations(generation, text),
        }
        try:
            row = await self.stores.messages.finish(generation.message_id, values)
        except Exception:
            logger.exception("could not store the answer to conversation %s",
                             generation.conversation_id)
            row = None
        finally:
            self.running.pop(generation.conversation_id, None)
        origin = generation.origin
        if error is not None:
            self.hub.publish("chat:failed", generation.conversation_id, generation.message_id,
                             error, origin=origin)
        self.hub.publish("chat:streaming", generation.conversation_id, generation.message_id,
                         "", True, origin=origin)
        if row is not None:
            self.hub.publish("chat:message", row, origin=origin)


def _citations(generation, text):
    if generation.hits is None:
        return None
    if generation.page is not None:
        return chat_pages.citations(text, generation.hits, generation.page)
    return prompting.citations(text, generation.hits)


def with_sources(messages, sources):
    """`messages` with `sources` (retrieved passages and how to cite them) at the end of the
    system message; one is added when there is none."""
    if messages and messages[0]["role"] == "system":
        first = dict(messages[0], content=messages[0]["content"] + "\n\n" + sources)
        return [first] + messages[1:]
    return [{"role": "system", "content": sources}] + messages


def title_for(text):
    """A conversation's first title: the start of its first message, on one line."""
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[:TITLE_LENGTH - 1].rstrip() + "\u2026"
