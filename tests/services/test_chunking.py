"""chunk_text: chunks that follow the document's headings, lists, code and tables."""

import random

import pytest

from orchestra.services.knowledge.chunking import Chunk, chunk_text
from orchestra.services.lmstudio.text import estimate_tokens


def chunks_of(text, fmt="markdown", target=300, overlap=0):
    """The chunks, checked for what every chunk must be."""
    chunks = chunk_text(text, fmt, target_tokens=target, overlap_tokens=overlap)
    for chunk in chunks:
        assert isinstance(chunk, Chunk)
        assert chunk.text and chunk.text == text[chunk.start:chunk.end]
        assert chunk.text == chunk.text.strip()
        assert chunk.tokens == estimate_tokens(chunk.text)
    for before, after in zip(chunks, chunks[1:]):
        assert before.start < after.start and before.end <= after.start + len(after.text)
    return chunks


def texts(chunks):
    return [c.text for c in chunks]


def paths(chunks):
    return [c.heading_path for c in chunks]


def sentences(n, word="word"):
    return " ".join("Sentence %d has %s %s %s." % (k, word, word, word) for k in range(n))


def test_headings_build_the_path_and_are_not_in_the_text():
    text = ("Before any heading.\n\n"
            "# Install\n\nGet it.\n\n"
            "## Linux ##\n\nUse apt.\n\n"
            "### Debian\n\nbookworm.\n\n"
            "## macOS\n\nUse brew.\n\n"
            "Usage\n=====\n\nRun it.\n\n"
            "Flags\n-----\n\nSee --help.\n")
    chunks = chunks_of(text)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ([], "Before any heading."),
        (["Install"], "Get it."),
        (["Install", "Linux"], "Use apt."),
        (["Install", "Linux", "Debian"], "bookworm."),
        (["Install", "macOS"], "Use brew."),
        (["Usage"], "Run it."),
        (["Usage", "Flags"], "See --help."),
    ]


def test_what_is_not_a_heading():
    text = ("---\ntitle: Front matter\n---\n\n"
            "#hashtag is a word\n\n"
            "```sh\n# a comment in code\necho hi\n```\n\n"
            "    # indented code\n\n"
            "A long paragraph of\nfour lines\nabove a rule\nis no heading\n---\n\nEnd.\n")
    chunks = chunks_of(text)
    assert paths(chunks) == [[]]
    assert chunks[0].text.startswith("---\ntitle: Front matter\n---")
    assert chunks[0].text.endswith("End.")


def test_blocks_of_a_section_are_packed_up_to_the_target():
    paragraphs = [sentences(3, "w%d" % k) for k in range(10)]
    cost = estimate_tokens(paragraphs[0])
    text = "# Notes\n\n" + "\n\n".join(paragraphs)
    chunks = chunks_of(text, target=cost * 3)
    assert [c.text.count("\n\n") + 1 for c in chunks] == [3, 3, 3, 1]
    assert all(c.tokens <= cost * 3 for c in chunks)
    assert " ".join(texts(chunks)).split() == " ".join(paragraphs).split()


def test_a_list_is_kept_together_where_it_fits_and_cut_between_items_otherwise():
    items = ["- item %d says %s" % (k, sentences(1)) for k in range(6)]
    item_cost = estimate_tokens(items[0])
    intro = sentences(2)
    text = intro + "\n\n" + "\n".join(items)
    # The list fits a chunk of its own but not beside the introduction: it moves whole.
    chunks = chunks_of(text, target=item_cost * 6 + 2)
    assert texts(chunks) == [intro, "\n".join(items)]
    # Too big for one chunk: cut between items, never inside one.
    chunks = chunks_of(text, target=item_cost * 2 + 2)
    assert texts(chunks)[1:] == ["\n".join(items[k:k + 2]) for k in (0, 2, 4)]


def test_nested_and_continued_items_stay_with_their_item():
    first = ("- first\n  continued here\n  - nested one\n  - nested two\n\n"
             "  a second paragraph of the first item")
    text = first + "\n- second\n1. a numbered item joins the list\n\nAfter the list."
    chunks = chunks_of(text, target=estimate_tokens(first))
    assert texts(chunks) == [first,
                             "- second\n1. a numbered item joins the list\n\nAfter the list."]


def test_code_blocks_are_kept_whole_or_cut_at_lines():
    code = "```python\n" + "\n".join("value_%d = compute(%d)  # step %d" % (k, k, k)
                                     for k in range(20)) + "\n```"
    text = "## Code\n\n" + sentences(2) + "\n\n" + code + "\n\n# Next\n\nAfter."
    whole = chunks_of(text, target=estimate_tokens(code))
    assert texts(whole) == [sentences(2), code, "After."]
    cut = chunks_of(text, target=40)
    assert len(cut) > 4 and cut[-1].text == "After."
    lines = text.split("\n")
    section = [c for c in cut if c.heading_path == ["Code"]]
    for chunk in section:
        assert all(line in lines for line in chunk.text.split("\n"))   # whole lines only
    assert "\n".join(c.text for c in section) == sentences(2) + "\n\n" + code


def test_an_unclosed_fence_runs_to_the_end_and_hides_headings():
    text = "Intro.\n\n~~~\n# not a heading\n\ncode\n"
    assert [(c.heading_path, c.text) for c in chunks_of(text)] == \
        [([], "Intro.\n\n~~~\n# not a heading\n\ncode")]


