"""Where the project's non-Python files (templates, static, sql) are, checked out or installed."""

import os
import sys

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def resource_dir(name):
    """The folder `name` beside the package (a checkout) or under <prefix>/share/orchestra."""
    roots = [os.path.join(sys.prefix, "share", "orchestra")]
    if os.path.isfile(os.path.join(_SOURCE_ROOT, "setup.cfg")):  # a checkout, or editable
        roots.insert(0, _SOURCE_ROOT)
    for root in roots:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            return path
    raise FileNotFoundError("cannot find Orchestra's %r folder; is the package installed?" % name)
