"""CLI contract for `train` and `eval` (docs/cli.md): exit codes, one-line errors, --json."""
import json

import pytest
import torch
from typer.testing import CliRunner

from catdeploy.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(map(str, args)))


def assert_one_line_error(result, code=2, *fragments):
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "digits-mnas.pt"
    result = run("train", "mnasnet0_5", "--data", "digits", "-o", out, "--epochs", 1,
                 "--limit", 64, "--batch-size", 32, "--json")
    assert result.exit_code == 0, result.stderr
    return out, result


def test_train_writes_checkpoint_and_json(checkpoint):
    out, result = checkpoint
    payload = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert payload["output"] == str(out) and payload["model"] == "mnasnet0_5"
    assert payload["epochs"] == 1 and payload["seed"] == 0 and payload["limit"] == 64
    assert payload["command"].startswith("catdeploy train mnasnet0_5 --data digits")
    assert "epoch 1/1" in result.stderr
    raw = torch.load(out, weights_only=True)
    assert raw["meta"]["test_top1"] == payload["test_top1"]


def test_eval_checkpoint_json(checkpoint):
    out, train_result = checkpoint
    result = run("eval", "mnasnet0_5", "--weights", out, "--data", "digits:test", "--json")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"top1", "top5", "n", "engine"}
    assert payload["engine"] == "torch-float" and payload["n"] == 359
    assert round(payload["top1"], 2) == json.loads(train_result.stdout)["test_top1"]


def test_eval_samples_plain_output(checkpoint):
    out, _ = checkpoint
    result = run("eval", "mnasnet0_5", "-w", out, "--data", "digits", "--samples", 30)
    assert result.exit_code == 0, result.stderr
    assert "on 30 images" in result.stdout


def test_train_refuses_overwrite(checkpoint):
    out, _ = checkpoint
    result = run("train", "mnasnet0_5", "--data", "digits", "-o", out, "--epochs", 1)
    assert_one_line_error(result, 2, str(out), "--force")


def test_unknown_model():
    result = run("eval", "resnet19", "--weights", "x.pt", "--data", "digits")
    assert_one_line_error(result, 2, "unknown model 'resnet19'", "resnet18")
    result = run("train", "mobilenet_v9", "--data", "digits", "-o", "x.pt")
    assert_one_line_error(result, 2, "mobilenet_v9")


def test_missing_dataset(tmp_path):
    result = run("train", "resnet18", "--data", "fashion-mnist", "-o", tmp_path / "m.pt",
                 "--data-root", tmp_path / "nowhere")
    assert_one_line_error(result, 2, "fashion-mnist not found under", "nowhere")
    result = run("train", "resnet18", "--data", f"npz:{tmp_path / 'none.npz'}", "-o", tmp_path / "m.pt")
    assert_one_line_error(result, 2, "none.npz")
    result = run("train", "resnet18", "--data", "cifar10", "-o", tmp_path / "m.pt")
    assert_one_line_error(result, 2, "cifar10")


def test_corrupt_weights(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    result = run("eval", "resnet18", "--weights", bad, "--data", "digits", "--json")
    assert_one_line_error(result, 2, "corrupt.pt")
    assert result.stdout == ""
    result = run("eval", "resnet18", "--weights", tmp_path / "missing.pt", "--data", "digits")
    assert_one_line_error(result, 2, "missing.pt: file not found")


def test_mismatched_weights(tmp_path, checkpoint):
    out, _ = checkpoint
    result = run("eval", "resnet18", "--weights", out, "--data", "digits")
    assert_one_line_error(result, 2, "trained as 'mnasnet0_5'")
    plain = tmp_path / "mbv2.pt"
    torch.save(torch.load(out, weights_only=True)["state_dict"], plain)
    result = run("eval", "mobilenet_v2", "--weights", plain, "--data", "digits")
    assert_one_line_error(result, 2, "mbv2.pt", "mobilenet_v2")


def test_eval_needs_weights():
    assert_one_line_error(run("eval", "resnet18", "--data", "digits"), 2, "--weights")


def test_usage_error_exit_code():
    result = run("train", "resnet18")  # --data and -o missing
    assert result.exit_code == 2


@pytest.mark.parametrize("cmd", [[], ["train"], ["eval"]])
def test_help_has_examples(cmd):
    result = run(*cmd, "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"catdeploy {cmd[0] if cmd else 'calibrate'} " in result.stdout


def test_cli_defaults_match_the_training_defaults():
    import inspect

    from catdeploy import train
    from catdeploy.cli import train_eval as cli

    params = inspect.signature(cli.train_command).parameters
    assert params["epochs"].default.default == train.DEFAULT_EPOCHS
    assert params["batch_size"].default.default == train.DEFAULT_BATCH_SIZE
    assert params["lr"].default.default == train.DEFAULT_LR
    assert params["crop_padding"].default.default == train.DEFAULT_CROP_PADDING


def test_error_wrapper_exit_codes():
    import typer

    from catdeploy.cli import report_errors
    from catdeploy.errors import CheckFailed, UserError

    def raising(exc):
        @report_errors
        def command():
            raise exc
        return command

    for exc, code in ((UserError("bad\ninput"), 2), (CheckFailed("not bit-exact"), 1),
                      (KeyboardInterrupt(), 130)):
        with pytest.raises(typer.Exit) as info:
            raising(exc)()
        assert info.value.exit_code == code


def test_console_script_entry_point():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0]='catdeploy'; "
                             "from catdeploy.cli import main; main()", "eval", "resnet18",
                             "--data", "digits"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: eval resnet18: --weights is required for a float model"]
