"""GET /api/conversations?q=: titles and message text, LIKE wildcards taken literally."""

import urllib.parse

import pytest


async def conversation(fetch, title, *messages):
    created = (await fetch("/api/conversations", method="POST", json={"title": title})).json()
    for text in messages:
        r = await fetch("/api/messages", method="POST", json={
            "conversationId": created["id"], "content": text})
        assert r.code == 201, r.text
    return created["id"]


async def search(fetch, q, **params):
    query = urllib.parse.urlencode(dict(params, q=q))
    r = await fetch("/api/conversations?" + query)
    assert r.code == 200, r.text
    return r.json()


@pytest.mark.gen_test
async def test_search_finds_titles_and_message_text(fetch):
    tea = await conversation(fetch, "Green tea", "How is it grown?")
    coffee = await conversation(fetch, "Morning drinks", "Is coffee stronger than TEA?")
    other = await conversation(fetch, "Gardening", "Roses need sun.")

    found = await search(fetch, "tea")
    assert [c["id"] for c in found["items"]] == [coffee, tea]  # newest first, case-insensitive
    assert found["total"] == 2 and found["limit"] == 50 and found["offset"] == 0
    assert set(found["items"][0]) == set((await fetch("/api/conversations/%d" % coffee)).json())
    assert [c["id"] for c in (await search(fetch, "roses NEED"))["items"]] == [other]
    assert [c["id"] for c in (await search(fetch, "garden"))["items"]] == [other]
    assert (await search(fetch, "espresso")) == {"items": [], "total": 0, "limit": 50,
                                                 "offset": 0}
    page = await search(fetch, "tea", limit=1, offset=1)
    assert [c["id"] for c in page["items"]] == [tea] and page["total"] == 2
    # A conversation with many matching messages is one result.
    await conversation(fetch, "Notes", "tea one", "tea two", "tea three")
    assert (await search(fetch, "tea"))["total"] == 3
    # No q (or a blank one) is the plain list.
    assert (await fetch("/api/conversations?q=%20")).json()["total"] == 4


@pytest.mark.gen_test
async def test_wildcards_in_the_query_match_only_themselves(fetch):
    percent = await conversation(fetch, "Discounts", "It is 100% off")
    underscore = await conversation(fetch, "Code", "call snake_case here")
    bang = await conversation(fetch, "Wow!", "plain")
    await conversation(fetch, "Plain", "1000 off, snakeXcase, wow")

    assert [c["id"] for c in (await search(fetch, "100%"))["items"]] == [percent]
    assert [c["id"] for c in (await search(fetch, "%"))["items"]] == [percent]
    assert [c["id"] for c in (await search(fetch, "snake_case"))["items"]] == [underscore]
    assert [c["id"] for c in (await search(fetch, "_"))["items"]] == [underscore]
    assert [c["id"] for c in (await search(fetch, "wow!"))["items"]] == [bang]
    assert (await search(fetch, "!%"))["total"] == 0
    assert (await search(fetch, "\\"))["total"] == 0
    assert (await search(fetch, "it's \"quoted\""))["total"] == 0


@pytest.mark.gen_test
async def test_search_input_is_checked(fetch):
    r = await fetch("/api/templates?q=x")
    assert r.code == 400 and r.json()["fields"] == {"q": ["Not supported here."]}
    r = await fetch("/api/conversations?q=" + "x" * 201)
    assert r.code == 400 and "200" in r.json()["error"]
    r = await fetch("/api/conversations?q=x&limit=0")
    assert r.code == 400
