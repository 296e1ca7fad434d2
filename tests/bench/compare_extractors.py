"""Main-content extraction compared: trafilatura (what Orchestra uses) against readability-lxml
and the knowledge extractor's plain HTML converter, on saved real pages with known content.

    .venv/bin/pip install readability-lxml     # only this script needs it
    python -m tests.bench.compare_extractors [--repeat 5]

Pages: tests/fixtures/web/readability/*/ — real pages (source.html) with the article text a
person would keep (expected.html), from Mozilla Readability's test suite (see the README
there). Each extractor reads source.html as fetched from http://fakehost/test/page.html:
  trafilatura   orchestra.services.web.extract.extract_page, as the static fetcher runs it:
                trafilatura's content as HTML, turned into Markdown with links by
                extract.to_markdown (the knowledge converter plus links);
  traf-md       trafilatura's own Markdown output (links, tables, formatting kept);
  readability   readability-lxml's Document(html).summary(), then extract.to_markdown of
                that HTML (Orchestra needs Markdown, so the conversion is part of the cost);
  plain         orchestra.services.knowledge.extract.html_to_markdown of the whole page (the
                converter the old fetcher used: drops scripts, nav, header and footer only).
Structure: headings, list items, code blocks and tables in the output's Markdown against
those elements in expected.html (each kind's found count capped at the expected count, summed,
over the expected total). Metadata: of the fields expected-metadata.json fills (title, byline,
siteName, publishedTime, lang), how many the extractor gives (readability-lxml gives only a
title; trafilatura's author, sitename, date; html_to_markdown's title).
Scores: the words of the output (lower case, \\w+, Markdown link targets and marks left out)
against the words of expected.html's text, as multisets: precision = shared / output words,
recall = shared / expected words, F1 their harmonic mean. Time: the fastest of --repeat runs
per page and extractor (one thread, this process), in milliseconds.
"""

import argparse
import collections
import importlib.util
import json
import os
import re
import sys
import time

import lxml.html

from orchestra.services.knowledge.extract import html_to_markdown
from orchestra.services.web.extract import extract_page, to_markdown

PAGES = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "web", "readability")
URL = "http://fakehost/test/page.html"
_LINK = re.compile(r"\]\([^)]*\)")
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text):
    return collections.Counter(w.lower() for w in _WORD.findall(text))


def markdown_words(markdown):
    return words(_LINK.sub("]", markdown))


def html_words(markup):
    return words(lxml.html.fromstring(markup).text_content()) if markup.strip() else words("")


def score(got, expected):
    shared = sum((got & expected).values())
    precision = shared / max(sum(got.values()), 1)
    recall = shared / max(sum(expected.values()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


_MD_KINDS = {
    "heading": re.compile(r"^ {0,3}#{1,6} \S", re.MULTILINE),   # as CommonMark reads it
    "item": re.compile(r"^\s*(?:[-*+]|\d+[.)]) \S", re.MULTILINE),
    "code": re.compile(r"^(?:```|~~~)[^\n]*\n.*?^(?:```|~~~)", re.MULTILINE | re.DOTALL),
    "table": re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$", re.MULTILINE),
}
_HTML_KINDS = {"heading": "//h1|//h2|//h3|//h4|//h5|//h6", "item": "//li", "code": "//pre",
               "table": "//table[.//td]"}


def structure(markdown, expected_tree):
    """(found, expected): structure elements kept, each kind capped at what is expected."""
    found = total = 0
    for kind, xpath in _HTML_KINDS.items():
        want = len(expected_tree.xpath(xpath))
        found += min(len(_MD_KINDS[kind].findall(markdown)), want)
        total += want
    return found, total


META = {"title": "title", "byline": "author", "siteName": "siteName", "publishedTime": "date",
        "lang": "language"}


def metadata_hits(got, expected):
    """(given, expected) over the fields the expected metadata fills."""
    given = total = 0
    for theirs, ours in META.items():
        if expected.get(theirs):
            total += 1
            given += bool(got.get(ours))
    return given, total


def run_trafilatura(html):
    page = extract_page(html, URL)
    return page["markdown"], page["metadata"]


def run_trafilatura_markdown(html):
    import trafilatura
    markdown = trafilatura.extract(
        html, url=URL, output_format="markdown", with_metadata=False, include_links=True,
        include_formatting=True, include_tables=True, include_comments=False)
    document = trafilatura.extract_metadata(html, default_url=URL)
    return markdown or "", {"title": document.title, "author": document.author,
                            "siteName": document.sitename, "date": document.date,
                            "language": lxml.html.fromstring(html).get("lang")}


def run_readability(html):
    from readability import Document
    document = Document(html, url=URL)
    summary = document.summary(html_partial=True)
    return to_markdown(summary, URL)[1], {"title": document.short_title()}


def run_plain(html):
    title, markdown = html_to_markdown(html)
    return markdown, {"title": title}


EXTRACTORS = [("trafilatura", run_trafilatura), ("traf-md", run_trafilatura_markdown),
              ("readability", run_readability), ("plain", run_plain)]


def fastest(fn, html, repeat):
    best, out = None, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(html)
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    return out, best * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("readability") is None:
        raise SystemExit("readability-lxml is not installed: pip install readability-lxml")
    names = sorted(n for n in os.listdir(PAGES) if os.path.isdir(os.path.join(PAGES, n)))
    totals = collections.defaultdict(lambda: [0.0] * 8)
    head = "%-17s %-12s %6s %6s %6s %9s %9s %8s %7s" % (
        "page", "extractor", "prec", "recall", "F1", "struct", "meta", "ms", "KB in")
    print(head)
    for name in names:
        folder = os.path.join(PAGES, name)
        with open(os.path.join(folder, "source.html"), encoding="utf-8") as f:
            html = f.read()
        with open(os.path.join(folder, "expected.html"), encoding="utf-8") as f:
            expected_html = f.read()
        with open(os.path.join(folder, "expected-metadata.json"), encoding="utf-8") as f:
            expected_meta = json.load(f)
        expected, tree = html_words(expected_html), lxml.html.fromstring(expected_html)
        for label, fn in EXTRACTORS:
            (out, meta), ms = fastest(fn, html, args.repeat)
            p, r, f1 = score(markdown_words(out), expected)
            kept, want = structure(out, tree)
            given, asked = metadata_hits(meta, expected_meta)
            for k, v in enumerate((p, r, f1, ms, kept, want, given, asked)):
                totals[label][k] += v
            print("%-17s %-12s %6.3f %6.3f %6.3f %9s %9s %8.1f %7.1f" % (
                name, label, p, r, f1, "%d/%d" % (kept, want), "%d/%d" % (given, asked), ms,
                len(html.encode()) / 1024))
    print()
    print("mean over %d pages (struct and meta: totals)" % len(names))
    for label, _ in EXTRACTORS:
        p, r, f1, ms = (v / len(names) for v in totals[label][:4])
        kept, want, given, asked = (int(v) for v in totals[label][4:])
        print("%-17s %-12s %6.3f %6.3f %6.3f %9s %9s %8.1f" % (
            "", label, p, r, f1, "%d/%d" % (kept, want), "%d/%d" % (given, asked), ms))
    if totals["trafilatura"][2] / len(names) < 0.5:
        print("trafilatura's mean F1 is below 0.5: the extraction is broken", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
