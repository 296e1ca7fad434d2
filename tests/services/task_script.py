"""Scripts for the fake LM Studio that answer like a model doing tasks: plans and steps.

`ModelScript` is the fake's `default_answer`: it looks at each request's messages to tell a
planning request from a step or a check sample, and answers from its tables.
"""

import json

PLAN_MARK = "You plan work for a local language model"


def plan_json(*steps):
    """A plan answer: steps as (title, instructions), (title, instructions, depends_on) or
    (title, instructions, depends_on, kind)."""
    items = []
    for index, step in enumerate(steps, 1):
        title, instructions = step[0], step[1]
        depends = step[2] if len(step) > 2 else []
        kind = step[3] if len(step) > 3 else "answer"
        items.append({"id": index, "title": title, "instructions": instructions,
                      "kind": kind, "dependsOn": depends})
    return json.dumps({"subtasks": items})


def is_plan(body):
    messages = body.get("messages") or []
    return bool(messages) and PLAN_MARK in (messages[0].get("content") or "")


def is_sample(body):
    """Check samples are asked at a higher temperature than the step itself."""
    return (body.get("temperature") or 0) >= 0.9


def user_text(body):
    return "\n".join(m["content"] for m in body.get("messages") or [] if m["role"] == "user")


class ModelScript:
    """plans: answers to planning requests, in order (the last one repeats).
    steps: {step title: answer or fn(body) -> answer}; a step's request is recognised by
    "Your step: <title>" (planned tasks) or by a marker in a workflow step's prompt."""

    def __init__(self, plans=(), steps=None, default="Done."):
        self.plans = list(plans)
        self.steps = steps or {}
        self.default = default
        self.plan_requests = []
        self.step_requests = []   # (title, body), in arrival order, samples excluded
        self.sample_requests = []

    def __call__(self, body):
        if is_plan(body):
            self.plan_requests.append(body)
            index = min(len(self.plan_requests), len(self.plans)) - 1
            return self.plans[index] if self.plans else plan_json(("Only step", "Do it"))
        title = self.step_of(body)
        (self.sample_requests if is_sample(body) else self.step_requests).append((title, body))
        if title is None:
            return self.default
        answer = self.steps[title]
        return answer(body) if callable(answer) else answer

    def step_of(self, body):
        first = next(m["content"] for m in body["messages"] if m["role"] == "user")
        for title in self.steps:
            if "Your step: %s\n" % title in first + "\n":
                return title
        for title in self.steps:  # workflow steps: their prompt carries the title as a marker
            if title in first:
                return title
        return None

    def titles(self):
        return [title for title, _ in self.step_requests]
