"""The lexical judgement of one claim against its best source passages.

What it weighs: the claim's content words the passages lack (rarer words weigh more, names
twice), each figure bound to a passage about the same thing (with rounding), names on word
boundaries, and three kinds of contradiction: a figure where the sources give another for
the same thing, a name where the sources name someone else in the same relation, and a
negation or opposite word where the sources say the reverse.
"""

import logging

from .text import (COMMON_STEMS, content_stems, names, negated, numbers, stem, tokens,
                   word_weight)

logger = logging.getLogger(__name__)

SUPPORTED, CONTRADICTED, UNSUPPORTED, UNCHECKED = (
    "supported", "contradicted", "unsupported", "unchecked")
SUPPORTED_FROM = 0.7        # a claim's probability at or above this counts as supported
CONTRADICTION_SCORE = 0.08
TOP_PASSAGES = 3
SAME_RELATION = 0.6         # share of the claim's other words a passage must state
_OPPOSITES = [("increase", "decrease"), ("rose", "fell"), ("rise", "fall"), ("more", "less"),
              ("higher", "lower"), ("larger", "smaller"), ("largest", "smallest"),
              ("before", "after"), ("first", "last"), ("north", "south"), ("east", "west"),
              ("won", "lost"), ("open", "closed"), ("true", "false"), ("oldest", "youngest"),
              ("longest", "shortest"), ("above", "below"), ("gained", "lost"),
              ("minimum", "maximum"), ("older", "younger"), ("inside", "outside"),
              ("accepted", "rejected"), ("allowed", "banned"), ("hot", "cold"),
              ("faster", "slower"), ("increased", "decreased"), ("heavier", "lighter"),
              ("cheaper", "dearer"), ("synchronous", "asynchronous"), ("odd", "even")]
OPPOSITE = {}
for _a, _b in _OPPOSITES:
    OPPOSITE.setdefault(_a, set()).add(_b)
    OPPOSITE.setdefault(_b, set()).add(_a)


def result(verdict, score, evidence=(), reasons=()):
    return {"verdict": verdict, "score": round(score, 3),
            "evidence": [{"text": p.text, "source": p.source} for p in evidence],
            "reasons": list(reasons)}


def judge_claim(claim, evidence, translation=False):
    """{"verdict", "score", "evidence", "reasons"} of one claim text against an Evidence."""
    if translation:
        return _judge_translation(claim, evidence)
    claim_stems = content_stems(claim)
    claim_names = [n for n in names(claim)]
    name_stems = {part for name in claim_names for part in name}
    claim_numbers = numbers(claim)
    specific = {w for w in claim_stems if w not in COMMON_STEMS}
    if not claim_numbers and not claim_names and len(specific) < 2:
        return result(UNCHECKED, 0.5, reasons=["No checkable fact."])
    ranked = evidence.search(claim, TOP_PASSAGES)
    if not ranked:
        missing = [n.raw for n in claim_numbers] + [_show(claim, n) for n in claim_names]
        return result(UNSUPPORTED, 0.05, reasons=[
            "Not found in the sources: %s." % ", ".join(missing) if missing else
            "Nothing in the sources is about this."])
    top = [p for _, p in ranked]
    near = set().union(*(p.stems | p.names for p in top))
    idf = evidence.idf
    total = found = 0.0
    missing_words = []
    for word in claim_stems:
        weight = word_weight(word, idf) * (2.0 if word in name_stems else 1.0)
        total += weight
        if word in near:
            found += weight
        else:
            missing_words.append(word)
    coverage = found / total if total else 1.0
    reasons, score = [], coverage
    missing = []
    for name in claim_names:
        if not any(set(name) <= (p.names | p.stems) for p in top):
            missing.append(_show(claim, name))
            score *= 0.55 if evidence.contains_name(name) else 0.45
    contradiction = (_number_conflict(claim_numbers, top, claim_stems, idf)
                     or _entity_swap(claim, claim_names, name_stems, claim_stems, top, idf)
                     or _relation_swap(claim_names, name_stems, claim_stems, top)
                     or _negation(claim, claim_stems, top, idf))
    if contradiction:
        return result(CONTRADICTED, CONTRADICTION_SCORE, top[:1], [contradiction])
    for number in claim_numbers:
        if not _number_found(number, top, claim_stems):
            missing.append(number.raw)
            score *= 0.3
    if (claim_numbers or claim_names) and not missing:
        # Every figure and name is bound to a passage: other words are paraphrase's to vary.
        score = max(score, 0.55 + 0.45 * coverage)
    if missing:
        reasons.append("Not found in the sources: %s." % ", ".join(missing))
    elif coverage < SUPPORTED_FROM and missing_words:
        reasons.append("The sources do not say: %s." % ", ".join(
            _surface(claim, w) for w in sorted(missing_words)[:5]))
    if score >= SUPPORTED_FROM and not missing:
        # Supported claims spread over 0.8..0.99, so an answer of them grades "ok".
        score = 0.8 + 0.19 * (min(score, 1.0) - SUPPORTED_FROM) / (1 - SUPPORTED_FROM)
        return result(SUPPORTED, score, top[:2], reasons)
    return result(UNSUPPORTED, min(score, SUPPORTED_FROM - 0.01), top[:1], reasons)


