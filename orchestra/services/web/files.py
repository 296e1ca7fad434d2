"""Screenshots and PDFs the web service made: files in <data_dir>/web, named so that only
names this module wrote can be read back (no path ever comes from a request as is)."""

import logging
import os
import re
import secrets

logger = logging.getLogger(__name__)

# <fetch id>-<random hex>.<png|pdf>: the random part keeps names unguessable, the id ties a
# file to its fetch.
NAME = re.compile(r"\A[0-9]{1,20}-[0-9a-f]{16,64}\.(png|pdf)\Z")
URL_PREFIX = "/api/web/files/"
TYPES = {"png": "image/png", "pdf": "application/pdf"}


class WebFiles:
    """The folder of files; every method is blocking (callers run it off the IOLoop)."""

    def __init__(self, folder):
        self.folder = folder

    def save(self, fetch_id, ext, data):
        """Write `data` under a fresh name for fetch `fetch_id`; the name."""
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        name = "%d-%s.%s" % (fetch_id, secrets.token_hex(16), ext)
        path = os.path.join(self.folder, name)
        # O_EXCL: a name is never reused, even by a file written meanwhile.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return name

    def path(self, name):
        """The file's path when `name` is one of ours and exists, else None."""
        if not isinstance(name, str) or not NAME.match(name):
            return None
        path = os.path.join(self.folder, name)
        return path if os.path.isfile(path) else None

    def delete(self, names):
        for name in names:
            path = self.path(name)
            if path is None:
                continue
            try:
                os.remove(path)
            except OSError as e:
                logger.warning("cannot delete %s: %s", path, e)


def content_type(name):
    return TYPES[name.rsplit(".", 1)[1]]


def url_for(name):
    return URL_PREFIX + name if name else None


def names_of(row):
    """Every file a stored fetch refers to: its screenshot, its PDF, its steps' shots."""
    names = [row.get("screenshot_file"), row.get("pdf_file")]
    for step in row.get("steps") or ():
        url = step.get("screenshotUrl") if isinstance(step, dict) else None
        if isinstance(url, str) and url.startswith(URL_PREFIX):
            names.append(url[len(URL_PREFIX):])
    return [n for n in names if n]
