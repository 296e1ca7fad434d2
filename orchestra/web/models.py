"""The Models page and its JSON API: list, load, switch, benchmark, compare, recommend."""

import logging
import re

import tornado.web
from marshmallow import Schema, fields, validate

from orchestra import schemas
from orchestra.schemas import NAME, SHORT, Base, text
from orchestra.services import lmstudio
from orchestra.services.lmstudio.model_ops import TASK_TYPES
from orchestra.web.apidoc import op, param
from orchestra.web.base import ApiError, ApiHandler, BaseHandler
from orchestra.web.bodies import LimitedBody

logger = logging.getLogger(__name__)

MAX_COMPARE = 6


class LoadModelSchema(Base):
    model = text(NAME, required=True)


class SwitchModelSchema(Base):
    model = text(NAME, required=True)
    fallbacks = fields.List(text(NAME, required=True), load_default=list,
                            validate=validate.Length(max=10))


class BenchmarkModelSchema(Base):
    model = text(NAME, allow_none=True, load_default=None)
    prompt = text(SHORT, allow_none=True, load_default=None)


class CompareModelsSchema(Base):
    prompt = text(SHORT, required=True)
    models = fields.List(text(NAME, required=True), required=True,
                         validate=validate.Length(min=2, max=MAX_COMPARE))
    max_tokens = fields.Integer(data_key="maxTokens", load_default=512,
                                validate=validate.Range(1, 8192))
    temperature = fields.Float(load_default=0.7, validate=validate.Range(0, 2))


# -- what the model API writes (dump-only: these describe responses in the OpenAPI document)

def _text(**kw):
    return fields.String(required=True, allow_none=True, **kw)


class AnswerProblemSchema(Schema):
    """Something wrong with an answer (empty, truncated, repetition, refusal, ...)."""

    code = fields.String(required=True)
    message = fields.String(required=True)


class ModelInfoSchema(Schema):
    """A model the server offers, as its list describes it (null: the server does not say;
    servers that speak only OpenAI's API give ids alone)."""

    id = fields.String(required=True)
    type = _text(metadata={"description": "llm, vlm, embeddings, ..."})
    publisher = _text()
    arch = _text()
    quantization = _text()
    state = _text(metadata={"description": "loaded or not-loaded."})
    loaded = fields.Boolean(required=True, allow_none=True)
    max_context_length = fields.Integer(required=True, allow_none=True,
                                        data_key="maxContextLength")
    capabilities = fields.List(fields.Raw(), required=True)


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelInfoSchema), required=True)
    active_model = _text(data_key="activeModel", metadata={
        "description": "The model requests go to when they name none; null without models."})


class StatusModelSchema(Schema):
    id = fields.String(required=True)
    type = _text()
    state = _text()
    loaded = fields.Boolean(required=True, allow_none=True)
    max_context_length = fields.Integer(required=True, allow_none=True,
                                        data_key="maxContextLength")


class ModelServerStatusSchema(Schema):
    reachable = fields.Boolean(required=True)
    server = fields.String(required=True, metadata={
        "description": "The server, named as error messages name it."})
    active_model = _text(data_key="activeModel")
    models = fields.List(fields.Nested(StatusModelSchema), required=True)


class LoadedModelSchema(Schema):
    model = fields.String(required=True)
    loaded = fields.Boolean(required=True)
    load_time_s = fields.Float(required=True, data_key="loadTimeS")
    method = fields.String(required=True, validate=validate.OneOf(
        ("already-loaded", "api/v1", "jit")), metadata={
            "description": "How it was loaded: LM Studio's load endpoint, or just in time by "
                           "a one-token request."})


class SwitchedModelSchema(Schema):
    active = fields.String(required=True, metadata={"description": "The model now in use."})
    requested = fields.String(required=True)
    fell_back = fields.Boolean(required=True, data_key="fellBack")
    errors = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "Why each model tried before it failed."})


class BenchmarkResultSchema(Schema):
    id = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The stored benchmark's id."})
    model = fields.String(required=True)
    prompt = fields.String(required=True)
    ttft_ms = fields.Float(required=True, allow_none=True, data_key="ttftMs")
    tokens_per_second = fields.Float(required=True, allow_none=True, data_key="tokensPerSecond")
    total_ms = fields.Float(required=True, data_key="totalMs")
    tokens_generated = fields.Integer(required=True, data_key="tokensGenerated")
    prompt_tokens = fields.Integer(required=True, data_key="promptTokens")


class StoredBenchmarkSchema(BenchmarkResultSchema):
    """A benchmark as stored: always an id, its time, and prompt tokens when the server
    counted them."""

    id = fields.Integer(required=True)
    created_at = schemas.UTCDateTime(required=True, data_key="createdAt")
    prompt_tokens = fields.Integer(required=True, allow_none=True, data_key="promptTokens")


class BenchmarkListSchema(Schema):
    benchmarks = fields.List(fields.Nested(StoredBenchmarkSchema), required=True)


