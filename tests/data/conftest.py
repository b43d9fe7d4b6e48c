"""Fixtures: tiny fake Fashion-MNIST IDX files written to tmp_path."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX (magic 0x0008<ndim> unless given)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = (0x08 << 8 | array.ndim) if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_gz(path: Path, data: bytes) -> Path:
    with gzip.open(path, "wb") as handle:
        handle.write(data)
    return path


@pytest.fixture
def idx():
    """The IDX helpers, as a fixture (test directories are not packages)."""
    return type("IdxHelpers", (), {"encode": staticmethod(idx_bytes), "write_gz": staticmethod(write_gz)})


@pytest.fixture
def fake_fmnist(tmp_path: Path) -> Path:
    """A Fashion-MNIST-shaped directory: 12 train and 6 test images of 28x28."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fmnist"
    root.mkdir()
    for prefix, n in (("train", 12), ("t10k", 6)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_gz(root / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(images))
        write_gz(root / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(labels))
    return root
