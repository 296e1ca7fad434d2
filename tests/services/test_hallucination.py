"""The hallucination detector on crafted answers: consistent and inconsistent samples, grounded
and ungrounded claims, and the response checks; samples come from the fake LM Studio."""

import itertools

import pytest

from orchestra.services.gate import ModelGate
from orchestra.services.hallucination import HallucinationDetector, split_sentences
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
    report = await detector.check(ANSWER, sources=[SOURCE])
    assert report == {"score": 1.0, "verdict": "ok", "flags": [], "problems": [],
                      "samples": 0, "checks": {"response": 1.0, "grounding": 1.0}}


@pytest.mark.gen_test
async def test_numbers_names_and_quotes_absent_from_the_sources_are_flagged(detector):
    text = ('The Eiffel Tower was finished in 1889. It is 412 metres tall. '
            'It was designed by Maurice Koechlin. Eiffel said "I ought to be jealous of '
            'the tower".')
    report = await detector.check(text, sources=[SOURCE])
    reasons = {f["sentence"]: f["reason"] for f in report["flags"]}
    assert reasons == {
        "It is 412 metres tall.": "Not found in the sources: 412.",
        "It was designed by Maurice Koechlin.": "Not found in the sources: Maurice Koechlin.",
        'Eiffel said "I ought to be jealous of the tower".':
            'Not found in the sources: "I ought to be jealous of the tower".',
    }
    assert all(f["method"] == "grounding" for f in report["flags"])
    assert report["checks"]["grounding"] == 0.25 and report["verdict"] == "likely hallucinated"


@pytest.mark.gen_test
async def test_sentences_without_checkable_facts_are_not_held_against_the_answer(detector):
    report = await detector.check("It is a famous landmark. Many people like it.",
                                  sources=[SOURCE])
    assert report["verdict"] == "ok" and report["flags"] == []


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
    assert report["samples"] == 0 and report["verdict"] == "suspect"
    assert report["problems"][0]["code"] == "sampling_failed"
    assert "LM Studio is not reachable" in report["problems"][0]["message"]


def test_sentences_split_on_ends_and_list_items():
    text = "First point. Second one!\n- Third item\n2. Fourth item here\nDr"
    assert split_sentences(text) == ["First point.", "Second one!", "Third item",
                                     "Fourth item here"]
