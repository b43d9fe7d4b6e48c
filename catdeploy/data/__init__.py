"""Datasets, preprocessing, seeded splits and the torchvision model zoo."""
from catdeploy.data.datasets import Dataset, DataSpec, has_splits, load_dataset, parse_spec, with_split
from catdeploy.data.preprocess import Normalization, preprocess
from catdeploy.data.splits import calibration_subset, held_out_split
from catdeploy.data.checkpoints import load_checkpoint
from catdeploy.data.zoo import build_model, load_model, load_weights

__all__ = [
    "Dataset", "DataSpec", "Normalization", "build_model", "calibration_subset", "has_splits",
    "held_out_split", "load_checkpoint", "load_dataset", "load_model", "load_weights", "parse_spec",
    "preprocess", "with_split",
]