def _show(claim, name):
    """A name as the claim writes it."""
    words = [t for t in tokens(claim) if t[0].isalpha() and stem(t) in name]
    return " ".join(words) or " ".join(name)


def _surface(claim, word):
    return next((t for t in tokens(claim) if t[0].isalpha() and stem(t) == word), word)


def _overlap(words, other, idf):
    return sum(idf(w) for w in words & other)


def _number_found(number, passages, claim_stems):
    """The figure (or one it rounds from) is in a passage that shares the claim's words."""
    for passage in passages:
        if not passage.stems & claim_stems and number.context:
            continue
        if any(number.matches(other) for other in passage.numbers):
            return True
    return False


def _number_conflict(claim_numbers, passages, claim_stems, idf):
    """A reason when the passages give another figure for what the claim's figure counts."""
    for number in claim_numbers:
        if not number.context:
            continue
        best_match, best_other, other_raw = 0.0, 0.0, None
        for passage in passages:
            for other in passage.numbers:
                if (other.kind == "percent") != (number.kind == "percent"):
                    continue
                context = other.context
                bound = _overlap(number.context, context, idf)
                if number.matches(other):
                    best_match = max(best_match, bound + 0.01)
                elif bound > best_other:
                    best_other, other_raw = bound, other.raw
        if best_other > 0 and best_other > best_match and (
                best_other >= 0.5 * sum(idf(w) for w in number.context)):
            return "The sources give %s for this, not %s." % (other_raw, number.raw)
    return None


def _entity_swap(claim, claim_names, name_stems, claim_stems, passages, idf):
    """A name absent from the passage that states the rest of the claim, which names
    someone or something else instead: "Berlin is the capital of France"."""
    missing = [n for n in claim_names if not any(set(n) <= p.names | p.stems for p in passages)]
    if not missing:
        return None
    rest = claim_stems - {part for n in missing for part in n}
    if not rest:
        return None
    weight = sum(idf(w) for w in rest)
    for passage in passages:
        stated = _overlap(rest, passage.stems | passage.names, idf)
        others = passage.names - name_stems - claim_stems
        if weight and stated / weight >= SAME_RELATION and others:
            instead = [t for t in tokens(passage.text)
                       if t[0].isupper() and stem(t) in others]
            return "The sources name %s here, not %s." % (
                instead[0] if instead else sorted(others)[0], _show(claim, missing[0]))
    return None


def _relation_swap(claim_names, name_stems, claim_stems, passages):
    """A name the sources put in another clause than what the claim says of it: "Armstrong
    and Collins walked on the Moon" where Collins "stayed in orbit"."""
    predicate = claim_stems - name_stems - COMMON_STEMS
    if not predicate or len(claim_names) < 1:
        return None
    for passage in passages:
        if len(passage.clauses) < 2:
            continue
        for name in claim_names:
            holding = [c for c in passage.clauses if set(name) <= c[2] | c[1]]
            if not holding or any(c[1] & predicate for c in holding):
                continue
            elsewhere = [c for c in passage.clauses if c not in holding and
                         len(c[1] & predicate) * 2 >= len(predicate) and c[2] - name_stems]
            if elsewhere:
                return "In the sources: %s" % holding[0][0].rstrip(".") + "."
    return None


def _negation(claim, claim_stems, passages, idf):
    """The clause that states the claim says the opposite (a negation or an antonym)."""
    weight = sum(idf(w) for w in claim_stems) or 1.0
    claim_words = {t.lower() for t in tokens(claim)}
    claim_negated = negated(claim)
    for passage in passages:
        for text, stems, _, clause_negated, words in passage.clauses:
            if _overlap(claim_stems, stems, idf) / weight < SAME_RELATION:
                continue
            if clause_negated != claim_negated:
                return "The sources say the opposite: %s" % text
            for word in claim_words - words:
                if OPPOSITE.get(word, set()) & (words - claim_words):
                    return "The sources say the opposite: %s" % text
    return None


def _judge_translation(claim, evidence):
    """A translation cannot be compared word by word: its figures and the names inside its
    sentences (not the capitalised openers) must come from the input."""
    claim_numbers = numbers(claim)
    openers = {stem(t) for t in tokens(claim)[:1]}
    claim_names = [n for n in names(claim) if not (len(n) == 1 and n[0] in openers)]
    if not claim_numbers and not claim_names:
        return result(UNCHECKED, 0.5, reasons=["No figure or name to compare across "
                                               "languages."])
    every = evidence.passages
    missing = [n.raw for n in claim_numbers
               if not any(n.matches(o) for p in every for o in p.numbers)]
    missing += [_show(claim, n) for n in claim_names if not evidence.contains_name(n)
                and not set(n) <= {stem(w) for w in evidence.all_words}]
    if missing:
        return result(UNSUPPORTED, 0.2, reasons=["Not in the input: %s." % ", ".join(missing)])
    hits = [p for p in every if any(n.matches(o) for n in claim_numbers for o in p.numbers)]
    return result(SUPPORTED, 0.9, hits[:1])
