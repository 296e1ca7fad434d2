"""HallucinationDetector: splits an answer into claims and checks each the way its kind allows.

Nothing is downloaded. With sources, each claim is judged lexically against its best source
passages and, when the model server answers, by the model with a verbatim quote. Without
sources, claims are compared with fresh samples of the same question (SelfCheckGPT's idea),
and the report says the answer is unsourced. Creative writing and code get the response
checks only. Each claim gets a probability; the answer's score leans on its weakest claim,
because one invented figure is enough to make an answer untrustworthy. An answer written from
numbered passages (`cited`) must cite them: each factual sentence that cites none is flagged.
"""

import asyncio
import concurrent.futures
import contextlib
import logging

from orchestra.services.lmstudio import LMStudioError, LMStudioTimeout, LMStudioUnavailable

from . import citations, consistency, judge as judging, lexical
from .claims import split_claims
from .evidence import Evidence
from .text import numbers

logger = logging.getLogger(__name__)

OK, SUSPECT, HALLUCINATED, UNCHECKED = "ok", "suspect", "likely hallucinated", "unchecked"
SUSPECT_BELOW = 0.8
HALLUCINATED_BELOW = 0.4
SAMPLE_TEMPERATURE = 0.9    # samples must vary for disagreement to mean anything
MAX_JUDGED = 8              # model judgements per answer: the gate bounds them, this too
PROBLEM_PENALTY = {"empty": 1.0, "refusal": 0.5, "repetition": 0.5, "truncated": 0.3,
                   "invalid_json": 0.3, "omitted": 0.3}
GROUNDED_KINDS = ("answer", "extract", "summarize")
RESPONSE_ONLY_KINDS = ("creative", "code")
FAITHFUL_KINDS = ("summarize", "translate")    # checked against their input, if any


