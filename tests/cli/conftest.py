"""Shared CLI fixtures."""
import pytest
from typer.testing import CliRunner

from catdeploy.cli import app


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory):
    """A mnasnet0_5 trained by `catdeploy train` for one epoch on 128 digits images."""
    ckpt = tmp_path_factory.mktemp("digits") / "digits.pt"
    r = CliRunner().invoke(app, ["train", "mnasnet0_5", "--data", "digits", "-o", str(ckpt), "--epochs", "1",
                                 "--limit", "128", "--batch-size", "32"])
    assert r.exit_code == 0, r.stderr
    return ckpt
