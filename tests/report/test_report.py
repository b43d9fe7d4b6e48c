"""`catdeploy report RUN_DIR`: files, self-contained HTML, numbers consistent with eval / inspect /
verify, --force, one-line errors. A tiny two-conv model at 16x16 on digits keeps it cheap."""
from __future__ import annotations

import json
import re
import shutil
import textwrap

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from catdeploy.cli import app
from catdeploy.check.interpreters import available_interpreters

from tests.cli_assertions import one_line_error

runner = CliRunner()
SAMPLES = 48
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("accuracy.png", "sqnr.png", "cat.png", "levels.png", "bitexact.png")

MODEL_PY = textwrap.dedent('''
    import torch.nn as nn


    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(self.pool(self.body(x)).flatten(1))


    def build():
        return Tiny()
''')


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """a.qg (w4a4 RTN) + a.tflite exported from it + c.qg (w4a4 RTN + CAT)."""
    root = tmp_path_factory.mktemp("report")
    (root / "tiny.py").write_text(MODEL_PY)
    spec = f"{root / 'tiny.py'}:build"
    import importlib.util

    loader = importlib.util.spec_from_file_location("tiny_for_report", root / "tiny.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.build().state_dict(), root / "tiny.pt")
    d = root / "run"
    d.mkdir()
    common = ["--weights", root / "tiny.pt", "--data", "digits", "--bits", "w4a4", "--samples", 64,
              "--input-size", 16]
    ok(run("calibrate", spec, *common, "-o", d / "a.qg"))
    ok(run("calibrate", spec, *common, "--cat", "--clusters", 2, "--alpha", 1.0, "-o", d / "c.qg"))  # a fixed head is applied
    ok(run("export", d / "a.qg", "-o", d / "a.tflite"))
    return d


@pytest.fixture(scope="module")
def report(run_dir):
    r = ok(run("report", run_dir, "--data", "digits", "--samples", SAMPLES, "--json"))
    return json.loads(r.stdout)


def test_writes_every_file_and_valid_pngs(run_dir, report):
    out = run_dir / "report"
    for name in ("report.md", "report.html", "report.json", *FIGURES):
        assert (out / name).is_file(), name
    for name in FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, (name, len(data))
    assert not [p for p in out.iterdir() if p.name.endswith((".tmp", ".probe"))]
    assert json.loads((out / "report.json").read_text()) == report
    md = (out / "report.md").read_text()
    assert all(f"]({name})" in md for name in FIGURES)


def test_html_is_self_contained(run_dir):
    page = (run_dir / "report" / "report.html").read_text()
    for forbidden in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert forbidden not in page.lower(), forbidden
    sources = re.findall(r'<img[^>]* src="([^"]*)"', page)
    assert len(sources) == len(FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    import base64

    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG_MAGIC) for s in sources)


def test_models_and_coverage(report):
    names = [m["name"] for m in report["models"]]
    assert names == ["a.qg", "c.qg"]  # a.tflite is a.qg's export: reported with it, not twice
    a, c = report["models"]
    assert a["covers"] == ["a.tflite"] and a["label"] == "w4a4 rtn" and a["cat"] is None
    assert c["cat"]["applied"] and c["label"] == "w4a4 rtn +CAT"
    assert report["n"] == SAMPLES and all(m["n"] == SAMPLES for m in report["models"])


def test_integer_top1_matches_eval(run_dir, report):
    a, c = report["models"]
    tfl = json.loads(ok(run("eval", run_dir / "a.tflite", "--data", "digits", "--samples", SAMPLES, "--json")).stdout)
    assert a["int_top1"] == tfl["top1"]
    qg = json.loads(ok(run("eval", run_dir / "c.qg", "--data", "digits", "--samples", SAMPLES, "--json")).stdout)
    assert c["int_top1"] == qg["top1"] == c["cat"]["int_top1_with_cat"] == qg["top1_with_cat"]
    assert c["cat"]["int_top1_without_cat"] == qg["top1_without_cat"]
    assert c["cat"]["eval_gain"] == pytest.approx(qg["top1_with_cat"] - qg["top1_without_cat"])


