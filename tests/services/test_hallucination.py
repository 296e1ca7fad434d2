"""The hallucination detector on crafted answers: consistent and inconsistent samples, grounded
and ungrounded claims, the model's judgement and the response checks; samples and judgements
come from the fake LM Studio."""

import itertools
import json
import threading

import pytest

from orchestra.services.gate import ModelGate
from orchestra.services.hallucination import (HallucinationDetector, split_claims,
                                              split_sentences)
from orchestra.services.hallucination.text import names, numbers
from orchestra.services.lmstudio import LMStudioClient

QUESTION = "When was the Eiffel Tower finished, and how tall is it?"
ANSWER = "The Eiffel Tower was finished in 1889. It is 330 metres tall."
SOURCE = ("Gustave Eiffel's company built the tower in Paris between 1887 and 1889. "
          "The Eiffel Tower stands 330 metres tall.")


@pytest.fixture
def client(fake_lmstudio, io_loop):
    client = LMStudioClient(fake_lmstudio.url)
    yield client
    io_loop.run_sync(client.close)


@pytest.fixture
def detector(client):
    return HallucinationDetector(client, gate=ModelGate(2), samples=3)


def completions(fake):
    return [body for path, body in fake.requests if path.endswith("/completions")]


@pytest.mark.gen_test
async def test_consistent_samples_give_ok(detector, fake_lmstudio):
    fake_lmstudio.default_answer = ("Completed in 1889, the Eiffel Tower is 330 metres tall. "
                                    "It was finished in 1889.")
    report = await detector.check(ANSWER, question=QUESTION)
    assert report["verdict"] == "ok" and report["score"] == 1.0
    assert report["flags"] == [] and report["samples"] == 3
    assert report["reason"].startswith("Unsourced") and report["grounded"] is False
    asked = completions(fake_lmstudio)
    assert len(asked) == 3  # the samples, and nothing fetched from anywhere else
    assert all(body["messages"] == [{"role": "user", "content": QUESTION}] for body in asked)
    assert all(body["temperature"] > 0.5 for body in asked)


@pytest.mark.gen_test
async def test_a_figure_the_samples_contradict_is_flagged(detector, fake_lmstudio):
    fake_lmstudio.default_answer = "The Eiffel Tower was finished in 1889 and is 330 metres tall."
    report = await detector.check("The Eiffel Tower was finished in 1925. It is 330 metres tall.",
                                  question=QUESTION)
    assert report["verdict"] != "ok" and report["score"] < 0.8
    assert report["flags"] == [{
        "sentence": "The Eiffel Tower was finished in 1925.", "method": "self-consistency",
        "reason": "The other samples say 1889 instead."}]


@pytest.mark.gen_test
async def test_answers_that_disagree_with_every_sample_are_likely_hallucinated(
        detector, fake_lmstudio):
    years = itertools.count(1900)
    fake_lmstudio.default_answer = lambda body: "It was finished in %d by Marie Dubois." % next(
        years)
    report = await detector.check("It was finished in 1850 by Jean Valjean.", question=QUESTION)
    assert report["verdict"] == "likely hallucinated" and report["score"] == 0.0
    assert report["flags"][0]["method"] == "self-consistency"


@pytest.mark.gen_test
async def test_a_claim_missing_from_the_samples_is_flagged(detector, fake_lmstudio):
    fake_lmstudio.default_answer = "The Eiffel Tower was finished in 1889."
    report = await detector.check("The Eiffel Tower was finished in 1889. "
                                  "Napoleon Bonaparte opened it with a speech.",
                                  question=QUESTION)
    flagged = [f["sentence"] for f in report["flags"]]
    assert flagged == ["Napoleon Bonaparte opened it with a speech."]
    assert report["flags"][0]["reason"] == "Only 0 of 3 samples support this."
    assert report["verdict"] == "suspect"


@pytest.mark.gen_test
async def test_grounded_answer_passes(detector):
    report = await detector.check(ANSWER, sources=[SOURCE], judge=False)
    assert report["verdict"] == "ok" and report["score"] >= 0.9 and report["grounded"]
    assert report["flags"] == [] and report["problems"] == [] and report["samples"] == 0
    assert report["checks"] == {"response": 1.0, "grounding": 1.0}
    assert [c["text"] for c in report["claims"]] == [
        "The Eiffel Tower was finished in 1889.", "It is 330 metres tall."]
    assert all(c["verdict"] == "supported" and c["evidence"] for c in report["claims"])
    assert report["claims"][1]["evidence"][0] == {
        "text": "The Eiffel Tower stands 330 metres tall.", "source": 0}


