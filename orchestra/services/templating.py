"""`{{variable}}` placeholders in templates: find them and fill them."""

import re

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")


def variables(body):
    """Names of the placeholders in `body`, in order of first appearance, without repeats."""
    seen = []
    for name in PLACEHOLDER.findall(body or ""):
        if name not in seen:
            seen.append(name)
    return seen


def render(body, values):
    """Fill the placeholders; an unknown one is left as it is so nothing silently vanishes."""
    return PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), body or "")


def missing(body, values):
    return [name for name in variables(body) if name not in values]
