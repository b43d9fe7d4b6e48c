"""atomic_write_bytes: whole file or nothing, and the mode a plain open() would give (mkstemp's 0600
made every export, manifest and report unreadable to other users)."""
from __future__ import annotations

import os

import pytest

from catdeploy.errors import UserError
from catdeploy.util_io import atomic_write_bytes, default_file_mode


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_file_has_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "m.tflite", b"abc")
        assert default_file_mode() == 0o666 & ~umask
    finally:
        os.umask(old)
    assert (tmp_path / "m.tflite").read_bytes() == b"abc"
    assert (tmp_path / "m.tflite").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]  # no temp file left


def test_unwritable_target_is_a_user_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="cannot write"):
        atomic_write_bytes(tmp_path / "d", b"x")  # a folder in the way
    assert [p.name for p in (tmp_path).iterdir()] == ["d"]