@pytest.mark.gen_test
async def test_numbers_names_and_contradictions_are_flagged(detector):
    text = ('The Eiffel Tower was finished in 1889. It is 412 metres tall. '
            'It was designed by Maurice Koechlin.')
    report = await detector.check(text, sources=[SOURCE], judge=False)
    reasons = {f["sentence"]: f["reason"] for f in report["flags"]}
    assert reasons == {
        "It is 412 metres tall.": "The sources give 330 for this, not 412.",
        "It was designed by Maurice Koechlin.": "Not found in the sources: Maurice Koechlin.",
    }
    verdicts = [c["verdict"] for c in report["claims"]]
    assert verdicts == ["supported", "contradicted", "unsupported"]
    assert report["verdict"] == "likely hallucinated" and 0 < report["score"] < 0.4


@pytest.mark.parametrize("text,source,verdict", [
    ("Berlin is the capital of France.", "The capital of France is Paris.", "contradicted"),
    ("Paris is the capital of France.", "The capital of France is Paris.", "supported"),
    ("About 2.1 million people live in Paris.", "Paris has 2,100,000 inhabitants.",
     "supported"),
    ("Apple's revenue was $307 billion.", "Apple's revenue was $307.4 billion.", "supported"),
    ("Paris is the largest city in the region.", "In comparison, Lyon is smaller.",
     "unsupported"),
    ("It employs 2023 people.", "In 2023, the company employs 1,450 people.", "contradicted"),
    ("Armstrong and Collins walked on the Moon.",
     "Armstrong and Aldrin walked on the Moon while Collins stayed in orbit.", "contradicted"),
    ("The bridge is not open to cars.", "The bridge is open to cars.", "contradicted"),
    ("Prices fell after the merger.", "Prices rose after the merger.", "contradicted"),
    ("Einstein's theories appeared in 1915.", "Einstein published the theories in 1915.",
     "supported"),
])
@pytest.mark.gen_test
async def test_claims_are_judged_in_context(detector, text, source, verdict):
    report = await detector.check(text, sources=[source], judge=False)
    assert [c["verdict"] for c in report["claims"]] == [verdict], report["claims"]


@pytest.mark.gen_test
async def test_sentences_without_checkable_facts_are_unchecked_not_ok(detector):
    report = await detector.check("It is a famous landmark. Many people like it.",
                                  sources=[SOURCE], judge=False)
    assert report["verdict"] == "unchecked" and report["flags"] == []
    assert "No claim" in report["reason"] and report["score"] <= 0.5


@pytest.mark.gen_test
async def test_nothing_to_check_against_is_unchecked(detector, fake_lmstudio):
    report = await detector.check("The Eiffel Tower was finished in 1889.", samples=0)
    assert report["verdict"] == "unchecked" and "nothing to check" in report["reason"]
    assert completions(fake_lmstudio) == []


@pytest.mark.parametrize("text,finish_reason,code,verdict", [
    ("", "stop", "empty", "likely hallucinated"),
    ("I'm sorry, but I can't help with that.", "stop", "refusal", "suspect"),
    ("The Eiffel Tower was finished in", "length", "truncated", "suspect"),
])
@pytest.mark.gen_test
async def test_response_checks_lower_the_score(detector, text, finish_reason, code, verdict):
    report = await detector.check(text, finish_reason=finish_reason)
    assert [p["code"] for p in report["problems"]] == [code]
    assert report["verdict"] == verdict


@pytest.mark.gen_test
async def test_sampling_failures_are_reported_not_raised(detector, fake_lmstudio):
    fake_lmstudio.stop()
    report = await detector.check(ANSWER, question=QUESTION, samples=2)
    # Unverified is not "ok": the verdict says so, and the problem says why.
    assert report["samples"] == 0 and report["verdict"] == "unchecked"
    assert "no samples" in report["reason"]
    assert report["problems"][0]["code"] == "sampling_failed"
    assert "model server at %s is not reachable" % fake_lmstudio.url in report["problems"][0][
        "message"]


def test_sentences_split_on_ends_and_list_items():
    text = "First point. Second one!\n- Third item\n2. Fourth item here\nDr"
    assert split_sentences(text) == ["First point.", "Second one!", "Third item",
                                     "Fourth item here"]


def test_markdown_is_read_not_checked():
    text = ("# Tea\n\n**Key facts:**\n\nHere are the facts:\n\n- **Origin:** Sencha comes "
            "from *Japan*.\n- See [the guide](http://x.example) by Dr. Mori.\n\n```python\n"
            "print('The code is 42 lines.')\n```\n| Tea | Caffeine |\n|---|---|\n| Sencha | 30 mg |"
            "\n\nI hope this helps! Do you want more?")
    assert split_sentences(text) == ["Sencha comes from Japan.", "See the guide by Dr. Mori.",
                                     "Sencha, 30 mg"]


