"""The interpreter harness: subprocess workers, batching by resizing, fallback to the file batch,
all-tensor capture, error messages and crash isolation."""
from __future__ import annotations

import numpy as np
import pytest

import catdeploy.export.tflite.writer as writer
from catdeploy.errors import UserError
from catdeploy.export.tflite import write_tflite
from catdeploy.check.interpreters import (
    INTERPRETERS, InterpreterError, RunRequest, available_interpreters, run_interpreter, run_requests,
)
from catdeploy.ir.int_program import IntOp, IntProgram
from tests.golden import make_golden as golden

# The light interpreters start in a fraction of a second; tensorflow takes seconds to import and is
# covered by the golden test in test_writer.py.
FAST = [name for name in ("litert", "tflite-runtime") if name in available_interpreters()]
needs_fast = pytest.mark.skipif(not FAST, reason="neither ai-edge-litert nor tflite-runtime installed")


def conv_pool_flatten(new_shape=(-1, 144)) -> IntProgram:
    """x [1, 9, 9, 8] -> CONV_2D stride 2 -> MAX_POOL_2D 2x2/2 -> RESHAPE -> [1, 144]."""
    base = golden.build_case("conv_same_s2_relu").program
    x, y = base.tensors["x"], base.tensors["y"]
    tensors = dict(base.tensors)
    tensors["x"] = golden.act("x", (1, 9, 9, 8), x.scale[0], x.zero_point[0])
    tensors["y"] = golden.act("y", (1, 5, 5, 16), y.scale[0], y.zero_point[0])
    tensors["z"] = golden.act("z", (1, 3, 3, 16), y.scale[0], y.zero_point[0])
    tensors["f"] = golden.act("f", (1, 144), y.scale[0], y.zero_point[0])
    ops = (base.ops[0],
           IntOp("MAX_POOL_2D", ("y",), ("z",), dict(padding="SAME", stride_h=2, stride_w=2, filter_h=2, filter_w=2),
                 name="pool"),
           IntOp("RESHAPE", ("z",), ("f",), dict(new_shape=new_shape), name="flatten"))
    return IntProgram(tensors, ops, ("x",), ("f",))


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(n, 9, 9, 8)).astype(np.int8)


def test_available_interpreters_are_known_names():
    assert set(available_interpreters()) <= set(INTERPRETERS)


def test_unknown_interpreter_or_resolver_is_a_user_error():
    with pytest.raises(UserError, match="unknown interpreter 'tflite'"):
        run_interpreter(b"", [], "tflite", "ref")
    with pytest.raises(UserError, match="unknown resolver 'fast'"):
        run_requests(INTERPRETERS[0], [RunRequest(b"", (), "fast")])


@needs_fast
@pytest.mark.parametrize("interpreter", FAST)
def test_batches_by_resizing_and_matches_row_by_row(interpreter):
    model = write_tflite(conv_pool_flatten())
    x = rows(5)
    requests = [RunRequest(model, (x,), "ref"), RunRequest(model, (x,), "ref", batch=2)]
    requests += [RunRequest(model, (x[i:i + 1],), "ref") for i in range(5)]
    results = run_requests(interpreter, requests)
    assert [r["error"] for r in results] == [None] * 7
    whole, chunked, singles = results[0], results[1], results[2:]
    assert whole["outputs"][0].shape == (5, 144)
    assert set(whole["tensors"]) == {"x", "y", "z", "f"}          # activations only, no constants
    assert whole["tensors"]["y"].shape == (5, 5, 5, 16)
    for name, value in whole["tensors"].items():
        assert np.array_equal(value, chunked["tensors"][name])
        assert np.array_equal(value, np.concatenate([s["tensors"][name] for s in singles]))
    assert np.array_equal(whole["outputs"][0], whole["tensors"]["f"])
    assert whole["version"] and whole["interpreter"] == interpreter and whole["skipped"] == []


@needs_fast
def test_fixed_batch_reshape_falls_back_to_the_file_batch():
    fixed = write_tflite(conv_pool_flatten(new_shape=(1, 144)))
    flexible = write_tflite(conv_pool_flatten())
    x = rows(3, seed=1)
    a, b = run_requests(FAST[0], [RunRequest(fixed, (x,), "ref"), RunRequest(flexible, (x,), "ref")])
    assert a["error"] is None and a["outputs"][0].shape == (3, 144)
    assert np.array_equal(a["outputs"][0], b["outputs"][0])


