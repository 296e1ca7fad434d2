"""Scripted browser actions: their schema, and run_actions, which plays them on a page.

Steps run in order, each within its own timeout; each reports its outcome. The first step
that fails stops the script (the later ones come back skipped) but not the render: the page
is returned as it then stood, so a caller sees how far the script got.
"""

import asyncio
import inspect
import logging
import time

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from orchestra.services.web import safety
from orchestra.services.web.errors import WebError

logger = logging.getLogger(__name__)

MAX_STEPS = 50
MAX_TEXT = 100_000      # characters an extract step keeps of one element's text
MAX_ITEMS = 1_000       # elements an extract step with `all` keeps
SCROLL_WAIT = 1.0       # how long a scroll waits for the page to grow (infinite scrolling)
GRACE = 1.0             # Playwright times a step out itself; this is the bound behind it

# type -> (fields it needs, fields it may have besides those)
FIELDS = {
    "goto": ({"url"}, set()),
    "click": ({"selector"}, set()),
    "fill": ({"selector", "value"}, set()),
    "press": ({"key"}, {"selector"}),
    "select": ({"selector"}, {"value", "values"}),
    "wait_for": (set(), {"selector", "ms"}),
    "scroll": (set(), {"to", "y", "times"}),
    "extract": ({"selector"}, {"attribute", "all"}),
    "screenshot": (set(), {"fullPage"}),
}
# One of these and only one (the others of the type's fields are optional).
ONE_OF = {"select": ("value", "values"), "wait_for": ("selector", "ms")}


