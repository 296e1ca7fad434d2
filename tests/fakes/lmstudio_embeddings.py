"""The fake LM Studio's `/v1/embeddings`: LM Studio's wire format and errors, and a small
deterministic embedding model.

The model hashes each word's stem into one of `dims` dimensions (with a hashed sign), counts,
and L2-normalises, so texts that share words are close. Words of one synonym group share a
dimension, which gives tests a paraphrase ("automobile" for "car") that full-text search
misses and vector search finds.
"""

import hashlib
import math
import re

from tests.fakes.lmstudio_handlers import NO_MODELS, FakeHandler

DIMS = 256

#: groups of words the fake model treats as one meaning; tests may add their own
SYNONYMS = (
    ("car", "automobile", "vehicle", "motorcar"),
    ("doctor", "physician", "medic"),
    ("buy", "purchase", "acquire"),
    ("big", "large", "huge", "enormous"),
    ("fast", "quick", "rapid", "speedy"),
    ("begin", "start", "commence"),
    ("house", "home", "dwelling", "residence"),
    ("error", "fault", "failure", "mistake"),
)

STOPWORDS = frozenset("""a an and are as at be but by for from has have if in into is it its
of on or so than that the their them then there these they this to was were what when where
which who will with""".split())

_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def stem(word):
    """A crude stemmer: enough to make "engines", "engine" and "engined" one word."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[:-len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def meanings(synonyms):
    """stem -> the stem that names its synonym group."""
    table = {}
    for group in synonyms:
        head = stem(group[0])
        for word in group:
            table[stem(word)] = head
    return table


def _slot(term, dims):
    digest = hashlib.blake2b(term.encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return number % dims, (1.0 if number >> 63 else -1.0)


def embedding(text, dims=DIMS, synonyms=SYNONYMS):
    """The fake model's unit vector for `text` (a list of `dims` floats)."""
    table = meanings(synonyms)
    vector = [0.0] * dims
    for word in _WORD.findall(text.lower()):
        if word in STOPWORDS:
            continue
        term = stem(word)
        index, sign = _slot(table.get(term, term), dims)
        vector[index] += sign
    norm = math.sqrt(sum(x * x for x in vector))
    if not norm:
        vector[-1] = 1.0  # a text without words still gets a unit vector, as real models give
        return vector
    return [x / norm for x in vector]


class EmbeddingsHandler(FakeHandler):
    """POST /v1/embeddings as LM Studio answers it."""

    async def post(self):
        body = self.body or {}
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(
                isinstance(text, str) for text in inputs):
            # LM Studio's words (lmstudio-bug-tracker#692, for token arrays)
            self.set_status(400)
            return self.send_json({"error": "'input' field must be a string or an array of "
                                            "strings"})
        model, failure = self.embedding_model(body.get("model"))
        if failure is not None:
            self.set_status(failure[0])
            return self.send_json({"error": failure[1]})
        path = self.request.path
        slow = self.fake.take_fault(path, ("slow",))
        if slow and await self.pause(slow["seconds"]):
            return self.record_cancel()
        if self.fake.take_fault(path, ("disconnect",)):
            return self.hang_up()
        dims, synonyms = self.fake.embedding_dims, self.fake.synonyms
        payload = {
            "object": "list",
            "data": [{"object": "embedding", "embedding": embedding(text, dims, synonyms),
                      "index": index} for index, text in enumerate(inputs)],
            "model": model,
            # LM Studio counts no tokens here (cheshire-cat-ai/core#1014 shows its answer)
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }
        if self.fake.embedding_answer is not None:
            payload = self.fake.embedding_answer(payload)
        self.send_json(payload)
        self.fake.embedded += len(inputs)

    def record_cancel(self):
        self.fake.cancelled += 1
        self._finished = True

    def embedding_model(self, requested):
        """(model id, None), or (None, (status, error)) as LM Studio refuses the request."""
        fake = self.fake
        known = fake.model(requested) if requested else None
        if requested and known is None:
            return None, (400, {"message": f'Invalid model identifier "{requested}". Please '
                                "specify a valid downloaded model.",
                                "type": "invalid_request_error", "param": "model",
                                "code": "model_not_found"})
        if known is not None and known.get("type", "llm") != "embeddings":
            # LM Studio 0.3.14 (lmstudio-ai/lms#205); embeddings have their own engine, so a
            # language model is never used for them
            return None, (404, {"message": f'Failed to load model "{requested}". Error: Model '
                                "is not embedding.", "type": "invalid_request_error",
                                "param": "model", "code": "model_not_found"})
        if known is None:
            loaded = [m["id"] for m in fake.models if m.get("type") == "embeddings"
                      and m.get("state", "loaded") == "loaded"]
            if loaded:
                return loaded[0], None
        elif known.get("state", "loaded") == "loaded":
            return requested, None
        elif fake.jit:
            fake.load(requested)  # an embedding model loads beside the language models
            return requested, None
        return None, (400, {"message": NO_MODELS, "type": "invalid_request_error",
                            "param": "model", "code": None})
