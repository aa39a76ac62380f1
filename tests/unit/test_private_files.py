"""halfsky.config.private_files: the one way halfsky and its dev tooling write a file only its owner may read."""

from __future__ import annotations

import os
import stat

import pytest

from halfsky.config.private_files import made_once, secret, write_private


def _mode(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_new_file_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        write_private(tmp_path / "f", "x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "f") == 0o600 and (tmp_path / "f").read_text() == "x"


def test_an_existing_file_is_narrowed_and_replaced(tmp_path):
    path = tmp_path / "f"
    path.write_text("old, longer text")
    path.chmod(0o644)
    write_private(path, "new")
    assert _mode(path) == 0o600 and path.read_text() == "new"
    with pytest.raises(FileExistsError):
        write_private(path, "again", exclusive=True)


def test_a_link_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("theirs")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        write_private(tmp_path / "link", "secret")
    with pytest.raises(OSError):
        secret(tmp_path / "link")
    assert target.read_text() == "theirs"


def test_a_secret_is_made_once_and_kept(tmp_path):
    path = tmp_path / "key"
    first = secret(path, 32)
    assert len(first) >= 32 and _mode(path) == 0o600
    path.chmod(0o644)  # what an older halfsky left
    assert secret(path, 32) == first and _mode(path) == 0o600


def test_a_secret_too_short_for_its_use_is_made_again(tmp_path):
    path = tmp_path / "jwt_secret"
    path.write_text("short\n")
    made = secret(path, 64)
    assert made != "short" and len(made) >= 64 and path.read_text().strip() == made


def test_made_once_writes_what_make_returns(tmp_path):
    path = tmp_path / "passwords.json"
    assert made_once(path, lambda: '{"admin": "pw"}\n') == '{"admin": "pw"}'
    assert made_once(path, lambda: "never called") == '{"admin": "pw"}'
