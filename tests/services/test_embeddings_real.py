"""LMStudioClient.embed against a real server that makes embeddings.

ORCHESTRA_TEST_EMBEDDING_URL names the server and ORCHESTRA_TEST_EMBEDDING_MODEL the model,
as the server lists it (LM Studio: e.g. text-embedding-nomic-embed-text-v1.5). `.ci/run`
serves SmolLM2 with llama-cpp-python's server, embeddings on and mean pooling, and sets
ORCHESTRA_REQUIRE_EMBEDDING=1 so that these tests fail rather than skip without it. The
error case also uses ORCHESTRA_TEST_LLM_URL, a server that makes no embeddings, when set.
"""

import os

import numpy as np
import pytest

from orchestra.services.lmstudio import LMStudioClient, ModelNotFound

URL = os.environ.get("ORCHESTRA_TEST_EMBEDDING_URL")
MODEL = os.environ.get("ORCHESTRA_TEST_EMBEDDING_MODEL")
CHAT_URL = os.environ.get("ORCHESTRA_TEST_LLM_URL")

pytestmark = pytest.mark.skipif(not URL, reason="ORCHESTRA_TEST_EMBEDDING_URL is not set")


@pytest.fixture
def real_client(io_loop):
    assert MODEL, "ORCHESTRA_TEST_EMBEDDING_URL is set but ORCHESTRA_TEST_EMBEDDING_MODEL is not"
    client = LMStudioClient(URL, request_timeout=300)
    yield client
    io_loop.run_sync(client.close)


def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.gen_test(timeout=300)
async def test_real_embeddings_have_one_length_and_mean_something(real_client):
    texts = ["The cat sat on the mat.", "A cat was sitting on a mat.",
             "Quarterly revenue grew by ten percent."]
    got = await real_client.embed(texts, MODEL)
    assert len(got) == 3
    dims = len(got[0])
    assert dims >= 32 and all(len(vector) == dims for vector in got)
    assert all(isinstance(x, float) for x in got[0])
    rows = unit(got)
    assert rows[0] @ rows[1] > rows[0] @ rows[2]  # the paraphrase is nearer
    # the same text alone gives the same vector as inside a batch
    alone = unit(await real_client.embed(texts[1:2], MODEL))
    assert np.allclose(alone[0], rows[1], atol=1e-3)


@pytest.mark.gen_test(timeout=300)
async def test_real_batch_of_100_keeps_the_order(real_client):
    texts = ["Note %d: the weather in town %d is %s." % (i, i % 7, ["rain", "sun"][i % 2])
             for i in range(100)]
    got = await real_client.embed(texts, MODEL, batch_size=64)
    assert len(got) == 100 and len({len(vector) for vector in got}) == 1
    again = unit(await real_client.embed([texts[70], texts[3]], MODEL))
    rows = unit(got)
    assert np.allclose(again, rows[[70, 3]], atol=1e-3)


@pytest.mark.gen_test(timeout=300)
async def test_real_unknown_model_is_named(real_client):
    with pytest.raises(ModelNotFound, match="'no-such-embedding-model' is not available"):
        await real_client.embed(["text"], "no-such-embedding-model")


@pytest.mark.skipif(not CHAT_URL, reason="ORCHESTRA_TEST_LLM_URL is not set")
@pytest.mark.gen_test(timeout=300)
async def test_real_server_without_embeddings_says_so():
    chat = LMStudioClient(CHAT_URL, request_timeout=300)
    try:
        models = await chat.list_models()
        with pytest.raises(ModelNotFound, match="makes no embeddings"):
            await chat.embed(["text"], models[0]["id"])
    finally:
        await chat.close()
