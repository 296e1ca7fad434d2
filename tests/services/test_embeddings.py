"""Embeddings: LMStudioClient.embed against the fake LM Studio (its wire format and faults),
the packed vectors, cosine top-k and reciprocal rank fusion."""

import json
import math
import threading

import numpy as np
import pytest
import tornado.httpclient

from orchestra import cli
from orchestra import config as configlib
from orchestra.services.knowledge import vectors
from orchestra.services.lmstudio import (
    LMStudioClient,
    LMStudioTimeout,
    LMStudioUnavailable,
    ModelNotFound,
    UpstreamError,
)
from tests.fakes.lmstudio import unused_url
from tests.fakes.lmstudio_embeddings import embedding
from tests.services.lmstudio_helpers import benchmarks, client  # noqa: F401 - fixtures

MODEL = "text-embedding-nomic-embed-text-v1.5"


def embedding_requests(fake):
    return [body for path, body in fake.requests if path == "/v1/embeddings"]


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))


# -- the client --------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_embed_returns_one_unit_vector_per_text_in_order(client, fake_lmstudio):
    texts = ["The engine starts", "engines starting", "A recipe for bread"]
    got = await client.embed(texts, MODEL)
    assert got == [embedding(text) for text in texts]
    assert all(len(vector) == 256 for vector in got)
    assert math.isclose(math.sqrt(sum(x * x for x in got[0])), 1.0, rel_tol=1e-9)
    # texts that share words are close; others are not
    assert cosine(got[0], got[1]) > 0.9 > 0.2 > cosine(got[0], got[2])
    assert embedding_requests(fake_lmstudio) == [{"model": MODEL, "input": texts}]
    # the embedding model was loaded just in time, beside the language model
    assert set(fake_lmstudio.loaded_ids()) == {"qwen2.5-7b-instruct", MODEL}


@pytest.mark.gen_test
async def test_embed_refuses_what_no_server_could_embed(client, fake_lmstudio):
    with pytest.raises(ValueError, match="non-empty"):
        await client.embed(["text", ""], MODEL)
    with pytest.raises(TypeError):
        await client.embed([b"bytes"], MODEL)
    with pytest.raises(ValueError, match="model"):
        await client.embed(["text"], None)
    assert fake_lmstudio.requests == []


@pytest.mark.gen_test
async def test_embed_sends_batches_and_keeps_the_order(client, fake_lmstudio):
    texts = ["text number %d" % i for i in range(150)]
    got = await client.embed(texts, MODEL)
    assert [len(body["input"]) for body in embedding_requests(fake_lmstudio)] == [64, 64, 22]
    assert got == [embedding(text) for text in texts]
    assert await client.embed(texts[:3], MODEL, batch_size=2) == got[:3]
    assert await client.embed([], MODEL) == []


@pytest.mark.gen_test
async def test_embed_reads_the_answer_off_the_ioloop(client, fake_lmstudio, monkeypatch):
    on_main = []
    for name in ("_decode", "_vectors"):
        real = getattr(client, name)

        def spy(*args, _real=real, _name=name):
            on_main.append((_name, threading.current_thread() is threading.main_thread()))
            return _real(*args)

        monkeypatch.setattr(client, name, spy)
    await client.embed(["one", "two"], MODEL)
    assert ("_decode", False) in on_main and ("_vectors", False) in on_main
    assert ("_decode", True) in on_main  # the short list of models is read on the loop
    assert ("_vectors", True) not in on_main


@pytest.mark.gen_test
async def test_embed_puts_vectors_in_order_by_their_index(client, fake_lmstudio):
    fake_lmstudio.embedding_answer = lambda payload: dict(payload,
                                                          data=payload["data"][::-1])
    texts = ["first text", "second text", "third one"]
    assert await client.embed(texts, MODEL) == [embedding(text) for text in texts]


def spoil(change):
    def answer(payload):
        payload = json.loads(json.dumps(payload))
        change(payload)
        return payload
    return answer


