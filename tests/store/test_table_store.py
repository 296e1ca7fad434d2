"""TableStore reads: a page and its total in one trip, the rows each subclass adds, and
reads right after writes (on SQLite's readers)."""

import pytest


@pytest.fixture
def stores(app):
    return app.settings["stores"]


def template(name, category=""):
    return {"name": name, "description": "", "category": category, "body": "b"}


@pytest.mark.gen_test(timeout=60)
async def test_a_page_is_the_list_and_the_count_of_the_same_filters(stores):
    for i in range(7):
        await stores.templates.create(template("t%d" % i, "ab"[i % 2]))
    rows, total = await stores.templates.page(limit=2, offset=1, category="a")
    assert [r.name for r in rows] == [r.name for r in await stores.templates.list(
        limit=2, offset=1, category="a")] == ["t4", "t2"]
    assert total == await stores.templates.count(category="a") == 4
    with pytest.raises(ValueError):
        await stores.templates.page(nonsense=1)


@pytest.mark.gen_test(timeout=60)
async def test_pages_keep_what_subclasses_add_to_their_rows(stores):
    first = await stores.templates.create(template("t"))
    await stores.workflows.create({"name": "w", "description": "", "steps": [
        {"name": "s", "template_id": first.id, "variables": {}}]})
    rows, total = await stores.workflows.page(limit=5)
    assert total == 1 and [s["name"] for s in rows[0]["steps"]] == ["s"]
    task = await stores.tasks.create({"title": "x", "description": "d", "status": "pending",
                                      "priority": "low"})
    rows, total = await stores.tasks.page()
    assert total == 1 and rows[0]["id"] == task.id and rows[0]["subtasks_total"] == 0


@pytest.mark.gen_test(timeout=60)
async def test_every_read_sees_the_write_before_it(stores):
    for i in range(30):
        row = await stores.templates.create(template("n%d" % i))
        assert (await stores.templates.get(row.id)).name == "n%d" % i
        await stores.templates.update(row.id, {"name": "m%d" % i})
        rows, total = await stores.templates.page(limit=1)
        assert rows[0].name == "m%d" % i and total == i + 1
        assert await stores.templates.delete(row.id)
        assert await stores.templates.get(row.id) is None
        await stores.templates.create(template("n%d" % i))
