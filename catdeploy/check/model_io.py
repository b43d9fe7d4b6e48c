"""Checks of a user's .tflite before it is run: one image input, a float or an integer graph."""
from __future__ import annotations

from pathlib import Path

from catdeploy.errors import UserError


def model_inputs_for(path: Path, model_bytes: bytes, x):
    """The model input tensor of images x for the .tflite at `path`, its signature checked first
    (a file catrt rejects is a UserError naming it)."""
    from catdeploy.integer import prepare_inputs

    try:
        check_model_io(path, model_bytes)
        return prepare_inputs(model_bytes, x)
    except Exception as exc:  # catrt rejects the file: report it as a bad input file
        from catrt import CatrtError

        if isinstance(exc, CatrtError):
            raise UserError(f"{path}: {exc}") from None
        raise


def is_float_graph(model_bytes: bytes) -> bool:
    """A float32 graph (`export --bits fp32`): a float input read by an op other than QUANTIZE.
    False for a file the reader rejects (the command's own checks report it)."""
    from catrt import CatrtError
    from catrt.reader import read_model

    try:
        model = read_model(model_bytes)
    except CatrtError:
        return False
    first = model.inputs[0] if model.inputs else None
    readers = [op for op in model.operators if first in op.inputs]
    return (first is not None and model.tensors[first].dtype == "float32"
            and any(op.kind != "QUANTIZE" for op in readers))


def check_model_io(path: Path, model_bytes: bytes) -> None:
    """The commands feed one image batch and read the first output: a valid .tflite with another
    signature is a bad input file, not a crash."""
    from catrt.interpreter import first_accepting_interpreter
    from catrt.reader import read_model

    if is_float_graph(model_bytes):  # --bits fp32: read (bounds-checked), catrt computes integers only
        model = read_model(model_bytes)
        n_in, n_out = len(model.inputs), len(model.outputs)
    else:
        interp = first_accepting_interpreter(model_bytes)
        n_in, n_out = len(interp.get_input_details()), len(interp.get_output_details())
    if n_in != 1 or n_out < 1:
        raise UserError(f"{path}: the model has {n_in} inputs and {n_out} outputs; catdeploy "
                        "runs models with one image input and at least one output")
