import pytest


@pytest.mark.gen_test
async def test_dashboard_requires_token(fetch):
    r = await fetch("/", token=False)
    assert r.code == 302 and r.headers["Location"].startswith("/login")
