"""Structured output: JSON asked in the best form a server accepts, repaired and validated.

LM Studio takes OpenAI's `json_schema` response format and refuses `json_object`; llama.cpp
takes both (and a `schema` beside `json_object`); other servers take one, the other or none,
and refuse the rest with an error that names `response_format`. The form that works is found
once per server and remembered on the client; the prompt alone is the last resort, so every
answer is parsed with repair and checked against the schema's types, required keys and enums.
"""

import asyncio
import json
import logging
import re

from .errors import LMStudioError, StructuredOutputError, UpstreamError

logger = logging.getLogger(__name__)

#: the forms of asking, best first; "prompt" sends no response_format at all
JSON_MODES = ("json_schema", "json_object", "prompt")

_FENCE = re.compile(r"```[a-zA-Z]*\s*\n(.*?)\n?```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_REFUSAL_WORDS = ("response_format", "response format", "json_schema", "json_object")
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def response_format(mode, schema, name):
    """The request's response_format for a mode (None for the prompt alone)."""
    if mode == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": schema}}
    if mode == "json_object":
        # llama.cpp's servers read a schema given beside json_object and follow it; servers
        # that do not know the extra key ignore it.
        return {"type": "json_object", "schema": schema}
    return None


def schema_hint(messages, schema):
    """The messages with the schema spelled out in the system message, for forms of asking
    that do not carry the schema to the server."""
    hint = ("Reply with one JSON object only (no prose, no code fences) that follows this "
            "JSON Schema:\n" + json.dumps(schema, separators=(",", ":")))
    messages = list(messages)
    if messages and messages[0].get("role") == "system":
        messages[0] = dict(messages[0], content=messages[0]["content"] + "\n\n" + hint)
    else:
        messages.insert(0, {"role": "system", "content": hint})
    return messages


def refuses_format(error):
    """True when a server's error says it does not take the response_format we sent."""
    if not isinstance(error, UpstreamError):
        return False
    if not (error.status == 200 or 400 <= error.status <= 599):
        return False
    message = error.server_message.lower()
    return any(word in message for word in _REFUSAL_WORDS)


def repair_json(text):
    """The JSON value in an answer, also when wrapped in prose or code fences or written with
    trailing commas; raises ValueError saying what is wrong."""
    text = (text or "").strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("the answer holds no JSON object")
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    if end <= start:
        raise ValueError("the JSON in the answer is not closed")
    candidate = text[start:end + 1]
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.JSONDecoder().raw_decode(attempt)[0]
        except ValueError as error:
            problem = error
    raise ValueError("the answer is not valid JSON (%s)" % problem)


def _type_ok(value, expected):
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(expected, object))


def validate(value, schema, path="$"):
    """`value` checked against the parts of JSON Schema that structured output uses (type,
    enum, required, properties, additionalProperties, items, min/maxItems, minLength);
    returns it without properties the schema forbids, raises ValueError naming the place."""
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(_type_ok(value, t) for t in types):
            raise ValueError("%s should be %s" % (path, " or ".join(types)))
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError("%s should be one of %s" % (
            path, ", ".join(json.dumps(v) for v in schema["enum"])))
    if isinstance(value, dict):
        return _validate_object(value, schema, path)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise ValueError("%s needs at least %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValueError("%s takes at most %d items" % (path, schema["maxItems"]))
        items = schema.get("items") or {}
        return [validate(item, items, "%s[%d]" % (path, i)) for i, item in enumerate(value)]
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise ValueError("%s is too short" % path)
    return value


def _validate_object(value, schema, path):
    properties = schema.get("properties") or {}
    for key in schema.get("required") or ():
        if key not in value:
            raise ValueError('%s lacks the required key "%s"' % (path, key))
    clean = {}
    for key, item in value.items():
        if key in properties:
            clean[key] = validate(item, properties[key], "%s.%s" % (path, key))
        elif schema.get("additionalProperties") is not False:
            clean[key] = item
    return clean


def parse_structured(text, schema, name="answer"):
    """The validated JSON of an answer; raises StructuredOutputError saying why not."""
    try:
        return validate(repair_json(text), schema)
    except ValueError as error:
        raise StructuredOutputError(name, str(error)) from None


class StructuredMixin:
    """generate_json and its detection of the server's structured-output form."""

    #: the form this server accepts, once known (None until the first answer)
    json_mode = None
    #: the form the latest structured call used
    last_json_mode = None

    async def generate_json(self, messages, schema, *, name, model=None, **params):
        """The model's answer as a dict that fits `schema`; raises StructuredOutputError when
        no valid JSON comes back, and the usual LMStudioError subclasses when the server
        fails."""
        result = await self.structured_completion(messages, schema, name=name, model=model,
                                                  **params)
        return parse_structured(result["text"], schema, name)

    async def structured_completion(self, messages, schema, *, name, model=None, retries=0,
                                    backoff=0.5, describe_schema=True, **params):
        """The completion result (as generate_completion's, plus "json_mode" and "attempts"),
        asked in the best form the server accepts; the text is not parsed here. Unless
        the form carries the schema to the server, the schema is spelled out in the system
        message; `describe_schema=False` leaves that to messages that show the shape
        already (a small model copies a JSON Schema's words into its answer)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        modes = JSON_MODES[JSON_MODES.index(self.json_mode):] if self.json_mode else JSON_MODES
        for mode in modes:
            fmt = response_format(mode, schema, name)
            asked = messages
            if describe_schema and mode != "json_schema":
                asked = schema_hint(messages, schema)
            try:
                result = await self._json_attempts(asked, model, retries, backoff,
                                                   dict(params, response_format=fmt))
            except UpstreamError as error:
                if mode == JSON_MODES[-1] or not refuses_format(error):
                    raise
                logger.info("%s does not take response_format %s: %s", self.base_url, mode,
                            error.server_message)
                continue
            if self.json_mode != mode:
                logger.info("%s takes structured output as %s", self.base_url, mode)
            self.json_mode = self.last_json_mode = mode
            return dict(result, json_mode=mode)
        raise AssertionError("unreachable: the prompt-only form raises or returns")

    async def _json_attempts(self, messages, model, retries, backoff, params):
        # Transient failures are tried again; a refused response_format is not (it is
        # answered at once and means the next form should be asked).
        for attempt in range(retries + 1):
            try:
                result = await self.generate_completion(messages, model=model, **params)
                result["attempts"] = attempt + 1
                return result
            except LMStudioError as error:
                if refuses_format(error) or not error.transient or attempt >= retries:
                    raise
                logger.info("transient failure asking for JSON (attempt %d): %s",
                            attempt + 1, error.message)
                await asyncio.sleep(backoff * (2 ** attempt))
