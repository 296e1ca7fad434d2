"""extract: uploaded files (text, Markdown, HTML, PDF, Word) to text, or one sentence why not.

The binary documents in tests/fixtures/documents/ are written by make_documents.py there."""

import importlib.util
import os

import pytest

from orchestra.schemas import HUGE
from orchestra.services.knowledge.chunking import chunk_text
from orchestra.services.knowledge.extract import (MAX_FILE_BYTES, Extracted, ExtractError,
                                                  extract, html_to_markdown)

DOCUMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "fixtures", "documents")


def fixture(name):
    with open(os.path.join(DOCUMENTS, name), "rb") as f:
        return f.read()


def refused(data, filename, content_type=None):
    """The message of the ExtractError, checked to be one sentence."""
    with pytest.raises(ExtractError) as info:
        extract(data, filename, content_type)
    message = info.value.message
    assert message == str(info.value)
    assert message.endswith(".") and "\n" not in message and ". " not in message
    return message


def test_the_fixtures_are_what_make_documents_writes():
    spec = importlib.util.spec_from_file_location(
        "make_documents", os.path.join(DOCUMENTS, "make_documents.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    for name in built:
        assert os.path.exists(os.path.join(DOCUMENTS, name)), name
    for name in module.DETERMINISTIC:
        assert fixture(name) == built[name], "run make_documents.py again: %s" % name


def test_a_pdf_gives_its_pages_separated_by_form_feeds():
    result = extract(fixture("guide.pdf"), "guide.pdf", "application/pdf")
    assert result.fmt == "pdf" and result.title == "Orchestra Field Guide"
    pages = result.text.split("\f")
    assert len(pages) == 3
    assert pages[0].splitlines() == [
        "Orchestra Field Guide",
        "Orchestra runs local language models on your own machine.",
        "This guide covers installing, configuring and troubleshooting it."]
    assert pages[1].startswith("Installing\n") and "port 8765" in pages[1]
    assert "ferrous wombat" in pages[2]
    chunks = chunk_text(result.text, result.fmt)
    assert [c.heading_path for c in chunks] == [["Page 1"], ["Page 2"], ["Page 3"]]
    assert "ferrous wombat" in chunks[2].text


def test_the_kind_comes_from_the_bytes_not_the_content_type():
    pdf = extract(fixture("guide.pdf"), "upload", "text/plain")
    assert pdf.fmt == "pdf"
    word = extract(fixture("notes.docx"), "notes.bin", "application/octet-stream")
    assert word.fmt == "markdown" and word.title == "Orchestra Notes"
    # A text file that talks about PDFs stays text.
    text = extract(b"Notes on PDF files: they start with %PDF-1.7.", "notes.txt",
                   "application/pdf")
    assert text.fmt == "text"


def test_a_pdf_locked_only_for_changes_opens_with_the_empty_password():
    result = extract(fixture("owner-only.pdf"), "owner-only.pdf")
    assert "ferrous wombat" in result.text.split("\f")[2]


@pytest.mark.parametrize("name, message", [
    ("encrypted.pdf", "The PDF is encrypted; remove its password and upload it again."),
    ("corrupt.pdf", "The PDF cannot be read; it may be damaged."),
    ("scanned.pdf", "The PDF has no text layer (it looks scanned); run OCR on it first."),
])
def test_pdfs_without_usable_text_are_refused_with_a_reason(name, message):
    assert refused(fixture(name), name) == message


def test_a_file_named_pdf_that_is_not_one():
    assert refused(b"<html>oops</html>", "report.pdf") == \
        "The file is not a readable PDF; it may be damaged."


def test_a_word_document_becomes_markdown():
    result = extract(fixture("notes.docx"), "notes.docx")
    assert result == Extracted(
        "# Orchestra Notes\n\n"
        "Notes kept while setting up Orchestra for the team.\n\n"
        "# Setup\n\n"
        "- Install Python 3.11 or newer.\n"
        "- Create a virtual environment.\n"
        "  - Activate it in every new shell.\n"
        "- Start the server with the orchestra command.\n\n"
        "## Models\n\n"
        "The models we tried, with their context windows:\n\n"
        "Model | Context\n"
        "--- | ---\n"
        "Qwen 2.5 7B | 32768\n"
        "Llama 3.1 8B | 131072\n\n"
        "\\# of models tried: 2",
        "markdown", "Orchestra Notes")
    chunks = chunk_text(result.text, result.fmt, target_tokens=30, overlap_tokens=0)
    assert [(c.heading_path, c.text.split("\n")[0]) for c in chunks] == [
        (["Orchestra Notes"], "Notes kept while setting up Orchestra for the team."),
        (["Setup"], "- Install Python 3.11 or newer."),
        (["Setup"], "- Create a virtual environment."),     # with its nested item
        (["Setup"], "- Start the server with the orchestra command."),
        (["Setup", "Models"], "The models we tried, with their context windows:"),
        (["Setup", "Models"], "Model | Context"),                  # the whole table
        (["Setup", "Models"], "\\# of models tried: 2")]
    assert chunks[5].text.endswith("Llama 3.1 8B | 131072")


def test_zip_files_that_are_not_word_documents():
    assert refused(fixture("not-a-document.zip"), "archive.zip").startswith(
        "The file is a ZIP archive, not a document")
    assert refused(fixture("not-a-document.zip"), "notes.docx") == \
        "The Word document cannot be read; it may be damaged."
    damaged = fixture("notes.docx")[:2000]
    assert refused(damaged, "notes.docx") == \
        "The Word document cannot be read; it may be damaged."
    assert refused(b"plain words", "notes.docx") == \
        "The Word document cannot be read; it may be damaged."


def test_an_html_page_becomes_markdown_without_its_chrome():
    result = extract(fixture("page.html"), "page.html", "text/html")
    assert result.fmt == "markdown"
    assert result.title == "Orchestra & Friends \u2014 Handbook"
    assert result.text == (
        "# The Orchestra Handbook\n\n"
        "Orchestra is a control room for local models.\n\n"
        "## Install\n\n"
        "1. Download the package.\n"
        "2. Run `pip install orchestra`.\n"
        "    - Use a virtual environment.\n\n"
        "### Configuration\n\n"
        "```toml\n[server]\nport = 8765\n  # indented comment\n```\n\n"
        "Setting | Default\n--- | ---\nport | 8765\nhost \\| bind | 127.0.0.1\n\n"
        "\\# is not a heading here.\n\n"
        "Written by the team.")
    for dropped in ("Home", "Blog", "Docs", "Pricing", "tracking", "ignored", "Copyright",
                    "font-family"):
        assert dropped not in result.text
    chunks = chunk_text(result.text, "markdown", target_tokens=40, overlap_tokens=0)
    assert chunks[-1].heading_path == ["The Orchestra Handbook", "Install", "Configuration"]


def test_html_to_markdown_details():
    title, markdown = html_to_markdown(
        "<h1>First <em>heading</em></h1><p>a<br>b</p>"
        "<pre>x = 1\n```\ninner fence\n```</pre><ul><li><p>loose item</p></li></ul>")
    assert title == "First heading"
    assert markdown == ("# First heading\n\na\nb\n\n"
                        "````\nx = 1\n```\ninner fence\n```\n````\n\n- loose item")
    assert html_to_markdown("") == (None, "")
    # One column: outer pipes, or the dashes would make the first row a heading.
    title, markdown = html_to_markdown("<table><tr><th>Step</th></tr><tr><td>one</td></tr>"
                                       "</table>")
    assert markdown == "| Step |\n| --- |\n| one |"
    assert [c.heading_path for c in chunk_text(markdown)] == [[]]


@pytest.mark.parametrize("filename, content_type, fmt", [
    ("notes.txt", None, "text"),
    ("data.csv", "text/csv", "text"),
    ("data.json", None, "text"),
    ("readme.rst", None, "text"),
    ("readme.md", None, "markdown"),
    ("script.py", None, "text"),                # unknown name, UTF-8 text
    ("upload", "text/markdown", "markdown"),
])
def test_text_files(filename, content_type, fmt):
    result = extract("# caf\u00e9\r\nline two\r\n".encode(), filename, content_type)
    assert result == Extracted("# caf\u00e9\nline two\n", fmt, None)


def test_html_found_by_its_first_bytes_or_its_content_type():
    page = b"<!DOCTYPE html><html><title>T</title><h2>Part</h2><p>Text</p></html>"
    assert extract(page, "download", None) == Extracted("## Part\n\nText", "markdown", "T")
    assert extract(b"<h2>Part</h2>", "download", "text/html; charset=utf-8").text == "## Part"
    assert extract(page, "page.txt").fmt == "text"     # the name says text: it stays text


def test_encodings():
    assert extract(b"\xef\xbb\xbfwith a BOM", "a.txt").text == "with a BOM"
    assert extract("UTF-16 text".encode("utf-16"), "a.txt").text == "UTF-16 text"
    assert extract("UTF-16 text".encode("utf-16"), "notes").text == "UTF-16 text"
    page = '<meta charset="windows-1252"><p>caf\u00e9 \u20ac5</p>'.encode("cp1252")
    assert extract(page, "old.html").text == "caf\u00e9 \u20ac5"
    assert refused("caf\u00e9".encode("latin-1"), "a.txt") == \
        "The file is not UTF-8 text; save it as UTF-8 and upload it again."
    assert refused(b"abc\x00def", "a.txt") == "The file holds binary data, not text."


@pytest.mark.parametrize("data, filename, message", [
    (b"", "empty.txt", "The file is empty."),
    (b"  \n\n ", "blank.md", "The file holds no text."),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png", "Cannot read this kind of file; upload "
     "text, Markdown, HTML, PDF or Word (.docx)."),
    (b"\xd0\xcf\x11\xe0" + bytes(64), "old.doc",
     "Old Word .doc files cannot be read; save it as .docx or PDF."),
])
def test_files_that_cannot_be_read(data, filename, message):
    assert refused(data, filename) == message


def test_size_limits():
    assert refused(b"a" * (MAX_FILE_BYTES + 1), "big.txt") == "The file is larger than 50 MB."
    assert refused(b"a" * (HUGE + 1), "long.txt") == (
        "The file's text is longer than 5,000,000 characters; split it into smaller files.")
    assert len(extract(b"a" * HUGE, "long.txt").text) == HUGE