class ActionSchema(Schema):
    """One step: {"type": ..., and the fields of that type}. A loaded step has the same
    keys as the JSON one, so a script can be loaded again (the pool does, to be sure)."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(sorted(FIELDS)))
    url = fields.String(validate=validate.Length(1, 2000))
    selector = fields.String(validate=validate.Length(1, 1000))
    value = fields.String(validate=validate.Length(max=10_000))
    values = fields.List(fields.String(validate=validate.Length(max=10_000)),
                         validate=validate.Length(1, 100))
    key = fields.String(validate=validate.Length(1, 50))
    ms = fields.Integer(validate=validate.Range(0, 60_000))
    to = fields.String(validate=validate.OneOf(("top", "bottom")))
    y = fields.Integer(validate=validate.Range(0, 10_000_000))
    times = fields.Integer(validate=validate.Range(1, 50))
    attribute = fields.String(validate=validate.Length(1, 100))
    all = fields.Boolean()
    fullPage = fields.Boolean()  # noqa: N815 - the API's name; loading is idempotent

    @validates_schema
    def _fields_of_type(self, data, **kwargs):
        kind = data.get("type")
        if kind not in FIELDS:
            return
        needed, optional = FIELDS[kind]
        given = set(data) - {"type"}
        errors = {}
        for name in sorted(needed - given):
            errors[name] = ["A %s step needs it." % kind]
        for name in sorted(given - needed - optional):
            errors[name] = ["A %s step does not take it." % kind]
        if kind in ONE_OF and len(given & set(ONE_OF[kind])) != 1:
            errors[ONE_OF[kind][0]] = ["Give either %s or %s." % ONE_OF[kind]]
        if kind == "scroll" and {"to", "y"} <= given:
            errors["to"] = ["Give either to or y."]
        if kind == "goto" and "url" in data:
            try:
                safety.check_url(data["url"])
            except WebError as e:
                errors["url"] = [e.message]
        if errors:
            raise ValidationError(errors)

    def load(self, data, *, many=None, **kwargs):
        many = self.many if many is None else many
        if many and isinstance(data, list) and len(data) > MAX_STEPS:
            raise ValidationError({"_schema": ["A script has at most %d steps." % MAX_STEPS]})
        return super().load(data, many=many, **kwargs)


ACTIONS_SCHEMA = ActionSchema(many=True)


async def run_actions(page, actions, step_timeout, check_url, *, shots=None, navigate=None):
    """Play loaded `actions` on a Playwright page; one outcome per action:
    {"index", "type", "ok", "durationMs", "error"?, "code"?, "value"?, "skipped"?}.

    `check_url(url)` (plain or async) vets a goto's URL; `navigate(url, seconds)`, when
    given, is how a goto loads it (the browser pool's own loading, redirects and all).
    A screenshot step appends its PNG to `shots` and reports its index there as "shot".
    """
    shots = [] if shots is None else shots
    steps, stopped = [], False
    for index, action in enumerate(actions):
        kind = action["type"]
        if stopped:
            steps.append({"index": index, "type": kind, "ok": False, "skipped": True})
            continue
        step = {"index": index, "type": kind, "ok": True}
        started = time.monotonic()
        bound = max(step_timeout, action.get("ms", 0) / 1000) + GRACE
        try:
            value = await asyncio.wait_for(
                STEPS[kind](page, action, step_timeout, check_url, navigate, shots), bound)
            if kind == "screenshot":
                step["shot"] = value
            elif value is not None:
                step["value"] = value
        except asyncio.TimeoutError:
            step.update(ok=False, code="timeout",
                        error="The step did not finish within %g s." % step_timeout)
        except WebError as e:
            step.update(ok=False, code=e.code, error=e.message)
        except Exception as e:  # noqa: BLE001 - Playwright's errors are the step's outcome
            step.update(ok=False, error=_describe(e, step_timeout, action))
            if type(e).__name__ == "TimeoutError":
                step["code"] = "timeout"
        step["durationMs"] = int((time.monotonic() - started) * 1000)
        stopped = not step["ok"]
        steps.append(step)
    return steps


async def _goto(page, action, seconds, check_url, navigate, shots):
    checked = check_url(action["url"])
    if inspect.isawaitable(checked):
        await checked
    if navigate is not None:
        await navigate(action["url"], seconds)
    else:
        await page.goto(action["url"], timeout=seconds * 1000)
    return page.url


async def _click(page, action, seconds, *_):
    await page.click(action["selector"], timeout=seconds * 1000)


async def _fill(page, action, seconds, *_):
    await page.fill(action["selector"], action["value"], timeout=seconds * 1000)


async def _press(page, action, seconds, *_):
    if action.get("selector"):
        await page.press(action["selector"], action["key"], timeout=seconds * 1000)
    else:
        await page.keyboard.press(action["key"])


async def _select(page, action, seconds, *_):
    values = action.get("values") or [action["value"]]
    return await page.select_option(action["selector"], values, timeout=seconds * 1000)


async def _wait_for(page, action, seconds, *_):
    if "ms" in action:
        await asyncio.sleep(action["ms"] / 1000)
    else:
        await page.wait_for_selector(action["selector"], timeout=seconds * 1000)


async def _scroll(page, action, seconds, *_):
    for _ in range(action.get("times", 1)):
        height = await page.evaluate("document.documentElement.scrollHeight")
        if "y" in action:
            await page.evaluate("y => window.scrollTo(0, y)", action["y"])
        elif action.get("to") == "top":
            await page.evaluate("window.scrollTo(0, 0)")
        else:
            await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
            try:   # a page that loads more on scrolling gets a moment to do so
                await page.wait_for_function(
                    "h => document.documentElement.scrollHeight > h", arg=height,
                    polling=100, timeout=min(seconds, SCROLL_WAIT) * 1000)
            except Exception as e:  # noqa: BLE001 - a page that did not grow is no failure
                if type(e).__name__ != "TimeoutError":
                    raise
    return await page.evaluate("Math.round(window.scrollY)")


async def _extract(page, action, seconds, *_):
    selector, attribute = action["selector"], action.get("attribute")
    if action.get("all"):
        await page.wait_for_selector(selector, state="attached", timeout=seconds * 1000)
        found = await page.eval_on_selector_all(
            selector, "(els, a) => els.map(e => a ? e.getAttribute(a) : e.innerText)",
            attribute)
        return [_cap(v) for v in found[:MAX_ITEMS]]
    element = page.locator(selector).first
    if attribute:
        return _cap(await element.get_attribute(attribute, timeout=seconds * 1000))
    return _cap(await element.inner_text(timeout=seconds * 1000))


async def _screenshot(page, action, seconds, check_url, navigate, shots):
    shots.append(await page.screenshot(full_page=bool(action.get("fullPage")), type="png",
                                       timeout=seconds * 1000))
    return len(shots) - 1


STEPS = {"goto": _goto, "click": _click, "fill": _fill, "press": _press, "select": _select,
         "wait_for": _wait_for, "scroll": _scroll, "extract": _extract,
         "screenshot": _screenshot}


def _cap(text):
    return text[:MAX_TEXT] if isinstance(text, str) else text


def _describe(error, seconds, action):
    """One line from a Playwright error (they append a long call log)."""
    if type(error).__name__ == "TimeoutError":
        waited = (" waiting for %s" % action["selector"]) if action.get("selector") else ""
        return "Timed out after %g s%s." % (seconds, waited)
    return str(error).strip().split("\n")[0][:500] or type(error).__name__
