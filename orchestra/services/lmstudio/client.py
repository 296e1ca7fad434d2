"""LMStudioClient: models, completions and streams over LM Studio's (or any OpenAI-style) API."""

import asyncio
import json
import logging
import re
import time

from .errors import (LMStudioError, LMStudioUnavailable, ModelNotFound, ServerName,
                     UpstreamError, upstream_error)
from .stream import CompletionStream
from .structured import StructuredMixin
from .text import normalize_usage, split_reasoning
from .transport import AbortableHTTPClient, abort, error_code, error_details, make_request
from .transport import map_fetch_error
from .model_ops import ModelOpsMixin, is_language_model
from .embeddings import EmbeddingsMixin

logger = logging.getLogger(__name__)

MAX_CONNECTIONS = 1024  # requests in flight at once (streams have connections of their own)

#: requests about models answer quickly; a load may take minutes
LIST_TIMEOUT = 30.0


def normalize_base_url(url):
    """`http://host:1234/v1/` and `http://host:1234` name the same server: keep the latter."""
    url = url.strip().rstrip("/")
    return re.sub(r"/v1$", "", url)


def _model_from_v0(entry):
    state = entry.get("state")
    return {
        "id": entry["id"],
        "type": entry.get("type"),
        "publisher": entry.get("publisher"),
        "arch": entry.get("arch"),
        "quantization": entry.get("quantization"),
        "state": state,
        "loaded": (state == "loaded") if state else None,
        "max_context_length": entry.get("max_context_length"),
        "capabilities": list(entry.get("capabilities") or []),
    }


def _model_from_openai(entry):
    return {
        "id": entry["id"], "type": None, "publisher": entry.get("owned_by"), "arch": None,
        "quantization": None, "state": None, "loaded": None, "max_context_length": None,
        "capabilities": [],
    }


def _endpoint_missing(error):
    """An /api/v1 endpoint this server does not have (older LM Studio, other servers)."""
    if error.status in (404, 405, 501):
        return True
    return error.status == 200 and "unexpected endpoint" in error.server_message.lower()


