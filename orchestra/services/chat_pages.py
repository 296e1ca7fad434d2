"""A web page read for a chat message ("Read the page"): the addresses a message contains,
the page's passages that best fit the question as numbered sources, the citations an answer
makes of them, and ChatService's part that fetches the page (PageReader).

The page's Markdown is cut with the knowledge chunker; the passages are ranked by BM25 on the
question's words (as the knowledge bases' full-text search ranks chunks) and kept while they
fit the prompt's budget, numbered [1], [2]... best first, as knowledge-base passages are. A
message that is only an address (or asks nothing the page's words match) gets the page from
its top, in page order. The functions are pure; PageReader runs `passages` on a worker thread.
"""

import asyncio
import logging
import math
import re

from orchestra.services.chat_errors import ChatError
from orchestra.services.knowledge import prompting
from orchestra.services.knowledge.chunking import chunk_text
from orchestra.services.knowledge.service import query_terms
from orchestra.services.lmstudio.text import estimate_tokens, truncate_to_context
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

# An http(s) address as people paste it; see clean_url for what is cut off its end.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.I)
_TRAILING = ".,;:!?'\"*_"
_PAIRS = {")": "(", "]": "[", "}": "{"}
_WORD = re.compile(r"[^\W_]+")
PAGE_MAX_AGE = 3600     # seconds: a page read within the hour is not fetched again
# BM25's usual constants (Robertson; SQLite FTS5 uses the same).
K1 = 1.2
B = 0.75

PAGE_INSTRUCTIONS = (
    "Answer the user's message from the numbered passages below, taken from the web page "
    "they linked. Cite the passage of each statement by its number in square brackets right "
    "after the statement, like [1], or [1][3] when several support it. Use only what the "
    "passages say; do not cite a number that is not listed. If the passages do not contain "
    "the answer, say that the page does not say rather than answering from memory."
)
SUMMARY_INSTRUCTIONS = ("The message is only the page's address: say in a few sentences what "
                        "the page says.")
EMPTY_PAGE = ("The user asked to read a web page, but no readable text could be taken from it. "
              "Say so; do not guess what the page says.")


def clean_url(url):
    """`url` without the punctuation that ends the sentence around it ("see http://x.org/a."
    -> http://x.org/a), and without a closing bracket it did not open ("(http://x.org/a)")."""
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _PAIRS and url.count(last) > url.count(_PAIRS[last]):
            url = url[:-1]
        else:
            break
    return url


def urls_in(text):
    """The http(s) addresses of a message, in order of appearance, each once (static/js/
    chat_page.js finds the same ones for its buttons)."""
    found = []
    for match in _URL.finditer(text or ""):
        url = clean_url(match.group(0))
        if len(url) > len("https://") and url not in found:
            found.append(url)
    return found


def last_question(history):
    """The latest user message of a prompt's history (rows, oldest first)."""
    return next((row.content for row in reversed(history) if row.role == "user"), "")


def question_of(text):
    """The message without its addresses: what the user asks about the page."""
    return " ".join(_URL.sub(" ", text or "").split())


def passages(markdown, title, question, max_tokens):
    """The page's chunks that best fit `question` within `max_tokens`, best first, as
    hits: {"text", "heading_path", "tokens", "source_title", "start", "end"}. The best one is
    kept even when alone it is too long (its text cut to fit)."""
    chunks = chunk_text(markdown or "", "markdown")
    if not chunks or max_tokens <= 0:
        return []
    scores = bm25([c.text + " " + " ".join(c.heading_path) for c in chunks],
                  query_terms(question))
    # Best first; equal scores (no word of the question matched) keep page order.
    ranked = sorted(range(len(chunks)), key=lambda i: (-scores[i], i))
    kept, used = [], 0
    for i in ranked:
        chunk = chunks[i]
        if used + chunk.tokens > max_tokens:
            if not kept:
                text = truncate_to_context(chunk.text, max_tokens)
                kept.append((i, text, estimate_tokens(text)))
            break
        kept.append((i, chunk.text, chunk.tokens))
        used += chunk.tokens
    return [{"text": text, "tokens": tokens, "heading_path": list(chunks[i].heading_path),
             "source_title": title or "", "start": chunks[i].start, "end": chunks[i].end}
            for i, text, tokens in kept]


def bm25(documents, terms):
    """Each document's BM25 score for `terms` (lower-case words); all 0.0 without terms."""
    if not terms:
        return [0.0] * len(documents)
    words = [_WORD.findall(d.lower()) for d in documents]
    average = sum(len(w) for w in words) / len(words) or 1.0
    counts = [{} for _ in words]
    for count, doc in zip(counts, words):
        for word in doc:
            count[word] = count.get(word, 0) + 1
    scores = [0.0] * len(documents)
    for term in terms:
        having = sum(1 for count in counts if term in count)
        if not having:
            continue
        idf = math.log(1 + (len(documents) - having + 0.5) / (having + 0.5))
        for n, (count, doc) in enumerate(zip(counts, words)):
            f = count.get(term, 0)
            if f:
                scores[n] += idf * f * (K1 + 1) / (f + K1 * (1 - B + B * len(doc) / average))
    return scores


