"""The knowledge base page and a source's page: file uploads through the form (the API's
path), the search box with its marked hits and mode line, and a source's chunks as sections.
On SQLite and MariaDB."""

import html
import re

import pytest

from orchestra.web import knowledge, knowledge_api
from tests.web.conftest import field_error
from tests.knowledge_helpers import add_base_page, add_text, sources_of_page
from tests.web.test_knowledge_api import DOCUMENTS, UNREADABLE, fixture


def hits(page):
    """(source title, heading path, passage HTML) of each search hit on the page."""
    return re.findall(r'<li class="kb-hit"[^>]*>\s*<h3><a href="[^"]*">([^<]*)</a></h3>\s*'
                      r'(?:<p class="heading-path">([^<]*)</p>)?\s*'
                      r'<p class="passage">(.*?)</p>', page, re.S)


@pytest.mark.gen_test(timeout=60)
async def test_files_uploaded_in_the_form_are_indexed(browser, fetch, app):
    await browser.login()
    base = await add_base_page(browser)
    for filename in ("guide.pdf", "notes.docx", "page.html"):
        r = await browser.post(base + "/sources", {"kind": "file", "title": ""},
                               files={"file": (filename, DOCUMENTS[filename][0])})
        assert r.code == 303 and r.headers["Location"] == base, r.text[:500]
        assert "indexing it now" in (await browser.follow(r)).text
    await app.settings["services"]["knowledge"].wait()
    stored = sorted(await sources_of_page(fetch, base), key=lambda s: s["id"])
    assert [(s["title"], s["kind"], s["status"], s["format"]) for s in stored] == [
        ("guide.pdf", "file", "ready", "pdf"), ("notes.docx", "file", "ready", "markdown"),
        ("page.html", "file", "ready", "markdown")]
    page = (await browser.get(base)).text
    for s in stored:
        row = re.search(r'<tr id="source-%d".*?</tr>' % s["id"], page, re.S).group()
        assert 'class="badge ready"' in row
        assert '<td class="chunks">%d</td>' % s["chunkCount"] in row
    assert 'accept=".txt,.md,.html,.htm,.pdf,.docx"' in page
    assert "at most 50 MB" in page


@pytest.mark.gen_test(timeout=60)
async def test_an_unreadable_file_is_listed_failed_with_the_reason(browser, fetch, app):
    await browser.login()
    base = await add_base_page(browser)
    r = await browser.post(base + "/sources", {"kind": "file", "title": "Plans"},
                           files={"file": ("secret.pdf", fixture("encrypted.pdf"))})
    assert r.code == 303
    [source] = await sources_of_page(fetch, base)
    assert source["status"] == "failed" and source["error"] == UNREADABLE["encrypted.pdf"]
    page = (await browser.follow(r)).text
    flash = re.search(r'<p class="flash" role="status">([^<]*)</p>', page).group(1)
    assert html.unescape(flash) == "\u201cPlans\u201d could not be read: %s" % source["error"]
    row = re.search(r'<tr id="source-%d".*?</tr>' % source["id"], page, re.S).group()
    assert 'class="badge failed"' in row and html.escape(source["error"]) in row