def test_clauses_split_only_where_each_carries_a_fact():
    claims = [c["text"] for c in split_claims(
        "Armstrong and Aldrin walked on the Moon while Collins stayed in orbit. "
        "It uses Python and a REST API. Revenue was 5 million but profit was 2 million.")]
    assert claims == ["Armstrong and Aldrin walked on the Moon", "Collins stayed in orbit.",
                      "It uses Python and a REST API.", "Revenue was 5 million",
                      "profit was 2 million."]


@pytest.mark.parametrize("text,value,kind", [
    ("$307 billion", 307e9, "money"), ("2.1 million people", 2.1e6, "count"),
    ("2,100,000 people", 2.1e6, "count"), ("1,450 staff", 1450, "count"),
    ("in 1889.", 1889, "year"), ("employs 2023 people", 2023, "count"),
    ("45% of", 45, "percent"), ("forty percent", 40, "percent"),
])
def test_numbers_are_normalised(text, value, kind):
    [number] = numbers(text)
    assert number.value == pytest.approx(value) and number.kind == kind


def test_rounding_units_and_context():
    [claimed] = numbers("307 billion dollars")
    [exact] = numbers("307.4 billion dollars")
    [far] = numbers("317 billion dollars")
    assert claimed.matches(exact) and not claimed.matches(far)
    [hours] = numbers("8 hours")
    [minutes] = numbers("8 minutes")
    assert not hours.matches(minutes)
    revenue, profit = numbers("Revenue reached 2 million and profit reached 5 million.")
    assert "revenu" in revenue.context and "profit" not in revenue.context


def test_names_include_sentence_openers_and_drop_possessives():
    assert names("Berlin is the capital of France.") == [("berlin",), ("franc",)]
    assert names("Einstein's work and Maurice Koechlin") == [("einstein",),
                                                             ("mauric", "koechlin")]
    assert names("The answer is here. It is fine.") == []


@pytest.mark.parametrize("kind", ["creative", "code"])
@pytest.mark.gen_test
async def test_creative_and_code_answers_get_response_checks_only(detector, kind,
                                                                  fake_lmstudio):
    report = await detector.check("Old silent pond\nA frog jumps in\nSplash! Silence.",
                                  question="Write a haiku.", sources=["Write a haiku."],
                                  kind=kind)
    assert report["verdict"] == "ok" and report["claims"] == [] and kind in report["reason"]
    assert completions(fake_lmstudio) == []
    report = await detector.check("{not json", kind=kind, expect_json=True)
    assert [p["code"] for p in report["problems"]] == ["invalid_json"]
    assert report["verdict"] == "suspect"


@pytest.mark.gen_test
async def test_translations_keep_figures_and_names(detector):
    source = ["Der Turm in Paris wurde 1889 fertiggestellt und ist 330 Meter hoch."]
    good = await detector.check("The tower in Paris was finished in 1889 and is 330 metres "
                                "tall.", sources=source, kind="translate", judge=False)
    assert good["verdict"] == "ok", good
    bad = await detector.check("The tower in Lyon was finished in 1899.", sources=source,
                               kind="translate", judge=False)
    assert bad["verdict"] == "suspect"
    assert [p["code"] for p in bad["problems"]] == ["omitted"]
    assert {c["verdict"] for c in bad["claims"]} == {"unsupported"}


# -- the model's judgement ------------------------------------------------------------------

def judge_from(table):
    """A fake judge: answers each claim (found after "Claim: ") from `table`."""
    def answer(body):
        claim = body["messages"][-1]["content"].rsplit("Claim: ", 1)[1].strip()
        verdict, quote = table[claim]
        return json.dumps({"verdict": verdict, "quote": quote})
    return answer


async def judged(detector, fake, claim, source, verdict, quote):
    """The report on `claim` when the model judges it `verdict`, quoting `quote`."""
    fake.default_answer = judge_from({claim: (verdict, quote)})
    return await detector.check(claim, sources=[source])


