"""The TFLite writer: determinism, file layout, buffer sharing, int4 packing, validation errors, and
the single-op golden vectors (they load in every installed interpreter with BUILTIN_REF and
regenerating them reproduces the stored model bytes and reference outputs)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from catdeploy.errors import UserError
from catdeploy.export.tflite import write_tflite
from catdeploy.export.tflite.schema import schema
from catdeploy.export.tflite.writer import pack_int2, pack_int4
from catdeploy.check.interpreters import InterpreterError, available_interpreters, run_interpreter, run_requests, RunRequest
from catdeploy.ir.int_program import IntOp, IntProgram, IntTensor
from tests.golden import make_golden as golden

INTERPRETERS = available_interpreters()
needs_interpreter = pytest.mark.skipif(not INTERPRETERS, reason="no TFLite interpreter installed")


def read_model(model: bytes):
    return schema().ModelT.InitFromPackedBuf(bytearray(model), 0)


def small_conv(weights_dtype: str = "int8", w_key: str | None = None, extra: dict | None = None,
               seed: int = 0) -> IntProgram:
    """x -> CONV_2D -> y -> CONV_2D -> z, both convs 3x3 with 4 channels."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-8, 8, size=(4, 3, 3, 4)).astype(np.int8)
    w2 = rng.integers(-8, 8, size=(4, 3, 3, 4)).astype(np.int8) if w_key is None else w1
    s_w = (0.02, 0.03, 0.04, 0.05)
    b = np.array([5, -7, 100, -100], np.int32)
    tensors = [
        golden.act("x", (1, 6, 6, 4), 0.05, -3),
        IntTensor("w1", w1.shape, weights_dtype, s_w, (0,) * 4, 0, w1, bits=4, buffer_key=w_key),
        IntTensor("w2", w2.shape, weights_dtype, s_w, (0,) * 4, 0, w2, bits=4, buffer_key=w_key),
        golden.bias("b", b, 0.05, s_w),
        golden.act("y", (1, 6, 6, 4), 0.1, 2),
        golden.act("z", (1, 6, 6, 4), 0.2, -1),
    ]
    opts = dict(padding="SAME", stride_h=1, stride_w=1, fused_activation="RELU")
    ops = [IntOp("CONV_2D", ("x", "w1", "b"), ("y",), opts, name="c1"),
           IntOp("CONV_2D", ("y", "w2", "b"), ("z",), opts, name="c2")]
    tensors_map = {t.name: t for t in tensors}
    tensors_map.update(extra or {})
    return IntProgram(tensors_map, tuple(ops), ("x",), ("z",))


# ----------------------------------------------------------------------------- determinism, layout

@pytest.mark.parametrize("case", list(golden.CASES))
def test_write_is_deterministic_and_matches_stored_golden(case):
    first = write_tflite(golden.build_case(case).program)
    second = write_tflite(golden.build_case(case).program)
    assert first == second
    stored = golden.load_golden(golden.GOLDEN_DIR / f"{case}.npz")
    assert stored["model"].tobytes() == first


def test_file_header_and_required_fields():
    model_bytes = write_tflite(small_conv())
    assert model_bytes[4:8] == b"TFL3"
    model = read_model(model_bytes)
    assert model.version == 3
    assert model.buffers[0].data is None
    (code,) = model.operatorCodes
    assert (code.builtinCode, code.deprecatedBuiltinCode, code.version) == (3, 3, 3)
    graph = model.subgraphs[0]
    names = [t.name.decode() for t in graph.tensors]
    assert names == ["x", "w1", "b", "y", "w2", "z"]          # by first use
    assert list(graph.inputs) == [0] and list(graph.outputs) == [5]
    x, w1 = graph.tensors[0], graph.tensors[1]
    assert x.buffer == 0 and x.quantization.scale.dtype == np.float32
    assert x.quantization.zeroPoint.dtype == np.int64 and list(x.quantization.zeroPoint) == [-3]
    assert w1.quantization.quantizedDimension == 0 and len(w1.quantization.scale) == 4
    metadata = {m.name.decode(): bytes(model.buffers[m.buffer].data) for m in model.metadata}
    assert metadata["min_runtime_version"] == b"1.14.0".ljust(16, b"\0")