@pytest.mark.parametrize("change, problem", [
    (lambda p: p["data"].pop(), "it holds 1 vectors for 2 texts"),
    (lambda p: p["data"][1].update(index=0), "indexes are not 0 to 1"),
    (lambda p: p["data"][1].update(embedding=p["data"][1]["embedding"][:-1]),
     "its vectors differ in length"),
    (lambda p: p["data"][0].update(embedding=[[0.1, 0.2], [0.3, 0.4]]),
     "an embedding is not one list of numbers"),
    (lambda p: p.pop("data"), "it holds no list of embeddings"),
])
@pytest.mark.gen_test
async def test_embed_refuses_an_answer_of_the_wrong_shape(client, fake_lmstudio, change,
                                                         problem):
    fake_lmstudio.embedding_answer = spoil(change)
    with pytest.raises(UpstreamError) as caught:
        await client.embed(["one text", "another"], MODEL)
    assert problem in caught.value.message
    assert "the answer to /v1/embeddings is not usable" in caught.value.message
    assert not caught.value.transient


@pytest.mark.gen_test
async def test_embed_refuses_batches_of_different_lengths(client, fake_lmstudio):
    answers = iter([None, 128])

    def shorter(payload):
        dims = next(answers)
        if dims:
            for item in payload["data"]:
                item["embedding"] = item["embedding"][:dims]
        return payload

    fake_lmstudio.embedding_answer = shorter
    with pytest.raises(UpstreamError, match="its vectors have 256 and 128 dimensions"):
        await client.embed(["a text", "b text", "c text"], MODEL, batch_size=2)


@pytest.mark.gen_test
async def test_embed_with_an_unknown_model(client, fake_lmstudio):
    with pytest.raises(ModelNotFound) as caught:
        await client.embed(["text"], "no-such-embedder")
    assert caught.value.message == (
        "Model 'no-such-embedder' is not available on LM Studio at %s." % fake_lmstudio.url)
    assert embedding_requests(fake_lmstudio) == []
    # a model that went away after the client listed the models: the server's own refusal
    await client.embed(["text"], MODEL)
    fake_lmstudio.models = [m for m in fake_lmstudio.models if m["id"] != MODEL]
    with pytest.raises(ModelNotFound) as caught:
        await client.embed(["text"], MODEL)
    assert "Invalid model identifier" in caught.value.server_message


@pytest.mark.gen_test
async def test_embed_with_a_language_model(client, fake_lmstudio):
    with pytest.raises(ModelNotFound) as caught:
        await client.embed(["text"], "qwen2.5-7b-instruct")
    assert caught.value.message == (
        "Model 'qwen2.5-7b-instruct' on LM Studio at %s makes no embeddings; name an "
        "embedding model (LM Studio lists them with type \"embeddings\") or start the server "
        "with embeddings on." % fake_lmstudio.url)


@pytest.mark.gen_test
async def test_embed_when_no_embedding_model_can_be_loaded(client, fake_lmstudio):
    fake_lmstudio.jit = False
    with pytest.raises(UpstreamError, match="No models loaded"):
        await client.embed(["text"], MODEL)


@pytest.mark.gen_test
async def test_embed_maps_server_errors_like_every_other_call(client, fake_lmstudio):
    fake_lmstudio.fail_next(500, "CUDA out of memory", path="/v1/embeddings")
    with pytest.raises(UpstreamError) as caught:
        await client.embed(["text"], MODEL)
    assert caught.value.message == ("LM Studio at %s answered with an error (HTTP 500): CUDA "
                                    "out of memory." % fake_lmstudio.url)
    assert caught.value.transient
    fake_lmstudio.fail_next(200, "Unexpected endpoint or method. (POST /v1/embeddings)")
    with pytest.raises(UpstreamError, match="Unexpected endpoint"):
        await client.embed(["text"], MODEL)


