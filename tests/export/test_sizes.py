"""Packed-size honesty (export/sizes.py): the manifest's and inspect's sizes are len(bytes) and
len(gzip) of real files — the export as written, `--int4-weights` and `--int4-weights
--int2-weights` — recomputed here independently; re-laying out one export gives the other exports
byte for byte; the .tflite itself is unchanged by the sizes."""
import gzip
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from catdeploy import api
from catdeploy.cli import app
from catdeploy.export.manifest import planned_bits
from catdeploy.export.sizes import LAYOUTS, filter_codes, relayout, tflite_sizes
from catdeploy.lower.options import LoweringOptions
from catdeploy.pipeline import export_quantized
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet

LOWERINGS = {"int8": LoweringOptions(), "int4": LoweringOptions(int4_weights=True),
             "int4_int2": LoweringOptions(int4_weights=True, int2_weights=True)}


def gzip_len(data: bytes) -> int:
    """Independent of export/sizes.py (gzip module vs zlib there): same deflate, same length."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def export_all(tmp_path, qg, tag: str) -> dict[str, tuple[bytes, dict]]:
    """Each layout exported by the pipeline: (file bytes, manifest)."""
    out = {}
    for layout, lowering in LOWERINGS.items():
        path = tmp_path / f"{tag}_{layout}.tflite"
        export_quantized(qg, path, lowering=lowering)
        out[layout] = (path.read_bytes(), json.loads(path.with_name(path.name + ".json").read_text()))
    return out


def calibrated(graph_fn, bits: str, **plan_kwargs):
    g = graph_fn(0)
    x = np.random.default_rng(0).normal(size=(64, 3, 8, 8)).astype(np.float32)
    return api.calibrate(g, api.plan(g, bits, **plan_kwargs), x)


CASES = {
    "resnet_w4a4_symmetric": (tiny_resnet, "w4a4", dict(symmetric_weights=True)),
    "resnet_w4a4_asymmetric": (tiny_resnet, "w4a4", {}),
    "resnet_w2a2_strict_symmetric": (tiny_resnet, "w2a2", dict(symmetric_weights=True, strict=True)),
    "mobilenet_w2a4": (tiny_mobilenet, "w2a4", {}),
    "mobilenet_w8a8": (tiny_mobilenet, "w8a8", {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_sizes_are_the_bytes_and_gzip_of_each_export(tmp_path, case):
    fn, bits, kwargs = CASES[case]
    qg = calibrated(fn, bits, **kwargs)
    exports = export_all(tmp_path, qg, case)
    for written, (data, manifest) in exports.items():
        sizes = manifest["sizes"]
        assert sizes["as_written"] == {"bytes": len(data), "gzip_bytes": gzip_len(data)}
        assert manifest["size_bytes"] == len(data)
        for layout in LAYOUTS:
            other = exports[layout][0]
            assert sizes["layouts"][layout]["bytes"] == len(other), (written, layout)
            assert sizes["layouts"][layout]["gzip_bytes"] == gzip_len(other), (written, layout)
        # every manifest says the same about the layouts, whichever layout was written
        assert sizes["layouts"] == exports["int8"][1]["sizes"]["layouts"]
        assert sizes["written_layout"] in LAYOUTS and exports[sizes["written_layout"]][0] == data


@pytest.mark.parametrize("case", sorted(CASES))
def test_relayout_gives_the_other_exports_byte_for_byte(case):
    fn, bits, kwargs = CASES[case]
    qg = calibrated(fn, bits, **kwargs)
    files = {layout: api.export_tflite(api.lower(qg, lowering)) for layout, lowering in LOWERINGS.items()}
    bits_by_name = planned_bits(api.lower(qg))
    for source, data in files.items():
        for target in LAYOUTS:
            assert relayout(data, target, bits_by_name) == files[target], (source, target)


def test_what_packs_and_what_stays_int8():
    sym = tflite_sizes(api.export_tflite(api.lower(calibrated(tiny_resnet, "w4a4", symmetric_weights=True))))
    # first conv and FC at 8 bit by convention; the two 4-bit block convs (2 x 144 codes) pack
    assert sym["layouts"]["int4"]["filter_elements"] == {"int8": 108 + 20, "int4": 288, "int2": 0}
    assert sym["layouts"]["int4"]["low_bit_filter_elements_int8"] == 0
    assert sym["layouts"]["int4"]["bytes"] < sym["layouts"]["int8"]["bytes"]

    qg = calibrated(tiny_resnet, "w4a4")  # asymmetric 4-bit grids: q - z spans up to [-15, 15]
    asym = tflite_sizes(api.export_tflite(api.lower(qg)), planned_bits(api.lower(qg)))
    assert asym["layouts"]["int4"]["low_bit_filter_elements_int8"] > 0

    qg = calibrated(tiny_resnet, "w2a2", symmetric_weights=True, strict=True)
    strict = tflite_sizes(api.export_tflite(api.lower(qg)), planned_bits(api.lower(qg)))
    assert strict["layouts"]["int4_int2"]["filter_elements"]["int2"] == 20  # the 2-bit FC, [-2, 1]
    assert strict["layouts"]["int4"]["filter_elements"]["int2"] == 0


def test_filter_codes_are_the_lowered_weights_in_any_layout():
    qg = calibrated(tiny_resnet, "w4a4", symmetric_weights=True)
    program = api.lower(qg, LOWERINGS["int4"])
    for layout in ("int8", "int4"):
        codes = filter_codes(api.export_tflite(api.lower(qg, LOWERINGS[layout])))
        assert set(codes) == {"conv1/weight", "block.conv1/weight", "block.conv2/weight", "fc/weight"}
        for name, (dtype, values) in codes.items():
            assert dtype == (program.tensors[name].dtype if layout == "int4" else "int8")
            assert np.array_equal(values, program.tensors[name].data.ravel())


def test_export_bytes_unchanged_by_sizes(tmp_path):
    qg = calibrated(tiny_mobilenet, "w4a4", symmetric_weights=True)
    for layout, lowering in LOWERINGS.items():
        path = tmp_path / f"{layout}.tflite"
        export_quantized(qg, path, lowering=lowering)
        assert path.read_bytes() == api.export_tflite(api.lower(qg, lowering))


def test_inspect_reports_the_manifest_sizes_and_works_without_a_manifest(tmp_path):
    qg = calibrated(tiny_mobilenet, "w4a4", symmetric_weights=True)
    exports = export_all(tmp_path, qg, "m")
    runner = CliRunner()
    path = tmp_path / "m_int8.tflite"
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["sizes"] == exports["int8"][1]["sizes"]
    r = runner.invoke(app, ["inspect", str(path)])
    assert r.exit_code == 0, r.stderr
    for label, layout in (("as written (int8)", "int8"), ("int4", "int4"), ("int4_int2", "int4_int2")):
        data = exports[layout][0]
        assert re.search(rf"^  {re.escape(label)} +{len(data):,}  gzip +{gzip_len(data):,}", r.stdout, re.M), r.stdout
    # without a manifest (bit widths unknown) the sizes come from the bytes alone: the same here
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(exports["int4"][0])
    r = runner.invoke(app, ["inspect", str(bare), "--json"])
    assert r.exit_code == 0, r.stderr
    sizes = json.loads(r.stdout)["sizes"]
    assert sizes["written_layout"] == "int4"
    assert {k: v["bytes"] for k, v in sizes["layouts"].items()} == {k: len(v[0]) for k, v in exports.items()}


def test_real_model_packed_sizes(tmp_path):
    """The embedded mnasnet0_5 at symmetric W4A4: the INT4 file is the --int4-weights export and
    about half of the 4-bit filters' int8 bytes smaller; gzip of each is what gzip gives."""
    from catdeploy.assets import load_default_model

    model, _ = load_default_model()
    graph = api.capture(model, 32, 3)
    x = np.random.default_rng(0).normal(size=(16, 3, 32, 32)).astype(np.float32)
    qg = api.calibrate(graph, api.plan(graph, "w4a4", symmetric_weights=True), x)
    exports = export_all(tmp_path, qg, "mnas")
    sizes = exports["int8"][1]["sizes"]
    packed = sizes["layouts"]["int4"]["filter_elements"]["int4"]
    assert packed > 100_000
    saved = len(exports["int8"][0]) - len(exports["int4"][0])
    assert abs(saved - packed // 2) <= 16 * 64  # half a byte per packed code, give or take 16-byte alignment
    for layout in LAYOUTS:
        data = exports[layout][0]
        row = sizes["layouts"][layout]
        assert (row["bytes"], row["gzip_bytes"]) == (len(data), gzip_len(data))


def with_external_buffers(model_bytes: bytes) -> bytes:
    """The same model with every non-empty buffer stored after the flatbuffer (Buffer.offset /
    Buffer.size, as AI Edge Quantizer writes them)."""
    import flatbuffers

    from catdeploy.export.tflite.schema import schema

    fb = schema()
    model = fb.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    payloads = {i: bytes(b.data) for i, b in enumerate(model.buffers) if b.data is not None and len(b.data)}
    for i, data in payloads.items():
        model.buffers[i].data, model.buffers[i].offset, model.buffers[i].size = None, 2, len(data)

    def pack() -> bytes:
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    head = pack()
    start = -(-len(head) // 16) * 16
    for i, data in payloads.items():
        model.buffers[i].offset = start
        start += -(-len(data) // 16) * 16
    head = pack()
    assert -(-len(head) // 16) * 16 == model.buffers[min(payloads)].offset
    out = bytearray(head.ljust(-(-len(head) // 16) * 16, b"\0"))
    for i, data in payloads.items():
        out += data.ljust(-(-len(data) // 16) * 16, b"\0")
    return bytes(out)


def test_buffers_stored_after_the_flatbuffer_are_read():
    qg = calibrated(tiny_mobilenet, "w4a4", symmetric_weights=True)
    files = {layout: api.export_tflite(api.lower(qg, lowering)) for layout, lowering in LOWERINGS.items()}
    external = with_external_buffers(files["int8"])
    assert external != files["int8"]
    sizes = tflite_sizes(external)
    assert sizes["as_written"] == {"bytes": len(external), "gzip_bytes": gzip_len(external)}
    assert relayout(external, "int4") == files["int4"]  # re-laid out files are written inline
    assert sizes["layouts"]["int4"]["bytes"] == len(files["int4"])
    inline = tflite_sizes(files["int8"])
    assert sizes["layouts"]["int4"]["filter_elements"] == inline["layouts"]["int4"]["filter_elements"]
