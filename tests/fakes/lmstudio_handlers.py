"""The fake LM Studio's request handlers: its wire format, byte for byte, and its faults."""

import asyncio
import json
import logging
import re
import time
import uuid

from tornado import web
from tornado.iostream import StreamClosedError

logger = logging.getLogger(__name__)

NO_MODELS = ("No models loaded. Please load a model in the developer page or use the "
             "`lms load` command.")


def _llama_cpp_python_refusal(kind):
    # Its route handler turns the request's validation error into a 500 that carries
    # pydantic's text (llama-cpp-python 0.3.36, as answered to json_schema; see also
    # ggml-org/llama.cpp#23463).
    detail = {"type": "literal_error", "loc": ("body", "response_format", "type"),
              "msg": "Input should be 'text' or 'json_object'", "input": kind,
              "ctx": {"expected": "'text' or 'json_object'"}}
    message = ("1 validation error:\n  %s\n\n  File \"/usr/lib/python3/site-packages/llama_cpp/"
               "server/app.py\", line 376, in create_chat_completion\n    POST "
               "/v1/chat/completions" % detail)
    return 500, {"error": {"message": message, "type": "internal_server_error",
                           "param": None, "code": None}}


#: how servers refuse a response_format type they do not take: (status, body)
FORMAT_REFUSALS = {
    # LM Studio 0.3.x (lmstudio-bug-tracker#169, #189; later versions add "or 'text'")
    "lmstudio": lambda kind: (400, {"error": "'response_format.type' must be 'json_schema'"}),
    # llama.cpp's server before json_schema support (ggml-org/llama.cpp#9522)
    "llama.cpp": lambda kind: (500, {"error": {
        "code": 500, "message": 'response_format type must be one of "text" or '
        '"json_object", but got: %s' % kind, "type": "server_error"}}),
    "llama-cpp-python": _llama_cpp_python_refusal,
}


def _compact(payload):
    return json.dumps(payload, separators=(",", ":")).encode()


def _lmstudio_overflow(prompt, context, body, stream):
    if stream:
        # LM Studio 0.4.21 streams an `event: error` with HTTP 200 (lmstudio-bug-tracker#2322)
        message = (f"Input does not fit in context length. The input has {prompt} tokens, but "
                   f"the context length only supports {context} tokens.")
        return 200, b"event: error\ndata: " + _compact(
            {"error": {"message": message}, "message": message}) + b"\n\n"
    # as answered with HTTP 400 to a whole-answer request (anomalyco/opencode#11141 et al.)
    return 400, {"error": "The number of tokens to keep from the initial prompt is greater "
                 f"than the context length (n_keep: {prompt}>= n_ctx: {context}). Try to load "
                 "the model with a larger context length, or provide a shorter input."}


def _lmstudio_03_overflow(prompt, context, body, stream):
    # LM Studio 0.3.x (lmstudio-bug-tracker#237, #546): a bare string error, inside the stream
    # when streaming
    error = {"error": f"Trying to keep the first {prompt} tokens when context the overflows. "
             f"However, the model is loaded with context length of only {context} tokens, "
             "which is not enough. Try to load the model with a larger context length, or "
             "provide a shorter input"}
    return (200, b"data: " + _compact(error) + b"\n\n") if stream else (400, error)


def _llama_cpp_error(prompt, context):
    # llama.cpp's server: format_error_response(ERROR_TYPE_EXCEED_CONTEXT_SIZE) plus the two
    # numbers (server_task_result_error::to_json)
    return {"code": 400, "message": f"request ({prompt} tokens) exceeds the available context "
            f"size ({context} tokens), try increasing it", "type": "exceed_context_size_error",
            "n_prompt_tokens": prompt, "n_ctx": context}


def _llama_cpp_overflow(prompt, context, body, stream):
    # Current builds check the prompt before the stream starts: HTTP 400 either way.
    return 400, {"error": _llama_cpp_error(prompt, context)}


def _llama_cpp_sse_overflow(prompt, context, body, stream):
    # Builds that started the stream first write server_sent_event(sink, "error", ...): an
    # `error:` line, then [DONE].
    if not stream:
        return _llama_cpp_overflow(prompt, context, body, stream)
    return 200, (b"error: " + _compact(_llama_cpp_error(prompt, context)) + b"\n\n"
                 b"data: [DONE]\n\n")


