"""The lexical checker alone (no model judge, no samples) on the labelled evaluation set."""

import pytest

from orchestra.services.hallucination import HallucinationDetector
from orchestra.services.lmstudio import LMStudioClient
from tests.fakes.lmstudio import unused_url
from tests.services.checker_eval import ITEMS, KIND_ITEMS, evaluate, figures


def test_the_set_is_large_and_varied():
    assert len(ITEMS) + len(KIND_ITEMS) >= 150
    categories = {e["category"] for e in ITEMS}
    assert {"entity swap", "number swap", "relation swap", "negation", "unsupported addition",
            "correct paraphrase", "correct rounding", "Markdown", "sentence-initial names",
            "possessives", "no checkable fact"} <= categories


@pytest.mark.gen_test
async def test_lexical_checker_reaches_the_bar():
    client = LMStudioClient(unused_url())
    detector = HallucinationDetector(client, judge=False)
    try:
        results = await evaluate(detector, ITEMS + KIND_ITEMS)
    finally:
        await client.close()
    table = figures(results)
    misses = ["%s: want %s, got %s (%.2f) %r" % (e["category"], e["verdict"], r["verdict"],
                                                 r["score"], e["text"][:60])
              for e, r in results if r["verdict"] != e["verdict"]]
    report = "\n".join(["accuracy %.3f, AUC %.3f" % (table["all"]["accuracy"],
                                                     table["all"]["auc"])] + misses)
    assert table["all"]["accuracy"] >= 0.90, report
    assert table["all"]["auc"] >= 0.95, report