@needs_fast
def test_keep_all_false_returns_outputs_only():
    result = run_interpreter(write_tflite(conv_pool_flatten()), [rows(2)], FAST[0], "builtin", keep_all=False)
    assert result["tensors"] == {} and result["outputs"][0].shape == (2, 144)


@needs_fast
def test_float_io_program_runs_and_keeps_int8_intermediates():
    """QUANTIZE -> CONV_2D -> DEQUANTIZE: float I/O lives in the program itself."""
    base = golden.build_case("conv_same_s2_relu").program
    tensors = dict(base.tensors)
    tensors["x_f"] = golden.IntTensor("x_f", (2, 9, 9, 8), "float32")
    tensors["y_f"] = golden.IntTensor("y_f", (2, 5, 5, 16), "float32")
    ops = (IntOp("QUANTIZE", ("x_f",), ("x",), name="quant"), base.ops[0],
           IntOp("DEQUANTIZE", ("y",), ("y_f",), name="dequant"))
    program = IntProgram(tensors, ops, ("x_f",), ("y_f",))
    x_f = np.random.default_rng(4).uniform(-6, 6, size=(2, 9, 9, 8)).astype(np.float32)
    result = run_interpreter(write_tflite(program), [x_f], FAST[0], "ref")
    y_q = result["tensors"]["y"]
    assert y_q.dtype == np.int8 and result["outputs"][0].dtype == np.float32
    y = tensors["y"]
    expect = (y_q.astype(np.float32) - np.float32(y.zero_point[0])) * np.float32(y.scale[0])
    assert np.array_equal(result["outputs"][0], expect)


@needs_fast
def test_wrong_input_dtype_names_the_input():
    with pytest.raises(InterpreterError, match=r"\(ref\): input 'x' wants int8, got float32"):
        run_interpreter(write_tflite(conv_pool_flatten()), [rows(1).astype(np.float32)], FAST[0], "ref")


@needs_fast
def test_garbage_model_is_reported_not_raised_in_batch_mode():
    (result,) = run_requests(FAST[0], [RunRequest(b"\0" * 64, (rows(1),), "ref", model_name="junk.tflite")])
    assert "cannot load junk.tflite" in result["error"]


@needs_fast
def test_a_crashing_request_does_not_lose_the_others(monkeypatch):
    """DEPTHWISE_CONV_2D without bias (which the writer refuses) segfaults the optimized kernels of
    the installed wheels; the harness reports that request and still serves the next ones."""
    case = golden.build_case("dw_dm1_relu6")
    op = case.program.ops[0]
    no_bias = IntProgram(case.program.tensors, (IntOp(op.kind, ("x", "w"), op.outputs, op.options, op.name),),
                         case.program.inputs, case.program.outputs)
    monkeypatch.setattr(writer, "validate_program", lambda program: None)
    bad = writer.write_tflite(no_bias)
    monkeypatch.undo()
    good = write_tflite(case.program)
    results = run_requests(FAST[0], [RunRequest(bad, case.inputs, "builtin", model_name="nobias.tflite"),
                                     RunRequest(good, case.inputs, "builtin")])
    assert results[0]["error"] is None or "crashed" in results[0]["error"]
    assert results[1]["error"] is None and results[1]["outputs"][0].shape == (2, 7, 7, 8)


@pytest.mark.slow
@pytest.mark.skipif("litert" not in available_interpreters(), reason="ai-edge-litert not installed")
def test_resnet18_sized_model_256_images_in_one_call():
    from tests.export.resnet_like import resnet18_like

    model = write_tflite(resnet18_like())
    assert len(model) > 11_000_000
    x = np.random.default_rng(0).integers(-128, 128, size=(256, 32, 32, 3)).astype(np.int8)
    result = run_interpreter(model, [x], "litert", "ref", keep_all=True)
    assert result["outputs"][0].shape == (256, 10)
    assert result["tensors"]["layer4.1.out"].shape == (256, 1, 1, 512)
