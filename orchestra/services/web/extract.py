"""A page's main content as Markdown, its links and metadata; walls and script-only pages.

extract_page runs trafilatura, which finds the main content of a page (the article, not its
navigation, header, footer or sidebars), title, author, date and site name. It hands the
content over as clean HTML, which the knowledge extractor's converter turns into Markdown
(headings, lists, tables, code blocks) with the links kept: trafilatura's own Markdown loses
headings inside lists and leaves stray indentation (tests/bench/compare_extractors.py
measures both, and readability-lxml). When trafilatura keeps nothing (a page that is all
"chrome") the same converter reads the whole page, less its navigation, header and footer.

detect_block tells a wall or a challenge page from content, so that such a page is reported
as `blocked` and never as a success; needs_browser tells a page that scripts must build.
All of this is CPU-bound: callers run it off the IOLoop.
"""

import logging
import re
import urllib.parse

import lxml.html
import trafilatura
from trafilatura.utils import load_html

from orchestra.services.knowledge.extract import MarkdownConverter

logger = logging.getLogger(__name__)
# trafilatura logs a warning for every page it keeps nothing of; here that is an answer
# (the fallback reads the page), not a problem.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

MAX_LINKS = 2000
# What trafilatura's <meta name=...> in its HTML output are called in Page.metadata.
TRAFILATURA_META = {"title": "title", "author": "author", "date": "date",
                    "description": "description", "sitename": "siteName",
                    "language": "language", "image": "image"}


def extract_page(html, url):
    """{"title", "markdown", "links", "metadata"} of an HTML page fetched from `url`."""
    tree = load_html(html) if html and html.strip() else None
    if tree is None:
        return {"title": None, "markdown": "", "links": [], "metadata": {}}
    base = _base_url(tree, url)
    links = page_links(tree, base)
    metadata = _page_metadata(tree, base)
    # trafilatura resolves a relative link against the site's root, not the page's folder
    # (b.html on /dir/page gives /b.html): it is given the links made absolute here.
    tree.make_links_absolute(url, resolve_base_href=True, handle_failures="discard")
    content = None
    try:
        content = trafilatura.extract(
            tree, url=url, output_format="html", with_metadata=True, include_links=True,
            include_formatting=True, include_tables=True, include_comments=False,
            include_images=False)
    except Exception:  # a page that trips trafilatura is still read by the converter
        logger.warning("trafilatura failed on %s", url, exc_info=True)
    markdown, title = "", None
    if content:
        found = lxml.html.fromstring(content)
        for meta in found.xpath("/html/head/meta[@name][@content]"):
            key = TRAFILATURA_META.get(meta.get("name"))
            value = " ".join(meta.get("content").split())
            if key and value and key not in metadata:
                metadata[key] = value
        markdown = to_markdown(content, base)[1]
    if not markdown:
        title, markdown = to_markdown(html, base)
    title = (metadata.get("title") or title or " ".join(tree.xpath("string(//title)").split())
             or first_heading(markdown))
    if title:
        metadata["title"] = title
    return {"title": title, "markdown": markdown, "links": links, "metadata": metadata}