class HallucinationDetector:
    """Checks answers; `gate` (a ModelGate) bounds the extra model calls like any other.

    Indexing and judging against long sources takes up to seconds of pure Python, so that
    work runs on the detector's own thread, never on the IOLoop; one thread is enough, since
    the work holds the GIL, and it keeps the IOLoop's share of it. Each check indexes its own
    sources (a subtask's are the passages it was shown and its inputs); the sentences of a
    source text are parsed once (evidence.PassageCache)."""

    def __init__(self, lmstudio, gate=None, samples=3, judge=True):
        self.lmstudio = lmstudio
        self.gate = gate
        self.samples = samples
        self.judge = judge
        self._executor = None

    async def _off_loop(self, fn, *args):
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="checker")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def check(self, text, question=None, sources=None, samples=None, model=None,
                    messages=None, finish_reason=None, label=None, kind=None,
                    expect_json=False, judge=True, cited=None):
        """The report for `text` (see the module docstring; shape in the README). With
        `cited`, the first `cited` sources are the numbered passages [1].. the answer was
        written from (0: none matched), and its factual sentences must cite them."""
        kind = kind or "answer"
        samples = self.samples if samples is None else samples
        problems = self.lmstudio.validate_response(text, finish_reason, expect_json)
        checks = {}
        claims = [dict(c, **lexical.result(lexical.UNCHECKED, 0.5)) for c in split_claims(text)]
        if cited is not None:   # numbered as given: an empty passage still took its number
            cited = sum(1 for s in (sources or [])[:cited] if (s or "").strip())
        sources = tuple(s for s in (sources or []) if (s or "").strip())
        evidence = None
        if sources and kind not in RESPONSE_ONLY_KINDS:
            evidence = await self._off_loop(self.ground, claims, sources, kind)
        taken, method, reason = 0, None, None
        if kind in RESPONSE_ONLY_KINDS:
            claims, reason = [], "A %s answer gets response checks only." % kind
        elif evidence:
            method = "grounding"
            if kind == "translate":
                problems += omissions(text, evidence)
            if judge and self.judge and claims:
                checks["judge"] = await self.judge_claims(claims, evidence, model, label)
        elif kind in FAITHFUL_KINDS:
            # Other samples of a summary or translation of nothing say nothing about it.
            claims, reason = [], "A %s is checked against its input, and it was given none." % (
                "translation" if kind == "translate" else "summary")
        else:
            if messages is None and question:
                messages = [{"role": "user", "content": question}]
            if messages and samples > 0 and (text or "").strip() and claims:
                answers, failure = await self.sample(messages, samples, model, label)
                taken = len(answers)
                if answers:
                    method = "self-consistency"
                    self.consistency(claims, answers)
                if failure:
                    problems.append({"code": "sampling_failed", "message": (
                        "Self-consistency could only use %d of %d samples: %s"
                        % (len(answers), samples, failure))})
            if method:
                reason = "Unsourced: compared only with %d other answers of the same model." \
                    % taken
        # A failed sample says nothing against the answer: it leaves claims unchecked.
        checks["response"] = max(0.0, 1.0 - sum(PROBLEM_PENALTY.get(p["code"], 0.2)
                                                for p in problems
                                                if p["code"] != "sampling_failed"))
        checked = [c for c in claims if c["verdict"] != lexical.UNCHECKED]
        if method and checked:
            share = sum(c["verdict"] == lexical.SUPPORTED for c in checked) / len(checked)
            checks["grounding" if method == "grounding" else "consistency"] = share
        score, verdict = self.grade(claims, checks["response"], kind)
        uncited = []
        if cited is not None and kind in GROUNDED_KINDS:
            uncited = citations.uncited_flags(text, claims, cited)
            checks["uncited"] = len(uncited)
        if uncited and verdict != HALLUCINATED:
            # A fact nobody can trace is not ok, even when it happens to be right; the score
            # drops with it, so a re-asked answer that cites its passages scores better.
            score, verdict = round(min(score, SUSPECT_BELOW - 0.01), 3), SUSPECT
        if verdict == UNCHECKED:
            reason = reason or self.unchecked_reason(claims, sources, messages or question,
                                                     samples, taken)
        flags = [{"sentence": c["text"], "reason": c["reasons"][0] if c["reasons"] else (
            "Not supported."), "method": c.get("method") or method}
            for c in claims if c["verdict"] in (lexical.CONTRADICTED, lexical.UNSUPPORTED)]
        flags += uncited
        return {"score": score, "verdict": verdict, "reason": reason,
                "grounded": method == "grounding",
                "claims": [{k: c[k] for k in ("text", "verdict", "score", "evidence",
                                              "reasons")} for c in claims],
                "flags": flags, "problems": problems, "samples": taken,
                "checks": {k: round(v, 3) if isinstance(v, float) else v
                           for k, v in checks.items()}}

    @staticmethod
    def ground(claims, sources, kind):
        """Judge each claim against the sources' best passages (on the checker's thread);
        the sources' index, empty when they hold no passage."""
        evidence = Evidence(list(sources))
        if evidence:
            for claim in claims:
                claim.update(lexical.judge_claim(claim["text"], evidence,
                                                 translation=kind == "translate"))
        return evidence

    @staticmethod
    def grade(claims, response, kind):
        """(graded score, verdict): the claims' probabilities, leaning on the weakest."""
        checked = [c for c in claims if c["verdict"] != lexical.UNCHECKED]
        if not checked:
            if kind in RESPONSE_ONLY_KINDS or response < 1.0:
                score = round(response, 3)
                return score, verdict_for(score, [])
            return round(min(response, 0.5), 3), UNCHECKED
        scores = [c["score"] for c in checked]
        claimed = 0.5 * sum(scores) / len(scores) + 0.5 * min(scores)
        score = round(min(response, claimed), 3)
        if any(c["verdict"] == lexical.CONTRADICTED for c in checked):
            return round(min(score, HALLUCINATED_BELOW - 0.01), 3), HALLUCINATED
        unsupported = [c for c in checked if c["verdict"] == lexical.UNSUPPORTED]
        if score < HALLUCINATED_BELOW and len(unsupported) >= 2 and (
                len(unsupported) * 2 > len(checked)):
            return score, HALLUCINATED
        if unsupported:
            return min(score, SUSPECT_BELOW - 0.01), SUSPECT
        return score, verdict_for(score, [])

    @staticmethod
    def unchecked_reason(claims, sources, asked, samples, taken):
        if claims and sources:
            return "No claim states a figure, a name or a fact the sources could confirm."
        if not claims:
            return "The answer makes no claim that could be checked."
        if not asked:
            return "No sources and no question: nothing to check the answer against."
        if samples <= 0:
            return "No sources, and self-consistency samples were turned off."
        return "No sources, and no samples could be taken (%d)." % taken

    # -- the model's judgement -------------------------------------------------------------

    async def judge_claims(self, claims, evidence, model, label):
        """Ask the model about the least certain claims; 'used' / 'unavailable: why'."""
        order = sorted((c for c in claims), key=lambda c: abs(c["score"] - 0.5))[:MAX_JUDGED]
        outcomes = {"asked": 0, "kept": 0, "dropped": 0}
        failure = None
        for claim in order:
            found = await self._off_loop(evidence.search, claim["text"], 4)
            passages = [p for _, p in found] or evidence.passages[:4]
            slot = self.gate.slot(label or {"purpose": "check"}) if self.gate else (
                contextlib.nullcontext())
            try:
                async with slot:
                    verdict, found = await judging.judge(self.lmstudio, claim["text"], evidence,
                                                         passages, model=model)
            except (LMStudioUnavailable, LMStudioTimeout) as error:
                failure = error.message
                break
            except LMStudioError as error:     # an answer that is no judgement
                outcomes["asked"] += 1
                outcomes["dropped"] += 1
                logger.debug("judgement dropped: %s", error.message)
                continue
            outcomes["asked"] += 1
            if verdict is None:
                outcomes["dropped"] += found != "not found"
                continue
            outcomes["kept"] += 1
            combine(claim, verdict, found)
        if failure and not outcomes["asked"]:
            return "unavailable: %s" % failure
        return "%(kept)d of %(asked)d judgements kept" % outcomes

    # -- self-consistency ------------------------------------------------------------------

    async def sample(self, messages, count, model, label):
        """`count` fresh answers to the same messages; ([texts], last failure or None)."""
        async def one():
            slot = self.gate.slot(label or {"purpose": "check"}) if self.gate else (
                contextlib.nullcontext())
            async with slot:
                result = await self.lmstudio.generate_completion(
                    messages, model=model, temperature=SAMPLE_TEMPERATURE)
            return result["text"]

        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        answers, failure = [], None
        for result in results:
            if isinstance(result, LMStudioError):
                failure = result.message
            elif isinstance(result, BaseException):
                raise result
            elif result.strip():
                answers.append(result)
        return answers, failure

    @staticmethod
    def consistency(claims, answers):
        """Each claim's verdict from its support among the samples."""
        parsed = [consistency.Sample(a) for a in answers]
        claimed = {n.raw for c in claims for n in numbers(c["text"])}
        for claim in claims:
            share, reason, instead = consistency.support(claim["text"], parsed, claimed)
            verdict = lexical.SUPPORTED if share >= 0.5 else lexical.UNSUPPORTED
            if share == 0 and instead:
                verdict = lexical.CONTRADICTED  # every sample gives another figure
            claim.update(score=round(share, 3), verdict=verdict, method="self-consistency",
                         evidence=consistency.closest(claim["text"], parsed),
                         reasons=[reason] if reason else [])


