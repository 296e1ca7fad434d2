"""A model's judgement of one claim against the sources, kept only with a verbatim quote.

The model is asked for `supported | contradicted | not_found` and the sentence of the sources
that decides it, with structured output (the client finds the form the server takes). A
judgement whose quote is not in the sources (case, spacing and punctuation aside) is dropped,
and so is one whose quote shares nothing with the claim, or a "supported" whose quote lacks a
figure or a name of the claim: a model that invents evidence or waves a swap through cannot
move the verdict.
"""

import logging

from .lexical import name_in
from .text import content_stems, names, numbers

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
    if verdict == "supported" and not covers(quote, claim):
        return None, "quote lacks the claim's figures or names"
    return verdict, passage


def covers(quote, claim):
    """The quote gives every figure and name of the claim: a judge that calls a swapped
    figure or name "supported" is not taken at its word."""
    quoted = numbers(quote)
    if not all(any(n.matches(q) for q in quoted) for n in numbers(claim)):
        return False
    stems = content_stems(quote) | {part for name in names(quote) for part in name}
    return all(name_in(name, stems) for name in names(claim))


async def judge(client, claim, evidence, passages, model=None):
    """(verdict or None, Passage or a reason); LMStudioError when the server fails."""
    messages = [{"role": "user", "content": prompt(claim, passages)}]
    data = await client.generate_json(messages, SCHEMA, name="claim_judgement", model=model,
                                      temperature=0, max_tokens=300)
    return accepted(claim, data, evidence)
