"""Chunking that follows the document: see chunk_text.

The text is read as blocks (Markdown headings, paragraphs, lists, fenced and indented code,
tables) with the heading path they sit under. Consecutive blocks of one section are packed
into chunks of at most `target_tokens`; a block that does not fit in a chunk of its own is
cut at its natural joints (list items, lines, sentences, then words). Every chunk keeps the
offsets it came from: `chunk.text == text[chunk.start:chunk.end]` (and never starts or ends
with white space), so a passage can be shown, highlighted or cited in the original.
"""

import dataclasses
import re

from orchestra.services.lmstudio.text import estimate_tokens

TARGET_TOKENS = 300     # a chunk's size aimed at
OVERLAP_TOKENS = 40     # repeated from the end of the chunk before, within one section
FORMATS = ("text", "markdown", "pdf")


@dataclasses.dataclass
class Chunk:
    text: str                 # what is indexed and shown to the model
    heading_path: list        # the headings it sits under, outermost first: ["Install", "Linux"]
    start: int                # offsets of the chunk in the document's text
    end: int
    tokens: int               # estimate_tokens(text)


_ATX = re.compile(r"(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"(`{3,}|~{3,})(.*)$")
_RULE = re.compile(r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$")
_MARKER = re.compile(r"(?:[-*+]|(\d{1,9})[.)])(?:[ \t]|$)")
_DELIMITER = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+")
_SENTENCE_TAIL = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"\S+")
# A paragraph longer than this under a "---" line is a paragraph and a rule, not one heading.
_SETEXT_MAX_LINES = 3


def chunk_text(text, fmt="markdown", target_tokens=TARGET_TOKENS, overlap_tokens=OVERLAP_TOKENS):
    """The chunks of `text` (format "text", "markdown" or "pdf"), in document order.

    "text" is read as paragraphs only. "markdown" follows headings (ATX and setext), lists
    (kept together where they fit, else cut between items), code blocks and tables (kept
    whole where they fit, else cut between lines). "pdf" is pages separated by form feeds:
    each page is read as Markdown under the heading path ["Page N", ...] (a heading found
    on one page goes on over the next ones, as the document does) and no chunk crosses a
    page. A chunk holds at most `target_tokens` of its own text; a chunk that
    follows another in the same section also starts with about `overlap_tokens` of the end
    of that one (whole words, from a sentence start where one is near), never across a
    heading or a page. Pure and CPU-bound: callers run it in an executor."""
    if fmt not in FORMATS:
        raise ValueError("fmt must be one of %s" % ", ".join(FORMATS))
    if target_tokens < 1:
        raise ValueError("target_tokens must be positive")
    if not 0 <= overlap_tokens < target_tokens:
        raise ValueError("overlap_tokens must be at least 0 and less than target_tokens")
    if fmt == "text":
        sections = [([], list(_paragraphs(text)))]
    elif fmt == "markdown":
        sections = _Reader(text).read(0, len(text), [], front_matter=True)
    else:
        sections, reader, at = [], _Reader(text), 0
        for number, page in enumerate(text.split("\f"), 1):
            sections += reader.read(at, at + len(page), ["Page %d" % number])
            at += len(page) + 1
    return _Packer(text, target_tokens, overlap_tokens).pack(sections)


# -- reading blocks ------------------------------------------------------------------------

def _paragraphs(text):
    """Blocks of plain text: runs of non-blank lines."""
    start = None
    at = 0
    for line in text.split("\n"):
        if line.strip():
            if start is None:
                start = at + len(line) - len(line.lstrip())
            end = at + len(line.rstrip())
        elif start is not None:
            yield ("paragraph", start, end, None)
            start = None
        at += len(line) + 1
    if start is not None:
        yield ("paragraph", start, end, None)


def _indent(line):
    if not line or line[0] not in " \t":
        return 0
    return len(line[:len(line) - len(line.lstrip(" \t"))].expandtabs(4))


class _Reader:
    """Markdown blocks of a stretch of text, grouped in sections by heading.

    A section is (heading_path, [block]); a block is (kind, start, end, items) with offsets
    into the whole text, trimmed of white space; `items` are the (start, end) of a list's
    top-level items. The heading stack lives on across calls (pages of one PDF)."""

    def __init__(self, text):
        self.text = text
        self.stack = []     # (level, title)

    def read(self, begin, end, prefix, front_matter=False):
        self.lines = self.text[begin:end].split("\n")
        self.offsets = offsets = []
        at = begin
        for line in self.lines:
            offsets.append(at)
            at += len(line) + 1
        self.prefix = prefix
        self.sections = [(self._path(), [])]
        self._parse(front_matter)
        return [section for section in self.sections if section[1]]

    def _path(self):
        return self.prefix + [title for _, title in self.stack]

    def _block(self, kind, first, last, items=None):
        """Lines first..last (inclusive, both non-blank) as a block."""
        line = self.lines[first]
        start = self.offsets[first] + len(line) - len(line.lstrip())
        end = self.offsets[last] + len(self.lines[last].rstrip())
        self.sections[-1][1].append((kind, start, end, items))

    def _heading(self, level, title):
        title = " ".join(title.split())
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        if title:
            self.stack.append((level, title))
        self.sections.append((self._path(), []))

    def _parse(self, front_matter):
        lines, n = self.lines, len(self.lines)
        para = None         # first line of the paragraph being read
        last = None         # its last line
        i = 0
        if front_matter and n > 1 and lines[0].rstrip() == "---":
            for j in range(1, n):
                if lines[j].rstrip() in ("---", "..."):
                    self._block("paragraph", 0, j)
                    i = j + 1
                    break
        while i < n:
            line = lines[i]
            s = line.strip()
            if not s:
                if para is not None:
                    self._block("paragraph", para, last)
                    para = None
                i += 1
                continue
            indent = _indent(line)
            if indent >= 4:
                if para is None:
                    i = self._indented_code(i)
                else:
                    last = i
                    i += 1
                continue
            c = s[0]
            start = None        # a block that starts on this line: the method that reads it
            if c == "#":
                m = _ATX.match(s)
                if m:
                    start = "heading"
            elif c in "`~":
                m = _FENCE.match(s)
                if m and not (c == "`" and "`" in m.group(2)):
                    start = "fence"
            if start is None and para is not None and c in "=-" and not s.strip(c) \
                    and last - para < _SETEXT_MAX_LINES:
                title = " ".join(lines[k].strip() for k in range(para, last + 1))
                self._heading(1 if c == "=" else 2, title)
                para = None
                i += 1
                continue
            if start is None:
                if c in "-*_" and _RULE.match(s):
                    start = "rule"
                elif c in "-*+" or c.isdigit():
                    m = _MARKER.match(s)
                    # An ordered list interrupts a paragraph only when it counts from 1.
                    if m and (para is None or m.group(1) in (None, "1")):
                        start = "list"
                if start is None and "|" in s and i + 1 < n:
                    after = lines[i + 1].strip()
                    if "|" in after and "-" in after and _DELIMITER.match(after):
                        start = "table"
            if start is None:
                if para is None:
                    para = i
                last = i
                i += 1
                continue
            if para is not None:
                self._block("paragraph", para, last)
                para = None
            if start == "heading":
                self._heading(len(m.group(1)), m.group(2) or "")
                i += 1
            elif start == "fence":
                i = self._fence(i, m.group(1))
            elif start == "rule":
                self._block("rule", i, i)
                i += 1
            elif start == "list":
                i = self._list(i, indent)
            else:
                i = self._table(i)
        if para is not None:
            self._block("paragraph", para, last)

    def _fence(self, i, fence):
        """A fenced code block from line i to its closing fence (or the end)."""
        lines, n = self.lines, len(self.lines)
        j = i + 1
        while j < n:
            s = lines[j].strip()
            if s.startswith(fence[0] * len(fence)) and not s.strip(fence[0]) \
                    and _indent(lines[j]) < 4:
                self._block("code", i, j)
                return j + 1
            j += 1
        last = n - 1
        while not lines[last].strip():
            last -= 1
        self._block("code", i, last)
        return n

    def _indented_code(self, i):
        lines, n = self.lines, len(self.lines)
        last = j = i
        while j + 1 < n:
            j += 1
            if not lines[j].strip():
                continue
            if _indent(lines[j]) < 4:
                break
            last = j
        self._block("code", i, last)
        return last + 1

    def _table(self, i):
        lines, n = self.lines, len(self.lines)
        j = i + 2
        while j < n and "|" in lines[j] and lines[j].strip():
            j += 1
        self._block("table", i, j - 1)
        return j

    def _list(self, i, base):
        """A list from line i: its items, with what is nested or indented under them."""
        lines, n = self.lines, len(self.lines)
        firsts, last, blank, fence = [i], i, False, None
        j = i + 1
        while j < n:
            line = lines[j]
            s = line.strip()
            if fence:
                if s.startswith(fence) and not s.strip(fence[0]):
                    fence = None
                last = j
            elif not s:
                blank = True
            elif _indent(line) > base + 1:
                m = _FENCE.match(s)
                if m:
                    fence = m.group(1)
                last, blank = j, False
            elif s[0] in "-*_" and _RULE.match(s):
                break
            elif _MARKER.match(s):
                firsts.append(j)
                last, blank = j, False
            elif blank or (s[0] == "#" and _ATX.match(s)) or _FENCE.match(s):
                break
            else:
                last = j        # a lazy continuation line
            j += 1
        items = []
        for k, first in enumerate(firsts):
            end = firsts[k + 1] - 1 if k + 1 < len(firsts) else last
            while not lines[end].strip():
                end -= 1
            line = lines[first]
            items.append((self.offsets[first] + len(line) - len(line.lstrip()),
                          self.offsets[end] + len(lines[end].rstrip())))
        self._block("list", i, last, items)
        return last + 1


# -- packing blocks into chunks ------------------------------------------------------------

_TEXT, _RULE_ATOM, _GLUED = 0, 1, 2     # atoms: whole text, a rule, a piece of a cut word


class _Packer:
    """Packs blocks into chunks. A chunk's tokens are the sum of its atoms' (estimate_tokens
    counts nothing across white space), so the text is counted once; only the pieces of a
    word cut in two are counted again, joined."""

    def __init__(self, text, target, overlap):
        self.text = text
        self.target = target
        self.overlap = overlap

    def pack(self, sections):
        self.chunks = []
        for path, blocks in sections:
            self.path, self.previous = path, None
            self.atoms, self.used = [], 0   # (start, end, cost, kind) of the chunk being filled
            self.glued = False              # the chunk before ended inside a word
            for kind, start, end, items in blocks:
                if kind == "rule" and not self.atoms:
                    continue
                cost = estimate_tokens(self.text[start:end])
                if cost <= self.target:
                    self._add(start, end, cost, _RULE_ATOM if kind == "rule" else _TEXT)
                    continue
                for piece in self._split(kind, start, end, items):
                    self._add(*piece)
            self._flush()
        return self.chunks

    def _add(self, start, end, cost, kind=_TEXT):
        if self.atoms and self.used + cost > self.target:
            self._flush()
            if kind == _RULE_ATOM:
                return
        self.atoms.append((start, end, cost, kind))
        self.used += cost

    def _flush(self):
        atoms = self.atoms
        while atoms and atoms[-1][3] == _RULE_ATOM:
            atoms.pop()
        if atoms:
            start, end = atoms[0][0], atoms[-1][1]
            glued = any(atom[3] == _GLUED for atom in atoms)
            tokens = sum(atom[2] for atom in atoms)
            if self.previous is not None and self.overlap:
                start = self._overlap_start(self.previous, start)
                tokens += estimate_tokens(self.text[start:atoms[0][0]])
                glued = glued or self.glued
            text = self.text[start:end]
            if glued:
                tokens = estimate_tokens(text)
            chunk = Chunk(text, list(self.path), start, end, tokens)
            self.chunks.append(chunk)
            self.previous, self.glued = chunk, atoms[-1][3] == _GLUED
        self.atoms, self.used = [], 0

    def _overlap_start(self, previous, start):
        """Where the chunk after `previous` starts: about `overlap` tokens (at most half of
        `previous`) before its own text, at a word start; at a sentence or line start when
        one is found in the first half of that stretch."""
        budget = min(self.overlap, previous.tokens // 2)
        text, end = self.text, previous.end
        lower = max(previous.start, end - budget * 12 - 64)
        words = list(_WORD.finditer(text, lower, end))
        if words and lower > previous.start and not text[lower - 1].isspace():
            words.pop(0)    # cut by the window: not a word start
        used, first = 0, len(words)
        while first > 0:
            used += estimate_tokens(words[first - 1].group())
            if used > budget:
                break
            first -= 1
        if first == len(words):
            return start
        limit = words[first].start() + (end - words[first].start()) // 2
        for k in range(first, len(words)):
            word = words[k]
            if word.start() > limit:
                break
            if k == 0:
                if word.start() == previous.start:
                    return word.start()
            elif _SENTENCE_TAIL.search(words[k - 1].group()) \
                    or "\n" in text[words[k - 1].end():word.start()]:
                return word.start()
        return words[first].start()

    def _split(self, kind, start, end, items):
        """(start, end, cost) pieces of an oversized block, each within the target where
        the text allows: list items, then lines (code, tables) or sentences, lines, words."""
        if kind == "list":
            spans, rest = items, ("sentences", "lines", "words")
        elif kind in ("code", "table"):
            spans, rest = self._spans("lines", start, end), ("words",)
        else:
            spans, rest = self._spans("sentences", start, end), ("lines", "words")
        return self._fit(spans, rest)

    def _fit(self, spans, rest):
        for start, end in spans:
            cost = estimate_tokens(self.text[start:end])
            if cost <= self.target:
                yield start, end, cost
            elif rest:
                yield from self._fit(self._spans(rest[0], start, end), rest[1:])
            else:
                yield from self._letters(start, end)

    def _spans(self, how, start, end):
        text = self.text
        if how == "sentences":
            at = start
            for m in _SENTENCE_END.finditer(text, start, end):
                stop = m.end() - len(m.group()) + len(m.group().rstrip())
                yield at, stop
                at = m.end()
            if at < end:
                yield at, end
            return
        pattern = _LINE if how == "lines" else _WORD
        for m in pattern.finditer(text, start, end):
            s, e = m.span()
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if s < e:
                yield s, e

    def _letters(self, start, end):
        """A single word longer than the target, cut into pieces that fit."""
        at = start
        while at < end:
            step = min(end - at, self.target * 4)
            while step > 1 and estimate_tokens(self.text[at:at + step]) > self.target:
                step //= 2
            yield at, at + step, estimate_tokens(self.text[at:at + step]), _GLUED
            at += step