def combine(claim, verdict, passage):
    """Fold a kept judgement into the claim's lexical one."""
    quote = {"text": passage.text, "source": passage.source}
    if verdict == "supported":
        if claim["verdict"] == lexical.CONTRADICTED:
            # A source that gives another figure or name for the same thing outweighs the
            # model's word: a weak judge must not wave a swap through.
            claim["reasons"].append("The model finds it supported; the sources' own figures "
                                    "or names say otherwise.")
            return
        claim.update(verdict=lexical.SUPPORTED, score=max(claim["score"], 0.9), reasons=[])
    else:
        if claim["verdict"] == lexical.SUPPORTED:
            claim.update(verdict=lexical.UNSUPPORTED, score=0.4)
        else:
            claim.update(verdict=lexical.CONTRADICTED, score=min(claim["score"], 0.1))
        claim["reasons"].append("The model finds it contradicted by: %s" % passage.text)
        claim["method"] = "judge"
    if quote not in claim["evidence"]:
        claim["evidence"].insert(0, quote)


def omissions(text, evidence):
    """Figures of the input that a translation leaves out."""
    given = numbers(text)
    lost = [n.raw for p in evidence.passages for n in p.numbers
            if not any(n.matches(o) or o.matches(n) for o in given)]
    if not lost:
        return []
    return [{"code": "omitted", "message": "The translation leaves out %s." % ", ".join(
        dict.fromkeys(lost))}]


def verdict_for(score, flags):
    if score < HALLUCINATED_BELOW:
        return HALLUCINATED
    if score < SUSPECT_BELOW or flags:
        return SUSPECT
    return OK
