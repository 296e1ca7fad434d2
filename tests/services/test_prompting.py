"""Numbered sources for a prompt, and citations read back from answers."""

from orchestra.services.knowledge.prompting import (
    CITE_INSTRUCTIONS, NOT_FOUND_INSTRUCTIONS, QUOTE_CHARS, citations, marker_numbers,
    numbered_sources, sentences_of, sources_message, uncited_sentences)


def hit(chunk_id, title, path, text, base=1, source=None):
    return {"chunk_id": chunk_id, "knowledge_base_id": base, "source_id": source or chunk_id * 10,
            "source_title": title, "heading_path": path, "text": text, "score": 1.0,
            "position": 0}


HITS = [
    hit(7, "Eiffel Tower", ["History", "Construction"],
        "The tower was built between 1887 and 1889. It was designed by the engineers Maurice "
        "Koechlin and Emile Nouguier. Gustave Eiffel's company built it for the World's Fair."),
    hit(9, "Paris facts", [],
        "Paris has about 2.1 million inhabitants. The Seine flows through the city."),
    hit(12, "Metro", ["Lines"], "The metro has 16 lines.", base=2),
]


def test_numbered_sources_put_the_path_then_the_text_of_each_hit_in_rank_order():
    assert numbered_sources(HITS) == (
        "[1] Eiffel Tower \u203a History \u203a Construction\n" + HITS[0]["text"] + "\n\n"
        "[2] Paris facts\n" + HITS[1]["text"] + "\n\n"
        "[3] Metro \u203a Lines\nThe metro has 16 lines.")


def test_a_title_heading_that_repeats_the_source_title_is_said_once():
    assert numbered_sources([hit(1, "Green tea", ["Green tea", "Brewing"], "Hot.")]) == (
        "[1] Green tea \u203a Brewing\nHot.")


def test_sources_message_asks_for_citations_or_says_nothing_matched():
    message = sources_message(HITS[:1])
    assert message.startswith(CITE_INSTRUCTIONS)
    assert "[1] Eiffel Tower" in message and "[2]" not in message
    assert "[1]" in CITE_INSTRUCTIONS and "not in the knowledge base" in CITE_INSTRUCTIONS
    assert sources_message([]) == NOT_FOUND_INSTRUCTIONS
    assert "not in the knowledge base" in NOT_FOUND_INSTRUCTIONS


def test_marker_forms_are_read_in_order_of_first_mention():
    assert marker_numbers("A [2]. B [1, 3]. C [1][2]. D [4-6]. E [7\u20138]; F [9;10].") == [
        2, 1, 3, 4, 5, 6, 7, 8, 9, 10]
    assert marker_numbers("In [2024] nothing; a [link](http://x) either.") == []


def test_citations_name_the_cited_chunks_with_the_best_matching_quote():
    answer = ("The tower was designed by Maurice Koechlin and Emile Nouguier [1]. "
              "About 2.1 million people live in Paris [2][1]. Source [5] does not exist.")
    found = citations(answer, HITS)
    assert [c["n"] for c in found] == [1, 2]
    first, second = found
    assert first == {
        "n": 1, "chunkId": 7, "sourceId": 70, "sourceTitle": "Eiffel Tower",
        "knowledgeBaseId": 1, "headingPath": ["History", "Construction"],
        "quote": first["quote"]}
    assert "Maurice Koechlin and Emile Nouguier" in first["quote"]
    assert second["chunkId"] == 9 and second["sourceId"] == 90
    assert second["quote"].startswith("Paris has about 2.1 million inhabitants.")


def test_a_marker_after_the_full_stop_cites_the_sentence_before_it():
    answer = "The metro has 16 lines. [3] The Seine flows through the city.[2]"
    assert sentences_of(answer) == ["The metro has 16 lines. [3]",
                                    "The Seine flows through the city.[2]"]
    found = citations(answer, HITS)
    assert [(c["n"], c["quote"]) for c in found] == [
        (3, "The metro has 16 lines."), (2, "The Seine flows through the city.")]


def test_a_neighbouring_sentence_that_also_matches_joins_the_quote():
    found = citations("The Seine flows through Paris [2].", HITS)
    assert found[0]["quote"] == HITS[1]["text"]


def test_an_answer_without_markers_cites_nothing():
    assert citations("The tower is in Paris.", HITS) == []
    assert citations("", []) == []
    assert citations("It is in Paris [1].", []) == []


def test_quotes_stay_short():
    long_text = " ".join("Sentence %d tells about towers and bridges and rivers." % i
                         for i in range(40))
    long_hit = hit(1, "Long", [], long_text)
    quote = citations("Towers and bridges [1].", [long_hit])[0]["quote"]
    assert len(quote) <= QUOTE_CHARS
    one_sentence = hit(2, "One", [], "word " * 200)
    quote = citations("Word [1].", [one_sentence])[0]["quote"]
    assert len(quote) <= QUOTE_CHARS and quote.endswith("\u2026")


def test_uncited_sentences_are_the_factual_ones_without_a_marker():
    answer = (
        "Sure! Here is what the sources say:\n\n"
        "- The tower was finished in 1889 [1].\n"
        "- It was designed by Maurice Koechlin.\n"
        "- Paris has many museums and bridges and old parks.\n\n"
        "## Notes\n\n"
        "Do you want to know more? The opening date is not in the knowledge base. "
        "I hope this helps.\n\n"
        "```\ncode 1 2 3 is not prose\n```\n"
        "The city has 2.1 million people, e.g. Parisians. It is big [2].")
    assert uncited_sentences(answer) == [
        "It was designed by Maurice Koechlin.",
        "Paris has many museums and bridges and old parks.",
        "The city has 2.1 million people, e.g. Parisians."]
    assert uncited_sentences("It is nice. Yes.") == []