def test_constant_buffers_are_16_byte_aligned():
    model_bytes = write_tflite(small_conv())
    fb = schema()
    model = fb.Model.GetRootAs(model_bytes, 0)
    assert len(model_bytes) % 16 == 0
    for i in range(1, model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


def test_shared_buffer_key_stores_weights_once():
    separate = write_tflite(small_conv())
    shared_program = small_conv(w_key="head")
    shared = write_tflite(shared_program)
    graph = read_model(shared).subgraphs[0]
    by_name = {t.name.decode(): t for t in graph.tensors}
    assert by_name["w1"].buffer == by_name["w2"].buffer != 0
    assert len(separate) - len(shared) >= 4 * 3 * 3 * 4


def test_unused_tensors_are_not_written():
    program = small_conv(extra={"unused": golden.act("unused", (1, 2), 0.1, 0)})
    names = [t.name.decode() for t in read_model(write_tflite(program)).subgraphs[0].tensors]
    assert "unused" not in names


def test_program_metadata_is_written_sorted_and_can_set_min_runtime_version():
    base = small_conv()
    program = IntProgram(base.tensors, base.ops, base.inputs, base.outputs,
                         metadata={"zeta": "last", "catdeploy": json.dumps({"k": 1}), "min_runtime_version": "2.9.0"})
    model = read_model(write_tflite(program))
    entries = [(m.name.decode(), bytes(model.buffers[m.buffer].data)) for m in model.metadata]
    assert entries == [("min_runtime_version", b"2.9.0".ljust(16, b"\0")),
                       ("catdeploy", b'{"k": 1}'), ("zeta", b"last")]


@pytest.mark.parametrize("case, kind, version", [
    ("conv_same_s2_relu", "CONV_2D", 3), ("conv_grouped", "CONV_2D", 6), ("dw_dm2_s2_valid", "DEPTHWISE_CONV_2D", 3),
    ("fc_per_channel", "FULLY_CONNECTED", 4), ("fc_keep_num_dims", "FULLY_CONNECTED", 5), ("add_scales", "ADD", 2),
    ("avgpool_global", "AVERAGE_POOL_2D", 2), ("maxpool_3x3_s2", "MAX_POOL_2D", 2), ("reshape", "RESHAPE", 1),
    ("pad", "PAD", 2), ("concat", "CONCATENATION", 2), ("minimum", "MINIMUM", 2), ("maximum", "MAXIMUM", 2),
    ("quantize_f32", "QUANTIZE", 1), ("dequantize", "DEQUANTIZE", 2), ("arg_max", "ARG_MAX", 2),
    ("gather_table", "GATHER", 2),
])
def test_op_versions(case, kind, version):
    model = read_model(write_tflite(golden.build_case(case).program))
    (code,) = model.operatorCodes
    assert code.builtinCode == getattr(schema().BuiltinOperator, kind)
    assert code.deprecatedBuiltinCode == min(code.builtinCode, 127)
    assert code.version == version


def test_fully_connected_without_bias_is_version_6():
    case = golden.build_case("fc_per_channel").program
    op = case.ops[0]
    program = IntProgram(case.tensors, (IntOp(op.kind, ("x", "w"), op.outputs, op.options, op.name),),
                         case.inputs, case.outputs)
    assert read_model(write_tflite(program)).operatorCodes[0].version == 6


# ----------------------------------------------------------------------------- int4

def test_pack_int2_lowest_pair_first_and_catrt_unpacks_it():
    from catrt.reader import unpack_int2

    # 1 -> 01, -1 -> 11, -2 -> 10, 0 -> 00; element 4i in bits 1..0
    assert pack_int2(np.array([1, -1, -2, 0, 1])) == bytes([0b00101101, 0b00000001])
    values = np.random.default_rng(3).integers(-2, 2, size=23)
    packed = np.frombuffer(pack_int2(values), np.uint8)
    assert packed.size == 6 and np.array_equal(unpack_int2(packed, 23), values)


def test_pack_int4_low_nibble_first():
    assert pack_int4(np.array([1, -1, 7, -8, 3])) == bytes([0xF1, 0x87, 0x03])
    assert pack_int4(np.array([[-8, 7], [0, -1]])) == bytes([0x78, 0xF0])


def test_int4_conv_is_packed_and_versioned():
    model = read_model(write_tflite(small_conv("int4")))
    assert model.operatorCodes[0].version == 7
    assert model.subgraphs[0].tensors[1].type == schema().TensorType.INT4
    w = small_conv("int4").tensors["w1"].data
    assert bytes(model.buffers[model.subgraphs[0].tensors[1].buffer].data) == pack_int4(w)


def int4_fc_program(dtype: str) -> IntProgram:
    rng = np.random.default_rng(3)
    w = rng.integers(-8, 8, size=(5, 17)).astype(np.int8)        # odd element count: last nibble unused
    tensors = [golden.act("x", (2, 17), 0.05, 1), golden.act("y", (2, 5), 0.1, -2),
               IntTensor("w", w.shape, dtype, (0.05,) * 5, (0,) * 5, 0, w), golden.bias("b", np.arange(5), 0.05, [0.05] * 5)]
    op = IntOp("FULLY_CONNECTED", ("x", "w", "b"), ("y",), dict(fused_activation="NONE"), name="fc")
    return IntProgram({t.name: t for t in tensors}, (op,), ("x",), ("y",))


@pytest.mark.parametrize("interpreter", [
    pytest.param(i, marks=[pytest.mark.slow] if i == "tensorflow" else [])   # tensorflow: ~10 s to start
    for i in ("litert", "tensorflow") if i in INTERPRETERS
])
def test_int4_weights_compute_like_int8_containers(interpreter):
    """Packed int4 CONV_2D (v7) and FC (v10) give the int8-container outputs bit for bit."""
    x_conv = np.random.default_rng(1).integers(-128, 128, size=(1, 6, 6, 4)).astype(np.int8)
    x_fc = np.random.default_rng(2).integers(-128, 128, size=(2, 17)).astype(np.int8)
    requests = [RunRequest(write_tflite(p), (x,), "ref", keep_all=False) for p, x in (
        (small_conv("int8"), x_conv), (small_conv("int4"), x_conv),
        (int4_fc_program("int8"), x_fc), (int4_fc_program("int4"), x_fc))]
    results = run_requests(interpreter, requests)
    assert [r["error"] for r in results] == [None] * 4
    assert np.array_equal(results[0]["outputs"][0], results[1]["outputs"][0])
    assert np.array_equal(results[2]["outputs"][0], results[3]["outputs"][0])


@pytest.mark.skipif("tflite-runtime" not in INTERPRETERS, reason="tflite-runtime not installed")
def test_load_failure_names_interpreter_resolver_and_model():
    with pytest.raises(InterpreterError) as info:
        run_interpreter(write_tflite(small_conv("int4")), [np.zeros((1, 6, 6, 4), np.int8)],
                        "tflite-runtime", "ref", model_name="tiny.tflite")
    message = str(info.value)
    assert message.startswith("tflite-runtime 2.14.0 (ref) cannot load tiny.tflite: ")
    assert "CONV_2D" in message and "\n" not in message


# ----------------------------------------------------------------------------- validation

def replace_op(program: IntProgram, **changes) -> IntProgram:
    op = program.ops[0]
    fields = dict(kind=op.kind, inputs=op.inputs, outputs=op.outputs, options=dict(op.options), name=op.name)
    fields.update(changes)
    return IntProgram(program.tensors, (IntOp(**fields),) + program.ops[1:], program.inputs, program.outputs)


def replace_tensor(program: IntProgram, tensor: IntTensor) -> IntProgram:
    return IntProgram({**program.tensors, tensor.name: tensor}, program.ops, program.inputs, program.outputs)


def conv_program() -> IntProgram:
    return golden.build_case("conv_same_s2_relu").program


def test_unknown_op_kind():
    with pytest.raises(UserError, match=r"unknown op kind 'TANH' in op 'conv'"):
        write_tflite(replace_op(conv_program(), kind="TANH"))


def test_missing_tensor():
    with pytest.raises(UserError, match=r"CONV_2D op 'conv': input tensor 'nope' is not in the tensor table"):
        write_tflite(replace_op(conv_program(), inputs=("x", "nope", "b")))


def test_dtype_mismatch():
    p = conv_program()
    x = p.tensors["x"]
    bad = IntTensor("x", x.shape, "int32", x.scale, x.zero_point)
    with pytest.raises(UserError, match=r"CONV_2D op 'conv': input 'x' has dtype int32, expected int8"):
        write_tflite(replace_tensor(p, bad))


def test_conv_requires_bias():
    with pytest.raises(UserError, match=r"CONV_2D op 'conv': expects 3 inputs, got 2"):
        write_tflite(replace_op(conv_program(), inputs=("x", "w")))
    with pytest.raises(UserError, match=r"the bias \(mandatory for CONV_2D\) input is required"):
        write_tflite(replace_op(conv_program(), inputs=("x", "w", "")))


def test_depthwise_requires_bias():
    p = golden.build_case("dw_dm1_relu6").program
    with pytest.raises(UserError, match=r"DEPTHWISE_CONV_2D op 'dw': expects 3 inputs, got 2"):
        write_tflite(replace_op(p, inputs=("x", "w")))


def test_wrong_output_shape():
    p = conv_program()
    y = p.tensors["y"]
    with pytest.raises(UserError, match=r"output 'y' has shape \(2, 4, 5, 16\), expected \(2, 5, 5, 16\)"):
        write_tflite(replace_tensor(p, IntTensor("y", (2, 4, 5, 16), "int8", y.scale, y.zero_point)))


def test_concat_needs_equal_qparams():
    p = golden.build_case("concat").program
    with pytest.raises(UserError, match=r"CONCATENATION op 'cat': 'b' .* must have equal qparams"):
        write_tflite(replace_tensor(p, golden.act("b", (1, 4, 4, 5), 0.5, 3)))


def test_concat_refuses_fused_activation():
    p = golden.build_case("concat").program
    with pytest.raises(UserError, match=r"CONCATENATION op 'cat': .*only fused_activation NONE"):
        write_tflite(replace_op(p, options={"axis": 3, "fused_activation": "RELU"}))


def test_nonzero_filter_zero_point():
    p = conv_program()
    w = p.tensors["w"]
    bad = IntTensor("w", w.shape, "int8", w.scale, (1,) * len(w.scale), 0, w.data)
    with pytest.raises(UserError, match=r"filter 'w' must have zero point 0"):
        write_tflite(replace_tensor(p, bad))


def test_int4_only_for_weights():
    p = golden.build_case("gather_table").program
    t = p.tensors["table"]
    bad = IntTensor("table", t.shape, "int4", t.scale, t.zero_point, 0, np.clip(t.data, -8, 7))
    with pytest.raises(UserError, match=r"GATHER op 'lookup': .*int4"):
        write_tflite(replace_tensor(p, bad))


def test_int4_values_out_of_range():
    p = small_conv("int4")
    w = p.tensors["w1"]
    with pytest.raises(UserError, match=r"tensor 'w1' holds values in \[-9, .*int4"):
        write_tflite(replace_tensor(p, IntTensor("w1", w.shape, "int4", w.scale, w.zero_point, 0,
                                                 np.full(w.shape, -9, np.int8))))


def test_shared_buffer_key_needs_identical_data():
    p = small_conv()
    w2 = p.tensors["w2"]
    p = replace_tensor(p, IntTensor("w1", w2.shape, "int8", w2.scale, w2.zero_point, 0, p.tensors["w1"].data,
                                    buffer_key="k"))
    p = replace_tensor(p, IntTensor("w2", w2.shape, "int8", w2.scale, w2.zero_point, 0, w2.data, buffer_key="k"))
    with pytest.raises(UserError, match=r"share buffer_key 'k' but hold different data"):
        write_tflite(p)


def test_tensor_used_before_written():
    p = small_conv()
    swapped = IntProgram(p.tensors, p.ops[::-1], p.inputs, p.outputs)
    with pytest.raises(UserError, match=r"CONV_2D op 'c2': input tensor 'y' is neither a constant"):
        write_tflite(swapped)


def test_missing_option():
    p = conv_program()
    options = dict(p.ops[0].options)
    del options["padding"]
    with pytest.raises(UserError, match=r"CONV_2D op 'conv': missing option 'padding'"):
        write_tflite(replace_op(p, options=options))


def test_reshape_new_shape_must_match_output():
    p = golden.build_case("reshape").program
    with pytest.raises(UserError, match=r"RESHAPE op 'flatten': reshaping"):
        write_tflite(replace_op(p, options={"new_shape": (4, 8)}))


# ----------------------------------------------------------------------------- golden vectors

def test_fully_connected_matches_float_rescale_on_litert_ref():
    """An independent check of what the writer wrote (scales per channel, zero points, bias):
    LiteRT 2.1.0's reference FC computes round_half_away(double(acc) * s_in * s_w[c] / s_out)."""
    for case in ("fc_per_channel", "fc_ties"):
        c = golden.build_case(case)
        p = c.program
        x, w, b, y = (p.tensors[n] for n in ("x", "w", "b", "y"))
        acc = (c.inputs[0].astype(np.int64).reshape(-1, w.shape[1]) - x.zero_point[0]) @ w.data.astype(np.int64).T
        acc += b.data
        m = np.float64(np.float32(x.scale[0])) * np.array(w.scale, np.float32).astype(np.float64)
        m /= np.float64(np.float32(y.scale[0]))
        v = acc * m
        expect = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + y.zero_point[0], -128, 127)
        stored = golden.load_golden(golden.GOLDEN_DIR / f"{case}.npz")
        assert np.array_equal(stored["output__litert__ref__0"].reshape(expect.shape), expect)


