"""The README's Quick start: users install without the test packages; tests set up their own."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quick_start_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_the_start_command_installs_without_test_extras_and_the_test_command_with_them():
    start, test = quick_start_commands()
    assert start == ("python3 -m venv .venv && .venv/bin/pip install -e . && "
                     ".venv/bin/orchestra serve")
    assert "[test]" not in start and "pytest" not in start
    assert test.startswith("python3 -m venv .venv && ") and "pip install -e '.[test]'" in test
    assert test.endswith("&& .venv/bin/pytest")
    with open(os.path.join(ROOT, "setup.cfg"), encoding="utf-8") as f:
        extras = f.read().split("[options.extras_require]", 1)[1]
    assert re.search(r"^test =", extras, flags=re.M)
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        assert "pip install --quiet -e '.[test]'" in f.read()
