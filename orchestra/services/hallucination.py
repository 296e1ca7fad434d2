"""HallucinationDetector: scores an answer by self-consistency, grounding and response checks.

Nothing is downloaded: the checks use the local model itself (extra samples of the same
question, in the spirit of SelfCheckGPT) and plain text comparison. A claim that the other
samples do not repeat, or that names a number, a name or a quotation absent from the given
sources, is flagged with the reason. `score` is 1 when every check passes and falls towards 0
as the weakest check fails; the weakest check decides because one invented figure is enough
to make an answer untrustworthy.
"""

import asyncio
import contextlib
import logging
import re

from orchestra.services.lmstudio import LMStudioError

logger = logging.getLogger(__name__)

OK, SUSPECT, HALLUCINATED = "ok", "suspect", "likely hallucinated"
SUSPECT_BELOW = 0.8
HALLUCINATED_BELOW = 0.4
SAMPLE_TEMPERATURE = 0.9    # samples must vary for disagreement to mean anything
SUPPORT_OVERLAP = 0.5       # share of a sentence's content words a supporting sample repeats
SAME_TOPIC_OVERLAP = 0.3    # a sample sentence this close talks about the same thing
PROBLEM_PENALTY = {"empty": 1.0, "refusal": 0.5, "repetition": 0.5, "truncated": 0.3,
                   "invalid_json": 0.3}

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w])")
_NAME = re.compile(r"\b[A-Z][a-zA-Z'\-]+(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][a-zA-Z'\-]+)*")
_QUOTE = re.compile(r"[\"\u201c]([^\"\u201d]{8,300})[\"\u201d]")
_WORD = re.compile(r"[a-z0-9]+")
_LIST_MARK = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
one two may might must shall yes
""".split())
# Capitalised words that open sentences or are otherwise not names.
_NOT_NAMES = frozenset("""
The A An In On At It Its This That These Those There Their They We You He She I If When
While Although However But And Or So Then Also First Second Third Finally Next Yes No Here
Each Every Some Many Most Both As For To Of With By From After Before During Because Since
Today Yesterday Tomorrow Note Step Answer Result Summary Overall
""".split())


def split_sentences(text):
    """Sentences (and list items), trimmed, without list markers."""
    sentences = []
    for piece in _SENTENCE_END.split(text or ""):
        piece = _LIST_MARK.sub("", piece).strip()
        if len(_WORD.findall(piece.lower())) >= 2:
            sentences.append(piece)
    return sentences


def content_words(text):
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def numbers(text):
    found = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "").lstrip("+")
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        found.add(value)
    return found


def names(text):
    """Proper names: capitalised runs, ignoring lone sentence openers and common words."""
    found = set()
    opening = len(text) - len(text.lstrip("\"'([ "))
    for match in _NAME.finditer(text):
        if match.start() == opening and " " not in match.group(0):
            continue  # a capitalised first word is usually just a sentence opening
        words = [w for w in match.group(0).split() if w not in _NOT_NAMES]
        if not words:
            continue
        name = " ".join(words)
        if len(name) > 1:
            found.add(name)
    return found


def quotations(text):
    return {q.strip() for q in _QUOTE.findall(text)}


def facts(sentence):
    """What can be checked against other text: numbers, names and quotations."""
    return {"numbers": numbers(sentence), "names": names(sentence),
            "quotes": quotations(sentence)}


def normalise(text):
    return " ".join(_WORD.findall(text.lower()))


def overlap(words, other_words):
    return len(words & other_words) / len(words) if words else 0.0


def verdict_for(score, flags):
    if score < HALLUCINATED_BELOW:
        return HALLUCINATED
    if score < SUSPECT_BELOW or flags:
        return SUSPECT
    return OK


class HallucinationDetector:
    """Checks answers; `gate` (a ModelGate) bounds the extra model calls like any other."""

    def __init__(self, lmstudio, gate=None, samples=3):
        self.lmstudio = lmstudio
        self.gate = gate
        self.samples = samples

    async def check(self, text, question=None, sources=None, samples=None, model=None,
                    messages=None, finish_reason=None, label=None, kind=None):
        """The report for `text`: {"score", "verdict", "flags", "problems", "samples",
        "checks"}. Self-consistency runs when a question (or the messages that produced
        the answer) is given and samples > 0; grounding runs when sources are given.
        `kind` (the subtask's kind) is accepted for callers; these checks fit every kind."""
        samples = self.samples if samples is None else samples
        problems = self.lmstudio.validate_response(text, finish_reason)
        checks = {"response": max(0.0, 1.0 - sum(PROBLEM_PENALTY.get(p["code"], 0.2)
                                                 for p in problems))}
        flags = []
        sentences = split_sentences(text)
        if sources:
            checks["grounding"], found = self.grounding(sentences, sources)
            flags.extend(found)
        if messages is None and question:
            messages = [{"role": "user", "content": question}]
        taken = 0
        if messages and samples > 0 and (text or "").strip():
            answers, failure = await self.sample(messages, samples, model, label)
            taken = len(answers)
            if answers:
                checks["consistency"], found = self.consistency(sentences, answers)
                flags.extend(found)
            if failure:
                problems.append({"code": "sampling_failed", "message": (
                    "Self-consistency could only use %d of %d samples: %s"
                    % (len(answers), samples, failure))})
        score = round(min(checks.values()), 3)
        verdict = verdict_for(score, flags)
        if verdict == OK and samples > 0 and messages and taken == 0 and not sources:
            # Nothing could be compared: an answer nobody verified is not "ok".
            verdict = SUSPECT
        return {"score": score, "verdict": verdict, "flags": flags,
                "problems": problems, "samples": taken,
                "checks": {k: round(v, 3) for k, v in checks.items()}}

    # -- grounding -------------------------------------------------------------------------

    def grounding(self, sentences, sources):
        """(share of checkable sentences whose facts all occur in the sources, flags)."""
        source_text = "\n".join(sources)
        plain = normalise(source_text)
        source_numbers = numbers(source_text)
        checked, flags = 0, []
        for sentence in sentences:
            found = facts(sentence)
            if not any(found.values()):
                continue
            checked += 1
            missing = sorted(n for n in found["numbers"] if n not in source_numbers)
            missing += sorted(n for n in found["names"] if normalise(n) not in plain)
            missing += ['"%s"' % q for q in sorted(found["quotes"])
                        if normalise(q) not in plain]
            if missing:
                flags.append({"sentence": sentence, "method": "grounding",
                              "reason": "Not found in the sources: %s." % ", ".join(missing)})
        if not checked:
            return 1.0, flags
        return (checked - len(flags)) / checked, flags

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

    def consistency(self, sentences, answers):
        """(mean support of the answer's sentences among the samples, flags)."""
        parsed = [(normalise(a), numbers(a), [(s, content_words(s), numbers(s))
                                              for s in split_sentences(a)]) for a in answers]
        supports, flags = [], []
        claimed = set().union(*(numbers(s) for s in sentences)) if sentences else set()
        for sentence in sentences:
            words, found = content_words(sentence), facts(sentence)
            agree, contradicting = 0, set()
            for plain, sample_numbers, sample_sentences in parsed:
                supported, other = self._supported(words, found, plain, sample_numbers,
                                                   sample_sentences)
                agree += supported
                contradicting |= other
            support = agree / len(parsed)
            supports.append(support)
            if support >= 0.5:
                continue
            # Figures the answer states elsewhere are not what this sentence got wrong.
            contradicting = (contradicting - claimed) or contradicting
            if contradicting:
                reason = "The other samples say %s instead." % ", ".join(sorted(contradicting))
            else:
                reason = "Only %d of %d samples support this." % (agree, len(parsed))
            flags.append({"sentence": sentence, "method": "self-consistency", "reason": reason})
        if not supports:
            return 1.0, flags
        return sum(supports) / len(supports), flags

    @staticmethod
    def _supported(words, found, plain, sample_numbers, sample_sentences):
        """(1 if the sample backs the sentence else 0, numbers it gives instead)."""
        facts_found = [n in sample_numbers for n in found["numbers"]]
        facts_found += [normalise(n) in plain for n in found["names"] | found["quotes"]]
        if facts_found:
            supported = all(facts_found)
        else:
            best = max((overlap(words, w) for _, w, _ in sample_sentences), default=0.0)
            supported = best >= SUPPORT_OVERLAP or overlap(words, set(plain.split())) >= 0.8
        instead = set()
        if found["numbers"] and not supported:
            # A sentence on the same topic with other figures is a contradiction, not a gap.
            for _, sample_words, figures in sample_sentences:
                if figures and not figures & found["numbers"] and (
                        overlap(words, sample_words) >= SAME_TOPIC_OVERLAP):
                    instead |= figures
        return int(supported), instead