class LMStudioClient(ModelOpsMixin, StructuredMixin, EmbeddingsMixin):
    """Talks to LM Studio's local server; every method that does I/O is a coroutine."""

    def __init__(self, base_url, *, benchmarks=None, api_token=None, connect_timeout=5.0,
                 request_timeout=600.0, cache_ttl=300.0, max_concurrency=2):
        self.base_url = normalize_base_url(base_url)
        self.benchmarks = benchmarks
        self.api_token = api_token
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.cache_ttl = cache_ttl
        # LM Studio returns empty or cut answers under many concurrent streams (lms#565)
        self.max_concurrency = max_concurrency
        self.active_model = None
        #: True once LM Studio's native API answered, False once it did not (another server)
        self.is_lmstudio = None
        self._models = None
        self._models_at = 0.0
        self._http_client = None

    @property
    def _http(self):
        # Created on first use so that it binds to the IOLoop that actually runs the requests.
        # Streamed answers do not use it (`streaming.py`); Tornado fails a request that waits
        # for a connection longer than its connect timeout (as "did not answer within 600
        # seconds"), so the limit is far above what a model server runs at once: the server
        # queues what it cannot run in parallel itself.
        if self._http_client is None:
            self._http_client = AbortableHTTPClient(force_instance=True,
                                                    max_clients=MAX_CONNECTIONS)
        return self._http_client

    @property
    def server(self):
        """How errors name this server: LM Studio only once its native API has answered."""
        return ServerName(self.base_url, self.is_lmstudio is True)

    async def close(self):
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None

    # -- plumbing --------------------------------------------------------------------------

    def _request(self, path, *, body=None, method=None, timeout=None, **callbacks):
        headers = {"Accept": "application/json, text/event-stream"}
        if self.api_token:
            headers["Authorization"] = f"Bearer {self.api_token}"
        timeout = timeout or self.request_timeout
        return make_request(
            self.base_url + path, method=method or ("GET" if body is None else "POST"),
            body=body, headers=headers, connect_timeout=min(self.connect_timeout, timeout),
            request_timeout=timeout, **callbacks,
        )

    async def _call(self, path, body=None, *, timeout=None, model=None, off_loop=False):
        """One request; returns the decoded JSON answer or raises a typed error. `off_loop`
        decodes on a worker thread: an answer of embeddings is megabytes of numbers."""
        started = []
        request = self._request(path, body=body, timeout=timeout,
                                header_callback=lambda line: started or started.append(1))
        try:
            response = await self._http.fetch(request, raise_error=False)
        except asyncio.CancelledError:
            abort(request)  # so the server stops working on an answer nobody will read
            raise
        except Exception as exc:
            error = map_fetch_error(exc, self.server, request, started=bool(started))
            if error is None:
                raise
            raise error from None
        if off_loop:
            return await asyncio.get_running_loop().run_in_executor(
                None, self._decode, response, path, model)
        return self._decode(response, path, model)

    def _decode(self, response, path, model):
        body = response.body
        if response.code >= 400:
            message, details = error_details(body)
            if model and error_code(body) == "model_not_found":
                raise ModelNotFound(model, server=self.server, server_message=message)
            raise upstream_error(response.code, message or response.reason or "error", details,
                                 server=self.server)
        try:
            data = json.loads(body)
        except ValueError:
            raise UpstreamError(response.code, f"the answer to {path} was not JSON",
                                server=self.server) from None
        if isinstance(data, dict) and "error" in data:
            message, details = error_details(body)
            raise upstream_error(response.code, message or "unknown error", details,
                                 server=self.server)
        return data

    # -- models ----------------------------------------------------------------------------

    async def list_models(self, refresh=False):
        fresh = time.monotonic() - self._models_at < self.cache_ttl
        if self._models is None or refresh or not fresh:
            self._models = await self._fetch_models()
            self._models_at = time.monotonic()
        return [dict(model, capabilities=list(model["capabilities"])) for model in self._models]

    async def _fetch_models(self):
        # LM Studio's native list says which models are loaded and how long a context they
        # take; servers that only speak OpenAI's API give ids alone.
        try:
            data = await self._call("/api/v0/models", timeout=LIST_TIMEOUT)
        except UpstreamError as error:
            if error.status >= 500:
                raise
        else:
            self.is_lmstudio = True
            return [_model_from_v0(entry) for entry in data.get("data", [])]
        data = await self._call("/v1/models", timeout=LIST_TIMEOUT)
        self.is_lmstudio = False
        return [_model_from_openai(entry) for entry in data.get("data", [])]

    def _forget_models(self):
        self._models = None

    async def default_model(self):
        if self.active_model:
            return self.active_model
        llms = [model for model in await self.list_models() if is_language_model(model)]
        for model in llms:
            if model["loaded"]:
                return model["id"]
        if llms:
            return llms[0]["id"]
        where = "in LM Studio " if self.is_lmstudio else ""
        raise ModelNotFound(None, message=(
            f"{self.server.sentence} has no language model; download or load one {where}first."))

    async def _resolve_model(self, model):
        """The model to send: the default when None; checked against the list otherwise,
        because LM Studio silently answers an unknown id with whatever model is loaded."""
        if model is None:
            return await self.default_model()
        for refresh in (False, True):
            models = await self.list_models(refresh=refresh)
            if not models or any(entry["id"] == model for entry in models):
                return model
        raise ModelNotFound(model, server=self.server)

    async def is_running(self, timeout=2.0):
        try:
            await self._call("/v1/models", timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - "is it up" must answer, never raise
            return False

    async def load_model(self, model):
        models = await self.list_models(refresh=True)
        entry = next((item for item in models if item["id"] == model), None)
        if models and entry is None:
            raise ModelNotFound(model, server=self.server)
        if entry is not None and entry["loaded"]:
            return {"model": model, "loaded": True, "load_time_s": 0.0, "method": "already-loaded"}
        started = time.monotonic()
        try:
            data = await self._call("/api/v1/models/load", {"model": model}, model=model)
            load_time, method = data.get("load_time_seconds"), "api/v1"
        except UpstreamError as error:
            if not _endpoint_missing(error):
                raise
            await self._jit_load(model)
            load_time, method = None, "jit"
        self._forget_models()
        if load_time is None:
            load_time = time.monotonic() - started
        return {"model": model, "loaded": True, "load_time_s": round(load_time, 3),
                "method": method}

    async def _jit_load(self, model):
        # Naming a model in a request makes LM Studio load it just in time; one token is enough.
        body = {"model": model, "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 1, "stream": False}
        data = await self._call("/v1/chat/completions", body, model=model)
        answered_by = data.get("model")
        if answered_by and answered_by != model:
            raise ModelNotFound(model, message=(
                f"Model '{model}' could not be loaded on {self.server}; '{answered_by}' "
                "answered instead."))

    async def switch_model(self, model, fallbacks=()):
        errors = {}
        for candidate in [model, *[item for item in fallbacks if item != model]]:
            try:
                await self.load_model(candidate)
            except LMStudioError as error:
                if isinstance(error, LMStudioUnavailable):
                    raise  # no fallback loads on a server that is not there
                errors[candidate] = error.message
                logger.info("could not switch to %s: %s", candidate, error.message)
                continue
            self.active_model = candidate
            return {"active": candidate, "requested": model, "fell_back": candidate != model,
                    "errors": errors}
        failure = LMStudioError(
            f"No model could be loaded: {'; '.join(f'{k}: {v}' for k, v in errors.items())}"
        )
        failure.errors = errors
        raise failure

    # -- completions -----------------------------------------------------------------------

    def _completion_body(self, messages, prompt, model, params, stream):
        if (messages is None) == (prompt is None):
            raise ValueError("pass either messages or prompt")
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        body = {"model": model}
        if messages is not None:
            path, body["messages"] = "/v1/chat/completions", list(messages)
        else:
            path, body["prompt"] = "/v1/completions", prompt
        body.update({key: value for key, value in params.items() if value is not None})
        body["stream"] = stream
        if stream:
            body.setdefault("stream_options", {"include_usage": True})
        return path, body

    async def generate_completion(self, messages=None, *, prompt=None, model=None, **params):
        path, body = self._completion_body(messages, prompt, model, params, stream=False)
        body["model"] = await self._resolve_model(model)
        started = time.monotonic()
        data = await self._call(path, body, model=body["model"])
        total_ms = (time.monotonic() - started) * 1000.0
        return self._result(data, body["model"], total_ms)

    def _result(self, data, model, total_ms):
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message")
        if message is not None:
            text = message.get("content") or ""
            reasoning = message.get("reasoning_content") or message.get("reasoning")
        else:
            text, reasoning = choice.get("text") or "", None
        text, thought = split_reasoning(text)
        usage = normalize_usage(data.get("usage"), text)
        stats = data.get("stats") or {}
        ttft = stats.get("time_to_first_token")
        tps = stats.get("tokens_per_second")
        if tps is None and total_ms > 0:
            tps = usage["completion_tokens"] / (total_ms / 1000.0)
        return {
            "text": text,
            "finish_reason": choice.get("finish_reason"),
            "model": data.get("model") or model,
            "usage": usage,
            "timings": {"ttft_ms": ttft * 1000.0 if ttft is not None else None,
                        "total_ms": total_ms, "tokens_per_second": tps},
            "reasoning": reasoning or thought,
        }

    def stream_completion(self, messages=None, *, prompt=None, model=None, **params):
        path, body = self._completion_body(messages, prompt, model, params, stream=True)
        return CompletionStream(self, path, body, self._resolve_model)

    generate_streaming_completion = stream_completion
    generate_completion_stream = stream_completion

