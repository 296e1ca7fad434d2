"""Higher-level model work built on the client: benchmarks, retries, comparisons, long texts."""

import asyncio
import logging
import re

from . import text as textutil
from .errors import LMStudioError, ModelNotFound

logger = logging.getLogger(__name__)

BENCHMARK_PROMPT = (
    "Explain in about 150 words how a hash table works and when you would not use one."
)

TASK_TYPES = ("code", "chat", "summarization", "reasoning", "long-context")
_TASK_ALIASES = {"summarisation": "summarization", "summary": "summarization",
                 "long_context": "long-context", "longcontext": "long-context"}
_HINTS = {
    "code": ("coder", "code", "codestral", "devstral", "starcoder", "codellama", "codegemma"),
    "reasoning": ("r1", "reason", "reasoning", "qwq", "think", "thinking", "magistral"),
    "chat": ("instruct", "chat", "it"),
    "summarization": ("instruct", "chat", "it"),
    "long-context": (),
}


def _name_matches(model_id, hints):
    tokens = set(re.split(r"[-_./:@\s]+", model_id.lower()))
    return any(hint in tokens or (len(hint) > 3 and hint in model_id.lower()) for hint in hints)


def is_language_model(model):
    """True for chat/completion models; embeddings (known, or guessed from the id) are not."""
    if model["type"] is not None:
        return model["type"] in ("llm", "vlm")
    return "embed" not in model["id"].lower()