def test_cli_api_demo_and_report_print_the_same_numbers(run_dir, report):
    """One evaluator: `catdeploy eval`, catdeploy.load(...).evaluate, the demo's scoring and the
    report give identical numbers for the same .qg and images (exact equality)."""
    import catdeploy
    from catdeploy.demo import integer_top1_without_and_with_cat
    from catdeploy.pipeline import eval_images, load_quantized, preprocessing_for_model

    path = run_dir / "c.qg"
    cli = json.loads(ok(run("eval", path, "--data", "digits", "--samples", SAMPLES, "--json")).stdout)
    qg = load_quantized(path)
    x, y = eval_images("digits", SAMPLES, prep=preprocessing_for_model(path, None, qg))
    api = catdeploy.load(path).evaluate(x, y)
    assert api == cli
    without, with_cat = integer_top1_without_and_with_cat(qg, x, y)
    assert (without * 100, with_cat * 100) == (cli["top1_without_cat"], cli["top1_with_cat"])
    c = report["models"][1]
    assert (c["int_top1"], c["cat"]["int_top1_without_cat"], c["cat"]["int_top1_with_cat"]) == (
        cli["top1"], cli["top1_without_cat"], cli["top1_with_cat"])


def test_cat_numbers_come_from_the_selection(run_dir, report):
    from catdeploy.pipeline import load_quantized

    qg = load_quantized(run_dir / "c.qg")
    cat, sel = report["models"][1]["cat"], qg.meta["cat_selection"]
    assert cat["cluster_sizes"] == [int(n) for n in np.asarray(qg.cat["cluster_sizes"]).ravel()]
    assert cat["clusters"] == int(qg.cat["clusters"]) == len(cat["cluster_sizes"])
    assert cat["heldout_gain"] == sel["heldout_gain"] and cat["held_out_images"] == sel["held_out_images"]
    assert sum(c["chosen"] for c in cat["candidates"]) == 1


def test_bit_exact_matrix_is_zero_for_ref(report):
    assert report["resolvers"] == ["ref"] and report["interpreters"] == available_interpreters()
    assert report["bit_exact"] is True
    for m in report["models"]:
        assert len(m["verify"]) == len(available_interpreters())
        for cell in m["verify"]:
            assert cell["resolver"] == "ref" and cell["error"] is None
            assert cell["mismatched_elements"] == 0 and cell["tensors_compared"] > 5


def test_levels_match_inspect_and_stay_within_2_to_the_bits(run_dir, report):
    info = json.loads(ok(run("inspect", run_dir / "a.tflite", "--data", "digits", "--samples", SAMPLES,
                             "--json")).stdout)
    inspected = {t["name"]: t["distinct_values"] for t in info["tensors"] if "distinct_values" in t}
    levels = report["models"][0]["levels"]
    assert {r["tensor"]: r["distinct"] for r in levels} == inspected
    assert all(r["within"] and r["distinct"] <= 2 ** r["bits"] for r in levels)
    assert any(r["bits"] == 4 and r["limit"] == 16 for r in levels)


def test_per_layer_sqnr(report):
    a, c = report["models"]
    assert [r["tensor"] for r in a["layers"]] == ["x", "body.0", "body.3", "pool", "flatten", "fc"]
    assert all(r["sqnr_db"] is not None and 0 < r["sqnr_db"] < 80 for r in a["layers"])
    assert a["layers"][0]["sqnr_db"] > 30   # the 8-bit input
    # the CAT output is compared with the float logits it corrects
    assert c["layers"][-1]["tensor"] == "fc/cat" and c["layers"][-1]["value"] == "fc"


def test_refuses_to_overwrite_without_force(run_dir, report):
    out = run_dir / "report"
    before = (out / "report.html").read_bytes()
    one_line_error(run("report", run_dir, "--data", "digits", "--samples", SAMPLES), str(out / "report.md"),
                   "already exists", "--force")
    assert (out / "report.html").read_bytes() == before
    r = ok(run("report", run_dir, "--data", "digits", "--samples", SAMPLES, "--force",
               "--interpreters", "tflite-runtime", "--json"))
    again = json.loads(r.stdout)
    assert [m["int_top1"] for m in again["models"]] == [m["int_top1"] for m in report["models"]]
    assert again["interpreters"] == ["tflite-runtime"]
    assert json.loads((out / "report.json").read_text()) == again


def test_lone_tflite_and_output_folder(run_dir, report, tmp_path):
    """A .tflite without its .qg: integer numbers only; --output elsewhere; no SQNR figure."""
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(run_dir / "a.tflite", lone)
    shutil.copy(run_dir / "a.tflite.json", lone)
    out = tmp_path / "page"
    r = ok(run("report", lone, "--data", "digits", "--samples", SAMPLES, "--output", out,
               "--interpreters", "tflite-runtime", "--json"))
    (m,) = json.loads(r.stdout)["models"]
    assert m["name"] == "a.tflite" and m["kind"] == "tflite" and m["layers"] == [] and m["fp_top1"] is None
    assert m["int_top1"] == report["models"][0]["int_top1"] and m["levels"] == report["models"][0]["levels"]
    assert not (out / "sqnr.png").exists() and not (out / "cat.png").exists()
    assert "No .qg archive" in (out / "report.md").read_text()
    assert not (lone / "report").exists()


