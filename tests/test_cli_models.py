"""`orchestra models` against the fake LM Studio running in its own process."""

import os
import socket
import subprocess
import sys
import time

import pytest

from orchestra import cli
from tests.fakes.lmstudio import unused_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fake_process():
    url = unused_url()
    port = int(url.rsplit(":", 1)[1])
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.lmstudio", "--port",
                                str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        process.wait()


def test_models_lists_the_models(fake_process, capsys, tmp_path):
    code = cli.main(["models", "--lmstudio-url", fake_process, "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["MODEL", "STATE", "TYPE", "CONTEXT"]
    assert lines[1].split() == ["qwen2.5-7b-instruct", "loaded", "llm", "32768"]
    assert any(line.split()[:2] == ["qwen2.5-coder-7b-instruct", "not-loaded"]
               for line in lines)


def test_models_when_unreachable(capsys, tmp_path):
    url = unused_url()
    code = cli.main(["models", "--lmstudio-url", url, "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "The model server at %s is not reachable" % url in err
