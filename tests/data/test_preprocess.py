from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from catdeploy.data.preprocess import (DIGITS_NORMALIZATION, FASHION_MNIST_NORMALIZATION,
                                       Normalization, compute_normalization, preprocess,
                                       resize_unit_images, train_split_stats)


def test_preprocess_shape_and_values():
    rng = np.random.default_rng(0)
    unit = rng.random((5, 1, 28, 28)).astype(np.float32)
    norm = Normalization((0.5,), (0.25,))
    out, used = preprocess(unit, 32, norm)
    assert out.shape == (5, 3, 32, 32) and out.dtype == np.float32 and used == norm
    resized = F.interpolate(torch.from_numpy(unit), size=(32, 32), mode="bilinear",
                            align_corners=False, antialias=False).numpy()
    expected = (resized - np.float32(0.5)) / np.float32(0.25)
    for c in range(3):
        np.testing.assert_array_equal(out[:, c], expected[:, 0])


def test_grey_to_three_channels_is_a_view():
    out, _ = preprocess(np.zeros((2, 1, 4, 4), np.float32), 4, Normalization((0.0,), (1.0,)))
    assert out.shape == (2, 3, 4, 4) and out.strides[1] == 0 and not out.flags.writeable


def test_rgb_per_channel_normalisation():
    unit = np.stack([np.full((3, 6, 6), v, np.float32) for v in (0.2, 0.4)])
    norm = Normalization((0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    out, _ = preprocess(unit, 6, norm)
    np.testing.assert_allclose(out[0, :, 0, 0], [(0.2 - 0.1) / 0.5, 0.0, (0.2 - 0.3) / 0.5], rtol=1e-6)


def test_same_size_resize_is_identity():
    unit = np.random.default_rng(1).random((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(resize_unit_images(unit, 32), unit)


def test_computed_normalisation_standardises():
    unit = np.random.default_rng(2).random((10, 1, 8, 8)).astype(np.float32)
    out, used = preprocess(unit, 8, None)
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1) < 1e-4
    assert used == compute_normalization(unit)


def test_digits_constants_are_the_train_statistics():
    stats = train_split_stats("digits")
    assert round(stats.mean[0], 4) == DIGITS_NORMALIZATION.mean[0]
    assert round(stats.std[0], 4) == DIGITS_NORMALIZATION.std[0]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_constants_are_the_train_statistics():
    stats = train_split_stats("fashion-mnist")
    assert round(stats.mean[0], 4) == FASHION_MNIST_NORMALIZATION.mean[0]
    assert round(stats.std[0], 4) == FASHION_MNIST_NORMALIZATION.std[0]
