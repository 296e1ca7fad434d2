"""`orchestra` as a real process, started as a user starts it: `run` for a command that ends,
`Server` for `orchestra serve`, for the tests about what only a real process shows (the printed
URL, signals, restarts, the log, request bodies through the real HTTP server)."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

ORCHESTRA = [sys.executable, "-m", "orchestra.cli"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEAD_SERVER = "http://127.0.0.1:9"  # nothing answers there: a model server that is down


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra):
    """This process's environment without its ORCHESTRA_ variables, and with `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    env.update(extra)
    return env


def run(*args, env=None, timeout=60):
    """`orchestra ARGS` to its end (text output captured), in `clean_env()` unless given."""
    return subprocess.run(ORCHESTRA + list(args), capture_output=True, text=True,
                          timeout=timeout, env=env or clean_env())


class Server:
    """One `orchestra serve` process, running once constructed: it has printed "Orchestra is
    running" and the URL with its token (`url`, `token`, `base`, `port`).

    The flags are --port (a free one unless given), --data-dir, and --db, --lmstudio-url,
    --token for those given (`lmstudio_url=None` gives none), then `flags`; the environment
    is `clean_env()` unless `env` is given. Two threads read what the process writes as it
    writes it, so it never blocks on a full pipe: its stdout lines go to `output`, its log
    (stderr) lines to `log`. Stop it with `stop()`; `kill()` in a `finally` ends it whatever
    happened."""

    def __init__(self, data_dir, *flags, port=None, db_url=None, lmstudio_url=DEAD_SERVER,
                 token=None, env=None, timeout=30):
        self.port = port or free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        args = ["serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        for flag, value in [("--db", db_url), ("--lmstudio-url", lmstudio_url),
                            ("--token", token)]:
            if value:
                args += [flag, value]
        self.proc = subprocess.Popen(
            ORCHESTRA + args + list(flags), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=clean_env() if env is None else env)
        self.output, self.log = [], []
        self._changed = threading.Condition()
        self._ended = set()  # the names of the streams read to their end
        self._readers = [threading.Thread(target=self._read, args=(stream, name), daemon=True)
                         for stream, name in [(self.proc.stdout, "output"),
                                              (self.proc.stderr, "log")]]
        for reader in self._readers:
            reader.start()
        try:
            url = self._wait_for("output", re.compile(
                r"(%s/\?token=(\S+))" % re.escape(self.base)).search, timeout)
        except BaseException:
            self.kill()
            raise
        if url is None or not any("Orchestra is running" in line for line in self.output):
            self.kill()
            raise AssertionError("orchestra serve exited before it was running (status %s):\n"
                                 "%s%s" % (self.proc.returncode, "".join(self.output),
                                           "".join(self.log)))
        self.url, self.token = url.group(1), url.group(2)

    def _read(self, stream, name):
        for line in stream:
            with self._changed:
                getattr(self, name).append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended.add(name)
            self._changed.notify_all()

    def _wait_for(self, name, match, timeout):
        """The first match(line) that is true among the lines of `name` (`output` or `log`),
        waiting for more while the process writes them; None once it wrote its last."""
        deadline = time.monotonic() + timeout
        lines, seen = getattr(self, name), 0
        with self._changed:
            while True:
                for line in lines[seen:]:
                    found = match(line)
                    if found:
                        return found
                seen = len(lines)
                if name in self._ended:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("orchestra serve wrote no such line in %s s:\n%s%s" % (
                        timeout, "".join(self.output), "".join(self.log)))
                self._changed.wait(left)

    def wait_log(self, *texts, timeout=30):
        """The first line of the log that holds one of `texts`, waiting for it."""
        line = self._wait_for("log", lambda line: line if any(t in line for t in texts)
                              else None, timeout)
        if line is None:
            raise AssertionError("the log ended without %r: %s" % (texts, "".join(self.log)))
        return line

    def stop(self, sig=signal.SIGINT, timeout=30):
        """Send `sig` and wait for the process to end, as wait() does."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=30):
        """Wait for the process to end, which must be with status 0; returns the whole log."""
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        log = "".join(self.log)
        assert self.proc.returncode == 0, "orchestra serve exited with %s:\n%s" % (
            self.proc.returncode, log)
        return log

    def kill(self):
        """End the process now if it still runs (for a `finally`)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for reader in self._readers:
            reader.join(10)
