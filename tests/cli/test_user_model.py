"""A user's own model (a class in their .py file, not torchvision), trained briefly on a generated
ImageFolder at 64x64 with custom mean/std, through calibrate, export, verify (bit-exact) and eval,
by the CLI and by the Python API (issue 11)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import catdeploy
from catdeploy.cli import app
from catdeploy.check.interpreters import available_interpreters
from catdeploy.integer import run_catrt, top_k
from catdeploy.check.interpreters import run_tflite

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
SIZE = 64
MEAN = (0.45, 0.40, 0.35)
STD = (0.22, 0.24, 0.26)
CLASSES = ("blobs", "hstripes", "vstripes")

MODEL_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn


    class TinyNet(nn.Module):
        """Not a torchvision model: the user's own class."""

        def __init__(self, classes: int = 3):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU())
            self.block = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, groups=12), nn.BatchNorm2d(12), nn.ReLU(),
                                       nn.Conv2d(12, 24, 1), nn.BatchNorm2d(24), nn.ReLU())
            self.down = nn.Sequential(nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, classes)

        def forward(self, x):
            x = self.down(self.block(self.stem(x)))
            return self.fc(torch.flatten(self.pool(x), 1))


    def build():
        return TinyNet(3)


    def broken():
        raise RuntimeError("no GPU here")


    def two_classes():
        return TinyNet(2)