class AnswerTimingsSchema(Schema):
    ttft_ms = fields.Float(required=True, allow_none=True, data_key="ttftMs", metadata={
        "description": "Time to the first token."})
    total_ms = fields.Float(required=True, data_key="totalMs")
    tokens_per_second = fields.Float(required=True, allow_none=True, data_key="tokensPerSecond")


class TokenUsageSchema(Schema):
    prompt_tokens = fields.Integer(required=True, data_key="promptTokens")
    completion_tokens = fields.Integer(required=True, data_key="completionTokens")
    total_tokens = fields.Integer(required=True, data_key="totalTokens")


class ComparisonSchema(Schema):
    """One model's answer; a model that failed has `error` and no timings or usage."""

    model = fields.String(required=True)
    text = fields.String(required=True)
    finish_reason = _text(data_key="finishReason")
    timings = fields.Nested(AnswerTimingsSchema, required=True, allow_none=True)
    usage = fields.Nested(TokenUsageSchema, required=True, allow_none=True)
    problems = fields.List(fields.Nested(AnswerProblemSchema), required=True)
    error = _text()


class ComparisonListSchema(Schema):
    results = fields.List(fields.Nested(ComparisonSchema), required=True, metadata={
        "description": "In the order the models were given."})


class RecommendationSchema(Schema):
    model = fields.String(required=True)
    reason = fields.String(required=True)
    task_type = fields.String(required=True, data_key="taskType",
                              validate=validate.OneOf(TASK_TYPES))


UPSTREAM = (404, 502, 503, 504)   # no such model; the model server failed, is down, timed out
UPSTREAM_NOTE = (" The model server's failures: 502 (it answered with an error), 503 (not "
                 "reachable), 504 (timed out).")


def camel(name):
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def camel_keys(data, nested=("timings", "usage")):
    """snake_case keys to camelCase; dicts named in `nested` too (others hold model ids)."""
    return {camel(key): camel_keys(value, ()) if key in nested and isinstance(value, dict)
            else value for key, value in data.items()}


def model_json(model):
    return camel_keys(model)


def dump_benchmarks(rows):
    return schemas.CreateBenchmarkSchema().dump(rows, many=True)


class ModelsPage(BaseHandler):
    """Renders the page with its first data inlined; models.js does the rest."""

    async def get(self):
        state = await lmstudio.status(self.lmstudio)
        benchmarks = dump_benchmarks(await self.stores.benchmarks.list(limit=200))
        initial = {"status": state, "benchmarks": benchmarks, "taskTypes": list(TASK_TYPES),
                   "lmstudioUrl": self.lmstudio.base_url}
        self.render_template("models.html", initial=initial, state=state)


class ModelApiHandler(LimitedBody, ApiHandler):
    """The model API's handlers: bodies of a few names and a prompt, so a small limit (a
    larger body is 413 naming it, as everywhere else, not a closed connection)."""

    body_limit = 100_000
    body_name = "model request"


class ModelListApi(ModelApiHandler):
    api_doc = {"get": op(
        "List the models", tags=("Models",),
        description="The models the model server offers (listed again with `refresh`, else "
                    "from a short-lived cache), and the one requests use by default. 404 "
                    "when it offers models but no language model." + UPSTREAM_NOTE,
        query=(param("refresh", {"type": "string"}, "1 or true: ask the server again.",
                     example="1"),),
        responses={200: ("The models.", ModelListSchema)}, errors=UPSTREAM)}

    async def get(self):
        refresh = self.get_query_argument("refresh", "") in ("1", "true")
        models = await self.lmstudio.list_models(refresh=refresh)
        active = await self.lmstudio.default_model() if models else None
        self.write_json({"models": [model_json(m) for m in models], "activeModel": active})


class ModelStatusApi(ModelApiHandler):
    api_doc = {"get": op(
        "The model server's status", tags=("Models",),
        description="Whether the model server answers, and its models (none when it does "
                    "not). Always 200: a server that is down is `reachable: false`.",
        responses={200: ("The status.", ModelServerStatusSchema)})}

    async def get(self):
        self.write_json(await lmstudio.status(self.lmstudio))


class LoadModelApi(ModelApiHandler):
    api_doc = {"post": op(
        "Load a model", tags=("Models",),
        description="Loads it on the model server (at once if it is loaded already). 404 "
                    "when the server has no such model." + UPSTREAM_NOTE,
        body=LoadModelSchema, body_example={"model": "qwen2.5-7b-instruct"},
        responses={200: ("The model is loaded.", LoadedModelSchema)},
        errors=(400,) + UPSTREAM)}

    async def post(self):
        data = self.load(LoadModelSchema())
        self.write_json(camel_keys(await self.lmstudio.load_model(data["model"])))


