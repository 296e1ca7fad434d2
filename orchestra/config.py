"""Settings: defaults < ORCHESTRA_* environment variables < command-line flags."""

import dataclasses
import os
import secrets
from pathlib import Path

DEFAULT_PORT = 8765


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
    lmstudio_url: str = "http://localhost:1234"
    lmstudio_token: str | None = None
    token: str = dataclasses.field(default_factory=lambda: secrets.token_hex(24))
    metrics_interval: float = 10.0
    max_model_calls: int = 2
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
}


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
                values[name] = kind(raw)
            except ValueError:
                raise ConfigError("%s=%r is not a valid %s" % (var, raw, kind.__name__))
    for name, value in (flags or {}).items():
        if value is not None and name in SETTINGS:
            values[name] = value
    if values.get("data_dir"):
        values["data_dir"] = os.path.abspath(os.path.expanduser(values["data_dir"]))
    config = Config(**values)
    if not 0 < config.port < 65536:
        raise ConfigError("port %d is out of range" % config.port)
    if config.metrics_interval <= 0:
        raise ConfigError("metrics interval must be positive")
    if config.max_model_calls < 1:
        raise ConfigError("max model calls must be at least 1")
    return config
