import gzip

import numpy as np
import pytest

from catdeploy.data.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parse_idx, read_idx
from catdeploy.data.sources import load_fashion_mnist
from catdeploy.errors import UserError



def test_magic_numbers_match_the_idx_spec():
    assert IDX_IMAGES_MAGIC == 0x0803 and IDX_LABELS_MAGIC == 0x0801


def test_parse_images_roundtrip(idx):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx.encode(images), IDX_IMAGES_MAGIC, "x")
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


def test_read_plain_and_gz(tmp_path, idx):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    plain = tmp_path / "labels-idx1-ubyte"
    plain.write_bytes(idx.encode(labels))
    packed = idx.write_gz(tmp_path / "labels-idx1-ubyte.gz", idx.encode(labels))
    np.testing.assert_array_equal(read_idx(plain, IDX_LABELS_MAGIC), labels)
    np.testing.assert_array_equal(read_idx(packed, IDX_LABELS_MAGIC), labels)


def test_bad_magic_names_file(tmp_path, idx):
    path = idx.write_gz(tmp_path / "images.gz", idx.encode(np.zeros((2, 2), np.uint8), magic=2050))
    with pytest.raises(UserError, match=r"images\.gz: bad IDX magic number 2050 \(expected 2051\)"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_labels_file_given_as_images_is_rejected(tmp_path, idx):
    path = idx.write_gz(tmp_path / "labels.gz", idx.encode(np.zeros(5, np.uint8)))
    with pytest.raises(UserError, match="bad IDX magic number 2049"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_size_mismatch(tmp_path, idx):
    data = idx.encode(np.zeros((3, 4, 4), np.uint8))[:-5]
    path = idx.write_gz(tmp_path / "short.gz", data)
    with pytest.raises(UserError, match=r"short\.gz: IDX size mismatch"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_truncated_header():
    with pytest.raises(UserError, match="truncated IDX header"):
        parse_idx((2051).to_bytes(4, "big") + b"\x00\x00", IDX_IMAGES_MAGIC, "f")
    with pytest.raises(UserError, match="not an IDX file"):
        parse_idx(b"\x00", IDX_IMAGES_MAGIC, "f")


def test_truncated_gzip_names_file(tmp_path, idx):
    full = gzip.compress(idx.encode(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_not_gzip_names_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"this is not gzip data at all")
    with pytest.raises(UserError, match=r"x\.gz: corrupt or truncated gzip"):
        read_idx(path, IDX_IMAGES_MAGIC)


def test_fashion_mnist_loader_on_fake_root(fake_fmnist):
    train = load_fashion_mnist("train", fake_fmnist)
    test = load_fashion_mnist("test", fake_fmnist)
    assert train.images.shape == (12, 1, 28, 28) and test.images.shape == (6, 1, 28, 28)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int64
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    np.testing.assert_array_equal(test.labels, np.arange(6))
    assert train.class_names[9] == "Ankle boot"


def test_fashion_mnist_root_may_be_the_parent(fake_fmnist):
    parent = fake_fmnist.parent / "parent"
    parent.mkdir()
    (fake_fmnist.rename(parent / "fashion-mnist"))
    assert load_fashion_mnist("test", parent).images.shape[0] == 6


def test_missing_fashion_mnist_says_how_to_install(tmp_path, monkeypatch):
    import catdeploy.data.sources as sources

    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(UserError) as info:
        load_fashion_mnist("train")
    message = str(info.value)
    assert "\n" not in message
    assert "fashion-mnist not found under" in message and "nowhere" in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-root" in message


def test_missing_fashion_mnist_under_given_root(tmp_path):
    with pytest.raises(UserError, match="fashion-mnist not found under .*empty"):
        load_fashion_mnist("train", tmp_path / "empty")


def test_label_count_mismatch(fake_fmnist, idx):
    idx.write_gz(fake_fmnist / "t10k-labels-idx1-ubyte.gz", idx.encode(np.zeros(5, np.uint8)))
    with pytest.raises(UserError, match="5 labels for 6 images"):
        load_fashion_mnist("test", fake_fmnist)


def test_label_out_of_range(fake_fmnist, idx):
    idx.write_gz(fake_fmnist / "t10k-labels-idx1-ubyte.gz", idx.encode(np.full(6, 10, np.uint8)))
    with pytest.raises(UserError, match="label 10 out of range"):
        load_fashion_mnist("test", fake_fmnist)


def test_missing_split_file(fake_fmnist):
    (fake_fmnist / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match="train split: .*train-labels-idx1-ubyte"):
        load_fashion_mnist("train", fake_fmnist)
