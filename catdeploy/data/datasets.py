"""``load_dataset(spec)``: the DATA argument of every command, as preprocessed float32 NCHW images.

Specs (docs/cli.md):
    fashion-mnist[:train|:test]   Debian package dataset-fashion-mnist (IDX .gz files)
    digits[:train|:test]          scikit-learn's bundled 8x8 digits, seeded 80/20 split
    imagefolder:PATH              PATH/<class>/<image>.png|jpg|jpeg, or PATH/<image> (unlabeled)
    npz:PATH                      arrays x ([N,H,W], [N,H,W,C] or [N,C,H,W]; uint8 or float), optional y
A built-in spec without a split means ``default_split`` (``"test"`` unless the caller says
otherwise; training and calibration ask for ``"train"``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from catdeploy.data.preprocess import (DEFAULT_INPUT_SIZE, DIGITS_NORMALIZATION,
                                       FASHION_MNIST_NORMALIZATION, Normalization, parse_input_size,
                                       preprocess)
from catdeploy.data.sources import load_unit_images
from catdeploy.errors import UserError

SPLITS = ("train", "test")
BUILTIN_SOURCES = ("fashion-mnist", "digits")
PATH_SOURCES = ("imagefolder", "npz")
BUILTIN_NORMALIZATION = {"fashion-mnist": FASHION_MNIST_NORMALIZATION,
                         "digits": DIGITS_NORMALIZATION}


@dataclass(frozen=True)
class DataSpec:
    """A parsed DATA argument: a built-in source with a split, or a path source."""

    source: str
    split: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.path is not None:
            return f"{self.source}:{self.path}"
        return self.source if self.split is None else f"{self.source}:{self.split}"


def parse_spec(spec: str, default_split: str | None = None) -> DataSpec:
    """Parse a DATA string; UserError naming the spec if it is not one of the four forms."""
    text = spec.strip()
    source, sep, rest = text.partition(":")
    source = source.lower()
    if source in PATH_SOURCES:
        if not rest:
            raise UserError(f"--data {spec!r}: {source} needs a path, e.g. {source}:./my_data")
        return DataSpec(source, path=rest)
    if source in BUILTIN_SOURCES:
        split = rest.lower() if sep else default_split
        if split is not None and split not in SPLITS:
            raise UserError(f"--data {spec!r}: unknown split {rest!r} (use :train or :test)")
        return DataSpec(source, split=split)
    raise UserError(f"--data {spec!r}: unknown dataset (use fashion-mnist[:train|:test], "
                    f"digits[:train|:test], imagefolder:PATH or npz:PATH)")


def with_split(spec: str, split: str) -> str:
    """The spec with its split replaced (built-in sources); path sources are returned unchanged."""
    parsed = parse_spec(spec)
    return str(replace(parsed, split=split)) if parsed.source in BUILTIN_SOURCES else str(parsed)


def has_splits(spec: str) -> bool:
    """True for built-in sources, which have a train and a test split."""
    return parse_spec(spec).source in BUILTIN_SOURCES


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images of a DATA spec, preprocessed when they are read (float32 NCHW at ``input_size``, 3
    channels or 1 with --grayscale, normalised by ``normalization``), and int64 labels (None if the
    data has none).

    Only the source images (``unit_images``: [0, 1], NCHW, the source's own resolution) are held:
    ``batch`` / ``batches`` / ``subset`` preprocess just the images they return, so drawing 8
    calibration images at 224 x 224 does not resize the 60 000 of the split (11 GiB). Every image is
    preprocessed on its own (bilinear resize, per-channel normalisation), so the values are the
    same whichever images are read together. ``images`` preprocesses all of them at once (a
    read-only broadcast view for grey data made 3 channels); ``batch`` returns writable copies.
    """

    spec: str
    unit_images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    normalization: Normalization
    input_size: tuple[int, int]       # (height, width)
    channels: int = 3

    def __len__(self) -> int:
        return int(self.unit_images.shape[0])

    def _preprocess(self, unit_images: np.ndarray) -> np.ndarray:
        return preprocess(unit_images, self.input_size, self.normalization, self.channels)[0]

    @property
    def images(self) -> np.ndarray:
        """Every image preprocessed (N x C x H x W float32 in memory: prefer batch / batches)."""
        return self._preprocess(self.unit_images)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def batch(self, indices: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray | None]:
        """Contiguous (images, labels) for the given indices or slice."""
        x = np.ascontiguousarray(self._preprocess(self.unit_images[indices]))
        y = None if self.labels is None else np.ascontiguousarray(self.labels[indices])
        return x, y

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All images in order, ``batch_size`` at a time."""
        for start in range(0, len(self), batch_size):
            yield self.batch(slice(start, start + batch_size))

    def subset(self, indices: np.ndarray) -> "Dataset":
        """A new Dataset holding only ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        return replace(self, unit_images=np.ascontiguousarray(self.unit_images[indices]),
                       labels=None if self.labels is None else np.ascontiguousarray(self.labels[indices]))

    def require_labels(self) -> np.ndarray:
        if self.labels is None:
            raise UserError(f"--data {self.spec}: no labels (npz array 'y' missing, or an imagefolder "
                            f"without class subfolders); labels are needed to evaluate")
        return self.labels


def load_dataset(spec: str, root: str | Path | None = None, *,
                 input_size: int | tuple[int, int] | str = DEFAULT_INPUT_SIZE, default_split: str = "test",
                 normalization: Normalization | None = None, channels: int = 3) -> Dataset:
    """Load and preprocess a DATA spec (see module docstring).

    ``root``: where the Fashion-MNIST files are (default /usr/share/datasets/fashion-mnist).
    ``input_size``: H, (H, W) or "HxW". ``channels``: 3 (grey replicated) or 1 (RGB to luma).
    ``normalization``: statistics to use (--mean/--std, a checkpoint's, a .qg's); default: the
    built-in train split constants, or for imagefolder/npz the statistics of the data itself.
    """
    size = parse_input_size(input_size)
    parsed = parse_spec(spec, default_split=default_split)
    unit_images, raw = load_unit_images(parsed.source, parsed.split, root, parsed.path)
    if len(unit_images) == 0:
        raise UserError(f"--data {spec}: no images")
    norm = normalization if normalization is not None else BUILTIN_NORMALIZATION.get(parsed.source)
    if norm is not None and channels == 3 and len(norm.mean) not in (1, 3):
        raise UserError(f"--data {spec}: normalisation with {len(norm.mean)} channels")
    # Statistics of the data itself (no normalisation given) need every image at the input size;
    # otherwise the first image is preprocessed now so that bad options fail at load time.
    _, used = preprocess(unit_images if norm is None else unit_images[:1], size, norm, channels)
    return Dataset(str(parsed), unit_images, raw.labels, raw.class_names, used, size, channels)