def sources_message(page, hits, message=""):
    """What joins the system message: the instructions and the page's passages (`message`,
    the user's, says whether there is a question beside the address)."""
    if not hits:
        return EMPTY_PAGE
    where = page.get("finalUrl") or page.get("url")
    title = page.get("title") or where
    instructions = PAGE_INSTRUCTIONS if question_of(message) else (
        PAGE_INSTRUCTIONS + " " + SUMMARY_INSTRUCTIONS)
    return (instructions + "\n\nThe page: %s (%s)\n\nPassages:\n\n" % (title, where)
            + prompting.numbered_sources(hits))


def headings_of(hit):
    """The headings a passage sits under, less the page's title heading (the title is shown
    beside them already), as the prompt shows them."""
    headings = list(hit["heading_path"])
    if headings and headings[0].strip().lower() == (hit["source_title"] or "").strip().lower():
        headings = headings[1:]
    return headings


def citations(answer, hits, page):
    """[{"n", "url", "title", "quote", "fetchId", "headingPath"}] for each passage number the
    answer cites, in order of first mention; `quote` is the passage's sentence that best
    matches the sentences citing it."""
    sentences = prompting.sentences_of(answer)
    found = []
    for n in prompting.marker_numbers(answer):
        if not 1 <= n <= len(hits):
            continue    # a number the model made up names nothing
        hit = hits[n - 1]
        citing = " ".join(s for s in sentences if n in prompting.marker_numbers(s))
        found.append({
            "n": n,
            "url": page.get("finalUrl") or page.get("url"),
            "title": page.get("title") or "",
            "quote": prompting.quote(hit["text"], citing),
            "fetchId": page.get("id"),
            "headingPath": headings_of(hit),
        })
    return found


class PageReader:
    """ChatService's "Read the page": the checks, the fetch in the background, and the
    passages of the answer's prompt. Uses ChatService's stores, hub, web service, `reading`
    (conversation id -> (owner, task)) and its _start, _message, _check_free,
    _source_budget."""

    async def read_page(self, message_id, url=None, model=None, owner=None, origin=None,
                        on_page=None):
        """Read the web page that user message `message_id` links to (`url`: one of its
        addresses, the first by default) and write a new answer to that message from it.

        Refusals come first and change nothing. The fetch (through the web service, a page
        read within PAGE_MAX_AGE reused) runs in the background, as a browser render can
        take half a minute: `on_page(message, page)` is called when it is done, then the
        answer is written and published as regenerate's is. A page that cannot be read
        publishes "chat:failed" for the user message with the WebError's code, and nothing
        is stored in the conversation. Returns the user message."""
        message = await self._message(message_id)
        if message.role != "user":
            raise ChatError("invalid_fields", "Message %s is an answer; read the page from the "
                            "message that links to it." % message_id,
                            fields={"messageId": ["Not a message of yours."]})
        urls = urls_in(message.content)
        if not urls:
            raise ChatError("no_url", "Message %s contains no web address to read." % message_id)
        if url is not None and url not in urls:
            raise ChatError("invalid_fields", "%s is not an address in message %s."
                            % (url, message_id), fields={"url": ["Not in the message."]})
        if self.web is None:
            raise ChatError("web_unavailable", "This server has no web service to read pages.")
        self._check_free(message.conversation_id)
        task = asyncio.ensure_future(
            self._read(message, url or urls[0], model, owner, origin, on_page))
        self.reading[message.conversation_id] = (owner, task)
        return message

    async def _read(self, message, url, model, owner, origin, on_page):
        conversation_id = message.conversation_id
        try:
            try:
                page = await self.web.fetch(url, render="auto", max_age_seconds=PAGE_MAX_AGE)
            except WebError as e:
                raise ChatError(e.code, e.message) from e
            if on_page is not None:
                on_page(message, page)
            self.reading.pop(conversation_id, None)
            await self._start("No message with id %s." % message.id, "answer", owner, origin,
                              None, None, model, None, page=page, regenerate=message.id)
        except asyncio.CancelledError:
            pass    # stopped, or the asker left: nothing was stored
        except Exception as e:  # noqa: BLE001 - the asker must hear of it
            if not isinstance(e, ChatError):
                logger.exception("reading %s for message %s failed", url, message.id)
                e = ChatError("internal_error", "Reading the page failed; the details are in "
                              "the server's log.")
            self.hub.publish("chat:failed", conversation_id, message.id, e, origin=origin)
        finally:
            if self.reading.get(conversation_id, (None, None))[1] is asyncio.current_task():
                del self.reading[conversation_id]

    async def _page_passages(self, page, model, history, messages, conversation):
        """The page's passages that best fit the question and the budget (chunked and ranked
        on a worker thread: a page can be megabytes)."""
        budget = await self._source_budget(model, messages, conversation.get("max_tokens"))
        return await asyncio.get_running_loop().run_in_executor(
            None, passages, page.get("markdown") or "", page.get("title"),
            question_of(last_question(history)), budget)

