"""Retrieved chunks as numbered sources in a prompt, and the citations read back from an answer.

The model sees each hit as "[n] Title › Heading › Sub" followed by its text, and is asked to
cite the numbers it used. `citations` turns the markers an answer carries ([1], [1, 3], [1][2],
[2-4]) back into the chunks they name, each with the sentence of the chunk that best matches
the sentence citing it, so a reader can open the passage. `uncited_sentences` finds the
sentences that state something (a figure, a name, a claim) without any marker: the task
check flags them.

Pure functions, no I/O: chat and the orchestrator call them on hits from
KnowledgeService.retrieve (dicts with snake_case keys, see service.py).
"""

import logging
import re

logger = logging.getLogger(__name__)

NOT_FOUND_PHRASE = "not in the knowledge base"

CITE_INSTRUCTIONS = (
    "Answer the question from the numbered sources below, which were retrieved from the "
    "user's knowledge base. Cite the source of each statement by its number in square "
    "brackets right after the statement, like [1], or [1][3] when several sources support "
    "it. Use only what the sources say; do not cite a number that is not listed. If the "
    "sources do not contain the answer, say that it is " + NOT_FOUND_PHRASE + " rather "
    "than answering from memory or guessing."
)

NOT_FOUND_INSTRUCTIONS = (
    "The user's knowledge base was searched for this question and no passage matched. Say "
    "that the answer is " + NOT_FOUND_PHRASE + "; do not answer from memory or invent "
    "sources. You may suggest how the question could be rephrased."
)

QUOTE_CHARS = 300           # a citation's quote stays readable in a side panel
SEPARATOR = " \u203a "      # "Title › Heading › Sub"

# A marker: [1], [1, 3], [1;2], [2-4] (also with an en dash). Three digits at most, so that
# "[2024]" in prose is not read as source two thousand and twenty-four.
# What is inside a marker's brackets: "1", "1, 3", "2-4" (the checker strips markers with it).
MARKER_NUMBERS = r"\d{1,3}(?:\s*[-\u2013,;]\s*\d{1,3})*"
_MARKER = re.compile(r"\[(" + MARKER_NUMBERS + r")\]")
_MARKERS_RUN = r"(?:\s*\[" + MARKER_NUMBERS + r"\])*"
# A sentence ends at . ! ? (closing quotes and brackets allowed), then any markers that cite
# it ("Paris is the capital. [1]" cites the sentence before the marker), then white space and
# an opening capital, digit or quote.
_SENTENCE_END = re.compile(r"[.!?][\"')\u201d\u2019]*(" + _MARKERS_RUN + r")\s+"
                           r"(?=[\"'(\u201c\u2018]?[A-Z0-9\u00c0-\u00de])")
_ABBREVIATION = re.compile(r"(?:\b(?:[A-Z]|Dr|Mr|Mrs|Ms|St|vs|e\.g|i\.e|etc|No|Fig|cf))\.$")
# Markdown read as prose (the answer checker strips answers with the same patterns).
MARKDOWN_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1[^\n]*$", re.S | re.M)
MARKDOWN_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$|^\s*\|?\s*:?-{3,}[-|:\s]*$")
MARKDOWN_BULLET = re.compile(r"^\s*(?:>\s*)*(?:[-*+\u2022]|\d{1,3}[.)])\s+")
MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f'\u2019-]*|\d+(?:[.,]\d+)*")
_COURTESY = re.compile(
    r"^(?:i hope (?:this|that) helps|let me know|feel free|sure\b|certainly\b|of course\b|"
    r"great question|good question|happy to help|thanks?\b|thank you|as an ai\b|"
    r"(?:here (?:is|are)|below (?:is|are))\b.{0,60}:?$)", re.I)

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
out over own same she should so some such than that the their theirs them then there these
they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours
""".split())


def _path(hit):
    title = hit.get("source_title") or "Untitled"
    headings = list(hit.get("heading_path") or [])
    if headings and headings[0].strip().lower() == title.strip().lower():
        headings = headings[1:]     # a document's title heading repeats the source's title
    return [title] + headings


def numbered_sources(hits):
    """The hits as numbered sources, in rank order: "[1] Title › Heading\\n<text>\\n\\n[2] ..."."""
    return "\n\n".join("[%d] %s\n%s" % (n, SEPARATOR.join(_path(hit)), (hit["text"] or "").strip())
                       for n, hit in enumerate(hits, 1))


def sources_message(hits):
    """What joins the system message: the instructions and the sources, or, with no hits, the
    instruction to say that the answer is not in the knowledge base."""
    if not hits:
        return NOT_FOUND_INSTRUCTIONS
    return CITE_INSTRUCTIONS + "\n\nSources:\n\n" + numbered_sources(hits)


def marker_numbers(text):
    """The source numbers the markers of `text` name, in order of first mention."""
    seen = []
    for match in _MARKER.finditer(text or ""):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            ends = [int(x) for x in re.split(r"\s*[-\u2013]\s*", part)]
            if len(ends) == 2 and 0 < ends[1] - ends[0] < 50:
                numbers = range(ends[0], ends[1] + 1)
            else:
                numbers = ends
            seen.extend(n for n in numbers if n not in seen)
    return seen


def citations(answer, hits):
    """[{"n", "chunkId", "sourceId", "sourceTitle", "quote", "knowledgeBaseId", "headingPath"}]
    for each source number the answer cites that names a hit, in order of first mention.
    `quote` is the chunk's passage that best matches the sentences citing it."""
    sentences = sentences_of(answer)
    found = []
    for n in marker_numbers(answer):
        if not 1 <= n <= len(hits):
            continue    # a number the model made up names nothing
        hit = hits[n - 1]
        citing = " ".join(s for s in sentences if n in marker_numbers(s))
        found.append({
            "n": n,
            "chunkId": hit["chunk_id"],
            "sourceId": hit["source_id"],
            "sourceTitle": hit.get("source_title") or "",
            "knowledgeBaseId": hit.get("knowledge_base_id"),
            "headingPath": list(hit.get("heading_path") or []),
            "quote": quote(hit["text"] or "", citing),
        })
    return found


