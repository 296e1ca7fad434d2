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
SAME_RELATION = 0.5         # share of the claim's other words a passage must state
_OPPOSITES = [("increase", "decrease"), ("rose", "fell"), ("rise", "fall"),
              ("higher", "lower"), ("larger", "smaller"), ("largest", "smallest"),
              ("before", "after"), ("first", "last"), ("north", "south"), ("east", "west"),
              ("won", "lost"), ("open", "closed"), ("true", "false"), ("oldest", "youngest"),
              ("longest", "shortest"), ("above", "below"), ("gained", "lost"),
              ("minimum", "maximum"), ("away", "towards"), ("away", "toward"),
              ("shorter", "longer"), ("cheaper", "expensive"), ("less", "more"),
              ("older", "younger"), ("inside", "outside"),
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
    specific = claim_stems - COMMON_STEMS
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
    weights = {w: word_weight(w, idf) * (2.0 if w in name_stems else 1.0) for w in claim_stems}
    total = sum(weights.values()) or 1.0
    missing_words = [w for w in claim_stems if w not in near]
    # One passage should state the claim; words scattered over several count for less.
    best = max(sum(v for w, v in weights.items() if w in p.stems | p.names) for p in top)
    spread = sum(v for w, v in weights.items() if w in near)
    coverage = (0.8 * best + 0.2 * spread) / total if claim_stems else 1.0
    reasons, score = [], coverage
    missing = []
    for name in claim_names:
        if not any(name_in(name, p.names | p.stems, p.name_runs) for p in top):
            missing.append(_show(claim, name))
            score *= 0.55 if evidence.contains_name(name) else 0.45
    contradiction = (_number_conflict(claim_numbers, top, claim_stems, idf)
                     or _entity_swap(claim, claim_names, name_stems, claim_stems, top, idf)
                     or _relation_swap(claim_names, name_stems, claim_stems, top)
                     or _negation(claim, claim_stems, top, idf))
    if contradiction:
        return result(CONTRADICTED, CONTRADICTION_SCORE, top[:1], [contradiction])
    missing_names, missing = missing, []
    for number in claim_numbers:
        if not _number_found(number, top, claim_stems):
            missing.append(number.raw)
            score *= 0.3
    missing += missing_names
    if (claim_numbers or claim_names) and not missing:
        # Every figure and name is bound to a passage: other words are paraphrase's to vary,
        # and a claim with no specific word of its own rests on them alone.
        score = max(score, 0.55 + 0.45 * coverage, 0.0 if specific else 0.8)
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


# Last words that only say what kind of place or body a name is.
GENERIC_HEADS = frozenset(stem(w) for w in """
sea ocean river lake mountain mountains island islands desert city state county province
university college company corporation inc ltd group bay gulf strait canal valley park
""".split())


def name_in(name, stems, runs=()):
    """A name (tuple of stems) is there when its last word and half of it are: "Roman
    Colosseum" meets "the Colosseum", "Maurice Koechlin" does not meet "Maurice Ravel", and
    "North Sea" does not meet "Black Sea" (same last word, another name before it)."""
    present = sum(part in stems for part in name)
    if len(name) > 1 and name[-1] in GENERIC_HEADS and all(p in stems for p in name[:-1]):
        return True     # "the Mediterranean Sea" meets "the Mediterranean"
    if name[-1] not in stems or present * 2 < len(name):
        return False
    if present < len(name):
        return not any(len(run) > 1 and run[-1] == name[-1] and run != name for run in runs)
    return True


def _number_found(number, passages, claim_stems):
    """The figure (or one it rounds from) is in a passage that shares the claim's words;
    a claim with no specific word of its own ("The year was 1928.") cannot be bound."""
    specific = claim_stems - COMMON_STEMS
    for passage in passages:
        if specific and number.context and not passage.stems & claim_stems:
            continue
        if any(number.matches(other) for other in passage.numbers):
            return True
    return False


def _number_conflict(claim_numbers, passages, claim_stems, idf):
    """A reason when the passages give another figure for what the claim's figure counts."""
    for number in claim_numbers:
        if not number.context:
            continue
        best_match, best_other, other_raw, dated = 0.0, 0.0, None, False
        for passage in passages:
            for other in passage.numbers:
                if (other.kind == "percent") != (number.kind == "percent") or (
                        (other.kind == "year") != (number.kind == "year")):
                    continue    # a year says nothing against a count ("two prizes", 1903)
                if number.unit and other.unit and other.unit != number.unit and any(
                        number.matches(same) for same in passage.numbers):
                    continue    # "3,625 kg, or 3.625 tonnes": the tonnes are the claim's
                bound = _overlap(number.context, other.context, idf)
                if number.matches(other):
                    best_match = max(best_match, bound + 0.01)
                    dated |= number.kind == "year" and bool(passage.stems & claim_stems)
                elif bound > best_other:
                    best_other, other_raw = bound, other.raw
        # Only the context words the sources know can bind a figure to what it counts.
        known = sum(idf(w) for w in number.context if w in _known(passages))
        if dated or not known:
            continue    # a date in a passage about the claim dates it, whatever its clause
        if best_other > 0 and best_other > best_match and best_match <= 0.01 + 1e-9 and (
                best_other >= 0.5 * known):
            return "The sources give %s for this, not %s." % (other_raw, number.raw)
    return None


def _known(passages):
    return set().union(*(p.stems | p.names for p in passages))


def _entity_swap(claim, claim_names, name_stems, claim_stems, passages, idf):
    """A clause that states what the claim says but names someone or something else:
    "Berlin is the capital of France" against "The capital of France is Paris", or "Oracle
    owns PostgreSQL" against "MySQL is owned by Oracle"."""
    if not claim_names:
        return None
    rest = claim_stems - name_stems
    if not rest - COMMON_STEMS:
        return None
    weight = sum(idf(w) for w in rest)
    clauses = [(_overlap(rest, c[1] | c[2], idf), c) for p in passages for c in p.clauses]
    most = max(stated for stated, _ in clauses) if clauses else 0.0
    # Only the clauses that state the claim's relation best: a looser one elsewhere in the
    # sources ("Subversion does not store ...") is not the claim's subject.
    stating = [c for stated, c in clauses if stated >= SAME_RELATION * weight and
               stated >= most - 1e-9]
    for text, stems, clause_names, _, _ in stating:
        words = stems | clause_names
        absent = [n for n in claim_names if not name_in(n, words)]
        others = clause_names - name_stems - claim_stems
        if not absent or not others:
            continue
        if any(all(name_in(n, c[1] | c[2]) for n in absent) for c in stating):
            if len(absent) == len(claim_names):
                continue    # another clause states it of the claim's own names
            holding = [c for c in stating if all(name_in(n, c[1] | c[2]) for n in claim_names)]
            if holding:
                continue
        instead = [t for t in tokens(text) if t[0].isupper() and stem(t) in others]
        return "The sources name %s here, not %s." % (
            instead[0] if instead else sorted(others)[0], _show(claim, absent[0]))
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
                         len(c[1] & predicate) * 2 >= len(predicate) and
                         (c[1] | c[2]) - claim_stems - name_stems]   # someone else does it
            if elsewhere:
                return "In the sources: %s" % holding[0][0].rstrip(".") + "."
    return None


def _negation(claim, claim_stems, passages, idf):
    """The clause that states the claim says the opposite (a negation or an antonym)."""
    claim_words = {t.lower() for t in tokens(claim)}
    claim_negated = negated(claim)
    for passage in passages:
        for text, stems, _, clause_negated, words in passage.clauses:
            flipped = {(a, b) for a in claim_words - words
                       for b in OPPOSITE.get(a, set()) & (words - claim_words)}
            # The opposite words themselves differ: the rest must be the same relation.
            plain = claim_stems - {stem(a) for a, _ in flipped}
            own = stems - {stem(b) for _, b in flipped}
            shared = sum(word_weight(w, idf) for w in plain & own)
            if shared < SAME_RELATION * sum(word_weight(w, idf) for w in plain) and not (
                    shared >= 0.75 * sum(word_weight(w, idf) for w in own)
                    and len(plain & own) >= 2):
                continue
            if clause_negated != claim_negated or flipped:
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
