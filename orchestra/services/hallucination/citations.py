"""Citations in answers written from numbered sources: the factual sentences that cite none.

An answer grounded in passages retrieved from a knowledge base is asked to cite them as [n].
A factual sentence without a marker cannot be traced to its passage, so it is flagged
(`uncited`), unless every claim in it rests on the task's own inputs (its description, the
results it builds on) rather than on a passage: a step that rewrites an earlier step's
findings repeats them, it does not look them up.
"""

import logging

from orchestra.services.knowledge import prompting

from . import lexical
from .text import normalise

logger = logging.getLogger(__name__)

CODE, METHOD = "uncited", "citation"


def uncited_flags(text, claims, cited):
    """Flags for the sentences of `text` that state a fact and cite nothing. `claims` are the
    checked claims of the same text; the first `cited` sources were the numbered passages."""
    flags = []
    for sentence in prompting.uncited_sentences(text):
        own = claims_of(sentence, claims)
        supported = [c for c in own if c["verdict"] == lexical.SUPPORTED]
        # A supported claim rests on its best passage (the next is only the runner-up).
        passages = sorted({c["evidence"][0]["source"] + 1 for c in supported
                           if c["evidence"] and isinstance(c["evidence"][0].get("source"), int)
                           and c["evidence"][0]["source"] < cited})
        if own and len(supported) == len(own) and not passages:
            continue    # taken from the task's inputs, which carry no numbers
        flags.append({"sentence": sentence, "reason": reason(cited, passages),
                      "method": METHOD, "code": CODE})
    return flags


def reason(cited, passages):
    if not cited:
        return "States a fact, but no passage of the knowledge base matched this step."
    if passages:
        return "Cites no source, though %s supports it." % ", ".join(
            "[%d]" % n for n in passages)
    return "Cites no source of the knowledge base."


def claims_of(sentence, claims):
    """The claims that come from `sentence` (the two modules split sentences alike, not
    always identically: either may hold the other)."""
    wanted = " %s " % normalise(sentence)
    if not wanted.strip():
        return []
    found = []
    for claim in claims:
        whole = " %s " % normalise(claim.get("sentence") or claim["text"])
        if whole.strip() and (whole in wanted or wanted in whole):
            found.append(claim)
    return found