def uncited_sentences(answer):
    """The answer's sentences that state something (a figure, a name, a claim of several
    content words) and carry no [n] marker. Questions, courtesy lines and "not in the
    knowledge base" are not claims."""
    uncited = []
    for sentence in sentences_of(answer):
        if _MARKER.search(sentence) or not _factual(sentence):
            continue
        uncited.append(sentence)
    return uncited


def _factual(sentence):
    plain = sentence.strip()
    if plain.endswith("?") or _COURTESY.match(plain) or NOT_FOUND_PHRASE in plain.lower():
        return False
    words = _WORD.findall(plain)
    if len(words) < 3:
        return False
    if any(w[0].isdigit() for w in words):
        return True
    # A capitalised word past the first is a name ("It was designed by Gustave Eiffel").
    if any(w[0].isupper() and w.lower() not in STOPWORDS for w in words[1:]):
        return True
    return len(_content(plain)) >= 4


def _prose_lines(text):
    """The text's prose lines with Markdown syntax removed (code, headings, rules dropped)."""
    lines = []
    for line in MARKDOWN_FENCE.sub("\n", text or "").splitlines():
        if not line.strip() or MARKDOWN_HEADING.match(line) or _RULE.match(line):
            continue
        line = MARKDOWN_BULLET.sub("", line)
        if line.strip().startswith("|"):
            line = ", ".join(c.strip() for c in line.strip().strip("|").split("|") if c.strip())
        line = _EMPHASIS.sub("", MARKDOWN_LINK.sub(r"\1", line)).strip()
        if line:
            lines.append(line)
    return lines


def sentences_of(text):
    """Sentences (and list items) of a text, each keeping the markers that cite it."""
    sentences = []
    for line in _prose_lines(text):
        start = 0
        for match in _SENTENCE_END.finditer(line):
            end = match.end(1)
            if _ABBREVIATION.search(line[start:match.start() + 1]):
                continue
            sentences.append(line[start:end].strip())
            start = match.end()
        rest = line[start:].strip()
        if rest:
            sentences.append(rest)
    return [s for s in sentences if s]


def _stem(word):
    word = re.sub(r"['\u2019]s$", "", word.lower())
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _content(text):
    """The stems of a text's words that carry content: no stopwords, numbers kept."""
    return {_stem(w) for w in _WORD.findall(text)
            if w.lower() not in STOPWORDS and (len(w) > 1 or w.isdigit())}


def quote(chunk_text, citing):
    """The sentence(s) of the chunk that share the most words with `citing`, at most
    QUOTE_CHARS characters; the chunk's opening when nothing matches."""
    pieces = sentences_of(chunk_text) or [chunk_text.strip()]
    wanted = _content(_MARKER.sub(" ", citing))
    scores = [len(wanted & _content(p)) - len(p) / 1000 for p in pieces]    # shorter wins ties
    best = max(range(len(pieces)), key=lambda i: (scores[i], -i)) if wanted else 0
    text = pieces[best]
    # A short best sentence reads better with its better-matching neighbour, when one matches.
    near = [i for i in (best - 1, best + 1) if 0 <= i < len(pieces) and scores[i] > 0]
    if near:
        other = max(near, key=lambda i: scores[i])
        joined = " ".join(pieces[min(best, other):max(best, other) + 1])
        if len(joined) <= QUOTE_CHARS:
            text = joined
    if len(text) > QUOTE_CHARS:
        cut = text[:QUOTE_CHARS - 1]
        text = (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(",;: ") + "\u2026"
    return text
