import numpy as np
import pytest

from catdeploy.data import calibration_subset, held_out_split, load_dataset
from catdeploy.data.splits import calibration_indices
from catdeploy.errors import UserError


def test_calibration_indices_deterministic_and_distinct():
    a = calibration_indices(60000, 1024, seed=0)
    b = calibration_indices(60000, 1024, seed=0)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == 1024 and a.min() >= 0 and a.max() < 60000
    assert not np.array_equal(a, calibration_indices(60000, 1024, seed=1))
    # pinned: PCG64 draws are stable across numpy versions
    np.testing.assert_array_equal(calibration_indices(10, 4, seed=0),
                                  np.random.default_rng(0).permutation(10)[:4])


def test_calibration_subset_of_a_dataset():
    train = load_dataset("digits:train")
    calib = calibration_subset(train, n=100, seed=3)
    idx = calibration_indices(len(train), 100, seed=3)
    assert len(calib) == 100 and len(train) == 1438
    np.testing.assert_array_equal(calib.images, train.images[idx])
    np.testing.assert_array_equal(calib.labels, train.labels[idx])
    again = calibration_subset(train, n=100, seed=3)
    np.testing.assert_array_equal(again.images, calib.images)


def test_too_many_samples():
    with pytest.raises(UserError, match="--samples 20: the data has only 10 images"):
        calibration_indices(10, 20)
    with pytest.raises(UserError, match="--samples 0"):
        calibration_indices(10, 0)


def test_held_out_split_partitions():
    indices = calibration_indices(1000, 200, seed=0)
    kept, held = held_out_split(indices, 0.25, seed=5)
    assert len(held) == 50 and len(kept) == 150
    assert set(kept) | set(held) == set(indices) and not set(kept) & set(held)
    kept2, held2 = held_out_split(indices, 0.25, seed=5)
    np.testing.assert_array_equal(held, held2)
    order = {v: i for i, v in enumerate(indices)}
    assert [order[v] for v in held] == sorted(order[v] for v in held)
    assert len(held_out_split(indices, 0.0)[1]) == 0
    with pytest.raises(UserError):
        held_out_split(indices, 1.0)
