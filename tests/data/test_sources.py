import numpy as np
import pytest

from catdeploy.data import load_dataset, parse_spec, with_split
from catdeploy.data.datasets import DataSpec, has_splits
from catdeploy.data.sources import load_digits, load_imagefolder, load_npz
from catdeploy.errors import UserError


def test_parse_spec_forms():
    assert parse_spec("fashion-mnist") == DataSpec("fashion-mnist")
    assert parse_spec("fashion-mnist", default_split="train") == DataSpec("fashion-mnist", "train")
    assert parse_spec("digits:test") == DataSpec("digits", "test")
    assert parse_spec("npz:/a/b:c.npz") == DataSpec("npz", path="/a/b:c.npz")
    assert parse_spec("imagefolder:imgs") == DataSpec("imagefolder", path="imgs")
    assert with_split("digits:test", "train") == "digits:train"
    assert with_split("npz:x.npz", "train") == "npz:x.npz"
    assert has_splits("fashion-mnist") and not has_splits("npz:x.npz")


@pytest.mark.parametrize("spec, message", [
    ("cifar10", "unknown dataset"), ("digits:valid", "unknown split"), ("npz:", "needs a path"),
])
def test_parse_spec_errors(spec, message):
    with pytest.raises(UserError, match=message):
        parse_spec(spec)


def test_digits_split_is_fixed_and_disjoint():
    train, test = load_digits("train"), load_digits("test")
    assert len(train.labels) == 1438 and len(test.labels) == 359
    assert train.images.shape[1:] == (1, 8, 8) and train.images.max() <= 1.0
    again = load_digits("test")
    np.testing.assert_array_equal(again.images, test.images)
    train_rows = {row.tobytes() for row in train.images}
    # sklearn's digits contain a few duplicate images; almost all test images are unseen
    assert sum(row.tobytes() in train_rows for row in test.images) < 10
    assert set(np.unique(train.labels)) == set(range(10))


def test_digits_dataset_preprocessed():
    ds = load_dataset("digits:train")
    assert ds.images.shape == (1438, 3, 32, 32) and ds.images.dtype == np.float32
    assert ds.labels.dtype == np.int64 and ds.num_classes == 10 and ds.spec == "digits:train"
    # the stored constants are the train statistics: normalised train data has mean 0, std 1
    assert abs(float(ds.images.mean())) < 2e-3 and abs(float(ds.images.std()) - 1) < 2e-3
    np.testing.assert_array_equal(ds.images[:, 0], ds.images[:, 2])
    assert len(load_dataset("digits")) == 359  # no split: test


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("layout", ["nhw", "nhwc", "nchw"])
def test_npz_layouts(tmp_path, layout):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(4, 3, 10, 10), dtype=np.uint8)
    x = {"nhw": base[:, 0], "nhwc": base.transpose(0, 2, 3, 1), "nchw": base}[layout]
    path = _write_npz(tmp_path / "d.npz", x=x, y=np.array([0, 1, 2, 1]))
    raw = load_npz(path)
    channels = 1 if layout == "nhw" else 3
    assert raw.images.shape == (4, channels, 10, 10)
    expected = base[:, :channels].astype(np.float32) / 255
    np.testing.assert_array_equal(raw.images, expected)
    np.testing.assert_array_equal(raw.labels, [0, 1, 2, 1])
    ds = load_dataset(f"npz:{path}", input_size=16)
    assert ds.images.shape == (4, 3, 16, 16)


def test_npz_float_without_labels(tmp_path):
    x = np.random.default_rng(2).random((3, 8, 8)).astype(np.float64)
    ds = load_dataset(f"npz:{_write_npz(tmp_path / 'f.npz', x=x)}")
    assert ds.labels is None and ds.images.shape == (3, 3, 32, 32)
    with pytest.raises(UserError, match="no labels"):
        ds.require_labels()


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 4, 4), np.uint8)}, "no array named 'x'"),
    ({"x": np.zeros((2, 4, 4), np.int32)}, "must be uint8 or float"),
    ({"x": np.zeros((2, 4), np.uint8)}, "must be"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.zeros(3, np.int64)}, "y must be integer labels"),
    ({"x": np.full((2, 4, 4), np.nan, np.float32)}, "NaN"),
])
def test_npz_errors(tmp_path, arrays, message):
    path = _write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError, match=message):
        load_npz(path)


def test_npz_missing_and_corrupt(tmp_path):
    with pytest.raises(UserError, match=r"npz:.*nope\.npz: file not found"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserError, match="not a readable .npz"):
        load_npz(bad)


def test_npz_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UserError, match=r"obj\.npz"):
        load_npz(path)


def test_imagefolder_grey_and_rgb(tmp_path):
    from PIL import Image

    for name, value in (("cat", 10), ("dog", 200)):
        (tmp_path / "grey" / name).mkdir(parents=True)
        (tmp_path / "rgb" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((6, 6), value + i, np.uint8), "L").save(tmp_path / "grey" / name / f"{i}.png")
            Image.fromarray(np.full((6, 5, 3), value, np.uint8), "RGB").save(tmp_path / "rgb" / name / f"{i}.png")
    (tmp_path / "rgb" / "dog" / "notes.txt").write_text("ignored")
    grey = load_imagefolder(tmp_path / "grey")
    assert grey.images.shape == (4, 1, 6, 6) and grey.class_names == ("cat", "dog")
    np.testing.assert_array_equal(grey.labels, [0, 0, 1, 1])
    assert grey.images[3, 0, 0, 0] == np.float32(201 / 255)
    rgb = load_dataset(f"imagefolder:{tmp_path / 'rgb'}", input_size=8)
    assert rgb.images.shape == (4, 3, 8, 8) and rgb.num_classes == 2


def test_imagefolder_errors(tmp_path):
    with pytest.raises(UserError, match="directory not found"):
        load_imagefolder(tmp_path / "missing")
    with pytest.raises(UserError, match="no class subfolders"):
        load_imagefolder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(UserError, match="no .png"):
        load_imagefolder(tmp_path)
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match=r"broken\.png: unreadable image"):
        load_imagefolder(tmp_path)


def test_fake_fashion_mnist_through_load_dataset(fake_fmnist):
    ds = load_dataset("fashion-mnist:train", root=fake_fmnist, input_size=20)
    assert ds.images.shape == (12, 3, 20, 20) and ds.input_size == (20, 20)
    assert ds.normalization.mean == (0.2854,)


def test_bad_input_size():
    with pytest.raises(UserError, match="--input-size 0"):
        load_dataset("digits", input_size=0)


def test_imagefolder_mixed_sizes_are_resized_to_the_first(tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((4, 4), 100, np.uint8), "L").save(tmp_path / "a" / "0.png")
    Image.fromarray(np.full((8, 6), 100, np.uint8), "L").save(tmp_path / "a" / "1.jpeg")
    raw = load_imagefolder(tmp_path)
    assert raw.images.shape == (2, 1, 4, 4)
    np.testing.assert_allclose(raw.images[1], 100 / 255, atol=2 / 255)  # jpeg is lossy
