"""Run .tflite cases under one real interpreter with OpResolverType.BUILTIN_REF (subprocess).

usage: python _reference_runner.py <tflite_runtime|tensorflow|ai_edge_litert> <cases.npz> <out.npz>

cases.npz holds, per case name N: "N::model" (uint8 bytes) and "N::in0", "N::in1", ... inputs.
out.npz holds "N::t::<tensor name>" for every tensor (experimental_preserve_all_tensors=True),
or "N::error" with the message when loading or running fails.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def _interpreter_class(name: str):
    if name == "tflite_runtime":
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    elif name == "ai_edge_litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    elif name == "tensorflow":
        import tensorflow as tf
        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    else:
        raise SystemExit(f"unknown interpreter {name}")
    return Interpreter, OpResolverType


def run_case(Interpreter, OpResolverType, model: bytes, inputs: list) -> dict:
    interp = Interpreter(model_content=model,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         experimental_preserve_all_tensors=True)
    details = interp.get_input_details()
    for d, value in zip(details, inputs):
        if tuple(d["shape"]) != value.shape:
            interp.resize_tensor_input(d["index"], value.shape)
    interp.allocate_tensors()
    for d, value in zip(interp.get_input_details(), inputs):
        interp.set_tensor(d["index"], value)
    interp.invoke()
    out = {}
    for d in interp.get_tensor_details():
        try:
            out[d["name"]] = np.array(interp.get_tensor(d["index"]))
        except ValueError:
            pass
    return out


def main() -> None:
    name, cases_path, out_path = sys.argv[1:4]
    Interpreter, OpResolverType = _interpreter_class(name)
    cases = np.load(cases_path)
    case_names = sorted({k.split("::")[0] for k in cases.files})
    result = {}
    for case in case_names:
        model = cases[f"{case}::model"].tobytes()
        inputs = []
        while f"{case}::in{len(inputs)}" in cases.files:
            inputs.append(cases[f"{case}::in{len(inputs)}"])
        try:
            tensors = run_case(Interpreter, OpResolverType, model, inputs)
        except Exception as exc:  # noqa: BLE001 - any failure is the result
            result[f"{case}::error"] = np.array(f"{type(exc).__name__}: {exc}")
            continue
        for tname, value in tensors.items():
            result[f"{case}::t::{tname}"] = value
    np.savez(out_path, **result)


if __name__ == "__main__":
    main()
