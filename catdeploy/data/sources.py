"""Raw image sources: each returns images scaled to [0, 1] as float32 NCHW plus int64 labels.

Preprocessing (resize, normalise, 3 channels) happens afterwards in ``preprocess``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdeploy.data.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, read_idx
from catdeploy.errors import UserError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

DIGITS_SPLIT_SEED = 0
DIGITS_TRAIN_FRACTION = 0.8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True, eq=False)
class RawImages:
    """Images in [0, 1] (float32 NCHW, 1 or 3 channels), labels (int64 [N]) or None."""

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]


def _find_idx_file(directory: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def fashion_mnist_dir(root: str | Path | None) -> Path:
    """The directory holding the Fashion-MNIST IDX files: ``root`` itself or ``root/fashion-mnist``."""
    base = FASHION_MNIST_DIR if root is None else Path(root)
    for candidate in (base, base / "fashion-mnist"):
        if _find_idx_file(candidate, FASHION_MNIST_FILES["test"][0]) is not None:
            return candidate
    hint = ("run `apt-get install dataset-fashion-mnist` (as root) or pass --data-root"
            if root is None else "expected train-/t10k-*-idx*-ubyte[.gz] files there")
    raise UserError(f"fashion-mnist not found under {base}: {hint}")


def load_fashion_mnist(split: str, root: str | Path | None = None) -> RawImages:
    """Fashion-MNIST IDX files (Debian package dataset-fashion-mnist); 60 000 train / 10 000 test."""
    directory = fashion_mnist_dir(root)
    image_stem, label_stem = FASHION_MNIST_FILES[split]
    image_path = _find_idx_file(directory, image_stem)
    label_path = _find_idx_file(directory, label_stem)
    for stem, path in ((image_stem, image_path), (label_stem, label_path)):
        if path is None:
            raise UserError(f"fashion-mnist {split} split: {directory / stem}[.gz] not found")
    images = read_idx(image_path, IDX_IMAGES_MAGIC)
    labels = read_idx(label_path, IDX_LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1] < 1 or images.shape[2] < 1:
        raise UserError(f"{image_path}: expected images [N, rows, cols], got dims {list(images.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise UserError(f"{label_path}: {labels.shape[0]} labels for {images.shape[0]} images "
                        f"in {image_path.name}")
    if labels.size and int(labels.max()) >= len(FASHION_MNIST_CLASSES):
        raise UserError(f"{label_path}: label {int(labels.max())} out of range 0..9")
    unit = (images.astype(np.float32) / 255.0)[:, None, :, :]
    return RawImages(unit, labels.astype(np.int64), FASHION_MNIST_CLASSES)


def load_digits(split: str) -> RawImages:
    """scikit-learn's bundled 8x8 digits (values 0..16, scaled by 1/16).

    Split: a permutation of the 1 797 images drawn with numpy.random.default_rng(0); the first
    80 % (1 438 images) are train, the remaining 359 are test. Fixed forever.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    n_train = int(round(DIGITS_TRAIN_FRACTION * len(labels)))
    chosen = order[:n_train] if split == "train" else order[n_train:]
    return RawImages(images[chosen], labels[chosen], tuple(str(d) for d in range(10)))


def load_imagefolder(path: str | Path) -> RawImages:
    """``PATH/<class>/<image>.png|jpg|jpeg``; classes are the sorted subfolder names. A folder
    with images and no class subfolders is unlabeled (labels None: fine for calibration).

    All-grey folders give 1 channel, otherwise every image is converted to RGB. Images whose
    size differs from the first image's are resized (bilinear) to it, so they can be stacked.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    if not root.is_dir():
        raise UserError(f"imagefolder:{path}: directory not found")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                files.append((file, label))
    unlabeled = not classes
    if unlabeled:
        files = [(file, -1) for file in sorted(root.iterdir())
                 if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file()]
    if not files:
        raise UserError(f"imagefolder:{path}: no .png/.jpg/.jpeg images "
                        + ("in the class subfolders" if classes else "and no class subfolders"))
    pil_images = []
    for file, _ in files:
        try:
            with Image.open(file) as img:
                img.load()
                pil_images.append(img.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{file}: unreadable image ({exc})") from None
    grey = all(img.mode in ("L", "1", "I;16", "I") for img in pil_images)
    arrays = []
    for img in pil_images:
        converted = img.convert("L" if grey else "RGB")
        arr = np.asarray(converted, dtype=np.float32) / 255.0
        arrays.append(arr[None] if grey else arr.transpose(2, 0, 1))
    height, width = arrays[0].shape[1:]
    arrays = [a if a.shape[1:] == (height, width) else _resize_to(a, height, width) for a in arrays]
    images = np.stack(arrays).astype(np.float32)
    if unlabeled:
        return RawImages(images, None, ())
    labels = np.asarray([label for _, label in files], dtype=np.int64)
    return RawImages(images, labels, tuple(classes))


def _resize_to(image_chw: np.ndarray, height: int, width: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        resized = F.interpolate(torch.from_numpy(image_chw[None]), size=(height, width),
                                mode="bilinear", align_corners=False, antialias=False)
    return resized[0].numpy()


def _npz_layout_to_nchw(x: np.ndarray, source: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None, :, :]
    if x.ndim == 4:
        if x.shape[1] in (1, 3):
            return x
        if x.shape[3] in (1, 3):
            return x.transpose(0, 3, 1, 2)
    raise UserError(f"{source}: array x must be [N,H,W], [N,H,W,C] or [N,C,H,W] with C in (1, 3); "
                    f"got shape {list(x.shape)}")


def load_npz(path: str | Path) -> RawImages:
    """``npz:PATH`` with array ``x`` (uint8 0..255 or float in [0, 1]) and optional int ``y``."""
    source = f"npz:{path}"
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{source}: file not found")
    try:
        with np.load(file, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise UserError(f"{source}: no array named 'x' (found {sorted(archive.files)})")
            x = archive["x"]
            y = archive["y"] if "y" in archive.files else None
    except UserError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise UserError(f"{source}: not a readable .npz file ({str(exc).splitlines()[0]})") from None
    if x.dtype == np.uint8:
        unit = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating):
        unit = x.astype(np.float32)
        if not np.isfinite(unit).all():
            raise UserError(f"{source}: array x contains NaN or Inf")
    else:
        raise UserError(f"{source}: array x must be uint8 or float, got {x.dtype}")
    unit = np.ascontiguousarray(_npz_layout_to_nchw(unit, source))
    labels = None
    if y is not None:
        if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != len(unit):
            raise UserError(f"{source}: y must be integer labels [N={len(unit)}], "
                            f"got {y.dtype} {list(y.shape)}")
        if len(y) and int(y.min()) < 0:
            raise UserError(f"{source}: negative label {int(y.min())} in y")
        labels = y.astype(np.int64)
    num_classes = int(labels.max()) + 1 if labels is not None and len(labels) else 0
    return RawImages(unit, labels, tuple(str(i) for i in range(num_classes)))


def load_unit_images(source: str, split: str | None, root: str | Path | None,
                     path: str | None = None) -> tuple[np.ndarray, RawImages]:
    """Raw images in [0, 1] (NCHW) of one source, before resizing and normalisation."""
    if source == "fashion-mnist":
        raw = load_fashion_mnist(split or "test", root)
    elif source == "digits":
        raw = load_digits(split or "test")
    elif source == "imagefolder":
        raw = load_imagefolder(path)
    elif source == "npz":
        raw = load_npz(path)
    else:  # parse_spec guarantees one of the above
        raise UserError(f"unknown dataset source {source!r}")
    return raw.images, raw
