"""extract: main content as Markdown, links, metadata; script-built pages; walls."""

import pytest

from orchestra.services.web.extract import detect_block, extract_page, needs_browser
from tests.fakes.site_static import APP_SHELL, ARTICLE, CHALLENGES

URL = "https://bakery.example/articles/sourdough?ref=home"


@pytest.fixture(scope="module")
def article():
    return extract_page(ARTICLE, URL)


def test_the_main_content_is_kept_as_markdown(article):
    markdown = article["markdown"]
    assert markdown.startswith("# Tending a Sourdough Starter\n\nA sourdough starter is")
    assert "\n## Feeding schedule\n" in markdown and "\n## Ratios compared\n" in markdown
    assert "- Fifty grams of starter\n- Fifty grams of flour\n- Fifty grams of water" in markdown
    assert "Ratio | Peak after\n--- | ---\n1:1:1 | 4 hours\n1:5:5 | 10 hours" in markdown
    assert '```\ndef log(reading):\n    print("starter at", reading, "degrees")\n```' \
        in markdown
    assert "[the baking handbook](https://example.org/baking)" in markdown
    assert "[the discard guide](https://bakery.example/guides/discard#why)" in markdown


def test_links_in_markdown_keep_their_text_and_absolute_target():
    page = extract_page(
        '<html><body><article><h1>Links</h1><p>See <a href="/a"> the  first</a>, '
        '<a href="javascript:go()">a script</a>, <a href="/e"> </a>'
        'and <a href="b.html#part">[odd] (name)</a>.</p>'
        '<p>Long enough paragraph of text for the extractor to keep this article.</p>'
        '<table><tr><th>Name</th></tr><tr><td><a href="/c">Cell link</a></td></tr></table>'
        '</article></body></html>', "https://links.example/dir/page")
    markdown = page["markdown"]
    assert "See [the first](https://links.example/a), a script, and " \
        "[\\[odd\\] (name)](https://links.example/dir/b.html#part)." in markdown
    assert "[Cell link](https://links.example/c)" in markdown


def test_navigation_footer_and_scripts_are_dropped(article):
    markdown = article["markdown"]
    for chrome in ("About us", "Shop", "Copyright 2024", "Privacy", "tracking"):
        assert chrome not in markdown


def test_metadata(article):
    assert article["title"] == "Tending a Sourdough Starter"
    meta = article["metadata"]
    assert meta["title"] == "Tending a Sourdough Starter" and meta["author"] == "Ada Baker"
    assert meta["date"] == "2024-03-05" and meta["language"] == "en"
    assert meta["description"] == "How to keep a sourdough starter alive."
    assert meta["canonicalUrl"] == "https://bakery.example/articles/sourdough"


def test_links_are_absolute_deduplicated_and_without_fragments(article):
    urls = [link["url"] for link in article["links"]]
    assert urls == ["https://bakery.example/", "https://bakery.example/about",
                    "https://bakery.example/shop", "https://bakery.example/guides/discard",
                    "https://example.org/baking", "https://bakery.example/privacy"]
    assert article["links"][3] == {"url": "https://bakery.example/guides/discard",
                                   "text": "the discard guide"}


def test_links_follow_base_and_skip_other_schemes():
    page = extract_page(
        '<html><head><base href="https://cdn.example/docs/"></head><body>'
        '<a href="intro.html#x">Intro</a><a href="mailto:a@b.c">Mail</a>'
        '<a href="javascript:void(0)">JS</a><a href="#top">Top</a><a>None</a>'
        '<a href="//other.example/p">Other</a><a href="tel:123">Call</a>'
        '<a href=" intro.html ">Again</a><p>Some words.</p></body></html>',
        "https://site.example/a/b")
    assert page["links"] == [{"url": "https://cdn.example/docs/intro.html", "text": "Intro"},
                             {"url": "https://other.example/p", "text": "Other"}]


def test_a_page_trafilatura_keeps_nothing_of_is_read_whole():
    page = extract_page("<html><head><title>Tiny</title></head><body><aside><p>Only a "
                        "sidebar.</p></aside></body></html>", "https://x.example/")
    assert page["markdown"] == "Only a sidebar." and page["title"] == "Tiny"
    page = extract_page("<html><body><p>Just a line.</p></body></html>", "https://x.example/")
    assert page["markdown"] == "Just a line." and page["title"] is None


def test_empty_and_textless_pages():
    assert extract_page("", "https://x.example/") == {
        "title": None, "markdown": "", "links": [], "metadata": {}}
    page = extract_page("<html><body><script>1</script></body></html>", "https://x.example/")
    assert page["markdown"] == ""


def test_needs_browser_for_app_shells_and_empty_pages():
    assert needs_browser(APP_SHELL, extract_page(APP_SHELL, "https://x.example/"))
    root = ('<html><body><div id="root"></div><script src="/main.js"></script>'
            '<p>Loading</p></body></html>')
    assert needs_browser(root, extract_page(root, "https://x.example/"))
    thin = "<html><body><p>Hi</p><script>render()</script></body></html>"
    assert needs_browser(thin, {"markdown": "Hi"})


def test_pages_with_their_text_need_no_browser(article):
    assert not needs_browser(ARTICLE, article)
    no_scripts = "<html><body><p>Short page.</p></body></html>"
    assert not needs_browser(no_scripts, {"markdown": "Short page."})
    long_app = ('<html><body><noscript>Enable JavaScript</noscript><div id="app"></div>'
                '<script></script></body></html>')
    assert not needs_browser(long_app, {"markdown": "word " * 300})


@pytest.mark.parametrize("name", sorted(CHALLENGES))
def test_walls_and_challenges_are_detected(name):
    status, headers, html = CHALLENGES[name]
    sentence = detect_block(status, headers, html)
    assert sentence and sentence.endswith(".")


def test_block_sentences_say_what_was_found():
    status, headers, html = CHALLENGES["cloudflare"]
    assert "Cloudflare" in detect_block(status, headers, html)
    assert "Just a moment" in detect_block(200, {}, html)   # whatever the status
    assert detect_block(503, {"CF-Mitigated": "challenge"}, "") is not None
    assert "retry after 120 s" in detect_block(429, {"Retry-After": "120"}, "")
    assert "403" in detect_block(403, {}, "<p>Forbidden</p>")
    assert "DataDome" in detect_block(403, {"X-DataDome": "protected"}, "")


def test_content_is_not_a_block(article):
    assert detect_block(200, {}, ARTICLE) is None
    assert detect_block(404, {}, "<h1>Not found</h1>") is None
    assert detect_block(503, {}, "<h1>Service Unavailable</h1>") is None
    assert detect_block(500, {}, "") is None
    # A long article with a reCAPTCHA on its comment form is an article.
    long_page = ("<html><body><article>%s</article><form><div class='g-recaptcha'></div>"
                 "<script src='https://www.google.com/recaptcha/api.js'></script></form>"
                 "</body></html>" % ("<p>%s</p>" % ("A sentence of the article. " * 20)) * 5)
    assert detect_block(200, {}, long_page) is None
    assert detect_block(200, {}, "<p>An article about how CAPTCHAs work.</p>") is None
