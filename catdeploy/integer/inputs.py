"""Model inputs: batches of float NCHW images, and the int8 NHWC tensor a .tflite takes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from catdeploy.errors import UserError


def iterate_batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Contiguous float32 slices of `batch_size` rows (the last one shorter)."""
    for start in range(0, len(images), batch_size):
        yield np.ascontiguousarray(images[start:start + batch_size], dtype=np.float32)


def quantize_input(x_nchw: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float NCHW images -> int8 NHWC with TFLite's reference QUANTIZE formula
    (reference/quantize.h: float32 division, round half away from zero, clamp)."""
    x = np.transpose(np.asarray(x_nchw, np.float32), (0, 2, 3, 1))
    q = x / np.float32(scale)  # float32 division
    q = np.where(q >= 0, np.floor(q + np.float32(0.5)), np.ceil(q - np.float32(0.5)))
    return np.clip(q.astype(np.int64) + int(zero_point), -128, 127).astype(np.int8)


@dataclass(frozen=True)
class ModelIO:
    """The first input tensor of a .tflite: name, quantization, shape, and whether it is float."""

    input_name: str
    input_scale: float
    input_zero_point: int
    input_shape: tuple[int, ...]
    float_input: bool


def model_io(model_bytes: bytes) -> ModelIO:
    """The first input of a .tflite (read, not prepared: float32 programs of --bits fp32 too)."""
    from catrt import CatrtError
    from catrt.reader import read_model

    try:
        model = read_model(model_bytes)
    except CatrtError as exc:
        raise UserError(f"not a readable TFLite model: {exc}") from None
    d = model.tensors[model.inputs[0]]
    float_input = d.dtype == "float32"
    if not float_input and d.quantization is None:
        raise UserError(f"input tensor '{d.name}' ({d.dtype}) has no quantization parameters")
    scale, zp = (1.0, 0) if float_input else (d.quantization.scale[0], d.quantization.zero_point[0])
    return ModelIO(d.name, float(scale), int(zp), tuple(d.shape), float_input)


def prepare_inputs(model_bytes: bytes, x_nchw: np.ndarray) -> np.ndarray:
    """The model input tensor for float NCHW images: int8 NHWC (quantized with the input tensor's
    scale and zero point), or float32 NHWC for a float graph."""
    return inputs_for(model_io(model_bytes), x_nchw)


def inputs_for(io: ModelIO, x_nchw: np.ndarray) -> np.ndarray:
    """prepare_inputs for a model whose input `io` was read already (batch loops read it once)."""
    if io.float_input:
        return np.transpose(np.asarray(x_nchw, np.float32), (0, 2, 3, 1)).copy()
    return quantize_input(x_nchw, io.input_scale, io.input_zero_point)