@pytest.mark.gen_test
async def test_a_judgement_with_a_verbatim_quote_counts(detector, fake_lmstudio):
    claim = "The company's staff numbers 1,450."
    source = "In 2023, the company employs 1450 people at two sites."
    lexical = await detector.check(claim, sources=[source], judge=False)
    assert lexical["claims"][0]["verdict"] == "unsupported"
    report = await judged(detector, fake_lmstudio, claim, source, "supported",
                          "the company  EMPLOYS 1450 people")
    assert report["claims"][0]["verdict"] == "supported" and report["verdict"] == "ok"
    assert report["claims"][0]["evidence"][0]["text"] == source
    assert report["checks"]["judge"] == "1 of 1 judgements kept"
    asked = completions(fake_lmstudio)
    assert len(asked) == 1 and asked[0]["temperature"] == 0


@pytest.mark.gen_test
async def test_a_judgement_with_an_invented_quote_is_dropped(detector, fake_lmstudio):
    claim = "Berlin is the capital of France."
    report = await judged(detector, fake_lmstudio, claim, "The capital of France is Paris.",
                          "supported", "Berlin is the capital of France.")
    assert report["claims"][0]["verdict"] == "contradicted"
    assert report["verdict"] == "likely hallucinated"
    assert report["checks"]["judge"] == "0 of 1 judgements kept"


@pytest.mark.gen_test
async def test_a_judge_cannot_wave_a_swapped_figure_through(detector, fake_lmstudio):
    claim = "The Hobbit appeared in 1954."
    source = "The Hobbit was published in 1937. The Lord of the Rings followed in 1954."
    # A quote that is in the sources but lacks the claim's figure: dropped.
    report = await judged(detector, fake_lmstudio, claim, source, "supported",
                          "The Hobbit was published in 1937.")
    assert report["checks"]["judge"] == "0 of 1 judgements kept"
    assert report["claims"][0]["verdict"] == "contradicted"
    # A quote that holds the figure, yet the sources give the claim's subject another: the
    # lexical contradiction stands, and the model's word is only noted.
    report = await judged(detector, fake_lmstudio, claim, source, "supported", source)
    assert report["claims"][0]["verdict"] == "contradicted"
    assert report["verdict"] == "likely hallucinated"
    assert report["claims"][0]["reasons"][-1].startswith("The model finds it supported")


@pytest.mark.gen_test
async def test_a_judge_that_does_not_answer_json_or_at_all_changes_nothing(
        detector, fake_lmstudio):
    fake_lmstudio.default_answer = "I think it is fine."
    report = await detector.check(ANSWER, sources=[SOURCE])
    assert report["verdict"] == "ok" and report["checks"]["judge"] == "0 of 2 judgements kept"
    fake_lmstudio.stop()
    report = await detector.check(ANSWER, sources=[SOURCE])
    assert report["verdict"] == "ok"
    # The judge's first check asked LM Studio's native API, so the server is named as such.
    assert report["checks"]["judge"].startswith(
        "unavailable: LM Studio at %s is not reachable" % fake_lmstudio.url)


@pytest.mark.parametrize("kind,what", [("translate", "translation"), ("summarize", "summary")])
@pytest.mark.gen_test
async def test_a_translation_or_summary_without_its_input_is_unchecked(detector, fake_lmstudio,
                                                                      kind, what):
    report = await detector.check("Les feuilles tombent en 1889 sur Paris.", kind=kind,
                                  question="Translate the haiku into French.")
    assert report["verdict"] == "unchecked" and report["samples"] == 0
    assert report["reason"] == "A %s is checked against its input, and it was given none." % (
        what)
    assert completions(fake_lmstudio) == []   # no samples of a text that had no input


@pytest.mark.gen_test
async def test_sources_are_indexed_off_the_ioloop_and_parsed_once(detector, monkeypatch):
    from orchestra.services.hallucination import detector as module
    from orchestra.services.hallucination.evidence import CACHE
    threads, ground = [], module.HallucinationDetector.ground

    def watched(claims, sources, kind):
        threads.append(threading.current_thread().name)
        return ground(claims, sources, kind)

    monkeypatch.setattr(module.HallucinationDetector, "ground", staticmethod(watched))
    CACHE.clear()
    for text in (ANSWER, "The Eiffel Tower is 412 metres tall."):
        await detector.check(text, sources=[SOURCE], judge=False)
    assert len(threads) == 2 and all(name.startswith("checker") for name in threads)
    assert (CACHE.misses, CACHE.hits) == (1, 1)   # the second check reused the parsed text
    # Each text is parsed once, whatever list it comes in: a subtask's passages overlap
    # another's, and each check numbers its own sources.
    report = await detector.check("The Eiffel Tower is 330 metres tall.", judge=False,
                                  sources=["Paris is in France.", SOURCE])
    assert (CACHE.misses, CACHE.hits) == (2, 2)
    assert report["verdict"] == "ok" and report["claims"][0]["evidence"][0]["source"] == 1


