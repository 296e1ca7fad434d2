"""Typed errors of the LM Studio client, each carrying one user-facing sentence that names the
server, and the reading of a server's "prompt too long" error into its two numbers."""

import logging
import re

logger = logging.getLogger(__name__)


class ServerName:
    """How a message names the server: "LM Studio at URL" once its native API (/api/v0) has
    answered, "the model server at URL" otherwise (llama.cpp, vLLM, Ollama... or not known)."""

    def __init__(self, url, lmstudio=False):
        self.url = url
        self.lmstudio = bool(lmstudio)

    def __str__(self):
        return f"LM Studio at {self.url}" if self.lmstudio else f"the model server at {self.url}"

    @property
    def sentence(self):
        """The name at the start of a sentence."""
        text = str(self)
        return text[0].upper() + text[1:]


def _name(server):
    # Callers pass a ServerName, a bare URL (nothing known about the server) or nothing.
    if server is None or isinstance(server, ServerName):
        return server
    return ServerName(str(server))


class LMStudioError(Exception):
    """Base class; `message` is one sentence fit to show a user, and `str(e) == message`."""

    #: whether trying the same request again may succeed (used by generate_with_retry, and
    #: sent to the pages as `retryable`)
    transient = False
    #: the error code of the WebSocket protocol and the pages
    code = "lmstudio_error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message

    def details(self):
        """What the pages get besides code and message (camelCase keys)."""
        return {"retryable": bool(self.transient)}


class LMStudioUnavailable(LMStudioError):
    """The server could not be reached at all (refused, unknown host, closed before answering)."""

    transient = True
    code = "lmstudio_unavailable"

    def __init__(self, url, reason=None, server=None):
        server = _name(server) or ServerName(url)
        self.url = url
        self.reason = reason
        self.server = server
        if server.lmstudio:
            hint = "start LM Studio's local server (Developer tab, Start Server) or check the URL"
        else:
            hint = "start it or check the URL"
        super().__init__(f"{server.sentence} is not reachable; {hint}.")


class ModelNotFound(LMStudioError):
    """The requested model is not among the server's models. `server_message` is the
    server's own words when it said so (None when the client found out by itself)."""

    code = "model_not_found"

    def __init__(self, model, url=None, message=None, server=None, server_message=None):
        self.model = model
        self.server_message = server_message
        server = _name(server) or (ServerName(url) if url else None)
        where = f" on {server}" if server else ""
        super().__init__(message or f"Model '{model}' is not available{where}.")


class UpstreamError(LMStudioError):
    """The server answered, but with an error (HTTP status >= 400, or an error in a 200 body)."""

    def __init__(self, status, server_message, transient=None, server=None):
        self.status = int(status)
        self.server_message = server_message
        self.server = _name(server)
        self.transient = self.status >= 500 if transient is None else transient
        super().__init__(self._sentence())

    def _sentence(self):
        who = self.server.sentence if self.server else "The model server"
        # A 200 that carries an error (LM Studio's way, and errors inside a stream) is no
        # status worth showing.
        status = f" (HTTP {self.status})" if self.status != 200 else ""
        return f"{who} answered with an error{status}: {self.server_message.rstrip('.')}."


class StreamBroken(UpstreamError):
    """A streamed answer ended before it was complete: the connection closed in the middle,
    or a frame could not be read. Asking again may well succeed."""

    code = "stream_broken"

    def __init__(self, problem, server=None):
        super().__init__(200, problem, transient=True, server=server)

    def _sentence(self):
        who = str(self.server) if self.server else "the model server"
        return f"The answer from {who} broke off: {self.server_message.rstrip('.')}."


class ContextTooLong(UpstreamError):
    """The server refused the prompt because it does not fit the model's context.
    `prompt_tokens` and `context_length` are the server's own numbers (None when its error
    does not give them)."""

    code = "context_too_long"

    def __init__(self, status, server_message, prompt_tokens=None, context_length=None,
                 server=None):
        self.prompt_tokens = prompt_tokens
        self.context_length = context_length
        super().__init__(status, server_message, transient=False, server=server)

    def _sentence(self):
        where = str(self.server) if self.server else "the model server"
        if self.prompt_tokens is not None and self.context_length is not None:
            return (f"The prompt has {self.prompt_tokens} tokens but the model's context on "
                    f"{where} holds {self.context_length}; shorten the conversation or load "
                    "the model with a longer context.")
        return (f"The prompt is longer than the model's context on {where} "
                f"({self.server_message.rstrip('.')}); shorten the conversation or load the "
                "model with a longer context.")

    def details(self):
        return dict(super().details(), promptTokens=self.prompt_tokens,
                    contextLength=self.context_length)


