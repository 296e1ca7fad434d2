"""The answer checker on the labelled evaluation set: accuracy, precision, recall and AUC.

Three runs: the lexical checker alone; with a model judge that answers from the labels and
quotes the sources correctly (what a good judge adds); and with a judge that answers the
opposite of the label and invents its quotes (what the quote filter keeps out). The judges
are the fake LM Studio, started in-process and scripted. With --judge-url (or
ORCHESTRA_BENCH_LLM_URL), a fourth run asks a real OpenAI-compatible server as the judge
(e.g. llama-cpp-python's server with SmolLM2-135M-Instruct, as .ci/run starts it). Also
prints the lexical checker's time per claim.

    python -m tests.bench.bench_checker [--judge-url URL]
"""

import argparse
import asyncio
import json
import logging
import math
import os
import time

from orchestra.services.hallucination import HallucinationDetector, split_claims
from orchestra.services.lmstudio import LMStudioClient
from tests.fakes.lmstudio import FakeLMStudio, unused_url
from tests.services.checker_eval import ITEMS, KIND_ITEMS, evaluate, figures

logger = logging.getLogger(__name__)

ALL = ITEMS + KIND_ITEMS
BY_TEXT = {}
for _entry in ALL:
    for _claim in split_claims(_entry["text"]):
        BY_TEXT.setdefault(_claim["text"], _entry)


def claim_of(body):
    return body["messages"][-1]["content"].rsplit("Claim: ", 1)[1].strip()


def good_judge(body):
    """Answers from the item's label, quoting the source sentence that shares most words."""
    claim = claim_of(body)
    entry = BY_TEXT.get(claim)
    if entry is None or not entry["sources"]:
        return json.dumps({"verdict": "not_found", "quote": ""})
    words = set(claim.lower().split())
    sentences = [s.strip() for source in entry["sources"] for s in source.split(". ")]
    quote = max(sentences, key=lambda s: len(words & set(s.lower().split())))
    verdict = {"supported": "supported", "contradicted": "contradicted"}.get(
        entry["label"], "not_found")
    return json.dumps({"verdict": verdict, "quote": quote.rstrip(".")})


def lying_judge(body):
    """Answers the opposite of the label with a quote that is not in the sources."""
    claim = claim_of(body)
    entry = BY_TEXT.get(claim, {"label": "supported"})
    verdict = "contradicted" if entry["label"] == "supported" else "supported"
    return json.dumps({"verdict": verdict, "quote": "As everyone knows, " + claim})


def show(name, table):
    print("\n%s" % name)
    print("%-24s %4s %8s %9s %7s %6s" % ("category", "n", "accuracy", "precision", "recall",
                                          "AUC"))
    for category in sorted(table, key=lambda c: (c == "all", c)):
        row = table[category]
        print("%-24s %4d %8s %9s %7s %6s" % (category, row["n"], fmt(row["accuracy"]),
                                              fmt(row["precision"]), fmt(row["recall"]),
                                              fmt(row["auc"])))


def fmt(value):
    return "-" if math.isnan(value) else "%.3f" % value


async def run_with_judge(answer):
    fake = FakeLMStudio().start()
    fake.default_answer = answer
    client = LMStudioClient(fake.url)
    try:
        return figures(await evaluate(HallucinationDetector(client), ALL)), len(
            [1 for path, _ in fake.requests if path.endswith("completions")])
    finally:
        await client.close()
        fake.stop()


async def run_with_server(url):
    client = LMStudioClient(url, request_timeout=300)
    try:
        started = time.perf_counter()
        table = figures(await evaluate(HallucinationDetector(client), ALL))
        return table, time.perf_counter() - started, client.json_mode
    finally:
        await client.close()


async def main(judge_url=None):
    client = LMStudioClient(unused_url())
    lexical = HallucinationDetector(client, judge=False)
    show("lexical checker alone", figures(await evaluate(lexical, ALL)))
    claims = sum(len(split_claims(e["text"])) for e in ALL)
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        await evaluate(lexical, ALL)
    elapsed = time.perf_counter() - started
    await client.close()
    table, asked = await run_with_judge(good_judge)
    show("with a judge that answers from the labels (%d judgements asked)" % asked, table)
    table, asked = await run_with_judge(lying_judge)
    show("with a judge that lies and invents its quotes (%d judgements asked)" % asked, table)
    if judge_url:
        table, seconds, mode = await run_with_server(judge_url)
        show("with the model at %s as the judge (structured output: %s; %.0f s)"
             % (judge_url, mode, seconds), table)
    print("\nlexical checker: %.2f ms per claim (%d claims, %d answers, averaged over "
          "%d rounds)" % (elapsed / rounds / claims * 1000, claims, len(ALL), rounds))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge-url", default=os.environ.get("ORCHESTRA_BENCH_LLM_URL"),
                        help="a real OpenAI-compatible server to ask as the judge")
    asyncio.run(main(parser.parse_args().judge_url))