@needs_interpreter
def test_goldens_load_everywhere_with_ref_and_reproduce():
    """Every golden model loads in every installed interpreter with BUILTIN_REF (except where the
    stored file records that the resolver does not register the op version, as for packed INT4
    filters), and rerunning reproduces the stored reference outputs bit for bit (one worker per
    interpreter)."""
    names = list(golden.CASES)
    results = golden.run_cases(names, INTERPRETERS, ["ref"])
    for name in names:
        stored = golden.load_golden(golden.GOLDEN_DIR / f"{name}.npz")
        meta = json.loads(str(stored["meta"]))
        assert set(INTERPRETERS) <= set(meta["versions"])
        for interpreter in INTERPRETERS:
            result = results[name][(interpreter, "ref")]
            if f"error__{interpreter}__ref" in stored:
                assert result["error"] is not None and "version" in result["error"], name
                continue
            assert result["error"] is None, result["error"]
            if f"broken__{interpreter}__ref" in stored:
                continue
            keys = sorted(k for k in stored if k.startswith(f"output__{interpreter}__ref__"))
            assert len(keys) == len(result["outputs"]) >= 1
            for key, output in zip(keys, result["outputs"]):
                assert output.dtype == stored[key].dtype
                assert np.array_equal(output, stored[key]), f"{name}: {key} changed"


def test_golden_files_are_small_and_documented():
    from tests.golden import make_golden_edge_ops as edge

    files = sorted(golden.GOLDEN_DIR.glob("*.npz"))
    assert {f.stem for f in files} == set(golden.CASES) | {edge.PREFIX + name for name in edge.CASES}
    assert sum(f.stat().st_size for f in files) < 2 * 1024 * 1024
    readme = (golden.GOLDEN_DIR / "README.md").read_text()
    for key in ("model", "input_", "output__", "error__", "broken__", "meta"):
        assert key in readme
