"""Self-consistency without sources: each claim compared with fresh samples of the answer.

A claim is supported by a sample when a sentence of the sample says the same thing (shares
most of its content words) and every figure of the claim appears in a sample sentence about
the same thing; a sample sentence on the same topic with other figures contradicts it. This
only measures whether the model repeats itself: the report says so.
"""

import logging

from .claims import split_sentences
from .text import content_stems, names, numbers, normalise

logger = logging.getLogger(__name__)

SUPPORT_OVERLAP = 0.5       # share of a claim's content words a supporting sentence repeats
SAME_TOPIC_OVERLAP = 0.3    # a sample sentence this close talks about the same thing


def _overlap(words, other):
    return len(words & other) / len(words) if words else 0.0


class Sample:
    def __init__(self, text):
        self.plain = " %s " % normalise(text)
        self.texts = split_sentences(text)
        self.sentences = [(content_stems(s), numbers(s)) for s in self.texts]


def closest(claim, samples):
    """The sample sentence nearest to the claim, as evidence: [{"text", "sample"}] or []."""
    words = content_stems(claim)
    best, found = 0.0, []
    for index, sample in enumerate(samples):
        for text, (stems, _) in zip(sample.texts, sample.sentences):
            share = _overlap(words, stems)
            if share > best:
                best, found = share, [{"text": text, "sample": index}]
    return found if best >= SAME_TOPIC_OVERLAP else []


def support(claim, samples, claimed_figures):
    """(share of samples backing the claim, reason or None, figures the samples give)."""
    words, figures = content_stems(claim), numbers(claim)
    claim_names = [" ".join(normalise(part) for part in n) for n in names(claim)]
    agree, instead = 0, set()
    for sample in samples:
        topical = [(w, f) for w, f in sample.sentences
                   if _overlap(words, w) >= SAME_TOPIC_OVERLAP]
        if figures:
            ok = all(any(any(n.matches(o) for o in f) for _, f in topical) for n in figures)
            if not ok:
                for _, found in topical:
                    if found and not any(n.matches(o) for n in figures for o in found):
                        instead |= {o.raw for o in found}
        else:
            best = max((_overlap(words, w) for w, _ in sample.sentences), default=0.0)
            ok = best >= SUPPORT_OVERLAP or _overlap(words, set(sample.plain.split())) >= 0.8
        if ok and claim_names:
            ok = all(_name_in(name, sample) for name in claim_names)
        agree += ok
    share = agree / len(samples) if samples else 0.0
    if share >= 0.5:
        return share, None, instead
    other = (instead - claimed_figures) or instead
    if other:
        return share, "The other samples say %s instead." % ", ".join(sorted(other)), other
    return share, "Only %d of %d samples support this." % (agree, len(samples)), other


def _name_in(name, sample):
    """Names are stems; a sample mentions one when each part starts a word of it."""
    return all((" " + part) in sample.plain for part in name.split())
