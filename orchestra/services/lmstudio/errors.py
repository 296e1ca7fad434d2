"""Typed errors of the LM Studio client, each carrying one user-facing sentence."""

import logging

logger = logging.getLogger(__name__)


class LMStudioError(Exception):
    """Base class; `message` is one sentence fit to show a user, and `str(e) == message`."""

    #: whether trying the same request again may succeed (used by generate_with_retry)
    transient = False

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return self.message


class LMStudioUnavailable(LMStudioError):
    """The server could not be reached at all (refused, unknown host, closed before answering)."""

    transient = True

    def __init__(self, url, reason=None):
        self.url = url
        self.reason = reason
        super().__init__(
            f"LM Studio is not reachable at {url}; start LM Studio's local server "
            "(Developer tab, Start Server) or check the URL."
        )


class ModelNotFound(LMStudioError):
    """The requested model is not among the server's models."""

    def __init__(self, model, url=None, message=None):
        self.model = model
        where = f" on the server at {url}" if url else ""
        super().__init__(message or f"Model '{model}' is not available{where}.")


class UpstreamError(LMStudioError):
    """The server answered, but with an error (HTTP status >= 400, or an error in a 200 body)."""

    def __init__(self, status, server_message, transient=None):
        self.status = int(status)
        self.server_message = server_message
        self.transient = self.status >= 500 if transient is None else transient
        message = server_message.rstrip(".")
        super().__init__(f"LM Studio answered with an error (HTTP {self.status}): {message}.")


class LMStudioTimeout(LMStudioError):
    """The server did not answer (or finish answering) in time."""

    transient = True

    def __init__(self, url, seconds=None):
        self.url = url
        self.seconds = seconds
        within = f" within {seconds:g} seconds" if seconds else " in time"
        super().__init__(f"LM Studio at {url} did not answer{within}.")


class StructuredOutputError(LMStudioError):
    """The server answered, but no JSON that fits the schema came back."""

    def __init__(self, name, problem):
        self.name = name
        self.problem = problem
        super().__init__(f"The model gave no valid {name} JSON: {problem.rstrip('.')}.")