@pytest.mark.parametrize("files, field, message, status", [
    ({}, "src-file-file", "Choose a file to upload.", 400),
    ({"file": ("empty.txt", b"")}, "src-file-file", "The file is empty.", 400),
    ({"file": ("big.txt", b"a" * 201)}, "src-file-file",
     "The file is larger than the limit of 0.2 kB (200 bytes).", 413),
])
@pytest.mark.gen_test
async def test_uploads_refused_by_the_form_keep_its_input(browser, fetch, monkeypatch, files,
                                                          field, message, status):
    monkeypatch.setattr(knowledge_api, "MAX_FILE", 200)
    await browser.login()
    base = await add_base_page(browser)
    r = await browser.post(base + "/sources", {"kind": "file", "title": "Kept"}, files=files)
    assert r.code == status
    assert field_error(r.text, field) == message
    assert 'aria-describedby="%s-error' % field in r.text
    assert 'value="Kept"' in r.text
    assert await sources_of_page(fetch, base) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_search_box_marks_the_words_found(browser, fetch, app, config):
    await browser.login()
    base = await add_base_page(browser)
    base_id = int(base.rsplit("/", 1)[1])
    await add_text(fetch, base_id, "Brewing <guide>", "# Tea\n\n## Brewing\n\nSteep green "
                   "tea at 80 degrees. <script>alert('tea')</script> Steeping longer makes "
                   "it bitter.")
    await add_text(fetch, base_id, "Coffee", "Grind the beans coarsely.")
    await app.settings["services"]["knowledge"].wait()

    page = (await browser.get(base + "?q=steeping+tea")).text
    assert 'id="kb-search"' in page and 'value="steeping tea"' in page
    mode = re.search(r'<p id="kb-mode">([^<]*)</p>', page).group(1)
    assert ("SQLite FTS5" if config.db_url is None else "MariaDB FULLTEXT") in mode
    assert "no embedding model" in mode
    [(title, path, passage)] = hits(page)
    assert title == "Brewing &lt;guide&gt;" and html.unescape(path) == "Tea \u203a Brewing"
    assert "<mark>Steep</mark> green <mark>tea</mark>" in passage
    assert "<mark>Steeping</mark>" in passage
    # The passage's own markup is text: only <mark> is HTML.
    assert "&lt;script&gt;alert(&#39;<mark>tea</mark>&#39;)&lt;/script&gt;" in passage
    assert set(re.findall(r"</?(\w+)", passage)) == {"mark"}
    link = re.search(r'<li class="kb-hit" data-chunk-id="(\d+)">\s*<h3><a href="([^"]*)"',
                     page)
    source_page = (await browser.get(link.group(2).split("#")[0])).text
    assert link.group(2).endswith("#chunk-%s" % link.group(1))
    assert '<section id="chunk-%s" class="chunk"' % link.group(1) in source_page

    page = (await browser.get(base + "?q=nothing+matches+here")).text
    assert hits(page) == [] and "none of the indexed text matches" in page
    page = (await browser.get(base + "?q=" + "a" * 501)).text
    assert "The search is longer than 500 characters." in page and hits(page) == []
    assert '<ol id="kb-results"></ol>' in (await browser.get(base)).text


@pytest.mark.gen_test(timeout=60)
async def test_a_source_page_shows_its_chunks_as_sections(browser, fetch, app):
    await browser.login()
    base = await add_base_page(browser)
    base_id = int(base.rsplit("/", 1)[1])
    parts = "\n\n".join("## Part %d\n\n%s" % (n, "Owls <hunt> at night. " * 80)
                        for n in range(1, 4))
    source = await add_text(fetch, base_id, "Owls", "# Owls\n\n" + parts)
    await app.settings["services"]["knowledge"].wait()
    chunks = (await fetch("/api/knowledge-sources/%d/chunks" % source["id"])).json()["items"]
    page = (await browser.get("%s/sources/%d" % (base, source["id"]))).text
    sections = re.findall(r'<section id="chunk-(\d+)" class="chunk"', page)
    assert sections == [str(c["chunkId"]) for c in chunks] and len(sections) > 1
    assert "Owls &lt;hunt&gt; at night." in page and "<hunt>" not in page
    assert "Owls \u203a Part 3" in page
    assert "%d chunks" % len(chunks) in page
    assert (await browser.get("%s/sources/999" % base)).code == 404


def test_marking_handles_forms_of_words_and_never_markup():
    terms = knowledge.query_terms("Indexing running caf\u00e9s?")
    marked = knowledge.mark("An index runs; the CAFE <b>indexed</b> & ran.", terms)
    assert str(marked) == ("An <mark>index</mark> <mark>runs</mark>; the <mark>CAFE</mark> "
                           "&lt;b&gt;<mark>indexed</mark>&lt;/b&gt; &amp; ran.")
    assert not knowledge.query_terms("the of and")
    text = "word " * 200 + "needle in the haystack " + "word " * 200
    cut = knowledge.snippet(text, knowledge.query_terms("needle"))
    assert "needle" in cut and cut.startswith("\u2026") and cut.endswith("\u2026")
    assert len(cut) <= knowledge.SNIPPET + 2