def test_tables_are_kept_whole_where_they_fit():
    table = "| name | port |\n| :--- | ---: |\n" + "\n".join(
        "| service%d | %d |" % (k, 8000 + k) for k in range(8))
    text = "Ports we use.\n\n" + table + "\n\nThe end."
    chunks = chunks_of(text, target=estimate_tokens(table) + 1)
    assert table in texts(chunks)
    small = chunks_of("# Ports\n\n" + table, target=30)
    assert len(small) > 1
    for chunk in small:
        assert all(line in table.split("\n") for line in chunk.text.split("\n"))


def test_a_long_paragraph_is_cut_at_sentences_then_words_then_letters():
    paragraph = sentences(12)
    chunks = chunks_of(paragraph, target=20)
    assert all(c.text.endswith(".") for c in chunks)
    assert " ".join(texts(chunks)) == paragraph
    words = " ".join("word%d" % k for k in range(200))     # no sentence ends at all
    chunks = chunks_of(words, target=25)
    assert all(c.tokens <= 25 for c in chunks)
    assert " ".join(texts(chunks)) == words
    blob = "x" * 1000                                      # one word, 250 tokens
    chunks = chunks_of(blob, target=30)
    assert "".join(texts(chunks)) == blob and all(c.tokens <= 30 for c in chunks)


def test_overlap_repeats_the_end_of_the_chunk_before_within_a_section():
    text = "# One\n\n" + sentences(30) + "\n\n# Two\n\n" + sentences(30, "thing")
    chunks = chunks_of(text, target=60, overlap=12)
    for before, after in zip(chunks, chunks[1:]):
        if before.heading_path != after.heading_path:
            # A new section starts with its own text.
            assert after.text.startswith("Sentence 0 has thing")
            continue
        assert after.start < before.end
        shared = text[after.start:before.end]
        assert before.text.endswith(shared) and after.text.startswith(shared)
        assert 0 < estimate_tokens(shared) <= 12
        assert after.tokens <= 60 + 12
        assert shared.startswith("Sentence") or not text[after.start - 1].isalnum()
    assert {tuple(p) for p in paths(chunks)} == {("One",), ("Two",)}


def test_overlap_prefers_a_sentence_start():
    text = "Short one. " + "Then a longer sentence that goes on. " * 8
    chunks = chunks_of(text, target=30, overlap=10)
    for chunk in chunks[1:]:
        assert chunk.text.startswith("Then a longer")


def test_no_overlap_when_asked_for_none():
    chunks = chunks_of(sentences(40), target=30, overlap=0)
    assert all(b.end <= a.start for b, a in zip(chunks, chunks[1:]))


def test_pdf_pages_are_sections_that_no_chunk_crosses():
    pages = ["First page words. " * 3, "", "# Results\n\nSecond page.\n\nMore.",
             "Third page text."]
    text = "\f".join(pages)
    chunks = chunks_of(text, "pdf", target=8)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (["Page 1"], "First page words."),
        (["Page 1"], "First page words."),
        (["Page 1"], "First page words."),
        (["Page 3", "Results"], "Second page.\n\nMore."),
        (["Page 4", "Results"], "Third page text."),
    ]
    for chunk in chunks:
        assert "\f" not in chunk.text


def test_text_is_read_as_paragraphs_only():
    text = "# Not a heading\n\n- not\n- a list\n\nPlain.\r\n\r\nWindows lines.\r\n"
    chunks = chunks_of(text, "text", target=5)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ([], "# Not a heading"), ([], "- not\n- a list"), ([], "Plain."),
        ([], "Windows lines.")]


def test_windows_line_ends_in_markdown():
    text = "# Title\r\n\r\nBody line.\r\n\r\n## Sub\r\n\r\n- a\r\n- b\r\n"
    assert [(c.heading_path, c.text) for c in chunks_of(text)] == [
        (["Title"], "Body line."), (["Title", "Sub"], "- a\r\n- b")]


@pytest.mark.parametrize("text", ["", "   \n\n  ", "# Only a heading\n\n## And another"])
def test_nothing_to_chunk(text):
    assert chunk_text(text) == []


@pytest.mark.parametrize("kwargs", [{"fmt": "docx"}, {"target_tokens": 0},
                                    {"overlap_tokens": -1}, {"overlap_tokens": 300}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        chunk_text("text", **kwargs)


def test_a_generated_document_keeps_every_word_in_order():
    rng = random.Random(7)
    vocabulary = "alpha beta gamma delta orchestra model chunk token index query".split()

    def sentence():
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(3, 30))) + "."

    blocks = []
    for k in range(400):
        roll = rng.random()
        if roll < 0.1:
            blocks.append("#" * rng.randint(1, 4) + " Heading %d" % k)
        elif roll < 0.25:
            blocks.append("\n".join("- " + sentence() for _ in range(rng.randint(1, 12))))
        elif roll < 0.35:
            blocks.append("```\n" + "\n".join(sentence() for _ in range(rng.randint(1, 40)))
                          + "\n```")
        else:
            blocks.append(" ".join(sentence() for _ in range(rng.randint(1, 25))))
    text = "\n\n".join(blocks)
    body = " ".join(b for b in blocks if not b.startswith("#")).split()
    for fmt in ("markdown", "text", "pdf"):
        source = text.replace("\n\n# ", "\f# ") if fmt == "pdf" else text
        chunks = chunks_of(source, fmt, target=120, overlap=0)
        assert all(c.tokens <= 120 for c in chunks)
        assert " ".join(texts(chunks)).split() == (text.split() if fmt == "text" else body)
        with_overlap = chunks_of(source, fmt, target=120, overlap=30)
        assert len(with_overlap) >= len(chunks)
