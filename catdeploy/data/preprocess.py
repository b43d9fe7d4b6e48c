"""Image preprocessing shared by training, calibration and evaluation (docs: benchmarks.md).

Pipeline, in this order:
1. scale to [0, 1]: uint8 / 255 (loaders convert other integer ranges, e.g. digits / 16);
2. resize to ``input_size`` x ``input_size`` with bilinear interpolation
   (``torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False)``);
3. normalise: ``(x - mean) / std`` with the TRAIN split's statistics;
4. replicate a grey channel to 3 channels (torchvision classifiers take RGB).

Normalisation constants of the built-in datasets were computed once by ``train_split_stats``:
mean and standard deviation over all pixels of the whole train split after steps 1-2 at
input size 32, in float64, rounded to 4 decimals. Recompute with
``python -c "from catdeploy.data.preprocess import train_split_stats as s; print(s('fashion-mnist'))"``.
They are kept fixed for other input sizes (the difference is below 1e-3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_INPUT_SIZE = 32


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std (one value for grey data, three for RGB)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def for_channels(self, channels: int) -> "Normalization":
        """The same statistics spread over ``channels`` channels (a grey value is repeated)."""
        if len(self.mean) == channels:
            return self
        if len(self.mean) == 1:
            return Normalization(self.mean * channels, self.std * channels)
        raise ValueError(f"normalisation has {len(self.mean)} channels, data has {channels}")

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


# Train-split statistics at input size 32 (see module docstring for how they were computed).
FASHION_MNIST_NORMALIZATION = Normalization(mean=(0.2854,), std=(0.3384,))
DIGITS_NORMALIZATION = Normalization(mean=(0.3055,), std=(0.3235,))

_CHUNK = 4096  # images resized per interpolate call, to bound peak memory


def resize_unit_images(images_nchw: np.ndarray, input_size: int) -> np.ndarray:
    """Bilinear resize of float images in [0, 1], NCHW -> NCHW float32 at input_size x input_size."""
    images = np.ascontiguousarray(images_nchw, dtype=np.float32)
    if images.shape[2:] == (input_size, input_size):
        return images
    out = np.empty(images.shape[:2] + (input_size, input_size), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(images), _CHUNK):
            chunk = torch.from_numpy(images[start:start + _CHUNK])
            resized = F.interpolate(chunk, size=(input_size, input_size), mode="bilinear",
                                    align_corners=False, antialias=False)
            out[start:start + _CHUNK] = resized.numpy()
    return out


def compute_normalization(unit_images_nchw: np.ndarray) -> Normalization:
    """Per-channel mean/std (float64 accumulation) of images already scaled and resized."""
    x = np.asarray(unit_images_nchw, dtype=np.float64)
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    std = np.where(std > 0, std, 1.0)
    return Normalization(tuple(float(m) for m in mean), tuple(float(s) for s in std))


def normalize(unit_images_nchw: np.ndarray, norm: Normalization) -> np.ndarray:
    """(x - mean) / std per channel; float32 out."""
    channels = unit_images_nchw.shape[1]
    norm = norm.for_channels(channels)
    mean = np.asarray(norm.mean, dtype=np.float32).reshape(1, channels, 1, 1)
    std = np.asarray(norm.std, dtype=np.float32).reshape(1, channels, 1, 1)
    return ((unit_images_nchw - mean) / std).astype(np.float32, copy=False)


def to_three_channels(images_nchw: np.ndarray) -> np.ndarray:
    """Grey [N,1,H,W] -> [N,3,H,W] as a read-only broadcast view (no copy); RGB is returned as is."""
    if images_nchw.shape[1] == 3:
        return images_nchw
    if images_nchw.shape[1] != 1:
        raise ValueError(f"expected 1 or 3 channels, got {images_nchw.shape[1]}")
    n, _, h, w = images_nchw.shape
    return np.broadcast_to(images_nchw, (n, 3, h, w))


def preprocess(unit_images_nchw: np.ndarray, input_size: int,
               norm: Normalization | None) -> tuple[np.ndarray, Normalization]:
    """Resize, normalise and make 3 channels. ``norm=None`` computes the statistics from the data.

    Returns the float32 NCHW images (3 channels; a read-only view for grey data) and the
    normalisation actually used.
    """
    if input_size < 1:
        raise ValueError(f"input size must be positive, got {input_size}")
    resized = resize_unit_images(unit_images_nchw, input_size)
    used = compute_normalization(resized) if norm is None else norm
    return to_three_channels(normalize(resized, used)), used


def train_split_stats(source: str, input_size: int = DEFAULT_INPUT_SIZE) -> Normalization:
    """Recompute the train-split statistics of a built-in source ('fashion-mnist' or 'digits')."""
    from catdeploy.data.datasets import load_unit_images

    images, _ = load_unit_images(source, "train", root=None)
    return compute_normalization(resize_unit_images(images, input_size))
