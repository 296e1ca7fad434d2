"""Robots (robots.txt per origin, cached) and Politeness (per-host limits) on a real site."""

import asyncio

import pytest
import tornado.testing

from orchestra.services.web.errors import WebError
from orchestra.services.web.fetcher import StaticFetcher
from orchestra.services.web.robots import Politeness, Robots
from tests.fakes.site_static import static_site  # noqa: F401


@pytest.fixture
def fetcher(io_loop):
    fetcher = StaticFetcher(allow_private=True, timeout=5)
    yield fetcher
    io_loop.run_sync(fetcher.close)


@pytest.fixture
def robots(fetcher):
    return Robots(fetcher, "Orchestra/0.1 (+https://github.com/orchestra)")


RULES = """# comments are fine
User-agent: SomeOtherBot
Disallow: /

User-agent: *
Disallow: /private
Allow: /private/open
Disallow: /tmp/
"""


@pytest.mark.gen_test
async def test_rules_for_everyone_apply(robots, static_site):  # noqa: F811
    static_site.robots = (200, RULES)
    base = static_site.url
    assert await robots.allowed(base + "/article")
    assert await robots.allowed(base + "/")
    assert not await robots.allowed(base + "/private")
    assert not await robots.allowed(base + "/private/page?x=1")
    assert not await robots.allowed(base + "/tmp/file")
    assert await robots.allowed(base + "/tmpfile")


@pytest.mark.gen_test
async def test_a_group_for_our_agent_wins_over_the_star_group(robots, static_site):  # noqa: F811
    static_site.robots = (200, "User-agent: *\nAllow: /\n\nUser-agent: orchestra\n"
                               "Disallow: /\n")
    assert not await robots.allowed(static_site.url + "/article")


@pytest.mark.gen_test
@pytest.mark.parametrize("status", [404, 410, 401, 403])
async def test_a_missing_robots_txt_allows_everything(robots, static_site, status):  # noqa: F811
    static_site.robots = (status, "User-agent: *\nDisallow: /\n")   # the body is not rules
    assert await robots.allowed(static_site.url + "/private")


@pytest.mark.gen_test
@pytest.mark.parametrize("status", [500, 503, 429])
async def test_a_failing_robots_txt_disallows_for_now(fetcher, static_site,  # noqa: F811
                                                      status):
    robots = Robots(fetcher, "Orchestra", failure_ttl=0)
    static_site.robots = (status, "")
    assert not await robots.allowed(static_site.url + "/article")
    static_site.robots = (404, "")     # the site is back: read again, not cached for an hour
    assert await robots.allowed(static_site.url + "/article")


@pytest.mark.gen_test
async def test_an_unreachable_site_is_disallowed(robots):
    sock, port = tornado.testing.bind_unused_port()
    sock.close()
    assert not await robots.allowed("http://127.0.0.1:%d/page" % port)


@pytest.mark.gen_test
async def test_a_slow_robots_txt_is_disallowed(fetcher, static_site):  # noqa: F811
    robots = Robots(fetcher, "Orchestra", timeout=0.3)
    static_site.robots_wait = True
    assert not await robots.allowed(static_site.url + "/article")


@pytest.mark.gen_test
async def test_robots_txt_is_cached_per_origin(robots, static_site):  # noqa: F811
    static_site.robots = (200, RULES)
    for _ in range(3):
        assert await robots.allowed(static_site.url + "/article")
    assert static_site.hits.count("/robots.txt") == 1
    # Another origin (same server, another name) has its own robots.txt.
    assert await robots.allowed("http://localhost:%d/article" % static_site.port)
    assert static_site.hits.count("/robots.txt") == 2


@pytest.mark.gen_test
async def test_pages_asking_together_fetch_robots_txt_once(robots, static_site):  # noqa: F811
    static_site.robots = (200, RULES)
    answers = await asyncio.gather(*[robots.allowed(static_site.url + path)
                                     for path in ("/a", "/b", "/private", "/c") * 3])
    assert answers == [True, True, False, True] * 3
    assert static_site.hits.count("/robots.txt") == 1


@pytest.mark.gen_test
async def test_an_expired_cache_reads_robots_txt_again(fetcher, static_site):  # noqa: F811
    robots = Robots(fetcher, "Orchestra", ttl=0)
    static_site.robots = (200, "User-agent: *\nDisallow: /\n")
    assert not await robots.allowed(static_site.url + "/article")
    static_site.robots = (200, "User-agent: *\nAllow: /\n")
    assert await robots.allowed(static_site.url + "/article")


@pytest.mark.gen_test
async def test_a_robots_txt_redirect_is_followed(robots, static_site):  # noqa: F811
    static_site.robots = (200, "User-agent: *\nDisallow: /private\n")
    static_site.robots_redirect = "/robots-moved"
    assert not await robots.allowed(static_site.url + "/private")
    assert "/robots-moved" in static_site.hits


@pytest.mark.gen_test
async def test_robots_refuses_private_addresses_as_the_fetcher_does(static_site):  # noqa: F811
    strict = StaticFetcher(allow_private=False)
    try:
        with pytest.raises(WebError) as caught:
            await Robots(strict, "Orchestra").allowed(static_site.url + "/article")
        assert caught.value.code == "blocked_address"
        with pytest.raises(WebError) as caught:
            await Robots(strict, "Orchestra").allowed("ftp://example.org/")
        assert caught.value.code == "invalid_url"
    finally:
        await strict.close()
    assert static_site.hits == []


# -- Politeness ------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_at_most_per_host_requests_at_once():
    politeness = Politeness(delay=0, per_host=2)
    inside, most, release = [], [0], asyncio.Event()

    async def request(host):
        async with politeness.slot(host):
            inside.append(host)
            most[0] = max(most[0], inside.count("a.example"))
            await release.wait()
            inside.remove(host)

    tasks = [asyncio.ensure_future(request("a.example")) for _ in range(5)]
    tasks.append(asyncio.ensure_future(request("b.example")))
    while len(inside) < 3:
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)          # the waiting ones had every chance to get in
    assert sorted(inside) == ["a.example", "a.example", "b.example"]
    release.set()
    await asyncio.gather(*tasks)
    assert most[0] == 2 and politeness.hosts() == []


@pytest.mark.gen_test
async def test_request_starts_to_a_host_are_spaced_by_the_delay():
    """A lower bound only: a busy machine makes the gaps longer, never shorter."""
    politeness = Politeness(delay=0.05, per_host=3)
    starts = {"a": [], "b": []}
    loop = asyncio.get_running_loop()

    async def request(host):
        async with politeness.slot(host):
            starts[host].append(loop.time())

    await asyncio.gather(*[request(h) for h in ("a", "a", "a", "b", "a", "b")])
    for host in ("a", "b"):
        gaps = [b - a for a, b in zip(starts[host], starts[host][1:])]
        assert gaps and all(gap >= 0.05 - 0.002 for gap in gaps), gaps


@pytest.mark.gen_test
async def test_a_failed_request_frees_its_slot():
    politeness = Politeness(delay=0, per_host=1)
    with pytest.raises(RuntimeError):
        async with politeness.slot("a.example"):
            raise RuntimeError("boom")
    async with politeness.slot("a.example"):
        pass
    assert politeness.hosts() == []
