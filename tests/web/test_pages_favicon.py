"""The favicon over HTTP: /favicon.ico for browsers that ask on their own, and the icon every
page links, both served without logging in."""

import re

import pytest


@pytest.mark.gen_test
async def test_favicon_ico_is_served_without_a_token(fetch):
    response = await fetch("/favicon.ico", token=False)
    assert response.code == 200
    assert response.headers["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert response.body[:4] == b"\x00\x00\x01\x00"  # an ICO file with one image...
    assert response.body[22:26] == b"\x89PNG"  # ...stored as PNG


@pytest.mark.gen_test
@pytest.mark.parametrize("path,token", [("/", True), ("/tasks", True), ("/login", False),
                                        ("/no/such/page", True)])
async def test_every_page_links_an_icon_that_exists(fetch, path, token):
    page = await fetch(path, token=token)
    assert page.code in (200, 404)
    links = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
    assert len(links) == 1
    icon = await fetch(links[0], token=False)
    assert icon.code == 200 and icon.headers["Content-Type"] == "image/svg+xml"
    assert icon.text.startswith("<svg")
