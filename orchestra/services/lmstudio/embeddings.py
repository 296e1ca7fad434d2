"""Embeddings: texts turned into vectors by the server's OpenAI-style `/v1/embeddings`.

LM Studio, llama.cpp's servers, Ollama and vLLM all answer `{"object": "list", "data":
[{"object": "embedding", "embedding": [...], "index": i}], "model", "usage"}`. OpenAI's
documentation does not promise that `data` comes in input order, so vectors are put back in
order by `index`; an answer that does not hold exactly one vector of numbers per input, all
of one length, is refused rather than stored.
"""

import asyncio
import logging
import numbers

from .errors import ModelNotFound, UpstreamError

logger = logging.getLogger(__name__)

#: texts per request: enough to keep the server busy; an answer of 64 vectors of 1,024 floats
#: is about 2 MB of JSON (LM Studio indents it), which is decoded on a worker thread
EMBED_BATCH = 64

#: what servers say when the model they run or were asked for makes no embeddings
_NOT_EMBEDDING = (
    "model is not embedding",  # LM Studio, for a language model named to /v1/embeddings
    "must be created with embedding=true",  # llama-cpp-python's server without --embedding
    "does not support embeddings",  # llama.cpp's llama-server without --embeddings
)


class EmbeddingsMixin:
    """`embed(texts, model)` for LMStudioClient (which provides `_call`, `_resolve_model` and
    `server`)."""

    async def embed(self, texts, model, batch_size=EMBED_BATCH):
        """One vector (a list of floats) per text, in the order given; all of one length.
        Raises the client's typed errors: ModelNotFound for a model the server does not have
        or that makes no embeddings, LMStudioUnavailable, UpstreamError..."""
        texts = list(texts)
        if not model:
            raise ValueError("embed needs the embedding model's id")
        if any(not isinstance(text, str) for text in texts):
            raise TypeError("embed takes strings")
        if any(not text for text in texts):
            # llama.cpp's servers fail on "" ("llama_decode returned -1"), OpenAI refuses it
            raise ValueError("embed takes non-empty strings")
        if not texts:
            return []
        model = await self._resolve_model(model)
        vectors = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            data = await self._embed_call({"model": model, "input": batch}, model)
            # checking some 65,000 numbers is CPU work too
            vectors.extend(await asyncio.get_running_loop().run_in_executor(
                None, self._vectors, data, len(batch)))
            if len(vectors[-1]) != len(vectors[0]):
                raise self._bad_answer(f"its vectors have {len(vectors[0])} and "
                                       f"{len(vectors[-1])} dimensions")
        return vectors

    async def _embed_call(self, body, model):
        try:
            return await self._call("/v1/embeddings", body, model=model, off_loop=True)
        except (ModelNotFound, UpstreamError) as error:
            if _says_not_embedding(error.server_message):
                raise self._not_embedding(model) from None
            raise

    def _not_embedding(self, model):
        return ModelNotFound(model, message=(
            f"Model '{model}' on {self.server} makes no embeddings; name an embedding model "
            "(LM Studio lists them with type \"embeddings\") or start the server with "
            "embeddings on."))

    def _vectors(self, data, count):
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise self._bad_answer("it holds no list of embeddings")
        if len(items) != count:
            raise self._bad_answer(f"it holds {len(items)} vectors for {count} texts")
        ordered = [None] * count
        for item in items:
            index = item.get("index") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or (
                    ordered[index] is not None):
                raise self._bad_answer("its vectors' indexes are not 0 to %d" % (count - 1))
            vector = item.get("embedding")
            if not isinstance(vector, list) or not vector or not all(
                    isinstance(x, numbers.Real) and not isinstance(x, bool) for x in vector):
                # llama.cpp with pooling "none" answers one vector per token: a list of lists
                raise self._bad_answer("an embedding is not one list of numbers")
            ordered[index] = vector
        if len({len(vector) for vector in ordered}) != 1:
            raise self._bad_answer("its vectors differ in length")
        return ordered

    def _bad_answer(self, problem):
        return UpstreamError(200, f"the answer to /v1/embeddings is not usable: {problem}",
                             transient=False, server=self.server)


def _says_not_embedding(message):
    message = (message or "").lower()
    return any(words in message for words in _NOT_EMBEDDING)
