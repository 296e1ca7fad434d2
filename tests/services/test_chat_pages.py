"""chat_pages: the addresses of a message, a page's passages for a question within a budget,
and the citations an answer makes of them."""

import pytest

from orchestra.services import chat_pages
from orchestra.services.lmstudio.text import estimate_tokens

PAGE = """# A Guide to Tea

Tea is the leaf of Camellia sinensis, dried and steeped in water.

## Green tea

Sencha is steeped at 70 to 80 degrees Celsius for one minute; hotter water makes it bitter.

## Black tea

Assam is steeped with boiling water for four minutes, and takes milk well.
"""


@pytest.mark.parametrize("text, urls", [
    ("see http://x.org/a. Then", ["http://x.org/a"]),
    ("(https://en.wikipedia.org/wiki/Tea_(drink))", ["https://en.wikipedia.org/wiki/Tea_(drink)"]),
    ("[the guide](https://tea.example/guide?x=1&y=2), and https://tea.example/guide?x=1&y=2!",
     ["https://tea.example/guide?x=1&y=2"]),
    ("<http://a.example/p> 'http://b.example/q' **http://c.example/**",
     ["http://a.example/p", "http://b.example/q", "http://c.example/"]),
    ("ftp://files.example/ and http:// and plain words", []),
    ("HTTPS://UPPER.example/Path", ["HTTPS://UPPER.example/Path"]),
])
def test_urls_in_a_message(text, urls):
    assert chat_pages.urls_in(text) == urls


def test_the_question_is_the_message_without_its_addresses():
    assert chat_pages.question_of("What is https://tea.example/a about?") == "What is about?"
    assert chat_pages.question_of("  https://tea.example/a  ") == ""


def test_the_passages_that_fit_the_question_come_first():
    hits = chat_pages.passages(PAGE, "A Guide to Tea", "How long is Assam steeped?", 1000)
    assert len(hits) == 3 and hits[0]["heading_path"] == ["A Guide to Tea", "Black tea"]
    assert hits[0]["text"].startswith("Assam is steeped")
    assert PAGE[hits[0]["start"]:hits[0]["end"]] == hits[0]["text"]
    assert all(h["source_title"] == "A Guide to Tea" for h in hits)


def test_without_a_question_the_page_comes_from_its_top():
    hits = chat_pages.passages(PAGE, "Tea", "", 1000)
    assert [h["text"].split()[0] for h in hits] == ["Tea", "Sencha", "Assam"]


def test_the_budget_keeps_the_best_and_cuts_it_when_alone_it_is_too_long():
    best = chat_pages.passages(PAGE, "Tea", "sencha temperature", 25)
    assert [h["text"].split()[0] for h in best] == ["Sencha"]
    cut = chat_pages.passages(PAGE, "Tea", "sencha temperature", 5)
    assert len(cut) == 1 and cut[0]["text"].startswith("Sencha is")
    assert cut[0]["tokens"] == estimate_tokens(cut[0]["text"]) <= 5
    assert chat_pages.passages("", "Tea", "sencha", 100) == []


def test_bm25_prefers_the_rarer_word_and_scores_nothing_without_terms():
    docs = ["tea tea tea water", "tea sencha", "coffee"]
    scores = chat_pages.bm25(docs, ["sencha", "tea"])
    assert scores[1] > scores[0] > scores[2] == 0.0
    assert chat_pages.bm25(docs, []) == [0.0, 0.0, 0.0]


def test_sources_message_numbers_the_passages_and_asks_for_a_summary_without_a_question():
    page = {"id": 7, "url": "http://tea.example/", "finalUrl": "http://tea.example/guide",
            "title": "A Guide to Tea"}
    hits = chat_pages.passages(PAGE, page["title"], "assam", 1000)
    asked = chat_pages.sources_message(page, hits, "How long is Assam steeped? http://x.y/")
    assert asked.startswith(chat_pages.PAGE_INSTRUCTIONS)
    assert "The page: A Guide to Tea (http://tea.example/guide)" in asked
    assert "[1] A Guide to Tea \u203a Black tea\nAssam is steeped" in asked
    assert chat_pages.SUMMARY_INSTRUCTIONS not in asked
    assert chat_pages.SUMMARY_INSTRUCTIONS in chat_pages.sources_message(
        page, hits, "http://tea.example/")
    assert chat_pages.sources_message(page, [], "x") == chat_pages.EMPTY_PAGE


def test_citations_name_the_page_with_the_best_quote():
    page = {"id": 7, "url": "http://tea.example/", "finalUrl": "http://tea.example/guide",
            "title": "A Guide to Tea"}
    hits = chat_pages.passages(PAGE, page["title"], "sencha assam", 1000)
    numbers = {h["text"].split()[0]: n for n, h in enumerate(hits, 1)}
    answer = ("Sencha takes 70 to 80 degrees [%d]. Assam takes four minutes [%d][12]."
              % (numbers["Sencha"], numbers["Assam"]))
    found = chat_pages.citations(answer, hits, page)
    assert [(c["n"], c["url"], c["title"], c["fetchId"], c["headingPath"]) for c in found] == [
        (numbers["Sencha"], "http://tea.example/guide", "A Guide to Tea", 7, ["Green tea"]),
        (numbers["Assam"], "http://tea.example/guide", "A Guide to Tea", 7, ["Black tea"])]
    assert "70 to 80 degrees Celsius" in found[0]["quote"]
    assert chat_pages.citations("No markers here.", hits, page) == []
