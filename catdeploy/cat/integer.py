"""Running the integer graph (catrt on the lowered program) for the CAT and affine-layer fits."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from catdeploy.quant.quantized_graph import QuantizedGraph


def program_bytes(qg: QuantizedGraph) -> bytes:
    from catdeploy.export.tflite import write_tflite
    from catdeploy.lower import lower

    return write_tflite(lower(qg))


def classifier_bytes(qg: QuantizedGraph) -> bytes:
    from catdeploy.export.tflite import write_tflite
    from catdeploy.lower import lower_classifier

    return write_tflite(lower_classifier(qg))


def integer_tensors(model_bytes: bytes, x_nchw: np.ndarray, names: list[str],
                    batch_size: int = 64) -> dict[str, np.ndarray]:
    """The int8/int32 values of the named tensors of the whole network on float images x."""
    from catrt import Interpreter

    from catdeploy.api import iterate_batches, prepare_inputs

    rt = Interpreter(model_bytes)
    parts: dict[str, list] = {n: [] for n in names}
    for xb in iterate_batches(x_nchw, batch_size):
        values = rt.run([prepare_inputs(model_bytes, xb)], keep_all=True)
        for n in names:
            parts[n].append(values[n])
    return {n: np.concatenate(p) for n, p in parts.items()}


def run_classifier(model_bytes: bytes, features_int8: np.ndarray) -> np.ndarray:
    """Output int8 logits of a classifier-only program on int8 features [N, D]."""
    from catrt import Interpreter

    rt = Interpreter(model_bytes)
    return rt.run([features_int8])[rt.get_output_details()[0].name]


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float64) - zero_point) * np.float64(np.float32(scale))


def output_qparams(model_bytes: bytes) -> tuple[float, int]:
    from catrt import Interpreter

    d = Interpreter(model_bytes).get_output_details()[0]
    return float(d.scale[0]), int(d.zero_point[0])


def without_cat(qg: QuantizedGraph) -> QuantizedGraph:
    return replace(qg, cat=None)
