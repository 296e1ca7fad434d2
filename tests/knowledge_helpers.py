"""Knowledge bases and sources made through the real API and form pages, for the tests."""


async def add_base(fetch, name="Handbook"):
    """A new knowledge base's id (POST /api/knowledge-bases)."""
    r = await fetch("/api/knowledge-bases", method="POST", json={"name": name})
    assert r.code == 201, r.text
    return r.json()["id"]


async def add_text(fetch, base_id, title, content):
    """A new text source, as the API answers it."""
    r = await fetch("/api/knowledge-sources", method="POST", json={
        "knowledgeBaseId": base_id, "kind": "text", "title": title, "content": content})
    assert r.code == 201, r.text
    return r.json()


async def add_base_page(browser):
    """A new knowledge base made with its form; the path of its page."""
    r = await browser.post("/knowledge-bases/new", {"name": "Handbook", "description": ""})
    assert r.code == 303
    return r.headers["Location"]


async def sources_of_page(fetch, base_path):
    """The sources of the base whose page is `base_path`."""
    id = base_path.rsplit("/", 1)[1]
    return (await fetch("/api/knowledge-sources?knowledgeBaseId=%s" % id)).json()["items"]