def test_the_passage_cache_keeps_a_budget_of_characters():
    from orchestra.services.hallucination.evidence import Evidence, PassageCache
    cache = PassageCache(chars=800)
    texts = ["Source number %d says the tower is %d metres tall. %s" % (i, 300 + i, "x" * 20)
             for i in range(12)]
    for text in texts:
        Evidence([text], cache=cache)
    assert cache.size <= 800 and cache.misses == 12
    Evidence([texts[-1]], cache=cache)
    Evidence([texts[0]], cache=cache)       # the oldest was dropped
    assert (cache.hits, cache.misses) == (1, 13)
    Evidence(["A long text. " * 10], cache=cache)   # past an eighth of the budget: not kept
    assert "A long text. " * 10 not in cache._texts


def test_citation_markers_are_not_figures():
    from orchestra.services.hallucination import split_claims
    claims = split_claims("- A cup holds about 30 mg of caffeine [1][2]. Sencha is steamed "
                          "[2, 3]; it was first grown in 1738. [4] The year [2024] stays.")
    assert [c["text"] for c in claims] == [
        "A cup holds about 30 mg of caffeine.", "Sencha is steamed",
        "it was first grown in 1738.", "The year [2024] stays."]


CITED_SOURCES = ["A cup of sencha holds about 30 mg of caffeine.",
                 "Sencha is steamed soon after picking."]


@pytest.mark.gen_test
async def test_an_answer_from_numbered_passages_must_cite_them(detector):
    cited = await detector.check(
        "A cup of sencha holds about 30 mg of caffeine [1]. Sencha is steamed soon after "
        "picking. [2]", sources=CITED_SOURCES + ["Write about sencha."], cited=2, judge=False)
    assert cited["verdict"] == "ok" and cited["flags"] == [] and cited["checks"]["uncited"] == 0
    assert cited["checks"]["grounding"] == 1     # the markers are not read as figures
    uncited = await detector.check(
        "A cup of sencha holds about 30 mg of caffeine [1]. Sencha is steamed soon after "
        "picking.", sources=CITED_SOURCES + ["Write about sencha."], cited=2, judge=False)
    assert uncited["verdict"] == "suspect" and uncited["score"] < cited["score"]
    assert uncited["checks"]["grounding"] == 1   # right, but nobody can trace it
    assert uncited["flags"] == [{"sentence": "Sencha is steamed soon after picking.",
                                 "reason": "Cites no source, though [2] supports it.",
                                 "method": "citation", "code": "uncited"}]
    # Without `cited` nothing asks for markers.
    plain = await detector.check("Sencha is steamed soon after picking.",
                                 sources=CITED_SOURCES, judge=False)
    assert plain["verdict"] == "ok" and "uncited" not in plain["checks"]


@pytest.mark.gen_test
async def test_what_rests_on_the_tasks_own_inputs_needs_no_marker(detector):
    earlier = "There are 12 tins of sencha in the shop."
    report = await detector.check(
        "The shop keeps 12 tins of sencha. Each cup holds about 30 mg of caffeine.",
        sources=CITED_SOURCES + ["Write about sencha.", earlier], cited=2, judge=False)
    assert [f["sentence"] for f in report["flags"]] == [
        "Each cup holds about 30 mg of caffeine."]
    none_matched = await detector.check(
        "Sencha has 80 mg of caffeine per cup. It is not in the knowledge base otherwise.",
        sources=["Write about sencha."], cited=0, judge=False)
    assert [(f["sentence"], f["reason"]) for f in none_matched["flags"]
            if f.get("code") == "uncited"] == [(
                "Sencha has 80 mg of caffeine per cup.",
                "States a fact, but no passage of the knowledge base matched this step.")]
    creative = await detector.check("Steam rises at 80 degrees over Shizuoka fields.",
                                    kind="creative", sources=CITED_SOURCES, cited=2)
    assert creative["flags"] == [] and "uncited" not in creative["checks"]


@pytest.mark.gen_test
async def test_saying_the_knowledge_base_lacks_it_is_no_claim(detector):
    report = await detector.check(
        "The knowledge base does not say how gyokuro is shaded; its caffeine is not in the "
        "knowledge base. Gyokuro is shaded for 20 days.",
        sources=["Write about gyokuro."], cited=0, judge=False)
    assert [c["text"] for c in report["claims"]] == ["Gyokuro is shaded for 20 days."]
    assert [f["sentence"] for f in report["flags"]] == ["Gyokuro is shaded for 20 days."] * 2
