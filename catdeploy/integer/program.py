"""Program bytes: a QuantizedGraph lowered and written as .tflite, in one place."""
from __future__ import annotations

from catdeploy.export.tflite import write_tflite
from catdeploy.ir.int_program import IntProgram
from catdeploy.lower import lower, lower_classifier
from catdeploy.lower.options import DEFAULT_LOWERING, LoweringOptions
from catdeploy.quant.quantized_graph import QuantizedGraph


def lowered(qg: QuantizedGraph, options: LoweringOptions = DEFAULT_LOWERING) -> tuple[IntProgram, bytes]:
    """(IntProgram, .tflite bytes) of `qg` (the manifest needs both)."""
    program = lower(qg, options)
    return program, write_tflite(program)


def program_bytes(qg: QuantizedGraph, options: LoweringOptions = DEFAULT_LOWERING) -> bytes:
    """The .tflite bytes of `qg`: exactly what `catdeploy export` writes with the same options."""
    return lowered(qg, options)[1]


def classifier_bytes(qg: QuantizedGraph) -> bytes:
    """The classifier-only program of `qg` (its CAT head included when qg.cat is set): input = the
    classifier's int8 input tensor; the same ops and constants as in the full program."""
    return write_tflite(lower_classifier(qg))
