"""Text helpers for model calls: token estimates, chunking, and checks of an answer."""

import json
import logging
import math
import re

logger = logging.getLogger(__name__)

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORD_WITH_SPACE = re.compile(r"\S+\s*|\s+")
_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_REFUSAL = re.compile(
    r"\b(I(?:'m| am) sorry,? but I (?:can(?:'|no)t|won't|am unable)"
    r"|I can(?:'|no)t (?:help|assist|comply|provide|do that|fulfil)"
    r"|I(?:'m| am) (?:not able|unable) to (?:help|assist|comply|provide)"
    r"|I won't be able to (?:help|assist)"
    r"|As an AI(?: language model)?,? I (?:can(?:'|no)t|am not able|don't))",
    re.IGNORECASE,
)


def estimate_tokens(text):
    """Rough token count without the model's tokenizer: a word is about one token per four
    characters, each punctuation mark one. Errs high, which is the safe side for context."""
    if not text:
        return 0
    return sum(max(1, math.ceil(len(piece) / 4)) for piece in _PIECE.findall(text))


def truncate_to_context(text, max_tokens):
    """The longest start of `text` (cut at a word boundary) estimated within `max_tokens`."""
    if max_tokens <= 0:
        return ""
    if estimate_tokens(text) <= max_tokens:
        return text
    pieces = _WORD_WITH_SPACE.findall(text)
    kept, used = [], 0
    for piece in pieces:
        cost = estimate_tokens(piece)
        if used + cost > max_tokens:
            break
        kept.append(piece)
        used += cost
    return "".join(kept).rstrip()


def chunk_text(text, chunk_tokens, overlap_tokens=0):
    """Split text into pieces of about `chunk_tokens`, each repeating the last
    `overlap_tokens` of the one before, so that no sentence loses its context."""
    if chunk_tokens <= 0:
        raise ValueError("chunk_tokens must be positive")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError("overlap_tokens must be at least 0 and less than chunk_tokens")
    pieces = _WORD_WITH_SPACE.findall(text)
    costs = [estimate_tokens(piece) for piece in pieces]
    chunks, start = [], 0
    while start < len(pieces):
        end, used = start, 0
        while end < len(pieces) and (used + costs[end] <= chunk_tokens or end == start):
            used += costs[end]
            end += 1
        chunks.append("".join(pieces[start:end]).strip())
        if end >= len(pieces):
            break
        back, overlap = end, 0
        while back > start + 1 and overlap + costs[back - 1] <= overlap_tokens:
            back -= 1
            overlap += costs[back]
        start = back
    return [chunk for chunk in chunks if chunk]


def normalize_usage(usage, text):
    """Token usage with all three counts; the completion estimated when the server sent none."""
    usage = usage or {}
    completion = usage.get("completion_tokens")
    if completion is None:
        completion = estimate_tokens(text)
    prompt = usage.get("prompt_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": usage.get("total_tokens") or prompt + completion}


def split_reasoning(text):
    """(answer, reasoning) for text that opens with a <think>…</think> block."""
    match = _THINK.match(text or "")
    if not match:
        return text, None
    return text[match.end():], match.group(1).strip() or None


def _repeats(text):
    """True when the answer ends in, or is mostly, a loop of the same words or lines."""
    words = text.split()
    for size in range(1, min(40, len(words) // 3) + 1):
        unit, count, end = words[-size:], 1, len(words) - size
        while end - size >= 0 and words[end - size:end] == unit:
            count += 1
            end -= size
        if count >= 3 and count * size >= 15:
            return True
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 20]
    if len(lines) >= 4:
        top = max(lines.count(line) for line in set(lines))
        return top >= 4 and top * 2 >= len(lines)
    return False


def validate_response(text, finish_reason=None, expect_json=False):
    """Problems of one answer as [{"code", "message"}]; empty when it looks fine."""
    problems = []
    text = text or ""
    stripped = text.strip()
    if not stripped:
        problems.append({"code": "empty", "message": "The answer is empty."})
    if finish_reason == "length":
        problems.append({"code": "truncated",
                         "message": "The answer was cut off at the token limit."})
    if stripped and _repeats(stripped):
        problems.append({"code": "repetition",
                         "message": "The answer repeats itself in a loop."})
    if stripped and _REFUSAL.search(stripped[:300]):
        problems.append({"code": "refusal", "message": "The model refused to answer."})
    if expect_json and stripped:
        fenced = _FENCE.match(stripped)
        try:
            json.loads(fenced.group(1) if fenced else stripped)
        except ValueError as error:
            problems.append({"code": "invalid_json",
                             "message": f"The answer is not valid JSON ({error})."})
    elif expect_json:
        problems.append({"code": "invalid_json", "message": "The answer is not valid JSON."})
    return problems
