"""No leaks: 50 renders of the local site, some that hang and some whose tab crashes, with a
browser recycled on the way; the Chromium processes and their memory are counted after, and
nothing is left once the pool is closed."""

import asyncio
import logging

import psutil
import pytest

from orchestra.services.web.errors import WebError
from tests.fakes.site_browser import (browser_site, crash_next, make_pool,  # noqa: F401
                                     running)

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.browser

RENDERS = 50
LOGIN = [{"type": "fill", "selector": "#user", "value": "alice"},
         {"type": "fill", "selector": "#password", "value": "s3cret"},
         {"type": "click", "selector": "#submit"},
         {"type": "wait_for", "selector": "#welcome"}]


def plan():
    """What each render asks for: one in five hangs (no answer, or a script that never
    ends), one in ten crashes its tab, the others read pages (some with a login)."""
    for n in range(RENDERS):
        if n % 10 == 3:
            yield "crash"
        elif n % 10 in (5, 9):
            yield "hang" if n % 20 < 10 else "busy"
        elif n % 10 == 7:
            yield "login"
        else:
            yield "script"


async def settled(pool, at_most, total=None, tries=100):
    """The pool's processes once renderers of closed contexts have gone (Chromium ends them
    after the context closes, not at once), and once there are at most `total` processes in
    all (a helper process that is ending still counts for a moment on a busy machine):
    polled, giving up after `tries`. A leak is what is still there then."""
    for _ in range(tries):
        processes = pool.processes()
        if len(renderers(processes)) <= at_most and (total is None or len(processes) <= total):
            return processes
        await asyncio.sleep(0.1)
    return pool.processes()


def renderers(processes):
    return [p for p in processes if _type(p) == "renderer"]


def _type(process):
    try:
        return next((a.split("=", 1)[1] for a in process.cmdline() if a.startswith("--type=")),
                    "browser")
    except psutil.Error:
        return "gone"


def chromium_descendants():
    """Chromium processes anywhere below this test process."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "chrom" in process.name() and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            pass
    return found


@pytest.mark.gen_test(timeout=600)
async def test_fifty_renders_leak_no_process(make_pool, browser_site):  # noqa: F811
    pool = make_pool(max_contexts=4, pages_per_browser=20)
    seen = set()
    outcomes = {"ok": 0, "timeout": 0, "render_failed": 0}

    async def one(kind, n):
        url = browser_site.url + {"crash": "/crash/t%d" % n, "hang": "/hang", "busy": "/busy",
                                  "login": "/login", "script": "/script"}[kind]
        crash = asyncio.ensure_future(crash_next(pool, browser_site)) if kind == "crash" \
            else None
        try:
            rendered = await pool.render(url, timeout=3 if kind in ("hang", "busy") else 30,
                                         actions=LOGIN if kind == "login" else None)
            assert kind in ("script", "login"), kind
            assert "Made in the browser" in rendered.html or "Welcome, alice" in rendered.html
            outcomes["ok"] += 1
        except WebError as e:
            assert (kind, e.code) in (("hang", "timeout"), ("busy", "timeout"),
                                      ("crash", "render_failed")), (kind, e.code)
            outcomes[e.code] += 1
        if crash:
            await crash
        seen.update(pool.processes())

    kinds = list(plan())
    for start in range(0, RENDERS, 5):      # five at a time through four contexts
        await asyncio.gather(*[one(kind, start + i)
                               for i, kind in enumerate(kinds[start:start + 5])])
        if start == 0:
            first = await settled(pool, at_most=1)
            baseline = len(first), pool.rss_mb()

    assert outcomes == {"ok": 35, "timeout": 10, "render_failed": 5}
    assert pool.launches == 3           # recycled after 20 and 40 renders
    after = await settled(pool, at_most=1, total=baseline[0] + 1)
    rss = pool.rss_mb()
    logger.warning("after 5 renders: %d processes, %.0f MB; after %d: %d processes "
                   "(%d renderers), %.0f MB; %d processes seen in all",
                   baseline[0], baseline[1], RENDERS, len(after), len(renderers(after)), rss,
                   len(seen))
    print("\nleak test: after 5 renders %d processes %.0f MB (PSS); after %d renders %d "
          "processes (%d renderers) %.0f MB; %d distinct processes seen"
          % (baseline[0], baseline[1], RENDERS, len(after), len(renderers(after)), rss,
             len(seen)))
    # No renderer of a hung or crashed page outlives its context, and no process piles up.
    assert len(renderers(after)) <= 1 and len(after) <= baseline[0] + 1
    assert rss < baseline[1] * 1.5 + 50
    # The processes of the two browsers recycled away are all gone.
    old = [p for p in seen if p not in set(after)]
    assert old and not [p for p in old if running(p)]

    await pool.close()
    assert pool.processes() == []
    assert not [p for p in seen if running(p)]
    assert chromium_descendants() == []
    print("after close(): %d processes" % len(chromium_descendants()))
