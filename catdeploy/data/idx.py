"""Reader for the IDX format used by (Fashion-)MNIST, optionally gzip-compressed.

IDX layout: a 4-byte big-endian magic ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian
uint32 dimension sizes, then the data in C order. Fashion-MNIST uses dtype 0x08 (unsigned byte):
magic 2051 for images [N, rows, cols] and 2049 for labels [N].
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from catdeploy.errors import UserError

IDX_IMAGES_MAGIC = 2051  # 0x00000803: ubyte, 3 dims
IDX_LABELS_MAGIC = 2049  # 0x00000801: ubyte, 1 dim


def read_idx_bytes(path: Path) -> bytes:
    """The raw (decompressed if the name ends in .gz) bytes of an IDX file; UserError if unreadable."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: corrupt or truncated gzip file ({reason})") from None


def parse_idx(data: bytes, expected_magic: int, source: str) -> np.ndarray:
    """Parse IDX bytes into a uint8 array, checking the magic number, the dims and the size."""
    if len(data) < 4:
        raise UserError(f"{source}: not an IDX file (only {len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise UserError(
            f"{source}: bad IDX magic number {magic} (expected {expected_magic})")
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise UserError(f"{source}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected_size = header_size + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected_size:
        raise UserError(
            f"{source}: IDX size mismatch: dims {list(dims)} need {expected_size} bytes, "
            f"file has {len(data)} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims).copy()


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read and validate one IDX file (plain or .gz)."""
    return parse_idx(read_idx_bytes(Path(path)), expected_magic, str(path))
