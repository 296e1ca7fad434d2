"""A model's judgement of one claim against the sources, kept only with a verbatim quote.

The model is asked for `supported | contradicted | not_found` and the sentence of the sources
that decides it, with structured output where the client offers it. A judgement whose quote
is not in the sources (case, spacing and punctuation aside) is dropped, and so is one whose
quote shares nothing with the claim: a model that invents evidence cannot move the verdict,
so a weak judge can only help.
"""

import json
import logging
import re

from orchestra.services.lmstudio import LMStudioError

from .text import content_stems, numbers

logger = logging.getLogger(__name__)

VERDICTS = ("supported", "contradicted", "not_found")
SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "quote": {"type": "string"},
    },
    "required": ["verdict", "quote"],
    "additionalProperties": False,
}
MAX_SOURCE_CHARS = 6000
_OBJECT = re.compile(r"\{.*\}", re.S)
PROMPT = """You check one claim against source passages.
Reply with JSON only: {"verdict": "supported" | "contradicted" | "not_found", "quote": "..."}.
- supported: the passages state the claim.
- contradicted: the passages state something incompatible with the claim.
- not_found: the passages say nothing decisive about the claim.
The quote must be copied word for word from the passages (the sentence that decides);
leave it empty for not_found.

Passages:
%s

Claim: %s"""


def prompt(claim, passages):
    listed = "\n".join("- %s" % p.text for p in passages)
    return PROMPT % (listed[:MAX_SOURCE_CHARS], claim)


async def ask_json(client, messages, schema, name, model=None):
    """The model's JSON answer: through the client's structured output when it has it,
    else a plain completion whose first JSON object is parsed."""
    if hasattr(client, "generate_json"):
        return await client.generate_json(messages, schema, name=name, model=model,
                                          temperature=0)
    answer = await client.generate_completion(messages, model=model, temperature=0,
                                              max_tokens=300)
    text = (answer.get("text") or "").strip()
    found = _OBJECT.search(text)
    try:
        data = json.loads(found.group(0) if found else text)
    except ValueError:
        raise LMStudioError("The judgement was not JSON.") from None
    if not isinstance(data, dict):
        raise LMStudioError("The judgement was not a JSON object.")
    return data


def accepted(claim, data, evidence):
    """(verdict, Passage) when the judgement stands, else (None, why it was dropped)."""
    verdict = str(data.get("verdict", "")).strip().lower().replace(" ", "_")
    if verdict not in VERDICTS:
        return None, "unknown verdict"
    if verdict == "not_found":
        return None, "not found"
    quote = str(data.get("quote") or "")
    passage = evidence.quote_found(quote)
    if passage is None:
        return None, "quote not in the sources"
    shared = content_stems(quote) & content_stems(claim)
    figures = {n.value for n in numbers(quote)} & {n.value for n in numbers(claim)}
    if not shared and not figures:
        return None, "quote unrelated to the claim"
    return verdict, passage


async def judge(client, claim, evidence, passages, model=None):
    """(verdict or None, Passage or a reason); LMStudioError when the server fails."""
    messages = [{"role": "user", "content": prompt(claim, passages)}]
    data = await ask_json(client, messages, SCHEMA, "claim_judgement", model=model)
    return accepted(claim, data, evidence)