class LMStudioTimeout(LMStudioError):
    """The server did not answer (or finish answering) in time."""

    transient = True
    code = "lmstudio_timeout"

    def __init__(self, url, seconds=None, server=None):
        server = _name(server) or ServerName(url)
        self.url = url
        self.seconds = seconds
        self.server = server
        within = f" within {seconds:g} seconds" if seconds else " in time"
        super().__init__(f"{server.sentence} did not answer{within}.")


class StructuredOutputError(LMStudioError):
    """The server answered, but no JSON that fits the schema came back."""

    def __init__(self, name, problem):
        self.name = name
        self.problem = problem
        super().__init__(f"The model gave no valid {name} JSON: {problem.rstrip('.')}.")


# -- "the prompt is longer than the context", as each server says it -----------------------

_N = r"(\d+)"
#: (pattern, which group is the prompt's tokens, which the context length); first match wins
_OVERFLOW_PATTERNS = [(re.compile(pattern, re.IGNORECASE | re.DOTALL), prompt, context)
                      for pattern, prompt, context in (
    # llama.cpp's server (exceed_context_size_error; older builds say "the request exceeds the
    # available context size, try increasing it" without numbers)
    (rf"request \({_N} tokens\) exceeds (?:the available )?context size \({_N} tokens\)", 1, 2),
    (rf"input \({_N} tokens\) is larger than the max context size \({_N} tokens\)", 1, 2),
    # llama-cpp-python's own ValueError (its server answers 500 with it when it cannot read
    # the request back)
    (rf"requested tokens \({_N}\) exceed context window of {_N}", 1, 2),
    # vLLM (0.6 and later)
    (rf"maximum context length is {_N} tokens\. however, your request has {_N} input tokens",
     2, 1),
    (rf"maximum context length is {_N} tokens and your request has {_N} input tokens", 2, 1),
    # OpenAI's wording, used by llama-cpp-python's server and older vLLM: the messages' count
    # is the prompt; "requested" alone also counts the completion's max_tokens
    (rf"maximum context length is {_N} tokens[.,] however,? you requested \d+ tokens "
     rf"\({_N} in (?:the messages|your prompt)", 2, 1),
    (rf"maximum context length is {_N} tokens[.,] however,? you requested {_N} tokens", 2, 1),
    # LM Studio 0.4 ("Input does not fit in context length. The input has N tokens, ...")
    (rf"the input has {_N} tokens, but the context length only supports {_N} tokens", 1, 2),
    # LM Studio 0.3 ("Trying to keep the first N tokens when context the overflows. ...")
    (rf"trying to keep the first {_N} tokens when (?:the )?context (?:the )?overflows.*?"
     rf"context length of only {_N} tokens", 1, 2),
    # LM Studio / llama.cpp's n_keep check
    (rf"n_keep:?\s*\(?{_N}\)?\s*>=?\s*n_ctx:?\s*\(?{_N}\)?", 1, 2),
)]
#: words that mark the error when its numbers are not given
_OVERFLOW_WORDS = (
    "exceed_context_size_error", "context_length_exceeded", "exceeds the available context size",
    "greater than the context length", "does not fit in context length",
    "context size has been exceeded", "maximum context length is",
)


def context_overflow(message, details=None):
    """(prompt_tokens, context_length) when a server's error says the prompt does not fit the
    context (either may be None when the error does not say); None for any other error.
    `details` is the error's JSON object, where llama.cpp puts n_prompt_tokens and n_ctx."""
    details = details if isinstance(details, dict) else {}
    text = message or ""
    if details.get("type") == "exceed_context_size_error" or "n_ctx" in details:
        prompt, context = _int(details.get("n_prompt_tokens")), _int(details.get("n_ctx"))
        if prompt is not None and context is not None:
            return prompt, context
    for pattern, prompt, context in _OVERFLOW_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(match.group(prompt)), int(match.group(context))
    lowered = text.lower()
    kinds = {str(details.get(key)).lower() for key in ("type", "code")}
    if any(word in lowered or word in kinds for word in _OVERFLOW_WORDS):
        return None, None
    return None


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def upstream_error(status, server_message, details=None, transient=None, server=None):
    """The error for a server's error answer: ContextTooLong when it says the prompt does not
    fit, UpstreamError otherwise."""
    numbers = context_overflow(server_message, details)
    if numbers is not None:
        return ContextTooLong(status, server_message, *numbers, server=server)
    return UpstreamError(status, server_message, transient, server=server)
