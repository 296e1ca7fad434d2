"""Settings: defaults < ORCHESTRA_* environment variables < command-line flags."""

import dataclasses
import logging
import os
import secrets
import stat
import urllib.parse
from pathlib import Path

from orchestra.services.secrets import read_or_create_key, replace_key

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8765
DEFAULT_LMSTUDIO_URL = "http://localhost:1234"
# The access token kept in the data directory, so that a restart logs nobody out.
TOKEN_FILE = "token"


def default_data_dir():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return os.path.join(base, "orchestra")


@dataclasses.dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: str = dataclasses.field(default_factory=default_data_dir)
    # None means SQLite in data_dir; otherwise a mysql:// or sqlite:/// URL.
    db_url: str | None = None
    lmstudio_url: str = DEFAULT_LMSTUDIO_URL
    lmstudio_token: str | None = None
    # None: the token kept in the data directory (see with_token); a value overrides it.
    token: str | None = None
    metrics_interval: float = 10.0
    max_model_calls: int = 2
    # The model server's embedding model for knowledge search (None: full text alone).
    embedding_model: str | None = None
    # The web service's Chromium (None: Playwright's own browser, else the system's).
    browser_path: str | None = None
    # Fetch private, loopback and link-local addresses too (intranets, tests).
    fetch_allow_private: bool = False
    ws_max_message_size: int = 1024 * 1024
    ws_ping_interval: float = 30.0
    db_workers: int = 4
    debug: bool = False

    @property
    def database_url(self):
        return self.db_url or "sqlite:///" + os.path.join(self.data_dir, "orchestra.db")

    @property
    def url(self):
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d/" % (host, self.port)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


# name -> (environment variable, type); the flag is --name with dashes.
SETTINGS = {
    "host": ("ORCHESTRA_HOST", str),
    "port": ("ORCHESTRA_PORT", int),
    "data_dir": ("ORCHESTRA_DATA_DIR", str),
    "db_url": ("ORCHESTRA_DB_URL", str),
    "lmstudio_url": ("ORCHESTRA_LMSTUDIO_URL", str),
    "lmstudio_token": ("ORCHESTRA_LMSTUDIO_TOKEN", str),
    "token": ("ORCHESTRA_TOKEN", str),
    "metrics_interval": ("ORCHESTRA_METRICS_INTERVAL", float),
    "max_model_calls": ("ORCHESTRA_MAX_MODEL_CALLS", int),
    "embedding_model": ("ORCHESTRA_EMBEDDING_MODEL", str),
    "browser_path": ("ORCHESTRA_BROWSER_PATH", str),
    "fetch_allow_private": ("ORCHESTRA_FETCH_ALLOW_PRIVATE", "flag"),
}

FLAG_VALUES = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False}


def parse_setting(kind, raw):
    if kind == "flag":
        try:
            return FLAG_VALUES[raw.strip().lower()]
        except KeyError:
            raise ValueError(raw)
    return kind(raw)


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def load(flags=None, environ=None):
    """Build a Config from env vars and flags (a dict of name -> value, None = not given)."""
    environ = os.environ if environ is None else environ
    values = {}
    for name, (var, kind) in SETTINGS.items():
        raw = environ.get(var)
        if raw not in (None, ""):
            try:
                values[name] = parse_setting(kind, raw)
            except ValueError:
                raise ConfigError("%s=%r is not a valid %s" % (
                    var, raw, "yes/no value (1 or 0)" if kind == "flag" else kind.__name__))
    for name, value in (flags or {}).items():
        if value is not None and name in SETTINGS:
            values[name] = value
    if values.get("data_dir"):
        values["data_dir"] = os.path.abspath(os.path.expanduser(values["data_dir"]))
    config = Config(**values)
    check_data_dir(config.data_dir)
    check_lmstudio_url(config.lmstudio_url)
    if not 0 < config.port < 65536:
        raise ConfigError("port %d is out of range" % config.port)
    if config.metrics_interval <= 0:
        raise ConfigError("metrics interval must be positive")
    if config.max_model_calls < 1:
        raise ConfigError("max model calls must be at least 1")
    if config.embedding_model is not None and not config.embedding_model.strip():
        raise ConfigError("the embedding model is blank: name one (as the model server lists "
                          "it) or leave --embedding-model out for full-text search alone")
    return config


def check_data_dir(path):
    """Refuse a data directory that is a file (or anything but a directory)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError("the data directory %s is a file, not a directory: pass another "
                          "--data-dir (or ORCHESTRA_DATA_DIR)" % path)


def check_lmstudio_url(url):
    """The model server's URL must be http(s)://host[:port]; say the fix when it is not."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return
    if "://" not in url:
        raise ConfigError("the model server URL %r has no scheme: use --lmstudio-url http://%s"
                          % (url, url.lstrip("/")))
    raise ConfigError("the model server URL %r is not an http:// or https:// URL "
                      "(e.g. --lmstudio-url http://localhost:1234)" % url)


def ensure_data_dir(path):
    """Create the data directory readable by its owner only (0700); never loosen one that
    exists, but say so when others can read it."""
    check_data_dir(path)
    try:
        os.makedirs(path, mode=0o700)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            logger.warning("the data directory %s can be read by other users (mode %o); "
                           "chmod 700 it", path, mode)
        return
    except OSError as e:
        raise ConfigError("cannot create the data directory %s: %s"
                          % (path, e.strerror or e))
    os.chmod(path, 0o700)  # makedirs' mode is filtered through the umask


def token_path(data_dir):
    return os.path.join(data_dir, TOKEN_FILE)


def new_token():
    return secrets.token_hex(24)


def with_token(config):
    """`config` with its access token: the one given (--token, ORCHESTRA_TOKEN), else the one
    kept in the data directory, created on first use."""
    if config.token:
        return config
    ensure_data_dir(config.data_dir)
    return config.replace(token=read_or_create_key(token_path(config.data_dir), new_token))


def reset_token(data_dir):
    """A new stored token; the old one (and every login made with it) stops working."""
    ensure_data_dir(data_dir)
    return replace_key(token_path(data_dir), new_token())
