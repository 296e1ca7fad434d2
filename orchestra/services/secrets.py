"""Encryption of stored credentials, with a key kept in the data directory.

`account_columns` turns an account's validated input into the columns stored: the secret
goes in only as ciphertext and a short hint, whichever path (API or form) wrote it.
`read_or_create_key` and `replace_key` write the key files of the data directory (this
key, the cookie secret, the access token) so that no reader ever sees half a file.
"""

import logging
import os
import tempfile

from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class SecretBox:
    """Fernet (AES-128-CBC + HMAC) over a key file created on first use, readable by its owner."""

    def __init__(self, data_dir):
        self.path = os.path.join(data_dir, KEY_FILE)
        self._fernet = Fernet(self._load_or_create())

    def _load_or_create(self):
        return read_or_create_key(self.path, lambda: Fernet.generate_key().decode()).encode()

    def encrypt(self, plaintext):
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token):
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("the stored secret cannot be decrypted with %s" % self.path)

    @staticmethod
    def hint(plaintext):
        """The last few characters, enough to recognise a secret, never enough to use it."""
        return plaintext[-4:] if len(plaintext) >= 12 else ""


def account_columns(data, box):
    """Validated account input -> columns: the secret encrypted, with a hint to recognise it."""
    data = dict(data)
    secret = data.pop("secret", None)
    if secret is not None:
        data["credentials"] = box.encrypt(secret)
        data["secret_hint"] = box.hint(secret)
    return data


class KeyFileError(Exception):
    """A key file exists but cannot be used; the message says which file and what to do."""


def read_or_create_key(path, generate):
    """The text kept in `path`; on first use `generate()`'s value, written there (0600).

    Two processes starting at once must end up with one value: each writes its own value to
    a private temporary file and links it to `path`; a link never replaces an existing file,
    so the first wins and the other reads the winner's value. Nobody sees a partial file.
    """
    value = _read_key(path)
    if value is not None:
        return value
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = _write_temp(folder, os.path.basename(path), generate())
    try:
        os.link(tmp, path)
        logger.info("created %s", path)
    except FileExistsError:
        pass  # another process was first: use its value
    except OSError:
        # A file system without hard links: O_EXCL still refuses to overwrite.
        _create_exclusive(path, tmp)
    finally:
        os.unlink(tmp)
    value = _read_key(path)
    if value is None:
        raise KeyFileError("%s is empty; delete it and start again" % path)
    return value


def replace_key(path, value):
    """Write `value` to `path` in one step (a reader sees the old value or the new one)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = _write_temp(folder, os.path.basename(path), value)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return value


def _read_key(path):
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError("cannot read %s: %s" % (path, getattr(e, "strerror", None) or e))
    if not value:
        raise KeyFileError("%s is empty; delete it and start again" % path)
    return value


def _write_temp(folder, name, value):
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".%s." % name)  # mkstemp: mode 0600
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _create_exclusive(path, tmp):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with open(tmp, "rb") as src, os.fdopen(fd, "wb") as dst:
        dst.write(src.read())
