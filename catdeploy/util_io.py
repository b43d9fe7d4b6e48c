"""Atomic, non-clobbering file output shared by every command that writes files."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from catdeploy.errors import UserError


def check_output_path(path: Path, force: bool, option: str = "-o") -> Path:
    """Refuse to overwrite an existing file without --force; check the folder is writable."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder, not a file")
    if path.exists() and not force:
        raise UserError(f"{path}: already exists (pass --force to overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {path}: folder {parent} is not writable")
    _probe_writable(path, parent, option)
    return path


def _probe_writable(path: Path, parent: Path, option: str) -> None:
    """Create and remove a temp file beside `path`: os.access says yes to root on read-only
    mounts and special file systems, and a long calibration should not end in a failed write."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UserError(f"{option} {path}: folder {parent} is not writable ({exc.strerror})") from None
    try:
        os.close(fd)
    finally:
        os.unlink(probe)


def default_file_mode() -> int:
    """0666 less the process umask: the mode open() would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename over it: never a half-written file."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # disk full, path became a folder, ...
            raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise
