"""Client for LM Studio's local server (or any OpenAI-compatible one), and its status probe."""

import logging

from .client import LMStudioClient, is_language_model, normalize_base_url
from .errors import (
    ContextTooLong,
    LMStudioError,
    LMStudioTimeout,
    LMStudioUnavailable,
    ModelNotFound,
    ServerName,
    StreamBroken,
    StructuredOutputError,
    UpstreamError,
)
from .stream import CompletionStream

logger = logging.getLogger(__name__)

__all__ = [
    "CompletionStream", "ContextTooLong", "LMStudioClient", "LMStudioError", "LMStudioTimeout",
    "LMStudioUnavailable", "ModelNotFound", "ServerName", "StreamBroken", "StructuredOutputError",
    "UpstreamError",
    "is_language_model", "normalize_base_url", "status",
]


async def status(client):
    """What the dashboard shows: {"reachable", "server", "activeModel", "models"} (camelCase, for
    JSON); `server` names it as error messages do ("LM Studio at URL" once its native API
    answered, "The model server at URL" otherwise)."""
    if not await client.is_running():
        return {"reachable": False, "server": client.server.sentence, "activeModel": None,
                "models": []}
    try:
        models = await client.list_models()
        active = await client.default_model()
    except LMStudioError as error:
        logger.info("%s is reachable but not answering about models: %s", client.server,
                    error.message)
        return {"reachable": True, "server": client.server.sentence,
                "activeModel": client.active_model, "models": []}
    return {
        "reachable": True,
        "server": client.server.sentence,
        "activeModel": active,
        "models": [{"id": m["id"], "type": m["type"], "state": m["state"], "loaded": m["loaded"],
                    "maxContextLength": m["max_context_length"]} for m in models],
    }