def _llama_cpp_python_overflow(prompt, context, body, stream):
    # llama_cpp/server/errors.py: the ValueError "Requested tokens (N) exceed context window of
    # M" rewritten into OpenAI's words, HTTP 400. Streamed (0.3.36), the error is raised inside
    # the stream: HTTP 200, an event stream that ends with no event at all.
    if stream:
        return 200, b""
    completion = body.get("max_tokens")
    requested = prompt + (completion or 0)
    if "messages" in body:
        message = (f"This model's maximum context length is {context} tokens. However, you "
                   f"requested {requested} tokens ({prompt} in the messages, {completion} in "
                   "the completion). Please reduce the length of the messages or completion.")
        param = "messages"
    else:
        message = (f"This model's maximum context length is {context} tokens, however you "
                   f"requested {requested} tokens ({prompt} in your prompt; {completion} for "
                   "the completion). Please reduce your prompt; or completion length.")
        param = "prompt"
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                           "code": "context_length_exceeded"}}


def _vllm_overflow(prompt, context, body, stream):
    # vLLM 0.6+ (serving_engine._validate_input), its ErrorResponse inside "error"
    return 400, {"error": {"message": f"This model's maximum context length is {context} "
                           f"tokens. However, your request has {prompt} input tokens. Please "
                           "reduce the length of the input messages.",
                           "type": "BadRequestError", "param": None, "code": 400}}


def _vllm_05_overflow(prompt, context, body, stream):
    # vLLM 0.5: the ErrorResponse at the top level
    completion = body.get("max_tokens") or 0
    return 400, {"object": "error", "message": f"This model's maximum context length is "
                 f"{context} tokens. However, you requested {prompt + completion} tokens "
                 f"({prompt} in the messages, {completion} in the completion). Please reduce "
                 "the length of the messages or completion.", "type": "BadRequestError",
                 "param": None, "code": 400}


#: how servers refuse a prompt longer than the context: fn(prompt tokens, context length,
#: request body, streamed?) -> (status, JSON body, or the bytes of an event stream)
OVERFLOWS = {
    "lmstudio": _lmstudio_overflow,
    "lmstudio-0.3": _lmstudio_03_overflow,
    "llama.cpp": _llama_cpp_overflow,
    "llama.cpp-sse": _llama_cpp_sse_overflow,
    "llama-cpp-python": _llama_cpp_python_overflow,
    "vllm": _vllm_overflow,
    "vllm-0.5": _vllm_05_overflow,
}


def prompt_token_count(body):
    """The fake's token count of a whole prompt: the words of every message."""
    if "prompt" in body:
        return len(str(body["prompt"]).split())
    count = 0
    for message in body.get("messages") or []:
        content = message.get("content")
        count += len((content if isinstance(content, str) else json.dumps(content)).split())
    return count