@pytest.mark.gen_test
async def test_embed_fails_on_the_batch_that_fails(client, fake_lmstudio):
    texts = ["text %d" % i for i in range(5)]
    await client.embed(texts[:1], MODEL)
    fake_lmstudio.requests.clear()

    def fail_third(payload):
        if len(embedding_requests(fake_lmstudio)) == 2:
            fake_lmstudio.fail_next(500, "boom", path="/v1/embeddings")
        return payload

    fake_lmstudio.embedding_answer = fail_third
    with pytest.raises(UpstreamError, match="boom"):
        await client.embed(texts, MODEL, batch_size=2)
    assert [len(body["input"]) for body in embedding_requests(fake_lmstudio)] == [2, 2, 1]


@pytest.mark.gen_test
async def test_embed_when_the_server_is_down_or_slow(fake_lmstudio):
    down = LMStudioClient(unused_url())
    with pytest.raises(LMStudioUnavailable, match="is not reachable"):
        await down.embed(["text"], MODEL)
    await down.close()
    slow = LMStudioClient(fake_lmstudio.url, request_timeout=0.2)
    await slow.list_models()
    fake_lmstudio.slow_first_token(5, path="/v1/embeddings")
    with pytest.raises(LMStudioTimeout):
        await slow.embed(["text"], MODEL)
    fake_lmstudio.disconnect_mid_stream(path="/v1/embeddings")
    with pytest.raises(LMStudioUnavailable):
        await slow.embed(["text"], MODEL)
    await slow.close()


