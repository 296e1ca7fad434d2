"""Encryption of stored credentials, with a key kept in the data directory.

`account_columns` turns an account's validated input into the columns stored: the secret
goes in only as ciphertext and a short hint, whichever path (API or form) wrote it.
"""

import logging
import os

from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger(__name__)

KEY_FILE = "secret.key"


class SecretBox:
    """Fernet (AES-128-CBC + HMAC) over a key file created on first use, readable by its owner."""

    def __init__(self, data_dir):
        self.path = os.path.join(data_dir, KEY_FILE)
        self._fernet = Fernet(self._load_or_create())

    def _load_or_create(self):
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                return f.read().strip()
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        key = Fernet.generate_key()
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with open(self.path, "rb") as f:
                return f.read().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        logger.info("created the secrets key %s", self.path)
        return key

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