def frame(payload):
    """One SSE frame exactly as LM Studio writes it: compact JSON, blank line after."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def pieces_of(text):
    """Split an answer into token-like pieces (" word"), as a model streams them."""
    return re.findall(r"\s*\S+", text) if text else []


def last_user_text(body):
    if "prompt" in body:
        return str(body["prompt"])
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def unexpected_endpoint(method, path):
    return {"error": f"Unexpected endpoint or method. ({method} {path})"}


class FakeHandler(web.RequestHandler):
    def initialize(self, fake):
        self.fake = fake
        self.gone = asyncio.Event()

    def on_connection_close(self):
        self.gone.set()

    def prepare(self):
        body = None
        if self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = {"_raw": self.request.body.decode("utf-8", "replace")}
        self.body = body
        self.fake.requests.append((self.request.path, body))
        self.fake.headers.append(dict(self.request.headers))
        if self.request.method == "POST":
            fault = self.fake.take_fault(self.request.path, ("fail",))
            if fault is not None:
                self.send_failure(fault["status"], fault["message"])

    def send_failure(self, status, message):
        self.set_status(status)
        if status == 200:
            self.send_json({"error": message})
        else:
            kind = "server_error" if status >= 500 else "invalid_request_error"
            self.send_json({"error": {"message": message, "type": kind, "param": None,
                                      "code": None}})

    def not_found(self):
        """What a server without LM Studio's native API (llama.cpp's) answers to /api/..."""
        self.set_status(404)
        self.send_json({"error": {"code": 404, "message": "File Not Found",
                                  "type": "not_found_error"}}, indent=None)

    def send_json(self, payload, indent=2):
        # LM Studio pretty-prints its JSON answers; stream frames are compact.
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, indent=indent))

    async def pause(self, seconds):
        """Sleep, but wake at once when the client goes away; True if it did."""
        if seconds <= 0:
            return self.gone.is_set()
        try:
            await asyncio.wait_for(self.gone.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        return self.gone.is_set()

    def hang_up(self):
        self.request.connection.stream.close()
        self._finished = True  # nothing more can be written; keep Tornado from trying


class ModelsV1Handler(FakeHandler):
    def get(self):
        data = [{"id": m["id"], "object": "model", "owned_by": "organization_owner"}
                for m in self.fake.models]
        self.send_json({"data": data, "object": "list"})


def v0_entry(model):
    return {"id": model["id"], "object": "model", "type": model.get("type", "llm"),
            "publisher": model.get("publisher", "lmstudio-community"),
            "arch": model.get("arch", "llama"), "compatibility_type": "gguf",
            "quantization": model.get("quantization", "Q4_K_M"),
            "state": model.get("state", "loaded"),
            "max_context_length": model.get("max_context_length", 4096),
            "capabilities": model.get("capabilities", [])}


class ModelsV0Handler(FakeHandler):
    def get(self, model_id=None):
        if not self.fake.lmstudio:
            return self.not_found()
        if not self.fake.api_v0:
            return self.send_json(unexpected_endpoint("GET", self.request.path))
        if model_id is None:
            return self.send_json({"data": [v0_entry(m) for m in self.fake.models],
                                   "object": "list"})
        model = self.fake.model(model_id)
        if model is None:
            self.set_status(404)
            return self.send_json({"error": f"Model {model_id} not found"})
        self.send_json(v0_entry(model))


class NativeV1Handler(FakeHandler):
    """/api/v1/models, /api/v1/models/load and /api/v1/models/unload (LM Studio 0.4+)."""

    def get(self, action=None):
        if not self.fake.lmstudio:
            return self.not_found()
        if not self.fake.api_v1 or action:
            return self.send_json(unexpected_endpoint("GET", self.request.path))
        models = []
        for m in self.fake.models:
            loaded = m.get("state", "loaded") == "loaded"
            models.append({
                "type": m.get("type", "llm"), "publisher": m.get("publisher"), "key": m["id"],
                "display_name": m["id"], "architecture": m.get("arch"),
                "quantization": {"name": m.get("quantization"), "bits_per_weight": 4},
                "size_bytes": 4_683_073_536, "params_string": "7B", "format": "gguf",
                "loaded_instances": [{"id": m["id"], "config": {
                    "context_length": m.get("max_context_length", 4096)}}] if loaded else [],
                "max_context_length": m.get("max_context_length", 4096),
                "capabilities": m.get("capabilities", []),
            })
        self.send_json({"models": models})

    async def post(self, action=None):
        if not self.fake.lmstudio:
            return self.not_found()
        if not self.fake.api_v1 or action not in ("load", "unload"):
            return self.send_json(unexpected_endpoint("POST", self.request.path))
        body = self.body or {}
        key = body.get("model") if action == "load" else body.get("instance_id")
        model = self.fake.model(key)
        if model is None:
            self.set_status(404)
            return self.send_json({"error": {"message": f'Model "{key}" not found',
                                             "type": "invalid_request_error",
                                             "param": "model", "code": "model_not_found"}})
        if action == "unload":
            model["state"] = "not-loaded"
            return self.send_json({"instance_id": key})
        if await self.pause(self.fake.load_delay):
            return
        model["state"] = "loaded"
        answer = {"type": model.get("type", "llm"), "instance_id": key,
                  "load_time_seconds": self.fake.load_delay or 0.42, "status": "loaded"}
        if body.get("echo_load_config"):
            answer["load_config"] = {
                "context_length": body.get("context_length", 4096),
                "flash_attention": body.get("flash_attention", False)}
        self.send_json(answer)


class CompletionHandler(FakeHandler):
    """Chat and text completions, streamed or not, on /v1 and /api/v0."""

    def initialize(self, fake, chat, native):
        super().initialize(fake)
        self.chat = chat
        self.native = native

    async def post(self):
        if self.native and not self.fake.lmstudio:
            return self.not_found()
        if self.native and not self.fake.api_v0:
            return self.send_json(unexpected_endpoint("POST", self.request.path))
        body = self.body or {}
        model, failure = self.answering_model(body.get("model"))
        if failure is not None:
            self.set_status(failure[0])
            return self.send_json({"error": failure[1]})
        if self.overflows(body):
            return
        kind = (body.get("response_format") or {}).get("type")
        if kind in self.fake.refuse_formats:
            status, error = FORMAT_REFUSALS[self.fake.refuse_formats[kind]](kind)
            self.set_status(status)
            return self.send_json(error)
        answer, text = self.fake.next_answer(body)
        pieces = pieces_of(text)
        finish_reason = answer.finish_reason
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
            pieces, finish_reason = pieces[:max_tokens], "length"
        path = self.request.path
        slow = self.fake.take_fault(path, ("slow",))
        delay_first = slow["seconds"] if slow else answer.delay_first
        fault = self.fake.take_fault(path, ("disconnect", "malformed"))
        meta = {"id": "chatcmpl-" + uuid.uuid4().hex[:20], "created": int(time.time()),
                "model": model, "prompt_tokens": max(1, len(last_user_text(body).split()))}
        if body.get("stream"):
            await self.stream(meta, pieces, finish_reason, answer, delay_first, fault, body)
        else:
            await self.whole(meta, pieces, finish_reason, answer, delay_first, fault)

    def overflows(self, body):
        """Answer with the server's context-overflow error when the prompt does not fit."""
        fake = self.fake
        prompt = prompt_token_count(body)
        if fake.context_length is None or prompt <= fake.context_length:
            return False
        fake.last_overflow = (prompt, fake.context_length)
        status, payload = OVERFLOWS[fake.overflow_style](
            prompt, fake.context_length, body, bool(body.get("stream")))
        self.set_status(status)
        if isinstance(payload, bytes):
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.finish(payload)
        else:
            self.send_json(payload)
        return True

    def answering_model(self, requested):
        """LM Studio's choice: a known model (JIT-loaded if needed), else, silently, the loaded
        one; errors when nothing can answer. Returns (model_id, None) or (None, (status, err))."""
        fake = self.fake
        known = fake.model(requested) if requested else None
        loaded = fake.loaded_ids()
        if known is not None:
            if known.get("state", "loaded") == "loaded":
                return requested, None
            if fake.jit:
                fake.load(requested, evict=fake.auto_evict)
                return requested, None
        elif loaded:
            return loaded[0], None
        if requested and known is None:
            return None, (400, {"message": f'Invalid model identifier "{requested}". Please '
                                "specify a valid downloaded model.",
                                "type": "invalid_request_error", "param": "model",
                                "code": "model_not_found"})
        return None, (400, {"message": NO_MODELS, "type": "invalid_request_error",
                            "param": "model", "code": None})

    def usage(self, meta, pieces):
        completion = len(pieces)
        return {"prompt_tokens": meta["prompt_tokens"], "completion_tokens": completion,
                "total_tokens": meta["prompt_tokens"] + completion}

    def chunk(self, meta, delta, finish_reason=None):
        if self.chat:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": delta.get("content", ""), "logprobs": None,
                      "finish_reason": finish_reason}
            kind = "text_completion"
        return {"id": meta["id"], "object": kind, "created": meta["created"],
                "model": meta["model"], "system_fingerprint": meta["model"], "choices": [choice]}

    async def stream(self, meta, pieces, finish_reason, answer, delay_first, fault, body):
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Connection", "keep-alive")
        try:
            await self.flush()  # headers go out before the first token, as LM Studio does
            if await self.pause(delay_first):
                return self.record_cancel()
            if answer.reasoning:
                await self.send(self.chunk(meta, {"role": "assistant",
                                                  "reasoning_content": answer.reasoning}))
            for index, piece in enumerate(pieces):
                if fault is not None and fault["after"] == index:
                    if fault["kind"] == "disconnect":
                        await self.pause(self.fake.hangup_delay)
                        return self.hang_up()
                    self.write(b'data: {"id":"chatcmpl-broken","choices":[{"delta":\n\n')
                delta = {"role": "assistant", "content": piece} if index == 0 else {
                    "content": piece}
                await self.send(self.chunk(meta, delta))
                if answer.chunk_delay and await self.pause(answer.chunk_delay):
                    return self.record_cancel()
            if fault is not None and fault["kind"] == "disconnect":
                await self.pause(self.fake.hangup_delay)
                return self.hang_up()
            await self.send(self.chunk(meta, {}, finish_reason))
            if (body.get("stream_options") or {}).get("include_usage"):
                final = dict(self.chunk(meta, {}), choices=[], usage=self.usage(meta, pieces))
                await self.send(final)
            self.write(b"data: [DONE]\n\n")
            self.finish()
            self.fake.completed += 1
        except StreamClosedError:
            self.record_cancel()

    async def send(self, payload):
        self.write(frame(payload))
        await self.flush()

    def record_cancel(self):
        self.fake.cancelled += 1
        self._finished = True

    async def whole(self, meta, pieces, finish_reason, answer, delay_first, fault):
        if await self.pause(delay_first + answer.chunk_delay * len(pieces)):
            return self.record_cancel()
        if fault is not None and fault["kind"] == "disconnect":
            return self.hang_up()
        text = "".join(pieces)
        if self.chat:
            message = {"role": "assistant", "content": text}
            if answer.reasoning:
                message["reasoning_content"] = answer.reasoning
            choice = {"index": 0, "logprobs": None, "finish_reason": finish_reason,
                      "message": message}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
            kind = "text_completion"
        payload = {"id": meta["id"], "object": kind, "created": meta["created"],
                   "model": meta["model"], "choices": [choice],
                   "usage": self.usage(meta, pieces), "stats": {},
                   "system_fingerprint": meta["model"]}
        if self.native:
            payload["stats"] = {"tokens_per_second": 50.0, "time_to_first_token": 0.05,
                                "generation_time": len(pieces) / 50.0, "stop_reason": "eosFound"}
            entry = self.fake.model(meta["model"]) or {}
            payload["model_info"] = {"arch": entry.get("arch"), "quant": entry.get(
                "quantization"), "format": "gguf", "context_length": entry.get(
                "max_context_length", 4096)}
            payload["runtime"] = {"name": "llama.cpp-linux-x86_64-avx2", "version": "1.28.0",
                                  "supported_formats": ["gguf"]}
        self.send_json(payload)
        self.fake.completed += 1


