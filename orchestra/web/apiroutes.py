"""The /api routes of a route table as the API description sees them: which routes a request
can reach, the methods each answers and describes, and its path as an OpenAPI template.

A route's regex groups become path parameters: `([0-9]+)` an integer id (1 to the largest id
the databases store), an alternation such as `(plan|run|cancel)` a string enum, any other
group a string with that pattern. A route whose regex repeats an earlier one is never matched
(Tornado takes the first), so it is left out.
"""

import inspect
import re

import tornado.routing
import tornado.web

from orchestra.web.base import ApiHandler

MAX_ID = 2**63 - 1     # the largest id the databases store (a signed 64-bit integer)
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


def rules_of(app_or_rules):
    """(regex pattern, handler class, route kwargs) for each route of an Application or of a
    route table (tuples or tornado.web.url objects), in order."""
    if isinstance(app_or_rules, tornado.web.Application):
        rules = app_or_rules.wildcard_router.rules
    else:
        rules = app_or_rules
    for rule in rules:
        if isinstance(rule, tornado.routing.Rule):
            pattern = rule.matcher.regex.pattern
            yield pattern, rule.target, dict(rule.target_kwargs or {})
        else:
            pattern, handler = rule[0], rule[1]
            kwargs = rule[2] if len(rule) > 2 else {}
            yield (pattern if pattern.endswith("$") else pattern + "$"), handler, dict(kwargs)


def api_routes(app_or_rules):
    """The /api routes answered by JSON handlers that a request can reach: (pattern, handler,
    kwargs), a route whose pattern repeats an earlier one left out (it is never matched)."""
    seen = set()
    for pattern, handler, kwargs in rules_of(app_or_rules):
        if pattern in seen:
            continue
        seen.add(pattern)
        if (pattern.startswith("/api/") and inspect.isclass(handler)
                and issubclass(handler, ApiHandler)):
            yield pattern, handler, kwargs


def answered_methods(handler):
    """The HTTP methods (lower case) the handler class answers: those it defines itself
    rather than inheriting RequestHandler's 405."""
    return [m for m in METHODS
            if inspect.unwrap(getattr(handler, m)) is not getattr(tornado.web.RequestHandler, m)]


def documented(handler, kwargs):
    """The handler's {method: op(...)} for this route, or {} when it describes none.

    The nearest class that says anything wins: `api_doc` (a dict) or `api_doc_for(kwargs)`
    (a classmethod answering the dict for one route of a handler that serves several, such as
    the generic CRUD, or None)."""
    for cls in handler.__mro__:
        if "api_doc" in vars(cls):
            return dict(cls.api_doc or {})
        if "api_doc_for" in vars(cls):
            return dict(handler.api_doc_for(kwargs) or {})
    return {}


_GROUP = re.compile(r"\(([^()]*)\)")
_INTEGER = ("[0-9]+", r"\d+")
_ENUM = re.compile(r"^[A-Za-z0-9_-]+(\|[A-Za-z0-9_-]+)+$")
_LITERAL = re.compile(r"^[A-Za-z0-9_./-]*$")


def path_template(pattern, names):
    """'/api/tasks/([0-9]+)/(plan|run)$', ('id', 'action') -> ('/api/tasks/{id}/{action}',
    [(name, JSON Schema)])."""
    body = pattern[:-1] if pattern.endswith("$") else pattern
    parts, params, last = [], [], 0
    groups = list(_GROUP.finditer(body))
    if len(groups) != len(names):
        raise ValueError("%s has %d groups but names %d path parameters"
                         % (pattern, len(groups), len(names)))
    for match, name in zip(groups, names):
        parts.append(_literal(body[last:match.start()], pattern))
        parts.append("{%s}" % name)
        params.append((name, group_schema(match.group(1))))
        last = match.end()
    parts.append(_literal(body[last:], pattern))
    return "".join(parts), params


def _literal(text, pattern):
    text = text.replace("\\.", ".").replace("\\-", "-")
    if not _LITERAL.match(text):
        raise ValueError("cannot describe the route %s: %r is not a plain path" % (pattern, text))
    return text


def group_schema(group):
    """The JSON Schema of what a route's regex group matches."""
    if group in _INTEGER:
        return {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    if _ENUM.match(group):
        return {"type": "string", "enum": group.split("|")}
    return {"type": "string", "pattern": "^%s$" % group}


def path_param_names(handler, pattern):
    """The names of the route's groups, in order: the handler's `api_path_params`, or `id`
    for a single group."""
    described = getattr(handler, "api_path_params", None)
    if described is not None:
        return [name for name, _ in described]
    count = len(_GROUP.findall(pattern))
    if count > 1:
        raise ValueError("%s: a route with %d groups needs api_path_params"
                         % (handler.__name__, count))
    return ["id"] * count


def path_param_descriptions(handler):
    return dict(getattr(handler, "api_path_params", None) or ())


def coverage(app_or_rules):
    """(missing, extra): the (path, method) pairs a route answers without a description, and
    those described for a method the route does not answer."""
    missing, extra = [], []
    for pattern, handler, kwargs in api_routes(app_or_rules):
        answered = set(answered_methods(handler))
        doc = documented(handler, kwargs)
        missing += [(pattern, m) for m in sorted(answered - set(doc))]
        extra += [(pattern, m) for m in sorted(set(doc) - answered)]
    return missing, extra