class SwitchModelApi(ModelApiHandler):
    api_doc = {"post": op(
        "Switch the default model", tags=("Models",),
        description="Loads `model` and makes it the one requests use by default; when it "
                    "cannot be loaded, each of `fallbacks` in turn. 502 when none could be "
                    "loaded (the error says why for each), 503 when the server is not "
                    "reachable.",
        body=SwitchModelSchema,
        body_example={"model": "qwen2.5-7b-instruct", "fallbacks": ["llama-3.2-3b-instruct"]},
        responses={200: ("The model now in use.", SwitchedModelSchema)},
        errors=(400, 502, 503))}

    async def post(self):
        data = self.load(SwitchModelSchema())
        result = await self.lmstudio.switch_model(data["model"], data["fallbacks"])
        self.write_json(camel_keys(result))


class BenchmarkApi(ModelApiHandler):
    """POST runs a benchmark, GET lists those stored (both paths answer both)."""

    api_doc = {
        "post": op(
            "Benchmark a model", tags=("Models",),
            description="Streams one answer (at most 256 tokens, temperature 0) to `prompt` "
                        "(a standard prompt by default) from `model` (the default model by "
                        "default), stores the timings and returns them. POST "
                        "/api/models/benchmarks does the same." + UPSTREAM_NOTE,
            body=BenchmarkModelSchema,
            body_example={"model": "qwen2.5-7b-instruct", "prompt": "Count to five."},
            responses={201: ("The benchmark, stored.", BenchmarkResultSchema)},
            errors=(400,) + UPSTREAM),
        "get": op(
            "List stored benchmarks", tags=("Models",),
            description="Newest first. GET /api/models/benchmark lists them too.",
            query=(param("limit", {"type": "integer", "minimum": 1, "maximum": 1000,
                                   "default": 100}, "Benchmarks at most.", example=20),
                   param("model", {"type": "string"}, "Only this model's (empty: all).",
                         example="qwen2.5-7b-instruct")),
            responses={200: ("The benchmarks.", BenchmarkListSchema)}, errors=(400,)),
    }

    async def post(self):
        data = self.load(BenchmarkModelSchema())
        result = await self.lmstudio.benchmark_model(data["model"], data["prompt"])
        self.write_json(camel_keys(result), status=201)

    async def get(self):
        limit = self.int_argument("limit", 100, 1, 1000)
        model = self.get_query_argument("model", None) or None
        rows = await self.stores.benchmarks.list(limit=limit, model=model)
        self.write_json({"benchmarks": dump_benchmarks(rows)})


class CompareApi(ModelApiHandler):
    api_doc = {"post": op(
        "Compare models on one prompt", tags=("Models",),
        description="Streams an answer from each model (a few at a time) and checks each "
                    "for problems. A model that fails has `error` in its result: the "
                    "request itself still succeeds.",
        body=CompareModelsSchema,
        body_example={"prompt": "Explain recursion in one sentence.",
                      "models": ["qwen2.5-7b-instruct", "llama-3.2-3b-instruct"],
                      "maxTokens": 200, "temperature": 0.7},
        responses={200: ("Each model's answer.", ComparisonListSchema)}, errors=(400,))}

    async def post(self):
        data = self.load(CompareModelsSchema())
        results = await self.lmstudio.compare_models(
            data["prompt"], data["models"], max_tokens=data["max_tokens"],
            temperature=data["temperature"])
        self.write_json({"results": [camel_keys(result) for result in results]})


class RecommendApi(ModelApiHandler):
    api_doc = {"get": op(
        "Recommend a model for a kind of task", tags=("Models",),
        description="Scores the server's language models by name, context length, "
                    "benchmarked speed and whether they are loaded. 400 for an unknown "
                    "`taskType`, 404 when the server has no language model." + UPSTREAM_NOTE,
        query=(param("taskType", {"type": "string"}, "One of %s (a few other spellings, "
                     "such as summarisation, are taken too)." % ", ".join(TASK_TYPES),
                     required=True, example="code"),),
        responses={200: ("The model and why.", RecommendationSchema)},
        errors=(400,) + UPSTREAM)}

    async def get(self):
        task_type = self.get_query_argument("taskType", "")
        try:
            result = await self.lmstudio.recommend_model(task_type)
        except ValueError:
            raise ApiError(400, "taskType must be one of: %s." % ", ".join(TASK_TYPES),
                           fields={"taskType": ["Unknown task type."]})
        self.write_json(camel_keys(result))


routes = [
    tornado.web.url(r"/models", ModelsPage, name="models"),
    tornado.web.url(r"/api/models", ModelListApi, name="api-models"),
    tornado.web.url(r"/api/models/status", ModelStatusApi, name="api-models-status"),
    tornado.web.url(r"/api/models/load", LoadModelApi, name="api-models-load"),
    tornado.web.url(r"/api/models/switch", SwitchModelApi, name="api-models-switch"),
    tornado.web.url(r"/api/models/benchmark", BenchmarkApi, name="api-models-benchmark"),
    tornado.web.url(r"/api/models/benchmarks", BenchmarkApi, name="api-models-benchmarks"),
    tornado.web.url(r"/api/models/compare", CompareApi, name="api-models-compare"),
    tornado.web.url(r"/api/models/recommend", RecommendApi, name="api-models-recommend"),
]