class ModelOpsMixin:
    """Methods of LMStudioClient that combine its basic calls."""

    # -- text helpers (pure) ---------------------------------------------------------------

    def estimate_tokens(self, text):
        return textutil.estimate_tokens(text)

    def truncate_to_context(self, text, max_tokens):
        return textutil.truncate_to_context(text, max_tokens)

    def chunk_text(self, text, chunk_tokens, overlap_tokens=0):
        return textutil.chunk_text(text, chunk_tokens, overlap_tokens)

    def validate_response(self, text, finish_reason=None, expect_json=False):
        return textutil.validate_response(text, finish_reason, expect_json)

    # -- streams collected -----------------------------------------------------------------

    async def _run_stream(self, messages, model, **params):
        """Stream one answer to the end and time it ourselves (streams carry no stats)."""
        stream = self.stream_completion(messages, model=model, **params)
        async with stream:
            async for _ in stream:
                pass
        usage = textutil.normalize_usage(stream.usage, stream.text)
        total_ms, ttft_ms = stream.total_ms, stream.ttft_ms
        generating_ms = total_ms - ttft_ms if ttft_ms is not None else total_ms
        tps = usage["completion_tokens"] / (generating_ms / 1000.0) if generating_ms > 0 else None
        text, thought = textutil.split_reasoning(stream.text)
        return {
            "text": text, "finish_reason": stream.finish_reason, "model": stream.model,
            "usage": usage, "reasoning": stream.reasoning or thought,
            "timings": {"ttft_ms": ttft_ms, "total_ms": total_ms, "tokens_per_second": tps},
        }

    async def benchmark_model(self, model=None, prompt=None):
        model = await self._resolve_model(model)
        prompt = prompt or BENCHMARK_PROMPT
        result = await self._run_stream([{"role": "user", "content": prompt}], model,
                                        temperature=0, max_tokens=256)
        usage, timings = result["usage"], result["timings"]
        record = {
            "model": model, "prompt": prompt, "ttft_ms": timings["ttft_ms"],
            "tokens_per_second": timings["tokens_per_second"], "total_ms": timings["total_ms"],
            "tokens_generated": usage["completion_tokens"],
            "prompt_tokens": usage["prompt_tokens"] or textutil.estimate_tokens(prompt),
        }
        record["id"] = await self.benchmarks.add(**record) if self.benchmarks else None
        return record

    # -- resilience ------------------------------------------------------------------------

    async def generate_with_retry(self, messages=None, *, prompt=None, model=None, fallbacks=(),
                                  retries=2, backoff=0.5, **params):
        first = model if model is not None else await self.default_model()
        candidates = [first, *[item for item in fallbacks if item != first]]
        last_error = None
        for candidate in candidates:
            for attempt in range(retries + 1):
                try:
                    result = await self.generate_completion(
                        messages, prompt=prompt, model=candidate, **params)
                    result["attempts"] = attempt + 1
                    return result
                except ModelNotFound as error:
                    last_error = error
                    break  # another model may exist
                except LMStudioError as error:
                    if not error.transient:
                        raise  # the request itself is wrong: no model or retry will fix it
                    last_error = error
                    logger.info("transient failure on %s (attempt %d): %s",
                                candidate, attempt + 1, error.message)
                    if attempt < retries:
                        await asyncio.sleep(backoff * (2 ** attempt))
        raise last_error

    async def _bounded(self, coroutines):
        gate = asyncio.Semaphore(max(1, self.max_concurrency))

        async def run(coroutine):
            async with gate:
                return await coroutine

        return await asyncio.gather(*(run(coroutine) for coroutine in coroutines))

    async def compare_models(self, prompt, models, **params):
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        expect_json = bool(params.get("response_format"))

        async def one(model):
            try:
                result = await self._run_stream(messages, model, **params)
            except LMStudioError as error:
                return {"model": model, "text": "", "finish_reason": None, "timings": None,
                        "usage": None, "problems": [], "error": error.message}
            problems = self.validate_response(result["text"], result["finish_reason"],
                                              expect_json)
            return {"model": model, "text": result["text"],
                    "finish_reason": result["finish_reason"], "timings": result["timings"],
                    "usage": result["usage"], "problems": problems, "error": None}

        return await self._bounded([one(model) for model in models])

    # -- choosing a model ------------------------------------------------------------------

    async def recommend_model(self, task_type):
        task = _TASK_ALIASES.get(task_type.strip().lower(), task_type.strip().lower())
        if task not in TASK_TYPES:
            raise ValueError(f"unknown task type {task_type!r}; use one of {TASK_TYPES}")
        models = [m for m in await self.list_models() if is_language_model(m)]
        if not models:
            await self.default_model()  # raises the "no language model" error
        speeds = await self._latest_speeds()
        fastest = max(speeds.values(), default=0) or 1
        longest = max((m["max_context_length"] or 0 for m in models), default=0) or 1
        scored = []
        for order, model in enumerate(models):
            score, reasons = 0.0, []
            if _name_matches(model["id"], _HINTS[task]):
                score += 3
                reasons.append(f"its name marks it as a {task} model" if task != "chat"
                               else "it is tuned for instructions")
            context = model["max_context_length"] or 0
            if task in ("long-context", "summarization") and context:
                score += (4 if task == "long-context" else 1) * context / longest
                reasons.append(f"it takes {context:,} tokens of context")
            if model["id"] in speeds:
                score += 2 * speeds[model["id"]] / fastest
                reasons.append(f"it ran at {speeds[model['id']]:.0f} tokens/s when benchmarked")
            if model["loaded"]:
                score += 1
                reasons.append("it is already loaded")
            scored.append((score, -order, model["id"], reasons))
        score, _, best, reasons = max(scored)
        why = ", ".join(reasons) if reasons else "no model has a better signal for this task"
        return {"model": best, "reason": f"{best} for {task}: {why}.", "task_type": task}

    async def _latest_speeds(self):
        if not self.benchmarks:
            return {}
        speeds = {}
        for row in await self.benchmarks.list(limit=100):  # newest first
            if row["tokens_per_second"] and row["model"] not in speeds:
                speeds[row["model"]] = float(row["tokens_per_second"])
        return speeds

    # -- long texts ------------------------------------------------------------------------

    async def process_long_text(self, text, instruction, model=None, chunk_tokens=None):
        model = await self._resolve_model(model)
        if chunk_tokens is None:
            chunk_tokens = await self._input_budget(model, instruction)
        chunks = self.chunk_text(text, chunk_tokens, min(chunk_tokens // 10, 200))
        if len(chunks) <= 1:
            answer = await self._ask(instruction, text, model)
            return {"text": answer, "chunks": 1}
        total = len(chunks)
        partials = await self._bounded([
            self._ask(instruction, f"Part {i} of {total}:\n\n{chunk}", model)
            for i, chunk in enumerate(chunks, 1)
        ])
        combined = "\n\n".join(f"Answer for part {i}:\n{p}" for i, p in enumerate(partials, 1))
        # Answers that together still overflow the budget are cut rather than looped over.
        combined = self.truncate_to_context(combined, chunk_tokens)
        merge = (f"{instruction}\n\nYou are given answers for consecutive parts of one long "
                 "text. Combine them into one answer for the whole text.")
        return {"text": await self._ask(merge, combined, model), "chunks": total}

    async def _input_budget(self, model, instruction):
        models = await self.list_models()
        entry = next((m for m in models if m["id"] == model), None)
        context = (entry or {}).get("max_context_length") or 4096
        # Half the window for the text; the rest for the instruction and the answer.
        return max(256, context // 2 - self.estimate_tokens(instruction))

    async def _ask(self, instruction, content, model):
        result = await self.generate_completion(
            [{"role": "system", "content": instruction}, {"role": "user", "content": content}],
            model=model,
        )
        return result["text"]