class UnknownHandler(FakeHandler):
    """LM Studio answers any unknown path with HTTP 200 and an error body."""

    def prepare(self):
        super().prepare()
        if not self._finished and not self.fake.lmstudio:
            self.not_found()
        elif not self._finished:
            self.send_json(unexpected_endpoint(self.request.method, self.request.path))


def make_app(fake):
    # imported here: the embeddings handler builds on FakeHandler above
    from tests.fakes.lmstudio_embeddings import EmbeddingsHandler

    args = {"fake": fake}
    return web.Application([
        (r"/v1/models", ModelsV1Handler, args),
        (r"/v1/embeddings", EmbeddingsHandler, args),
        (r"/v1/chat/completions", CompletionHandler, dict(args, chat=True, native=False)),
        (r"/v1/completions", CompletionHandler, dict(args, chat=False, native=False)),
        (r"/api/v0/models", ModelsV0Handler, args),
        (r"/api/v0/models/(.+)", ModelsV0Handler, args),
        (r"/api/v0/chat/completions", CompletionHandler, dict(args, chat=True, native=True)),
        (r"/api/v0/completions", CompletionHandler, dict(args, chat=False, native=True)),
        (r"/api/v1/models", NativeV1Handler, args),
        (r"/api/v1/models/(\w+)", NativeV1Handler, args),
        (r".*", UnknownHandler, args),
    ], log_function=lambda handler: None)  # scripted failures are not news