@pytest.mark.gen_test
async def test_the_fake_speaks_lm_studios_wire_format(fake_lmstudio):
    http_client = tornado.httpclient.AsyncHTTPClient()

    async def post(body):
        response = await http_client.fetch(fake_lmstudio.url + "/v1/embeddings", method="POST",
                                           body=json.dumps(body), raise_error=False)
        return response.code, json.loads(response.body)

    code, answer = await post({"model": MODEL, "input": "one text"})
    assert code == 200
    assert answer == {"object": "list", "data": [{"object": "embedding", "index": 0,
                                                  "embedding": embedding("one text")}],
                      "model": MODEL, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    # no model named: the loaded embedding model answers
    code, answer = await post({"input": ["a", "b"]})
    assert code == 200 and answer["model"] == MODEL and len(answer["data"]) == 2
    assert await post({"model": MODEL, "input": [[2485, 1129]]}) == (400, {
        "error": "'input' field must be a string or an array of strings"})
    assert await post({"model": "nope", "input": "x"}) == (400, {"error": {
        "message": 'Invalid model identifier "nope". Please specify a valid downloaded model.',
        "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})
    code, answer = await post({"model": "qwen2.5-7b-instruct", "input": "x"})
    assert code == 404 and answer["error"]["message"] == (
        'Failed to load model "qwen2.5-7b-instruct". Error: Model is not embedding.')


# -- configuration ---------------------------------------------------------------------------


def test_the_embedding_model_is_a_setting(tmp_path):
    env = {"ORCHESTRA_DATA_DIR": str(tmp_path), "ORCHESTRA_EMBEDDING_MODEL": MODEL}
    assert configlib.load({}, environ={"ORCHESTRA_DATA_DIR": str(tmp_path)}).embedding_model \
        is None
    assert configlib.load({}, environ=env).embedding_model == MODEL
    args = cli.build_parser().parse_args(["serve", "--embedding-model", "other-embedder"])
    flags = {name: getattr(args, name, None) for name in configlib.SETTINGS}
    assert configlib.load(flags, environ=env).embedding_model == "other-embedder"
    with pytest.raises(configlib.ConfigError, match="embedding model is blank"):
        configlib.load({"embedding_model": " "}, environ=env)
    assert "--embedding-model" in cli.build_parser().format_help()
    assert "ORCHESTRA_EMBEDDING_MODEL" in cli.build_parser().format_help()


# -- vectors --------------------------------------------------------------------------------


def test_pack_is_little_endian_float32_and_unpacks_to_the_same_numbers():
    blob = vectors.pack([1.0, -2.5, 0.1])
    assert len(blob) == 12
    assert blob[:4] == b"\x00\x00\x80\x3f"  # 1.0f, least significant byte first
    assert vectors.unpack(blob).tolist() == [1.0, -2.5, np.float32(0.1).item()]
    assert vectors.unpack(vectors.pack(np.array([3, 4]))).dtype == np.dtype("<f4")


def matrix(rows, first_id=1):
    records = [(first_id + i, len(row), vectors.pack(row)) for i, row in enumerate(rows)]
    return vectors.build_matrix(records)


def test_top_k_ranks_by_cosine_over_several_bases():
    one = matrix([[1, 0, 0], [0, 1, 0], [1, 1, 0]])                    # ids 1, 2, 3
    two = matrix([[0, 0, 5], [2, 0.1, 0], [-1, 0, 0]], first_id=10)   # ids 10, 11, 12
    got = vectors.top_k([one, two], [3, 0, 0], 4)
    assert [chunk_id for chunk_id, _ in got] == [1, 11, 3, 2]
    assert got[0][1] == pytest.approx(1.0)
    assert got[2][1] == pytest.approx(1 / math.sqrt(2))
    everything = vectors.top_k([one, two], [1, 0, 0], 50)
    assert len(everything) == 6 and everything[-1] == (12, pytest.approx(-1.0))
    assert vectors.top_k([one, two], [1, 0, 0], 0) == []
    assert vectors.top_k([], [1, 0, 0], 5) == []


def test_top_k_breaks_ties_by_chunk_id_and_skips_what_it_cannot_compare():
    same = matrix([[1, 0], [1, 0], [2, 0], [0, 1]], first_id=7)
    assert [i for i, _ in vectors.top_k([same], [1, 0], 3)] == [7, 8, 9]
    assert vectors.top_k([same], [0, 0], 3) == []  # a query of zeros is near nothing
    other = matrix([[1, 0, 0]], first_id=100)
    assert [i for i, _ in vectors.top_k([other, same], [0, 1], 1)] == [10]
    empty = vectors.build_matrix([])
    assert len(empty) == 0 and empty.signature == (0, None)
    assert vectors.top_k([empty, same], [0, 1], 1) == [(10, pytest.approx(1.0))]


def test_a_matrix_leaves_out_vectors_of_another_length():
    records = [(1, 2, vectors.pack([1, 0])), (2, 3, vectors.pack([1, 0, 0])),
               (3, 2, vectors.pack([0, 2]))]
    built = vectors.build_matrix(records)
    assert built.ids.tolist() == [1, 3] and built.dims == 2
    assert built.signature == (3, 3)  # as the store counts: every vector of the model
    assert np.allclose(built.rows, [[1, 0], [0, 1]])


def test_rrf_fuses_rankings_by_reciprocal_rank():
    fused = vectors.rrf([[1, 2, 3], [3, 1, 4]], k=60)
    assert [item for item, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1][1] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2][1] == pytest.approx(1 / 62)
    # ties keep first appearance; one ranking alone keeps its order
    assert [i for i, _ in vectors.rrf([[5, 6], [6, 5]])] == [5, 6]
    assert [i for i, _ in vectors.rrf([[9, 8, 7]])] == [9, 8, 7]
    assert vectors.rrf([]) == [] and vectors.rrf([[], []]) == []
    assert vectors.rrf([[1], [2]], k=0) == [(1, 1.0), (2, 1.0)]


def test_the_matrix_cache_keeps_a_matrix_until_its_base_changes():
    cache = vectors.MatrixCache()
    built = matrix([[1, 0]])
    generation = cache.generation(4)
    cache.put(4, built, generation)
    assert cache.get(4, (1, 1)) is built
    assert cache.get(4, (2, 2)) is None  # the stored vectors changed
    cache.invalidate(4)
    assert cache.get(4, (1, 1)) is None
    # a load that began before an invalidation does not store its result
    cache.put(4, built, generation)
    assert cache.get(4, (1, 1)) is None
    generation = cache.generation(5)
    cache.invalidate()
    cache.put(5, built, generation)
    assert cache.get(5, (1, 1)) is None
    cache.put(5, built, cache.generation(5))
    assert cache.get(5, (1, 1)) is built
