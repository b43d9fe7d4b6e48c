"""The one catrt runner: a .tflite's integer output (and, on request, named or all tensors) on float
NCHW images, in batches, under a named catrt arithmetic profile."""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from catdeploy.integer.inputs import inputs_for, iterate_batches, model_io
from catdeploy.integer.metrics import dequantize


def catrt_interpreter(model_bytes: bytes, profile: str | None = None):
    """A prepared catrt Interpreter of `model_bytes` under `profile` (None: catrt's default, the
    reference kernels of tflite-runtime 2.14)."""
    from catrt import Interpreter

    return Interpreter(model_bytes, profile=profile) if profile else Interpreter(model_bytes)


QUANTIZE_ROWS = 16   # images quantized at a time (the float temporaries of a 224x224 batch)


def model_inputs(io, xb: np.ndarray) -> np.ndarray:
    """inputs_for over `xb` a few images at a time (the formula is per element: same values),
    so that quantizing a large batch never holds several float copies of all of it."""
    if len(xb) <= QUANTIZE_ROWS:
        return inputs_for(io, xb)
    return np.concatenate([inputs_for(io, xb[i:i + QUANTIZE_ROWS]) for i in range(0, len(xb), QUANTIZE_ROWS)])


def catrt_batches(model_bytes: bytes, x_nchw: np.ndarray, batch_size: int = 64, profile: str | None = None,
                  keep_all: bool = False, interpreter=None, keep: tuple = ()) -> Iterator[tuple[np.ndarray, dict]]:
    """(float batch, {tensor name: values}) per batch of x: the outputs (and the tensors named
    in `keep`), or every tensor with keep_all. Streams: one batch's live tensors are held at a
    time (catrt drops an intermediate after its last reader)."""
    rt = interpreter if interpreter is not None else catrt_interpreter(model_bytes, profile)
    io = model_io(model_bytes)
    for xb in iterate_batches(x_nchw, batch_size):
        yield xb, rt.run([model_inputs(io, xb)], keep_all=keep_all, keep=keep)


def run_catrt(model_bytes: bytes, x_nchw: np.ndarray, batch_size: int = 64,
              progress: Callable[[int], None] | None = None, profile: str | None = None) -> np.ndarray:
    """The first output (raw integers) of `model_bytes` on every image of x."""
    rt = catrt_interpreter(model_bytes, profile)
    out_name = rt.get_output_details()[0].name
    outs = []
    for xb, values in catrt_batches(model_bytes, x_nchw, batch_size, interpreter=rt):
        outs.append(np.asarray(values[out_name]))
        if progress:
            progress(len(xb))
    return np.concatenate(outs)


def catrt_tensors(model_bytes: bytes, x_nchw: np.ndarray, names: list[str], batch_size: int = 64,
                  profile: str | None = None) -> dict[str, np.ndarray]:
    """The int8 / int32 values of the named tensors of the program on float images x."""
    parts: dict[str, list] = {n: [] for n in names}
    for _, values in catrt_batches(model_bytes, x_nchw, batch_size, profile, keep=tuple(names)):
        for n in names:
            parts[n].append(values[n])
    return {n: np.concatenate(p) for n, p in parts.items()}


def run_on_tensor(model_bytes: bytes, input_q: np.ndarray, profile: str | None = None) -> np.ndarray:
    """The first output of a program fed `input_q` as its input tensor as it is (no quantization:
    e.g. a classifier-only program on int8 features [N, D])."""
    rt = catrt_interpreter(model_bytes, profile)
    return rt.run([input_q])[rt.get_output_details()[0].name]


def output_qparams(model_bytes: bytes) -> tuple[float, int]:
    """(scale, zero point) of the program's first output."""
    d = catrt_interpreter(model_bytes).get_output_details()[0]
    return float(d.scale[0]), int(d.zero_point[0])


def dequantize_output(model_bytes: bytes, output_q: np.ndarray) -> np.ndarray:
    """The program's raw first output in real units (float64)."""
    return dequantize(output_q, *output_qparams(model_bytes))
