"""Every page in Chromium: fits a 390 x 844 phone with the menu folded, opens at most one
WebSocket, asks for nothing that is missing (the favicon included), and styles its badges."""

import pytest

from tests.browser.conftest import page_errors
from tests.browser.pages_seed import seed

PHONE = {"width": 390, "height": 844}
NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (Not Found)"

# Each badge value and the colour its text must have (app.css): green, red, amber, blue, grey.
GREEN, RED, AMBER, BLUE, GREY = ("rgb(6, 118, 71)", "rgb(180, 35, 24)", "rgb(181, 71, 8)",
                                 "rgb(48, 86, 211)", "rgb(93, 104, 117)")
BADGES = {
    "ok": GREEN, "completed": GREEN, "complete": GREEN, "loaded": GREEN, "ready": GREEN,
    "supported": GREEN,
    "failed": RED, "error": RED, "incomplete": RED, "cancelled": RED, "interrupted": RED,
    "contradicted": RED, "likely hallucinated": RED, "likely-hallucinated": RED,
    "suspect": AMBER, "needs_review": AMBER, "unsupported": AMBER,
    "running": BLUE, "planning": BLUE, "pending": BLUE, "queued": BLUE, "streaming": BLUE,
    "unchecked": GREY, "skipped": GREY, "not-loaded": GREY,
}


class Watch:
    """What a page asked the network for: failed responses and WebSockets opened."""

    def __init__(self, page):
        self.failed = []
        self.sockets = []
        page.on("response", lambda r: self.failed.append("%d %s" % (r.status, r.url))
                if r.status >= 400 else None)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def clear(self):
        self.failed.clear()
        self.sockets.clear()


async def fits(page):
    """The page's widths, and the innermost elements whose content spills past the screen's
    right edge (to say what to fix when the page is too wide)."""
    return await page.evaluate("""() => {
        const root = document.documentElement;
        const spills = (e) => e.getBoundingClientRect().left + e.scrollWidth
            > root.clientWidth + 0.5 && getComputedStyle(e).overflowX === 'visible';
        const wide = [...document.querySelectorAll('body *')].filter((e) =>
            spills(e) && ![...e.children].some(spills));
        return {scroll: root.scrollWidth, client: root.clientWidth,
                body: document.body.scrollWidth,
                wide: wide.slice(0, 5).map((e) => e.tagName + '.' + e.className + '#' + e.id)};
    }""")


@pytest.mark.gen_test(timeout=180)
async def test_every_page_fits_a_phone_with_a_folding_menu(open_page, app, fetch,
                                                           fake_lmstudio):
    pages = await seed(app, fetch)
    page = await open_page("/")
    await page.set_viewport_size(PHONE)
    root = page.url.rstrip("/")
    watch = Watch(page)
    for name, path in pages.items():
        watch.clear()
        response = await page.goto(root + path)
        assert response.status == (404 if name == "missing" else 200), name
        await page.wait_for_load_state("load")
        size = await fits(page)
        assert size["scroll"] <= size["client"] and size["body"] <= size["client"], (name, size)
        toggle = page.get_by_role("button", name="Menu")
        links = page.locator("#site-nav nav a")
        assert await toggle.is_visible(), name
        assert await toggle.get_attribute("aria-expanded") == "false"
        assert not await links.first.is_visible(), name
        await toggle.click()
        assert await toggle.get_attribute("aria-expanded") == "true"
        assert await links.count() == 11
        for index in range(await links.count()):
            box = await links.nth(index).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
        assert await page.get_by_role("button", name="Log out").is_visible()
        size = await fits(page)
        assert size["scroll"] <= size["client"], (name, "menu open", size)
        await page.keyboard.press("Escape")
        assert not await links.first.is_visible(), name
        expected = ["404 " + page.url] if name == "missing" else []
        assert watch.failed == expected, name
        assert len(watch.sockets) <= 1, (name, watch.sockets)
    # The login page, for a browser that is not logged in, fits too (and has no menu).
    anonymous = await open_page("/login", token=False)
    await anonymous.set_viewport_size(PHONE)
    size = await fits(anonymous)
    assert size["scroll"] <= size["client"]
    assert await anonymous.get_by_role("button", name="Menu").count() == 0
    # The one console error is the 404 of the missing page itself (no favicon among them).
    assert page_errors(page) == [NOT_FOUND] and page_errors(anonymous) == []


@pytest.mark.gen_test(timeout=60)
async def test_the_menu_stays_open_on_a_wide_screen(open_page):
    page = await open_page("/tasks")
    assert not await page.get_by_role("button", name="Menu").is_visible()
    for label in ("Dashboard", "Chat", "Tasks", "Models", "Accounts"):
        assert await page.locator("#site-nav nav a", has_text=label).is_visible()
    assert await page.locator("#site-nav a[aria-current=page]").inner_text() == "Tasks"


@pytest.mark.gen_test(timeout=120)
async def test_every_page_has_a_favicon_and_styles_every_badge(open_page, app, fetch,
                                                               fake_lmstudio):
    pages = await seed(app, fetch)
    page = await open_page("/")
    root = page.url.rstrip("/")
    watch = Watch(page)
    for name, path in pages.items():
        watch.clear()
        await page.goto(root + path)
        await page.wait_for_load_state("load")
        icon = await page.get_attribute("link[rel=icon]", "href")
        fetched = await page.evaluate("async (href) => (await fetch(href)).status", icon)
        assert fetched == 200, name
        # Badges of every value, as pages write them (one class, or one per word).
        colours = await page.evaluate("""(values) => values.map((value) => {
            const badge = document.createElement('span');
            badge.className = `badge ${value}`;
            badge.textContent = value;
            document.querySelector('main').append(badge);
            const colour = getComputedStyle(badge).color;
            badge.remove();
            return [value, colour];
        })""", list(BADGES))
        assert dict(colours) == BADGES, name
        expected = ["404 " + page.url] if name == "missing" else []
        assert watch.failed == expected, name
    assert page_errors(page) == [NOT_FOUND]


@pytest.mark.gen_test(timeout=60)
async def test_badges_the_server_and_scripts_draw_have_their_colours(open_page, app, fetch,
                                                                      fake_lmstudio):
    pages = await seed(app, fetch)
    page = await open_page(pages["task"])
    await page.wait_for_selector("#live-status[data-state=open]")
    shown = await page.evaluate("""() => [...document.querySelectorAll('main .badge')]
        .map((b) => [b.textContent.trim(), getComputedStyle(b).color])""")
    texts = {text for text, _ in shown}
    assert {"needs_review", "ok", "suspect", "likely hallucinated", "unchecked",
            "completed", "failed"} <= texts
    for text, colour in shown:
        assert colour == BADGES[text], (text, colour)
    page = await open_page(pages["conversation"])
    badge = page.locator("li.message .badge", has_text="incomplete")
    await badge.wait_for()
    assert await badge.evaluate("b => getComputedStyle(b).color") == RED
    page = await open_page("/models")
    states = await page.evaluate("""() => [...document.querySelectorAll('#models-table .badge')]
        .map((b) => [b.textContent.trim(), getComputedStyle(b).color])""")
    assert states and all(colour == BADGES[text] for text, colour in states), states
