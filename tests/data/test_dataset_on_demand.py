"""Datasets preprocess the images they return, not the whole split (224 x 224 calibration of a
60 000-image split must not resize all of it: 11 GiB)."""
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from catdeploy.pipeline import calibration_data
from catdeploy.data import load_dataset
from catdeploy.data.preprocess import preprocess


@pytest.mark.parametrize("channels", [3, 1])
def test_reading_some_images_gives_what_preprocessing_all_of_them_gives(channels):
    ds = load_dataset("digits:train", input_size=20, channels=channels)
    every = preprocess(ds.unit_images, (20, 20), ds.normalization, channels)[0]
    idx = np.array([5, 0, 1000, 7])
    np.testing.assert_array_equal(ds.batch(idx)[0], every[idx])
    np.testing.assert_array_equal(ds.subset(idx).images, every[idx])
    np.testing.assert_array_equal(ds.batch(slice(3, 9))[0], every[3:9])
    np.testing.assert_array_equal(ds.images, every)
    assert ds.batch(idx)[0].flags.writeable and ds.batch(idx)[0].shape == (4, channels, 20, 20)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian package dataset-fashion-mnist not installed")
def test_a_small_draw_at_224_allocates_only_its_images():
    tracemalloc.start()
    try:
        x, _ = calibration_data("fashion-mnist", 8, 0, 224)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.shape == (8, 3, 224, 224)
    # the split's source images (60 000 x 28 x 28 float32, 188 MB) and a few copies are expected;
    # preprocessing all of them at 224 would need 11.2 GiB
    assert peak < 1.5 * 2**30
