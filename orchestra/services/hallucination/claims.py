"""Claims of an answer: its sentences, and the clauses that each carry a fact of their own.

Markdown is read, not checked: code blocks, headings, table rules, bold labels and lines that
only introduce a list are not claims; bullets, emphasis, links and inline code are unwrapped
to their text. Citation markers ([1], [1, 3], [2-4]) name sources, so they are dropped: read as
figures, they would be "numbers the sources do not give". Courtesy sentences ("I hope this
helps."), questions, and clauses about the sources themselves ("that is not in the knowledge
base", as an answer over a knowledge base is asked to say) are not claims either.
"""

import logging
import re

from orchestra.services.knowledge.prompting import (MARKDOWN_BULLET, MARKDOWN_FENCE,
                                                   MARKDOWN_HEADING, MARKDOWN_LINK,
                                                   MARKER_NUMBERS)

from .text import content_stems, numbers, tokens

logger = logging.getLogger(__name__)

_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$|^\s*\|?\s*:?-{3,}")
_EMPHASIS = re.compile(r"(\*\*|__|\*|(?<!\w)_(?=\S))")
_LABEL = re.compile(r"^\s*(?:\*\*|__)[^*_\n]{1,40}?(?::(?:\*\*|__)|(?:\*\*|__):)\s*")
_INLINE_CODE = re.compile(r"`([^`]*)`")
_BOLD_LABEL = re.compile(r"^\s*(?:\*\*|__)([^*_]{1,60}?)(?:\*\*|__)\s*:?\s*$")
# As knowledge/prompting.py reads them: at most three digits, so "[2024]" stays a year.
_CITATION = re.compile(r"[ \t]*\[" + MARKER_NUMBERS + r"\](?!\()")
# A sentence ends at . ! ? followed by space and an opening capital, digit or quote; not
# after the usual abbreviations or single initials.
_SENTENCE_END = re.compile(r"(?<!\b[A-Z]\.)(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bSt\.)"
                           r"(?<!\bvs\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bMrs\.)(?<!\betc\.)"
                           r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9\u00c0-\u00de])")
_CLAUSE_JOIN = re.compile(r"\s*(?:;|,?\s+(?:and|but|while|whereas)\s+|,\s+(?:yet)\s+)",
                          re.I)
_COURTESY = re.compile(
    r"^(?:i hope (?:this|that) helps|let me know|feel free|here (?:is|are)|sure\b|certainly\b|"
    r"of course\b|great question|good question|i'm happy to|happy to help|thanks?\b|"
    r"in summary\b\W*$|in conclusion\b\W*$|as an ai\b|please note that (?:i|my))", re.I)
_ABOUT_SOURCES = re.compile(
    r"\bnot (?:in|found in|covered by|mentioned in) the (?:knowledge base|sources|passages)\b|"
    r"\b(?:knowledge base|sources|passages) (?:does|do|did)(?: not|n't) (?:say|mention|give|"
    r"state|contain|include|cover)", re.I)
_AUXILIARY = frozenset("""
is are was were be been has have had will would can could did does do may might shall should
must became become becomes made took won built wrote found led began ran grew fell rose held
sold gave left met paid said lost bought brought taught thought saw went came got kept lies
lay stood spoke chose drove flew knew put set sent spent split struck swam told understood
""".split())

MIN_WORDS = 2


def markdown_lines(text):
    """The text's lines with Markdown syntax removed; lines that are not prose are dropped."""
    text = MARKDOWN_FENCE.sub("\n", text or "")
    lines = []
    raw = text.splitlines()
    for index, line in enumerate(raw):
        if not line.strip() or MARKDOWN_HEADING.match(line) or _RULE.match(line):
            continue
        if _BOLD_LABEL.match(line):
            continue
        following = raw[index + 1] if index + 1 < len(raw) else ""
        if line.strip().startswith("|") and _RULE.match(following):
            continue    # a table's header row names columns, it states nothing
        line = MARKDOWN_BULLET.sub("", line)
        line = _LABEL.sub("", line)
        if line.strip().startswith("|"):
            line = ", ".join(c.strip() for c in line.strip().strip("|").split("|") if c.strip())
        line = MARKDOWN_LINK.sub(r"\1", line)
        line = _CITATION.sub("", line)
        line = _INLINE_CODE.sub(r"\1", line)
        line = _EMPHASIS.sub("", line).strip()
        if not line or (line.endswith(":") and len(tokens(line)) <= 12):
            continue    # "Here are the key facts:" introduces; it states nothing
        lines.append(line)
    return lines


def split_sentences(text):
    """Sentences (and list items), trimmed, without Markdown; no courtesy lines."""
    sentences = []
    for line in markdown_lines(text):
        for piece in _SENTENCE_END.split(line):
            piece = piece.strip()
            words = [t for t in tokens(piece) if t[0].isalnum()]
            if len(words) < MIN_WORDS or piece.endswith("?") or _COURTESY.match(piece):
                continue
            sentences.append(piece)
    return sentences


def _has_fact(clause):
    """A clause states something by itself: a verb, and two words or figures of content."""
    toks = tokens(clause)
    words = [t for t in toks if t[0].isalnum()]
    if len(words) < 3 or len(content_stems(clause)) + len(numbers(clause)) < 2:
        return False
    lowered = [t.lower() for t in words]
    return any(w in _AUXILIARY or (w.endswith("ed") and len(w) > 4) or (
        i > 0 and w.endswith("s") and not w.endswith("ss") and len(w) > 3 and
        lowered[i - 1] not in ("the", "a", "an", "of", "and", "its", "their"))
        for i, w in enumerate(lowered))


def split_clauses(sentence):
    """The sentence's clauses joined by and/but/while/;, where each carries its own fact;
    otherwise the sentence whole ("Armstrong and Aldrin walked on the Moon" is one claim)."""
    parts = [p.strip(" ,") for p in _CLAUSE_JOIN.split(sentence) if p and p.strip(" ,")]
    if len(parts) < 2:
        return [sentence]
    merged = [parts[0]]
    for part in parts[1:]:
        joined = sentence[sentence.find(merged[-1]) + len(merged[-1]):sentence.find(part)]
        if ";" in joined or (_has_fact(part) and _has_fact(merged[-1])):
            merged.append(part)
        else:
            merged[-1] = sentence[sentence.find(merged[-1]):sentence.find(part) + len(part)]
    return merged


def split_claims(text):
    """[{"text", "sentence"}]: the answer's claims in order."""
    claims = []
    for sentence in split_sentences(text):
        for clause in split_clauses(sentence):
            if not _ABOUT_SOURCES.search(clause):
                claims.append({"text": clause, "sentence": sentence})
    return claims
