"""Chunking that follows the document: see chunk_text."""

import dataclasses
import re

from orchestra.services.lmstudio.text import estimate_tokens

TARGET_TOKENS = 300     # a chunk's size aimed at
OVERLAP_TOKENS = 40     # repeated from the end of the chunk before, within one section


@dataclasses.dataclass
class Chunk:
    text: str                 # what is indexed and shown to the model
    heading_path: list        # the headings it sits under, outermost first: ["Install", "Linux"]
    start: int                # offsets of the chunk in the document's text
    end: int
    tokens: int               # estimate_tokens(text)


_BLANK = re.compile(r"\n\s*\n")


def chunk_text(text, fmt="markdown", target_tokens=TARGET_TOKENS, overlap_tokens=OVERLAP_TOKENS):
    """The chunks of `text` (format "text", "markdown" or "pdf"), in document order.

    This first version cuts at blank lines and packs paragraphs up to `target_tokens`;
    headings, lists, code blocks and overlap are not followed yet."""
    chunks, parts, start, end, used = [], [], None, 0, 0
    pos = 0
    for piece in _BLANK.split(text) + [None]:
        if piece is not None:
            at = text.index(piece, pos) if piece else pos
            pos = at + len(piece)
            cost = estimate_tokens(piece)
        if parts and (piece is None or used + cost > target_tokens):
            body = text[start:end].strip()
            if body:
                chunks.append(Chunk(body, [], start, end, estimate_tokens(body)))
            parts, start, used = [], None, 0
        if piece is None:
            break
        if piece.strip():
            if start is None:
                start = at
            parts.append(piece)
            end, used = at + len(piece), used + cost
    return chunks
