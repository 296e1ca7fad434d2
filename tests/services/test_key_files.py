"""Key files of the data directory: written whole, never overwritten, one value per file."""

import os
import stat

import pytest

from orchestra.services.secrets import KeyFileError, read_or_create_key, replace_key


def test_a_process_that_loses_the_race_reads_the_winners_key(tmp_path):
    path = tmp_path / "cookie_secret"

    def generate():
        path.write_text("winner\n")  # another process links its file in first
        return "loser"

    assert read_or_create_key(str(path), generate) == "winner"
    assert path.read_text() == "winner\n"
    assert os.listdir(tmp_path) == ["cookie_secret"]  # the loser's temporary file is gone


def test_a_new_key_is_private_and_kept(tmp_path):
    path = str(tmp_path / "keys" / "token")
    assert read_or_create_key(path, lambda: "first") == "first"
    assert read_or_create_key(path, lambda: "second") == "first"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert replace_key(path, "third") == "third"
    assert read_or_create_key(path, lambda: "fourth") == "third"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_an_empty_key_file_is_an_error_that_names_it(tmp_path):
    path = tmp_path / "secret.key"
    path.write_text("")
    with pytest.raises(KeyFileError, match="secret.key is empty"):
        read_or_create_key(str(path), lambda: "new")
    assert path.read_text() == ""