def test_empty_folder_is_a_one_line_error(tmp_path):
    one_line_error(run("report", tmp_path, "--data", "digits"), str(tmp_path), "no .qg or .tflite")
    assert not (tmp_path / "report").exists()


def test_bad_data_and_options_are_one_line_errors(run_dir, tmp_path):
    out = tmp_path / "x"
    one_line_error(run("report", run_dir, "--data", "no-such-data", "--output", out), "no-such-data")
    one_line_error(run("report", run_dir, "--data", "digits", "--resolvers", "fast", "--output", out), "--resolvers")
    one_line_error(run("report", run_dir, "--data", "digits", "--samples", 0, "--output", out), "--samples")
    one_line_error(run("report", tmp_path / "missing", "--data", "digits"), "not a folder")
    assert not (out / "report.html").exists()


def test_metrics_and_html_escaping():
    from catdeploy.report.metrics import nchw_to_nhwc, power_sums, sqnr_db
    from catdeploy.report.render import to_html

    f = np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4)
    assert nchw_to_nhwc(f).shape == (1, 3, 4, 2) and nchw_to_nhwc(f[0, 0]).shape == (3, 4)
    signal, noise = power_sums(f, f + 0.5)
    assert sqnr_db(signal, noise) == pytest.approx(10 * np.log10(np.sum(f ** 2) / (24 * 0.25)))
    assert sqnr_db(signal, 0.0) is None and sqnr_db(0.0, 1.0) is None
    page = to_html([("h1", "<script>alert(1)</script>"), ("table", ["a"], [["1.5 %"]])], {}, "t")
    assert "<script" not in page and "&lt;script&gt;" in page


def test_help_has_examples():
    result = ok(run("report", "--help"))
    assert "Examples" in result.stdout and "catdeploy report " in result.stdout


def test_report_option_on_calibrate_and_export(run_dir, tmp_path):
    """--report DIR on calibrate / export: the report of OUTPUT's folder, checked before any work."""
    root = run_dir.parent
    common = ["--weights", root / "tiny.pt", "--data", "digits", "--bits", "w4a4", "--samples", 64,
              "--input-size", 16]
    d = tmp_path / "run"
    d.mkdir()
    r = ok(run("calibrate", f"{root / 'tiny.py'}:build", *common, "-o", d / "a.qg", "--report", d / "page", "--json"))
    assert json.loads(r.stdout.strip().splitlines()[-1])["report"] == str(d / "page" / "report.html")
    first = json.loads((d / "page" / "report.json").read_text())
    assert [m["name"] for m in first["models"]] == ["a.qg"] and first["data"] == "digits:test"
    assert first["bit_exact"] is True and (d / "page" / "accuracy.png").read_bytes()[:8] == PNG_MAGIC
    # the same numbers as `catdeploy report` on the same folder and images
    alone = json.loads(ok(run("report", d, "--data", "digits:test", "--samples", 256, "--output", tmp_path / "alone",
                              "--json")).stdout)
    assert [m["int_top1"] for m in alone["models"]] == [m["int_top1"] for m in first["models"]]

    # an existing report is refused before the export is written
    one_line_error(run("export", d / "a.qg", "-o", d / "a.tflite", "--report", d / "page"), "already exists", "--force")
    assert not (d / "a.tflite").exists()
    ok(run("export", d / "a.qg", "-o", d / "a.tflite", "--report", d / "page", "--force"))
    again = json.loads((d / "page" / "report.json").read_text())
    assert [m["name"] for m in again["models"]] == ["a.qg"]  # a.tflite is a.qg's export
    assert again["models"][0]["int_top1"] == first["models"][0]["int_top1"]

    # data without a test split needs --report-data (never a report on the calibration images)
    folder = tmp_path / "imgs" / "cls"
    folder.mkdir(parents=True)
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    one_line_error(run("calibrate", f"{root / 'tiny.py'}:build", "--weights", root / "tiny.pt", "--data",
                       f"imagefolder:{tmp_path / 'imgs'}", "--input-size", 16, "-o", d / "b.qg", "--report", d / "p2"),
                   "--report-data")
    assert not (d / "b.qg").exists() and not (d / "p2").exists()
    one_line_error(run("calibrate", f"{root / 'tiny.py'}:build", *common, "-o", d / "b.qg", "--report-data", "digits"),
                   "only with --report")
