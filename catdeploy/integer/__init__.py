"""The integer engine every stage calls down into: model inputs, program bytes (lower + write,
once), one catrt runner, dequantize and metrics, and one evaluator.

Imports nothing above lower / export / catrt (and quant's training-mode surrogate for the
fake-quant column); cat/, check/, the API, the demo, the report and the CLI import it.
"""
from catdeploy.integer.evaluate import (EVAL_BATCH, Engine, Evaluation, catrt_engine, eval_profile,
                                        evaluate_chunks, integer_logits_with_and_without_cat, run_chunks, score)
from catdeploy.integer.inputs import ModelIO, iterate_batches, model_io, prepare_inputs, quantize_input
from catdeploy.integer.metrics import dequantize, top1_agreement, top_k
from catdeploy.integer.program import classifier_bytes, lowered, program_bytes
from catdeploy.integer.runner import (catrt_batches, catrt_interpreter, catrt_tensors, dequantize_output,
                                      output_qparams, run_catrt, run_on_tensor)
from catdeploy.integer.simulator import integer_logits, integer_outputs

__all__ = [
    "EVAL_BATCH", "Engine", "dequantize_output", "run_chunks", "run_on_tensor", "score", "Evaluation", "ModelIO", "catrt_batches", "catrt_engine", "catrt_interpreter", "catrt_tensors",
    "classifier_bytes", "dequantize", "eval_profile", "evaluate_chunks", "integer_logits", "integer_outputs",
    "integer_logits_with_and_without_cat", "iterate_batches", "lowered", "model_io", "output_qparams",
    "prepare_inputs", "program_bytes", "quantize_input", "run_catrt", "top1_agreement", "top_k",
]
