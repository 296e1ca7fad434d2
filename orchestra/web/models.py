"""The Models page and its JSON API: list, load, switch, benchmark, compare, recommend."""

import logging
import re

import tornado.web
from marshmallow import fields, validate

from orchestra import schemas
from orchestra.schemas import NAME, SHORT, Base, text
from orchestra.services import lmstudio
from orchestra.services.lmstudio.model_ops import TASK_TYPES
from orchestra.web.base import ApiError, ApiHandler, BaseHandler

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


class ModelListApi(ApiHandler):
    async def get(self):
        refresh = self.get_query_argument("refresh", "") in ("1", "true")
        models = await self.lmstudio.list_models(refresh=refresh)
        active = await self.lmstudio.default_model() if models else None
        self.write_json({"models": [model_json(m) for m in models], "activeModel": active})


class ModelStatusApi(ApiHandler):
    async def get(self):
        self.write_json(await lmstudio.status(self.lmstudio))


class LoadModelApi(ApiHandler):
    async def post(self):
        data = self.load(LoadModelSchema())
        self.write_json(camel_keys(await self.lmstudio.load_model(data["model"])))


class SwitchModelApi(ApiHandler):
    async def post(self):
        data = self.load(SwitchModelSchema())
        result = await self.lmstudio.switch_model(data["model"], data["fallbacks"])
        self.write_json(camel_keys(result))


class BenchmarkApi(ApiHandler):
    async def post(self):
        data = self.load(BenchmarkModelSchema())
        result = await self.lmstudio.benchmark_model(data["model"], data["prompt"])
        self.write_json(camel_keys(result), status=201)

    async def get(self):
        limit = self.int_argument("limit", 100, 1, 1000)
        model = self.get_query_argument("model", None) or None
        rows = await self.stores.benchmarks.list(limit=limit, model=model)
        self.write_json({"benchmarks": dump_benchmarks(rows)})


class CompareApi(ApiHandler):
    async def post(self):
        data = self.load(CompareModelsSchema())
        results = await self.lmstudio.compare_models(
            data["prompt"], data["models"], max_tokens=data["max_tokens"],
            temperature=data["temperature"])
        self.write_json({"results": [camel_keys(result) for result in results]})


class RecommendApi(ApiHandler):
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
