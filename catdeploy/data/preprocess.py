"""Image preprocessing shared by training, calibration and evaluation (docs: benchmarks.md).

Pipeline, in this order:
1. scale to [0, 1]: uint8 / 255 (loaders convert other integer ranges, e.g. digits / 16);
2. resize to ``H`` x ``W`` (``--input-size H[xW]``, a square when one number) with bilinear
   interpolation (``torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
   antialias=False)``);
3. channels: RGB data becomes grey with ``--grayscale`` (ITU-R 601 luma, PIL's ``convert("L")``
   weights); otherwise a grey channel is replicated to 3 (torchvision classifiers take RGB);
4. normalise: ``(x - mean) / std`` with ``--mean`` / ``--std`` when given, else the checkpoint's,
   else the TRAIN split's statistics (built-in data) or the data's own (imagefolder / npz).

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

from catdeploy.data.sources import load_unit_images

DEFAULT_INPUT_SIZE = 32
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert("L")


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

    @staticmethod
    def from_dict(d: dict) -> "Normalization":
        return Normalization(tuple(float(m) for m in d["mean"]), tuple(float(s) for s in d["std"]))


def parse_input_size(text: str | int | tuple) -> tuple[int, int]:
    """``"64"`` -> (64, 64), ``"96x128"`` -> (96, 128) (height x width); ints and pairs pass through."""
    from catdeploy.errors import UserError

    if isinstance(text, (tuple, list)) and len(text) == 2:
        h, w = text
    elif isinstance(text, int) and not isinstance(text, bool):
        h = w = text
    else:
        parts = str(text).lower().replace(" ", "").split("x")
        try:
            h, w = (int(parts[0]),) * 2 if len(parts) == 1 else (int(parts[0]), int(parts[1]))
            if len(parts) > 2:
                raise ValueError
        except ValueError:
            raise UserError(f"--input-size {text!r}: expected H or HxW in pixels, e.g. 64 or 96x128") from None
    if not (isinstance(h, int) and isinstance(w, int)) or h < 1 or w < 1:
        raise UserError(f"--input-size {text!r}: must be positive numbers of pixels")
    return int(h), int(w)


def parse_channel_values(text: str | None, option: str, positive: bool = False) -> tuple[float, ...] | None:
    """``--mean 0.485,0.456,0.406`` -> a tuple of 1 or 3 finite floats (None passes through)."""
    from catdeploy.errors import UserError

    if text is None:
        return None
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise UserError(f"{option} {text!r}: expected 1 or 3 comma-separated numbers") from None
    if len(values) not in (1, 3) or not all(np.isfinite(values)):
        raise UserError(f"{option} {text!r}: expected 1 or 3 comma-separated finite numbers")
    if positive and min(values) <= 0:
        raise UserError(f"{option} {text!r}: every value must be > 0")
    return values


def user_normalization(mean: str | None, std: str | None) -> Normalization | None:
    """The --mean / --std pair as a Normalization (both or neither)."""
    from catdeploy.errors import UserError

    m = parse_channel_values(mean, "--mean")
    s = parse_channel_values(std, "--std", positive=True)
    if (m is None) != (s is None):
        raise UserError("--mean and --std go together: give both or neither")
    if m is None:
        return None
    if len(m) != len(s):
        raise UserError(f"--mean has {len(m)} values and --std {len(s)}: give the same number (1 or 3)")
    return Normalization(m, s)


@dataclass(frozen=True)
class Preprocessing:
    """What turns a dataset's images into the model's input: size, channels, normalisation.

    ``normalization=None`` means "the data source's default" (built-in constants, or the data's own
    statistics). Stored in the .qg meta and the export manifest, so eval / verify preprocess alike.
    """

    height: int = DEFAULT_INPUT_SIZE
    width: int = DEFAULT_INPUT_SIZE
    channels: int = 3
    normalization: Normalization | None = None

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.channels, self.height, self.width)

    def to_dict(self) -> dict:
        return {"input_size": [self.height, self.width], "channels": self.channels,
                "normalization": None if self.normalization is None else self.normalization.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "Preprocessing":
        h, w = parse_input_size(tuple(d["input_size"]))
        norm = d.get("normalization")
        return Preprocessing(h, w, int(d.get("channels", 3)), None if norm is None else Normalization.from_dict(norm))


# Train-split statistics at input size 32 (see module docstring for how they were computed).
FASHION_MNIST_NORMALIZATION = Normalization(mean=(0.2854,), std=(0.3384,))
DIGITS_NORMALIZATION = Normalization(mean=(0.3055,), std=(0.3235,))

_CHUNK = 4096  # images resized per interpolate call, to bound peak memory


def preprocessing_from_meta(meta: dict) -> Preprocessing:
    """The Preprocessing a .qg meta / checkpoint meta / export manifest recorded: its
    "preprocessing" entry, else the older "input_size" (+ "normalization") keys, else defaults."""
    if isinstance(meta.get("preprocessing"), dict):
        return Preprocessing.from_dict(meta["preprocessing"])
    h, w = parse_input_size(meta.get("input_size", DEFAULT_INPUT_SIZE))
    norm = meta.get("normalization")
    return Preprocessing(h, w, int(meta.get("channels", 3)),
                         Normalization.from_dict(norm) if isinstance(norm, dict) else None)


def resolve_preprocessing(meta: dict, input_size: str | int | None = None, grayscale: bool | None = None,
                          normalization: Normalization | None = None) -> Preprocessing:
    """What the user said (--input-size, --grayscale, --mean/--std) over what `meta` (the
    checkpoint's, a .qg's) recorded, over the defaults (32 x 32, 3 channels, the data's own)."""
    base = preprocessing_from_meta(meta)
    h, w = (base.height, base.width) if input_size is None else parse_input_size(input_size)
    channels = base.channels if grayscale is None else (1 if grayscale else 3)
    return Preprocessing(h, w, channels, normalization if normalization is not None else base.normalization)


def resize_unit_images(images_nchw: np.ndarray, input_size: int | tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float images in [0, 1], NCHW -> NCHW float32 at H x W (an int: square)."""
    size = parse_input_size(input_size)
    images = np.ascontiguousarray(images_nchw, dtype=np.float32)
    if images.shape[2:] == size:
        return images
    out = np.empty(images.shape[:2] + size, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(images), _CHUNK):
            chunk = torch.from_numpy(images[start:start + _CHUNK])
            resized = F.interpolate(chunk, size=size, mode="bilinear",
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


def to_grey(images_nchw: np.ndarray) -> np.ndarray:
    """RGB [N,3,H,W] -> luma [N,1,H,W] (LUMA_WEIGHTS); grey is returned as is."""
    if images_nchw.shape[1] == 1:
        return images_nchw
    w = np.asarray(LUMA_WEIGHTS, dtype=np.float32).reshape(1, 3, 1, 1)
    return (images_nchw * w).sum(axis=1, keepdims=True, dtype=np.float32)


def preprocess(unit_images_nchw: np.ndarray, input_size: int | tuple[int, int],
               norm: Normalization | None, channels: int = 3) -> tuple[np.ndarray, Normalization]:
    """Resize, set the channels (3: grey replicated; 1: RGB to luma), normalise. ``norm=None``
    computes the statistics from the data.

    Returns the float32 NCHW images (a read-only view for grey data made 3 channels) and the
    normalisation actually used.
    """
    h, w = parse_input_size(input_size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    resized = resize_unit_images(unit_images_nchw, (h, w))
    if channels == 1:
        resized = to_grey(resized)
    used = compute_normalization(resized) if norm is None else norm
    if channels == 3 and resized.shape[1] == 1 and len(used.mean) == 3:  # grey data, RGB statistics
        resized = np.repeat(resized, 3, axis=1)
    if channels == 1:
        if len(used.mean) != 1:
            from catdeploy.errors import UserError

            raise UserError(f"--grayscale: the normalisation has {len(used.mean)} channels; give one --mean/--std value")
        return normalize(resized, used), used
    return to_three_channels(normalize(resized, used)), used


def train_split_stats(source: str, input_size: int = DEFAULT_INPUT_SIZE) -> Normalization:
    """Recompute the train-split statistics of a built-in source ('fashion-mnist' or 'digits')."""
    images, _ = load_unit_images(source, "train", root=None)
    return compute_normalization(resize_unit_images(images, input_size))
