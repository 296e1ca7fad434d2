"""Text out of uploaded files: plain text, Markdown, HTML, PDF and Word documents.

`extract` decides what a file is from its first bytes (a PDF, a ZIP that holds a Word
document) and its name, never from the browser's content type alone, and returns the text
with its structure kept as Markdown where the format has one, so that the chunker can follow
headings, lists, code and tables. Parsing is CPU-bound: callers run it in an executor.
"""

import dataclasses
import html.parser
import io
import logging
import os
import re
import zipfile

import docx
import pypdf
from docx.table import Table

from orchestra.schemas import HUGE

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50_000_000

TEXT_EXTENSIONS = {".txt", ".text", ".csv", ".tsv", ".json", ".rst", ".log"}
MARKDOWN_EXTENSIONS = {".md", ".markdown"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
KINDS = "text, Markdown, HTML, PDF or Word (.docx)"


class ExtractError(Exception):
    """A file whose text cannot be had; `message` is one sentence for a person."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class Extracted:
    text: str
    fmt: str                  # how chunk_text reads it: "text", "markdown" or "pdf"
    title: str | None


def extract(data, filename, content_type=None):
    """The text of the file `data` named `filename`; ExtractError when it has none to give."""
    if len(data) > MAX_FILE_BYTES:
        raise ExtractError("The file is larger than %d MB." % (MAX_FILE_BYTES // 1_000_000))
    if not data:
        raise ExtractError("The file is empty.")
    kind = sniff(data, filename, content_type)
    if kind == "pdf":
        result = _pdf(data)
    elif kind == "docx":
        result = _docx(data)
    else:
        text = _decode(data, _html_charset(data) if kind == "html" else None)
        if kind == "html":
            title, markdown = html_to_markdown(text)
            result = Extracted(markdown, "markdown", title)
        else:
            result = Extracted(text, kind, None)
    if not result.text.strip():
        raise ExtractError("The file holds no text.")
    if len(result.text) > HUGE:
        raise ExtractError("The file's text is longer than %s characters; split it into "
                           "smaller files." % format(HUGE, ","))
    return result


def sniff(data, filename, content_type=None):
    """"pdf", "docx", "html", "markdown" or "text" for a file, or ExtractError."""
    extension = os.path.splitext(filename or "")[1].lower()
    head = data[:1024]
    # The PDF header may follow some junk, but a text file about PDFs must stay text.
    if data.startswith(b"%PDF-") or (extension == ".pdf" and b"%PDF-" in head):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return "docx"
        if extension == ".docx":
            raise ExtractError("The Word document cannot be read; it may be damaged.")
        raise ExtractError("The file is a ZIP archive, not a document; upload %s." % KINDS)
    if extension == ".pdf":
        raise ExtractError("The file is not a readable PDF; it may be damaged.")
    if extension == ".docx":
        raise ExtractError("The Word document cannot be read; it may be damaged.")
    if extension == ".doc":
        raise ExtractError("Old Word .doc files cannot be read; save it as .docx or PDF.")
    if extension in HTML_EXTENSIONS:
        return "html"
    if extension in MARKDOWN_EXTENSIONS:
        return "markdown"
    if extension in TEXT_EXTENSIONS:
        return "text"
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/pdf":
        raise ExtractError("The file is not a readable PDF; it may be damaged.")
    if kind in ("text/html", "application/xhtml+xml"):
        return "html"
    if kind in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if _looks_like_text(head):
        start = head.lstrip()[:200].lower()
        if start.startswith((b"<!doctype html", b"<html")):
            return "html"
        return "text"
    raise ExtractError("Cannot read this kind of file; upload %s." % KINDS)


def _is_docx(data):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _looks_like_text(head):
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3     # a character cut by the 1024-byte window
    return True


_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.IGNORECASE)


def _html_charset(data):
    """The charset an HTML file declares in a <meta> near its start, if any."""
    match = _META_CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def _decode(data, declared=None):
    """Text files are UTF-8 (a BOM is dropped; UTF-16 with a BOM is read too); an HTML file
    that declares another charset is read with it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ExtractError("The file is not valid UTF-16 text.")
    else:
        if b"\x00" in data:
            raise ExtractError("The file holds binary data, not text.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        if text is None and declared:
            try:
                text = data.decode(declared)
            except (LookupError, UnicodeDecodeError):
                pass
        if text is None:
            raise ExtractError("The file is not UTF-8 text; save it as UTF-8 and upload it "
                               "again.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- PDF -----------------------------------------------------------------------------------

def _pdf(data):
    """Pages joined by form feeds (chunk_text's "pdf" format)."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # an algorithm pypdf cannot undo is a password we lack too
                opened = 0
            if not opened:
                raise ExtractError("The PDF is encrypted; remove its password and upload it "
                                   "again.")
        pages, failed = [], 0
        for page in reader.pages:
            try:
                pages.append(_page_text(page))
            except Exception as e:  # one broken page leaves the others readable
                logger.info("unreadable PDF page: %r", e)
                pages.append("")
                failed += 1
        title = _pdf_title(reader)
    except ExtractError:
        raise
    except Exception as e:  # pypdf raises many kinds on a damaged file, and some bugs
        logger.info("unreadable PDF: %r", e)
        raise ExtractError("The PDF cannot be read; it may be damaged.")
    if not pages:
        raise ExtractError("The PDF has no pages.")
    if failed == len(pages):
        raise ExtractError("The PDF cannot be read; it may be damaged.")
    if not any(page.strip() for page in pages):
        raise ExtractError("The PDF has no text layer (it looks scanned); run OCR on it "
                           "first.")
    return Extracted("\f".join(pages), "pdf", title)


def _page_text(page):
    text = page.extract_text() or ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return text.replace("\x00", "")


def _pdf_title(reader):
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a damaged Info dictionary is no reason to refuse the text
        return None
    title = " ".join(str(title or "").split())
    return title[:200] or None


# -- Word ----------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"Heading (\d)$")
_LIST_STYLE = re.compile(r"List(?: Bullet| Number| Continue)?(?: (\d))?$|List Paragraph$")


def _docx(data):
    """Headings as `#`, list paragraphs as `- `, tables as `a | b` rows."""
    try:
        document = docx.Document(io.BytesIO(data))
        blocks, title, first_heading = [], None, None
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                table = _docx_table(item)
                if table:
                    blocks.append(("table", table))
                continue
            text = " ".join(item.text.split())
            if not text:
                continue
            style = item.style.name if item.style is not None else ""
            heading = _HEADING_STYLE.match(style)
            listed = _LIST_STYLE.match(style)
            if style == "Title":
                title = title or text
                blocks.append(("heading", "# " + text))
            elif heading:
                first_heading = first_heading or text
                blocks.append(("heading", "#" * min(int(heading.group(1)), 6) + " " + text))
            elif listed or _list_level(item):
                level = _list_level(item) or int((listed and listed.group(1)) or 1)
                blocks.append(("item", "  " * (level - 1) + "- " + text))
            else:
                blocks.append(("paragraph", _escape(text)))
        core_title = " ".join((document.core_properties.title or "").split())
    except Exception as e:  # python-docx and lxml raise many kinds on a damaged file
        logger.info("unreadable docx: %r", e)
        raise ExtractError("The Word document cannot be read; it may be damaged.")
    if core_title == "Word Document":   # python-docx's stand-in when the file has none
        core_title = ""
    parts = []
    for k, (kind, text) in enumerate(blocks):
        if k:
            parts.append("\n" if kind == "item" and blocks[k - 1][0] == "item" else "\n\n")
        parts.append(text)
    title = title or core_title or first_heading
    return Extracted("".join(parts), "markdown", title[:200] if title else None)


def _list_level(paragraph):
    """1.. for a paragraph with Word numbering (bullets or numbers), else 0."""
    properties = paragraph._p.pPr
    numbering = properties.numPr if properties is not None else None
    if numbering is None:
        return 0
    level = numbering.ilvl
    return (level.val if level is not None else 0) + 1


def _docx_table(table):
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:    # a merged cell is repeated across its span
                continue
            seen.add(id(cell._tc))
            cells.append(_cell(cell.text))
        rows.append(cells)
    return _table_markdown(rows)


def _cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def _table_markdown(rows):
    """`a | b` rows, a `--- | ---` line under the first so that Markdown reads a table (with
    outer pipes when there is one column: `| a |`, else `---` would underline a heading)."""
    rows = [row for row in rows if any(row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = [" | ".join(row + [""] * (width - len(row))).strip() for row in rows]
    lines.insert(1, " | ".join(["---"] * width))
    if width == 1:
        lines = ["| %s |" % line for line in lines]
    return "\n".join(lines)


_MARKDOWN_START = re.compile(r"(?:#{1,6}(?:[ \t]|$)|>|[-*+](?:[ \t]|$)|```|~~~|[=-]+[ \t]*$)")
_ORDERED_START = re.compile(r"^(\d{1,9})([.)](?:[ \t]|$))")


def _escape(line):
    """A line that would read as Markdown structure (a heading, a list item) reads as text:
    its first mark is escaped with a backslash, as Markdown does."""
    if _MARKDOWN_START.match(line):
        return "\\" + line
    return _ORDERED_START.sub(r"\1\\\2", line, count=1)


# -- HTML ----------------------------------------------------------------------------------

class MarkdownConverter(html.parser.HTMLParser):
    """Markdown of an HTML page: headings, paragraphs, lists, code and tables kept; scripts,
    styles and the page's navigation, header and footer dropped."""

    SKIP = {"script", "style", "noscript", "template", "svg", "nav", "iframe", "object",
            "canvas", "select", "button"}
    # A page's header and footer are its chrome; inside an article they are its own.
    CHROME = {"header", "footer"}
    BLOCKS = {"p", "div", "section", "article", "main", "aside", "blockquote", "dd", "dt",
              "dl", "figure", "figcaption", "address", "form", "fieldset", "details",
              "summary", "hr", "body", "center"}
    HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks = []            # (kind, markdown)
        self.inline = []            # text of the block being read
        self.skip = None            # [tag, depth] of the element being dropped
        self.title_parts, self.in_title = [], False
        self.first_h1 = None
        self.heading = None         # level of the heading being read
        self.lists = []             # "ul" or "ol" with their counters: [tag, n]
        self.pre = None             # [language, parts] of a <pre> being read
        self.table = None           # rows being read
        self.row = None
        self.cell = None
        self.articles = 0
        self.code_at = None         # where the text of an inline <code> starts

    # The parser calls these; the state above says where the text goes.

    def handle_starttag(self, tag, attrs):
        if self.skip:
            if tag == self.skip[0]:
                self.skip[1] += 1
            return
        if tag == "title":
            self.in_title = True
        elif tag in self.SKIP or (tag in self.CHROME and not self.articles):
            self.skip = [tag, 1]
        elif self.pre is not None:
            if tag == "code" and not self.pre[0]:
                self.pre[0] = _language(attrs)
        elif tag in ("article", "main"):
            self.articles += 1
            self._flush()
        elif self.cell is not None:
            if tag == "br":
                self.cell.append(" ")
        elif tag == "table":
            self._flush()
            self.table = []
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []
        elif tag in self.HEADINGS:
            self._flush()
            self.heading = self.HEADINGS[tag]
        elif tag in ("ul", "ol"):
            self._flush()
            self.lists.append([tag, 0])
        elif tag == "li":
            self._flush()
            if not self.lists:
                self.lists.append(["ul", 0])
            self.lists[-1][1] += 1
        elif tag == "pre":
            self._flush()
            self.pre = [_language(attrs), []]
        elif tag == "code":
            self.inline.append("`")
            self.code_at = len(self.inline)
        elif tag == "br":
            self.inline.append("\n")
        elif tag in self.BLOCKS:
            self._flush()

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.handle_starttag(tag, attrs)
        else:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.skip:
            if tag == self.skip[0]:
                self.skip[1] -= 1
                if not self.skip[1]:
                    self.skip = None
            return
        if tag == "title":
            self.in_title = False
        elif self.pre is not None:
            if tag == "pre":
                self._end_pre()
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(_cell("".join(self.cell)))
            self.cell = None
        elif self.cell is not None:
            return
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table" and self.table is not None:
            text = _table_markdown(self.table)
            if text:
                self.blocks.append(("table", text))
            self.table = self.row = None
        elif tag in self.HEADINGS and self.heading:
            text = _collapse("".join(self.inline))
            self.inline = []
            if text:
                self.blocks.append(("heading", "#" * self.heading + " " + text))
                if self.heading == 1 and self.first_h1 is None:
                    self.first_h1 = text
            self.heading = None
        elif tag in ("ul", "ol"):
            self._flush()
            if self.lists:
                self.lists.pop()
        elif tag == "li":
            self._flush()
        elif tag == "code":
            if self.code_at == len(self.inline):
                self.inline.pop()       # an empty <code></code>
            else:
                self.inline.append("`")
        elif tag in ("article", "main"):
            self._flush()
            self.articles = max(0, self.articles - 1)
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data):
        if self.skip:
            return
        if self.in_title:
            self.title_parts.append(data)
        elif self.pre is not None:
            self.pre[1].append(data)
        elif self.cell is not None:
            self.cell.append(data)
        else:
            # Line breaks in the markup are spaces; only <br> breaks a line.
            self.inline.append(data.replace("\r", " ").replace("\n", " "))

    def close(self):
        super().close()
        if self.pre is not None:
            self._end_pre()
        self._flush()

    # Blocks

    def _flush(self):
        """The inline text read so far as a paragraph, or as a list item inside a list."""
        text = "\n".join(_collapse(line) for line in "".join(self.inline).split("\n"))
        text = "\n".join(line for line in text.split("\n") if line)
        self.inline = []
        if not text:
            return
        if self.lists:
            depth = sum(4 if kind == "ol" else 2 for kind, _ in self.lists[:-1])
            kind, number = self.lists[-1]
            marker = "%d. " % max(number, 1) if kind == "ol" else "- "
            lines = text.split("\n")
            pad = " " * (depth + len(marker))
            item = " " * depth + marker + lines[0] + "".join("\n" + pad + l for l in lines[1:])
            self.blocks.append(("item", item))
        else:
            self.blocks.append(("paragraph", "\n".join(_escape(l) for l in text.split("\n"))))

    def _end_pre(self):
        language, parts = self.pre
        self.pre = None
        code = "".join(parts).strip("\n")
        if not code.strip():
            return
        longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
        fence = "`" * (longest + 1)
        self.blocks.append(("code", "%s%s\n%s\n%s" % (fence, language, code.rstrip(), fence)))

    @property
    def title(self):
        return _collapse("".join(self.title_parts)) or self.first_h1

    @property
    def markdown(self):
        parts = []
        for k, (kind, text) in enumerate(self.blocks):
            if k:
                parts.append("\n" if kind == "item" and self.blocks[k - 1][0] == "item"
                             else "\n\n")
            parts.append(text)
        return "".join(parts)


def _collapse(text):
    return " ".join(text.split())


def _language(attrs):
    """The language of a code block from class="language-x" (or "lang-x")."""
    for name, value in attrs:
        if name == "class" and value:
            for word in value.split():
                if word.startswith(("language-", "lang-")):
                    return re.sub(r"[^\w+#.-]", "", word.split("-", 1)[1])
    return ""


def html_to_markdown(markup):
    """(title, markdown) of an HTML document: the title from <title>, else the first <h1>."""
    converter = MarkdownConverter()
    converter.feed(markup)
    converter.close()
    return converter.title, converter.markdown

