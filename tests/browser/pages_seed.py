"""One row of everything, with long words and every badge, so that page tests see full pages."""

LONG_WORD = "supercalifragilistic" * 5  # 100 characters without a place to break
LONG_URL = "http://127.0.0.1:9/" + "a-very-long-path-segment/" * 6 + "page.html"
VERDICTS = [("ok", 0.95), ("suspect", 0.6), ("likely hallucinated", 0.2), ("unchecked", None)]


async def seed(app, fetch):
    """Create rows through the JSON API (the orchestrator's fields through the stores);
    return {name: path} of every page to visit."""

    async def post(path, body):
        response = await fetch(path, method="POST", json=body)
        assert response.code == 201, response.text
        return response.json()

    template = await post("/api/templates", {
        "name": "Summary " + LONG_WORD, "category": "writing",
        "body": "Summarise {{text}} in {{words}} words. " + LONG_WORD})
    workflow = await post("/api/workflows", {
        "name": "Two steps", "description": LONG_WORD,
        "steps": [{"name": "First", "templateId": template["id"],
                   "variables": {"text": LONG_WORD, "words": "20"}},
                  {"name": "Second", "prompt": "Then say " + LONG_WORD}]})
    instruction = await post("/api/instructions", {"name": "Be brief",
                                                   "content": "Answer briefly. " + LONG_WORD})
    base = await post("/api/knowledge-bases", {"name": "Handbook", "description": LONG_WORD})
    source = await post("/api/knowledge-sources", {
        "knowledgeBaseId": base["id"], "kind": "text", "title": "Notes " + LONG_WORD,
        "content": "Tea grows on bushes. " + LONG_WORD})
    await post("/api/knowledge-sources", {"knowledgeBaseId": base["id"], "kind": "url",
                                          "title": "A page", "url": LONG_URL})
    account = await post("/api/accounts", {"service": "github", "name": "Work " + LONG_WORD,
                                           "username": "someone", "secret": "s3cret-token"})
    conversation = await post("/api/conversations", {"title": "Tea " + LONG_WORD})
    messages = app.settings["stores"].messages
    await messages.add(conversation["id"], "user", "Tell me about tea. " + LONG_WORD)
    await messages.add(conversation["id"], "assistant", "Tea is a drink. " + LONG_URL,
                       model="qwen2.5-7b-instruct")
    await messages.add(conversation["id"], "assistant", "Tea is", status="incomplete",
                       error="The model server stopped answering.")

    stores = app.settings["stores"]
    task = await stores.tasks.create({
        "title": "Tea facts " + LONG_WORD, "description": LONG_WORD, "status": "needs_review",
        "model": "qwen2.5-7b-instruct",
        "subtasks": [{"title": "Step %d" % n, "description": LONG_WORD}
                     for n in range(len(VERDICTS) + 1)]})
    subtasks = await stores.subtasks.of_task(task["id"])
    for subtask, (verdict, score) in zip(subtasks, VERDICTS):
        await stores.subtasks.update(subtask["id"], {
            "status": "needs_review" if verdict == "suspect" else "completed",
            "result": "An answer. " + LONG_WORD, "score": score,
            "verdict": {"verdict": verdict, "score": score if score is not None else 0.0,
                        "reason": LONG_WORD}})
    await stores.subtasks.update(subtasks[-1]["id"], {"status": "failed",
                                                      "error": "Boom " + LONG_WORD})
    await stores.tasks.create({"title": "Queued one", "description": "", "status": "pending",
                               "subtasks": []})

    pages = {
        "dashboard": "/", "chat": "/chat", "conversation": "/chat/%d" % conversation["id"],
        "tasks": "/tasks", "new task": "/tasks/new", "task": "/tasks/%d" % task["id"],
        "models": "/models", "web": "/web", "missing": "/no/such/page",
    }
    for name, row in (("templates", template), ("workflows", workflow),
                      ("instructions", instruction), ("knowledge-bases", base),
                      ("accounts", account)):
        pages[name] = "/%s" % name
        pages[name + " new"] = "/%s/new" % name
        pages[name + " show"] = "/%s/%d" % (name, row["id"])
        pages[name + " edit"] = "/%s/%d/edit" % (name, row["id"])
    pages["workflow run"] = "/workflows/%d/run" % workflow["id"]
    pages["source"] = "/knowledge-bases/%d/sources/%d" % (base["id"], source["id"])
    return pages
