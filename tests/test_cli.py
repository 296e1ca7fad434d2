"""The `orchestra` command: help, configuration precedence, migrate, serve."""

import re
import urllib.request

import pytest

from orchestra import cli
from orchestra import config as configlib
from tests.servers import DEAD_SERVER, Server, run


def test_help_documents_every_flag_and_its_variable():
    out = run("--help").stdout
    for flag, var in [("--host", "ORCHESTRA_HOST"), ("--port", "ORCHESTRA_PORT"),
                      ("--db", "ORCHESTRA_DB_URL"), ("--data-dir", "ORCHESTRA_DATA_DIR"),
                      ("--lmstudio-url", "ORCHESTRA_LMSTUDIO_URL"), ("--token", "ORCHESTRA_TOKEN"),
                      ("--metrics-interval", "ORCHESTRA_METRICS_INTERVAL")]:
        assert flag in out and var in out
    for command in ("serve", "migrate", "models"):
        assert command in out


def test_flags_beat_environment_beats_defaults(tmp_path):
    env = {"ORCHESTRA_PORT": "9001", "ORCHESTRA_HOST": "0.0.0.0",
           "ORCHESTRA_DATA_DIR": str(tmp_path)}
    config = configlib.load({"port": 9002}, environ=env)
    assert (config.port, config.host, config.data_dir) == (9002, "0.0.0.0", str(tmp_path))
    default = configlib.load({}, environ={})
    assert default.host == "127.0.0.1" and default.lmstudio_url == "http://localhost:1234"
    assert default.database_url.startswith("sqlite:///") and default.token is None
    with pytest.raises(configlib.ConfigError, match="ORCHESTRA_PORT"):
        configlib.load({}, environ={"ORCHESTRA_PORT": "eighty"})


def test_the_web_service_settings(tmp_path):
    out = run("--help").stdout
    for flag, var in [("--browser-path", "ORCHESTRA_BROWSER_PATH"),
                      ("--fetch-allow-private", "ORCHESTRA_FETCH_ALLOW_PRIVATE")]:
        assert flag in out and var in out
    default = configlib.load({}, environ={})
    assert default.browser_path is None and default.fetch_allow_private is False
    env = {"ORCHESTRA_BROWSER_PATH": "/opt/chrome", "ORCHESTRA_FETCH_ALLOW_PRIVATE": "yes"}
    config = configlib.load({}, environ=env)
    assert (config.browser_path, config.fetch_allow_private) == ("/opt/chrome", True)
    config = configlib.load({"browser_path": "/usr/bin/chromium"}, environ=env)
    assert config.browser_path == "/usr/bin/chromium" and config.fetch_allow_private is True
    assert configlib.load({}, environ={"ORCHESTRA_FETCH_ALLOW_PRIVATE": "0"}) \
        .fetch_allow_private is False
    with pytest.raises(configlib.ConfigError, match="ORCHESTRA_FETCH_ALLOW_PRIVATE"):
        configlib.load({}, environ={"ORCHESTRA_FETCH_ALLOW_PRIVATE": "maybe"})
    # The flags, before or after the command; left out, they leave the environment's value.
    parser = cli.build_parser()
    for argv in (["serve", "--fetch-allow-private", "--browser-path", "/x"],
                 ["--fetch-allow-private", "--browser-path", "/x", "serve"]):
        args = parser.parse_args(argv)
        assert (args.fetch_allow_private, args.browser_path) == (True, "/x")
    assert not hasattr(parser.parse_args(["serve"]), "fetch_allow_private")


def test_migrate_creates_the_sqlite_schema_once(tmp_path):
    first = run("migrate", "--data-dir", str(tmp_path))
    assert first.returncode == 0 and "0001" in first.stdout
    again = run("migrate", "--data-dir", str(tmp_path))
    assert again.returncode == 0 and "nothing" in again.stdout
    assert (tmp_path / "orchestra.db").exists()


@pytest.mark.parametrize("url, words", [
    ("mysql://root@127.0.0.1:1/orchestra", "cannot connect to MySQL at 127.0.0.1:1"),
    ("mongodb://x/y", "unsupported database URL"),
])
def test_a_bad_database_url_gives_one_clear_line(tmp_path, url, words):
    result = run("migrate", "--data-dir", str(tmp_path), "--db", url)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_prints_the_url_with_the_token_and_stops_on_sigint(tmp_path):
    server = Server(tmp_path, lmstudio_url=DEAD_SERVER)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:%d/\?token=\w+" % server.port, server.url)
        # ?token= sets the login cookie and redirects to the URL without it
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(server.url, timeout=10) as response:
            assert response.status == 200 and b"Dashboard" in response.read()
        log = server.stop(timeout=15)
        assert "the model server at %s is not reachable" % DEAD_SERVER in log
    finally:
        server.kill()
