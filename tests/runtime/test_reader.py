"""The .tflite reader: what it returns, and that malformed files raise CatrtError only."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import catrt
from catrt import CatrtError
from catrt.reader import read_model, unpack_int4
from ._runtime_cases import build_chain
from ._tiny_models import TinyModel, add_options, pack_int4


def _add_model(**overrides) -> TinyModel:
    m = TinyModel()
    a = m.tensor("a", [1, 4], "int8", [0.5], [1])
    b = m.tensor("b", [1, 4], "int8", [0.25], [-2])
    y = m.tensor("sum", [1, 4], "int8", [1.0], [0])
    m.op("ADD", [a, b], [y], add_options("RELU"))
    m.inputs, m.outputs = [a, b], [y]
    return m


def test_reads_tensors_ops_and_metadata():
    model = read_model(build_chain(3).model)
    assert model.version == 3 and model.subgraph_name == "main"
    names = [t.name for t in model.tensors]
    assert names[model.inputs[0]] == "input"
    assert [names[i] for i in model.outputs] == ["logits", "class"]
    conv = next(op for op in model.operators if op.kind == "CONV_2D")
    assert conv.options["padding"] == 0 and conv.options["fused_activation_function"] == 1
    assert conv.options["stride_h"] == 1 and conv.options["dilation_w_factor"] == 1
    w = model.tensors[conv.inputs[1]]
    assert w.dtype == "int8" and w.shape == (6, 3, 3, 3) and w.data.shape == (6, 3, 3, 3)
    assert len(w.quantization.scale) == 6 and w.quantization.quantized_dimension == 0
    assert not w.data.flags.writeable
    assert model.tensors[conv.outputs[0]].quantization.zero_point == (-128,)
    assert model.metadata["min_runtime_version"].rstrip(b"\0") == b"2.3.0"
    reshape = next(op for op in model.operators if op.kind == "RESHAPE")
    assert reshape.options["new_shape"] == (2, 6)


def test_builtin_code_is_max_of_both_fields():
    m = _add_model()
    m.opcodes[0].builtinCode = 0
    m.opcodes[0].deprecatedBuiltinCode = 3   # CONV_2D in the deprecated field only
    m.operators[0].builtinOptionsType, m.operators[0].builtinOptions = 0, None
    model = read_model(m.build())
    assert model.operator_codes[0].builtin_code == 3
    assert model.operators[0].kind == "CONV_2D"


def test_int4_unpacking_low_nibble_first():
    packed = np.array([0x21, 0xF8, 0x07], np.uint8)
    assert unpack_int4(packed, 6).tolist() == [1, 2, -8, -1, 7, 0]
    assert unpack_int4(packed, 5).tolist() == [1, 2, -8, -1, 7]
    values = np.arange(-8, 8, dtype=np.int8)
    assert unpack_int4(pack_int4(values), 16).tolist() == values.tolist()


def test_int4_constant_tensor_is_unpacked():
    m = TinyModel()
    w = np.array([[-8, 7, 3], [1, -1, 0]], np.int8)
    t = m.tensor("w4", [2, 3], "int4", [0.1], [0], 0, w)
    m.inputs, m.outputs = [], [t]
    model = read_model(m.build())
    assert model.tensors[0].dtype == "int4" and model.tensors[0].data.tolist() == w.tolist()


def _mutated(mutate) -> bytes:
    m = _add_model()
    mutate(m)
    return m.build()


@pytest.mark.parametrize("mutate, message", [
    (lambda m: setattr(m, "version", 2), "schema version"),
    (lambda m: setattr(m, "inputs", [0, 42]), "tensor index 42"),
    (lambda m: setattr(m.operators[0], "inputs", np.array([0, 99], np.int32)), "tensor index 99"),
    (lambda m: setattr(m.operators[0], "opcodeIndex", 5), "opcode_index 5"),
    (lambda m: setattr(m.tensors[0], "type", 1), "FLOAT16"),
    (lambda m: setattr(m.tensors[0].quantization, "zeroPoint", np.array([1, 2], np.int64)),
     "zero points"),
    (lambda m: setattr(m.tensors[0], "buffer", 9), "buffer index 9"),
    (lambda m: setattr(m.operators[0], "builtinOptionsType", 1), "options type"),
])
def test_rejects_inconsistent_files(mutate, message):
    with pytest.raises(CatrtError, match=message):
        read_model(_mutated(mutate))


def test_rejects_buffer_size_and_scale_count_mismatch():
    m = TinyModel()
    m.tensor("w", [2, 2], "int8", [0.1], [0], 0, np.zeros(3, np.int8))
    with pytest.raises(CatrtError, match="needs 4"):
        read_model(m.build())
    m = TinyModel()
    m.tensor("w", [2, 3], "int8", [0.1, 0.2], [0, 0], 1, np.zeros((2, 3), np.int8))
    with pytest.raises(CatrtError, match="2 scales for dimension 1 of size 3"):
        read_model(m.build())


def test_rejects_non_tflite_input():
    good = _add_model().build()
    for bad in (b"", b"\x00" * 7, good[:4] + b"TFL2" + good[8:], "not bytes", 12345):
        with pytest.raises(CatrtError):
            read_model(bad)


def test_every_truncation_is_rejected():
    good = _add_model().build()
    for length in range(len(good)):
        with pytest.raises(CatrtError):
            read_model(good[:length])


def _exercise(data: bytes) -> None:
    """Parse, prepare and (when the inputs are small) run; only CatrtError may escape."""
    try:
        interp = catrt.Interpreter(data)
        inputs = []
        for d in interp.get_input_details():
            if int(np.prod(d.shape)) > 100_000 or any(s == 0 for s in d.shape):
                return
            inputs.append(np.zeros(d.shape, dtype=d.dtype))
        interp.run(inputs, keep_all=True)
    except CatrtError:
        pass


CHAIN = build_chain(11).model


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(CHAIN) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))
def test_flipped_bytes_raise_only_catrt_errors(edits):
    data = bytearray(CHAIN)
    for position, value in edits:
        data[position] = value
    _exercise(bytes(data))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.integers(0, len(CHAIN) - 1), st.integers(0, len(CHAIN)))
def test_truncated_or_spliced_files_raise_only_catrt_errors(cut, splice):
    _exercise(CHAIN[:cut] + CHAIN[splice:])