''')


def _image(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 64x64 RGB uint8 image of class `label`: coloured blobs, horizontal or vertical stripes."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    period = rng.uniform(6, 12)
    phase = rng.uniform(0, period)
    if label == 0:
        cy, cx = rng.uniform(16, 48, size=2)
        base = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(6, 12) ** 2))
    elif label == 1:
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (yy + phase) / period)
    else:
        base = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + phase) / period)
    tint = rng.uniform(0.5, 1.0, size=3)
    img = base[..., None] * tint + rng.normal(0, 0.08, size=(SIZE, SIZE, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _write_folder(root: Path, per_class: int, seed: int, labeled: bool = True) -> None:
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        folder = root / name if labeled else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_image(label, rng), "RGB").save(folder / f"{name}_{i:03d}.png")


def _normalised(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """What the user's training script does: /255, (x - mean) / std, NCHW; labels from folders."""
    xs, ys = [], []
    for label, name in enumerate(CLASSES):
        for file in sorted((folder / name).glob("*.png")):
            xs.append(np.asarray(Image.open(file).convert("RGB"), np.float32) / 255.0)
            ys.append(label)
    x = (np.stack(xs) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32), np.asarray(ys, np.int64)


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    """The user's project: model.py, a generated train/test ImageFolder, an unlabeled folder, and
    weights from a brief training run with their own loop."""
    d = tmp_path_factory.mktemp("user_project")
    (d / "model.py").write_text(MODEL_PY)
    _write_folder(d / "train", 60, seed=1)
    _write_folder(d / "test", 30, seed=2)
    _write_folder(d / "unlabeled", 20, seed=3, labeled=False)
    sys.path.insert(0, str(d))
    try:
        import model as user_module  # the user's own module, as their training script imports it
    finally:
        sys.path.remove(str(d))
    torch.manual_seed(0)
    net = user_module.build()
    x, y = _normalised(d / "train")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(8):
        for i in range(0, len(x), 30):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x[i:i + 30])), torch.from_numpy(y[i:i + 30]))
            loss.backward()
            opt.step()
    net.eval()
    torch.save(net.state_dict(), d / "weights.pt")
    x_test, y_test = _normalised(d / "test")
    with torch.no_grad():
        fp_top1 = float((net(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean() * 100)
    assert fp_top1 >= 90, fp_top1  # the task is easy: a failed training would make the test moot
    return {"dir": d, "net": net, "x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test, "fp_top1": fp_top1}


def _cli(*args) -> dict:
    result = runner.invoke(app, [str(a) for a in args] + ["--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def _norm_args() -> list[str]:
    return ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))]


def test_cli_calibrate_export_verify_eval(user_run, tmp_path):
    d = user_run["dir"]
    model = f"{d / 'model.py'}:build"
    qg = tmp_path / "user.qg"
    _cli("calibrate", model, "--weights", d / "weights.pt", "--data", f"imagefolder:{d / 'train'}",
         "--input-size", SIZE, *_norm_args(), "--bits", "w4a4", "--samples", 120, "-o", qg)
    out = tmp_path / "user.tflite"
    _cli("export", qg, "--target", "tflite", "-o", out)
    manifest = json.loads((tmp_path / "user.tflite.json").read_text())
    assert manifest["calibration"]["preprocessing"] == {
        "input_size": [SIZE, SIZE], "channels": 3, "normalization": {"mean": list(MEAN), "std": list(STD)}}
    verify = _cli("verify", out, "--data", f"imagefolder:{d / 'test'}", "--samples", 90)
    assert verify["bit_exact"] and verify["images"] == 90
    assert {r["interpreter"] for r in verify["runs"]} == set(available_interpreters())
    assert all(r["mismatched_elements"] == 0 and r["tensors_compared"] > 5 for r in verify["runs"])
    ev = _cli("eval", out, "--data", f"imagefolder:{d / 'test'}")
    assert ev["n"] == 90
    # W4A4 of an easy task stays close to the float model (same 90 images; the user's own loop)
    assert ev["top1"] >= user_run["fp_top1"] - 10, (ev, user_run["fp_top1"])
    ev_qg = _cli("eval", qg, "--data", f"imagefolder:{d / 'test'}")
    assert ev_qg["top1"] == ev["top1"] and ev_qg["simulator_differing_elements"] == 0
    fp = _cli("eval", model, "--weights", d / "weights.pt", "--data", f"imagefolder:{d / 'test'}",
              "--input-size", SIZE, *_norm_args())
    assert abs(fp["top1"] - user_run["fp_top1"]) < 1e-9

    # The report of this run: the page and its plots, from the .qg and the export
    report = _cli("report", tmp_path, "--data", f"imagefolder:{d / 'test'}", "--samples", 45, "--verify-samples", 8)
    page = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.split("<body", 1)[1]
    assert {p.name for p in (tmp_path / "report").glob("*.png")} >= {"accuracy.png", "sqnr.png", "bitexact.png"}
    assert json.dumps(report)  # one JSON object with the numbers

    # The Python API on the same images (preprocessed by the user) gives the same integer model.
    api_qm = catdeploy.quantize(user_run["net"], user_run["x_train"], bits="w4a4")
    api_eval = api_qm.evaluate(user_run["x_test"], user_run["y_test"])
    tflite_logits = run_tflite(api_qm.tflite_bytes(), user_run["x_test"])  # a real interpreter
    assert api_eval["top1"] == top_k(tflite_logits, user_run["y_test"], 1) * 100
    assert abs(api_eval["top1"] - ev["top1"]) <= 100 / 90 * 2  # same images; calibration drew 120 of 180


def test_catdeploy_train_on_the_users_model(user_run, tmp_path):
    """`catdeploy train file.py:factory` with the user's size and mean/std; the checkpoint records
    them, so calibrate and eval need no preprocessing options."""
    d = user_run["dir"]
    model = f"{d / 'model.py'}:build"
    trained = _cli("train", model, "--data", f"imagefolder:{d / 'train'}", "--input-size", SIZE, *_norm_args(),
                   "--batch-size", 30, "--epochs", 6, "-o", tmp_path / "w.pt")
    assert trained["num_classes"] == 3 and trained["preprocessing"] == {
        "input_size": [SIZE, SIZE], "channels": 3, "normalization": {"mean": list(MEAN), "std": list(STD)}}
    assert "--mean 0.45,0.4,0.35" in trained["command"] and "--input-size 64" in trained["command"]
    fp = _cli("eval", model, "--weights", tmp_path / "w.pt", "--data", f"imagefolder:{d / 'test'}")
    assert fp["n"] == 90 and fp["top1"] >= 90, fp  # an easy task; a broken recipe would be near 33 %
    _cli("calibrate", model, "--weights", tmp_path / "w.pt", "--data", f"imagefolder:{d / 'train'}",
         "--bits", "w8a8", "--samples", 60, "-o", tmp_path / "w.qg")
    ev = _cli("eval", tmp_path / "w.qg", "--data", f"imagefolder:{d / 'test'}")
    assert ev["top1"] >= fp["top1"] - 3, (ev, fp)
    from catdeploy.pipeline import load_quantized

    assert load_quantized(tmp_path / "w.qg").meta["preprocessing"] == trained["preprocessing"]
    for spec, message in ((f"{d / 'model.py'}:two_classes", "label 2 >= the model's 2 outputs"),
                          (str(tmp_path / "x.pt2"), "a torch.export program is for deployment")):
        result = runner.invoke(app, ["train", spec, "--data", f"imagefolder:{d / 'train'}", "--input-size", "64",
                                     "-o", str(tmp_path / "bad.pt")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "bad.pt").exists()


def test_torch_export_program_through_the_cli(user_run, tmp_path):
    """The same trained model saved by torch.export (.pt2): the program is raised to the graph the
    nn.Module gives, so the exported integer model computes the same logits, bit-exact."""
    d = user_run["dir"]
    program = torch.export.export(user_run["net"], (torch.from_numpy(user_run["x_train"][:2]),))
    torch.export.save(program, tmp_path / "user.pt2")
    common = ["--data", f"imagefolder:{d / 'train'}", *_norm_args(), "--bits", "w4a4", "--samples", 60,
              "--target", "tflite"]
    # no --weights (the program holds them), no --input-size (the program was exported at 64x64)
    _cli("export", tmp_path / "user.pt2", *common, "-o", tmp_path / "pt2.tflite")
    _cli("export", f"{d / 'model.py'}:build", "--weights", d / "weights.pt", "--input-size", SIZE, *common,
         "-o", tmp_path / "py.tflite")
    verify = _cli("verify", tmp_path / "pt2.tflite", "--data", f"imagefolder:{d / 'test'}", "--samples", 32)
    assert verify["bit_exact"] and all(r["mismatched_elements"] == 0 for r in verify["runs"])
    x = user_run["x_test"]
    np.testing.assert_array_equal(run_catrt((tmp_path / "pt2.tflite").read_bytes(), x),
                                  run_catrt((tmp_path / "py.tflite").read_bytes(), x))
    # the Python API takes the ExportedProgram object itself
    qm_program = catdeploy.quantize(program, user_run["x_train"][:60], bits="w4a4")
    qm_module = catdeploy.quantize(user_run["net"], user_run["x_train"][:60], bits="w4a4")
    np.testing.assert_array_equal(run_catrt(qm_program.tflite_bytes(), x[:32]),
                                  run_catrt(qm_module.tflite_bytes(), x[:32]))
    # exported for 64x64: another input size is refused with the cure
    result = runner.invoke(app, ["calibrate", str(tmp_path / "user.pt2"), "--data", f"imagefolder:{d / 'train'}",
                                 "--input-size", "32", "-o", str(tmp_path / "x.qg")])
    assert result.exit_code == 2 and "exported for 3x64x64 inputs" in result.output
    assert "--input-size 64x64" in result.output and not (tmp_path / "x.qg").exists()


def test_calibration_from_unlabeled_folder_and_non_square_input(user_run, tmp_path):
    d = user_run["dir"]
    out = tmp_path / "u.tflite"
    _cli("export", f"{d / 'model.py'}:build", "--weights", d / "weights.pt", "--data",
         f"imagefolder:{d / 'unlabeled'}", "--input-size", "48x40", *_norm_args(), "--bits", "w4a8",
         "--samples", 60, "--target", "tflite", "-o", out)
    verify = _cli("verify", out, "--data", f"imagefolder:{d / 'test'}", "--samples", 16)
    assert verify["bit_exact"]
    from catrt import Interpreter

    assert list(Interpreter(out.read_bytes()).get_input_details()[0].shape) == [1, 48, 40, 3]
    result = runner.invoke(app, ["eval", str(out), "--data", f"imagefolder:{d / 'unlabeled'}"])
    assert result.exit_code == 2 and "no labels" in result.output


def test_python_api_round_trip(user_run, tmp_path):
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(user_run["x_train"]), torch.from_numpy(user_run["y_train"])),
        batch_size=32)
    qm = catdeploy.quantize(user_run["net"], loader, bits="w4a4", cat=True, clusters=2, alpha=1.0)
    assert qm.bits == "w4a4" and qm.method == "rtn" and "TinyNet" in repr(qm)
    manifest = qm.export_tflite(tmp_path / "m.tflite")
    assert (tmp_path / "m.tflite").read_bytes() == qm.tflite_bytes()
    assert manifest["sha256"] and (tmp_path / "m.tflite.json").is_file()
    with pytest.raises(catdeploy.quantized_model.UserError, match="already exists"):
        qm.export_tflite(tmp_path / "m.tflite")
    check = qm.verify(torch.from_numpy(user_run["x_test"][:16]))
    assert check and check.images == 16 and all(r.mismatched_elements == 0 for r in check.runs)
    ev = qm.evaluate(user_run["x_test"], user_run["y_test"])
    assert ev["n"] == 90
    tflite_logits = run_tflite(qm.tflite_bytes(), user_run["x_test"])
    assert ev["top1"] == top_k(tflite_logits, user_run["y_test"], 1) * 100
    if qm.cat is not None:
        assert ev["top1_with_cat"] == ev["top1"]
    qm.save(tmp_path / "m.qg")
    again = catdeploy.load(tmp_path / "m.qg")
    assert again.tflite_bytes() == qm.tflite_bytes()
    np.testing.assert_array_equal(again.predict(user_run["x_test"][:8]), qm.predict(user_run["x_test"][:8]))
    with pytest.raises(catdeploy.quantized_model.UserError, match=r"shape \[3, 32, 32\]"):
        qm.predict(np.zeros((2, 3, 32, 32), np.float32))


@pytest.mark.parametrize("spec, message", [
    ("{d}/model.py:nothing", "has no 'nothing'"),
    ("{d}/model.py:broken", "broken() raised RuntimeError: no GPU here"),
    ("{d}/missing.py:build", "missing.py not found"),
    ("no_such_pkg.models:build", "module not found"),
    ("{d}/model.pt2", "holds its own weights; drop --weights"),
])
def test_bad_model_references_are_one_line_errors(user_run, tmp_path, spec, message):
    d = user_run["dir"]
    result = runner.invoke(app, ["calibrate", spec.format(d=d), "--weights", str(d / "weights.pt"), "--data",
                                 f"imagefolder:{d / 'train'}", "-o", str(tmp_path / "x.qg")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "x.qg").exists()


def test_package_module_factory_on_pythonpath(user_run, tmp_path):
    """`package.module:factory` imports from PYTHONPATH (a fresh process, as a user runs it)."""
    d = user_run["dir"]
    env = {"PYTHONPATH": f"{d}:{ROOT}", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from catdeploy.cli import main; sys.argv[0] = 'catdeploy'; main()",
         "calibrate", "model:build", "--weights", str(d / "weights.pt"), "--data", f"imagefolder:{d / 'train'}",
         "--input-size", str(SIZE), "--samples", "32", "-o", str(tmp_path / "p.qg"), "--json"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["setting"] == "w4a4"