class LinkedMarkdownConverter(MarkdownConverter):
    """The knowledge extractor's HTML to Markdown converter, with links kept: [text](url)."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.anchors = []     # [(url or None, the list the text goes to, where it starts)]

    def handle_starttag(self, tag, attrs):
        if tag == "a" and not self.skip and self.pre is None:
            target = self.cell if self.cell is not None else self.inline
            href = _absolute(self.base, dict(attrs).get("href"), keep_fragment=True)
            self.anchors.append((href, target, len(target)))
            return
        super().handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "a" and self.anchors and not self.skip and self.pre is None:
            href, target, start = self.anchors.pop()
            current = self.cell if self.cell is not None else self.inline
            # A link whose text crossed a block (<a><h2>...</h2></a>) keeps its text only.
            if href and current is target and start <= len(target):
                text = "".join(target[start:])
                words = " ".join(text.split()).replace("[", "\\[").replace("]", "\\]")
                if words:
                    lead = " " if text[:1].isspace() else ""
                    trail = " " if text[-1:].isspace() else ""
                    target[start:] = ["%s[%s](%s)%s" % (lead, words, href.replace(")", "%29"),
                                                        trail)]
            return
        super().handle_endtag(tag)


def to_markdown(markup, base):
    """(title, markdown) of HTML, links kept."""
    converter = LinkedMarkdownConverter(base)
    converter.feed(markup)
    converter.close()
    return converter.title, converter.markdown


def _base_url(tree, url):
    for href in tree.xpath("//base/@href")[:1]:
        return urllib.parse.urljoin(url, href.strip())
    return url


def _page_metadata(tree, base):
    """What the page says of itself that trafilatura does not give: language, canonical."""
    found = {}
    lang = tree.xpath("string(/html/@lang)") or tree.xpath(
        "string(//meta[translate(@http-equiv, 'CONTENTLAGU-', 'contentlagu-')"
        "='content-language']/@content)")
    if lang.strip():
        found["language"] = lang.strip()
    for href in tree.xpath("//link[contains(concat(' ', normalize-space(translate(@rel, "
                           "'CANONICAL', 'canonical')), ' '), ' canonical ')]/@href")[:1]:
        canonical = _absolute(base, href)
        if canonical:
            found["canonicalUrl"] = canonical
    return found


def first_heading(markdown):
    match = re.search(r"^#{1,6} +(.+)$", markdown, re.MULTILINE)
    return match.group(1).strip() if match else None


def page_links(tree, base):
    """[{"url", "text"}] of the page's http(s) links: absolute, without fragments, each once
    (the first text it was given that is not empty)."""
    links, seen = [], {}
    for anchor in tree.iter("a"):
        href = anchor.get("href")
        target = _absolute(base, href) if href else None
        if not target:
            continue
        text = " ".join(anchor.text_content().split())[:300]
        if target in seen:
            if text and not links[seen[target]]["text"]:
                links[seen[target]]["text"] = text
            continue
        seen[target] = len(links)
        links.append({"url": target, "text": text})
        if len(links) >= MAX_LINKS:
            break
    return links


def _absolute(base, href, keep_fragment=False):
    href = (href or "").strip()
    if not href or (href.startswith("#") and not keep_fragment):
        return None
    try:
        target = urllib.parse.urljoin(base, href)
        if not keep_fragment:
            target = urllib.parse.urldefrag(target)[0]
        parts = urllib.parse.urlsplit(target)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return target


# -- pages that need a browser ---------------------------------------------------------------

_SCRIPT = re.compile(r"<script\b", re.IGNORECASE)
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>(.*?)</noscript>", re.IGNORECASE | re.DOTALL)
_MOUNT = re.compile(r"<div\b[^>]*\bid\s*=\s*[\"']?(root|app|__next|__nuxt|svelte|main-app|"
                    r"ember-app|application)[\"']?[^>]*>\s*</div>", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def text_length(markdown):
    """Characters of readable text in Markdown (link targets and marks not counted)."""
    text = _MD_LINK.sub(r"\1", markdown or "")
    return len(re.sub(r"[#*_`|>\-\s]+", " ", text).strip())


def needs_browser(html, extracted):
    """True when the static HTML is not the page a person sees: scripts build it."""
    html = html or ""
    length = text_length(extracted.get("markdown") if extracted else "")
    if length >= 1000 or not _SCRIPT.search(html):
        return False
    for inner in _NOSCRIPT.findall(html):
        if "javascript" in inner.lower() and length < 500:
            return True      # "You need to enable JavaScript to run this app."
    if _MOUNT.search(html) and length < 500:
        return True          # an empty mount point for a single-page app
    return length < 200


# -- walls and challenge pages ---------------------------------------------------------------

# (pattern, what it is): found anywhere in a page, these are challenge pages whatever else
# the page holds.
CHALLENGES = [
    (r"<title>\s*just a moment\.*\s*</title>|cf-browser-verification|/cdn-cgi/challenge-"
     r"platform/|\bcf_chl_opt\b|id=[\"']challenge-(?:running|form)",
     "a Cloudflare browser check (\"Just a moment...\")"),
    (r"attention required! \| cloudflare|cf-error-details",
     "a Cloudflare block page (\"Attention Required\")"),
    (r"captcha-delivery\.com", "a DataDome challenge"),
    (r"id=[\"']px-captcha|_pxappid|perimeterx\.net|/px/client/main\.min\.js",
     "a PerimeterX (HUMAN) challenge"),
    (r"_incapsula_resource|incapsula incident id", "an Imperva/Incapsula challenge"),
    (r"awswaf\.com|awswafcookiedomainlist", "an AWS WAF challenge"),
    (r"<title>\s*sucuri website firewall", "a Sucuri firewall block page"),
    (r"our systems have detected unusual traffic from your computer",
     "a \"unusual traffic\" robot check"),
]
# Captcha widgets and pleas: a challenge when they are most of the page (a long article with
# a reCAPTCHA on its comment form is still an article).
WIDGETS = [
    (r"class=[\"'][^\"']*\bg-recaptcha\b|google\.com/recaptcha/|recaptcha/api\.js",
     "a reCAPTCHA"),
    (r"class=[\"'][^\"']*\bh-captcha\b|hcaptcha\.com/", "an hCaptcha"),
    (r"class=[\"'][^\"']*\bcf-turnstile\b|challenges\.cloudflare\.com/turnstile",
     "a Cloudflare Turnstile check"),
    (r"verify (?:that )?you are (?:a )?human|are you a robot\?|prove you(?:'re| are) not a "
     r"robot|press (?:&amp; |and |& )?hold", "a \"verify you are human\" check"),
]
CHALLENGES = [(re.compile(p, re.IGNORECASE), what) for p, what in CHALLENGES]
WIDGETS = [(re.compile(p, re.IGNORECASE), what) for p, what in WIDGETS]
_TAGS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<[^>]+>",
                   re.IGNORECASE | re.DOTALL)
MAX_SCAN = 300_000   # challenge pages are small; a long page is scanned at its start


def detect_block(status_code, headers, html):
    """A sentence when the response is a wall (403, 429, a challenge 503) or a challenge or
    CAPTCHA page, whatever its status; None for content."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    head = (html or "")[:MAX_SCAN]
    if headers.get("cf-mitigated", "").lower() == "challenge":
        return _sentence(status_code, "a Cloudflare challenge")
    for pattern, what in CHALLENGES:
        if pattern.search(head):
            return _sentence(status_code, what)
    if "x-datadome" in headers and status_code in (401, 403, 429):
        return _sentence(status_code, "a DataDome challenge")
    short = len(" ".join(_TAGS.sub(" ", head).split())) < 1500 or len(html or "") > MAX_SCAN
    for pattern, what in WIDGETS:
        if pattern.search(head) and (short or (status_code or 200) >= 400):
            return _sentence(status_code, what)
    if status_code == 429:
        after = headers.get("retry-after")
        return ("The site is limiting requests (429 Too Many Requests)%s."
                % ("; it asks to retry after %s" % (after + " s" if after.isdigit() else after)
                   if after else ""))
    if status_code == 403:
        return "The site refused access to the page (403 Forbidden)."
    return None


def _sentence(status_code, what):
    return ("The site answered%s with %s instead of the page; it wants a person in a browser."
            % (" %d" % status_code if status_code else "", what))
