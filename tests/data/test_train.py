import os

import numpy as np
import pytest
import torch

from catdeploy import train as training
from catdeploy.data import load_dataset, load_model
from catdeploy.errors import UserError

TINY = dict(epochs=1, seed=0, input_size=16, batch_size=32, limit=64, progress=False,
            log=lambda *a, **k: None)


def test_augment_batch_is_a_padded_crop():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = training.augment_batch(x, torch.Generator().manual_seed(3), fill, flip=False)
    assert out.shape == x.shape
    padded = fill.view(1, 3, 1, 1).expand(2, 3, 9, 9).clone()
    padded[:, :, 2:7, 2:7] = x
    for i in range(2):
        crops = [padded[i, :, dy:dy + 5, dx:dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) for c in crops)
    again = training.augment_batch(x, torch.Generator().manual_seed(3), fill, flip=False)
    assert torch.equal(out, again)


def test_augment_without_crop_only_flips():
    x = torch.randn(16, 3, 5, 5)
    out = training.augment_batch(x, torch.Generator().manual_seed(0), torch.zeros(3), flip=True,
                                 padding=0)
    for i in range(16):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(2))
    assert torch.equal(training.augment_batch(x, torch.Generator(), torch.zeros(3), False, 0), x)


def test_augment_flip_mirrors_some_images():
    x = torch.randn(64, 1, 4, 4)
    out = training.augment_batch(x, torch.Generator().manual_seed(0), torch.zeros(1), flip=True)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_recalibrate_batchnorm_averages_batches():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1, bias=False), torch.nn.BatchNorm2d(2, momentum=3e-4))
    ds = load_dataset("digits:train", input_size=8)
    order = torch.arange(64)
    training.recalibrate_batchnorm(model, ds, order, batch_size=32, batches=2)
    with torch.no_grad():
        feats = [model[0](torch.from_numpy(ds.batch(np.arange(s, s + 32))[0])) for s in (0, 32)]
    expected_mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
    torch.testing.assert_close(model[1].running_mean, expected_mean)
    assert model[1].momentum == 3e-4 and not model.training


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    return out, training.train("resnet18", "digits", output=out, **TINY)


def test_train_is_deterministic_and_writes_checkpoint(tiny_run):
    out, first = tiny_run
    second = training.train("resnet18", "digits", **TINY)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [p.name for p in out.parent.iterdir()] == ["tiny.pt"]  # no temp file left behind
    raw = torch.load(out, weights_only=True, map_location="cpu")
    assert set(raw) == {"state_dict", "meta"}
    meta = raw["meta"]
    for key in ("model", "num_classes", "input_size", "dataset", "seed", "epochs", "test_top1", "command"):
        assert key in meta
    assert meta["model"] == "resnet18" and meta["input_size"] == 16 and meta["limit"] == 64
    assert isinstance(meta["test_top1"], float) and 0 <= meta["test_top1"] <= 100
    assert meta["command"].startswith("catdeploy train resnet18 --data digits -o ")
    model, _ = load_model("resnet18", out)
    assert all(torch.equal(model.state_dict()[k], a[k]) for k in a)


def test_train_refuses_to_overwrite(tmp_path):
    out = tmp_path / "exists.pt"
    out.write_bytes(b"keep me")
    with pytest.raises(UserError, match="file exists .*--force"):
        training.train("resnet18", "digits", output=out, **TINY)
    assert out.read_bytes() == b"keep me"
    with pytest.raises(UserError, match="file exists"):
        training.save_checkpoint({"w": torch.zeros(1)}, {}, out)
    training.save_checkpoint({"w": torch.ones(1)}, {"k": [1, 2.0, "x", None]}, out, force=True)
    assert torch.load(out, weights_only=True)["meta"] == {"k": [1, 2.0, "x", None]}
    assert [p.name for p in tmp_path.iterdir()] == ["exists.pt"]
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_meta_must_be_plain():
    with pytest.raises(TypeError, match="TorchVersion"):
        training._check_plain({"torch": torch.__version__}, "meta")


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "--epochs 0"), (dict(lr=-1.0), "--lr"), (dict(limit=1), "--limit 1"),
])
def test_train_bad_settings(kwargs, message):
    with pytest.raises(UserError, match=message):
        training.train("resnet18", "digits", **{**TINY, **kwargs})


def test_train_unknown_model_fails_before_loading_data():
    with pytest.raises(UserError, match="unknown model 'resnet1'"):
        training.train("resnet1", "fashion-mnist", data_root="/nonexistent", **TINY)


def test_evaluate_checkpoint_float(tiny_run):
    out, trained = tiny_run
    result = training.evaluate_checkpoint("resnet18", out, "digits", samples=50, progress=False)
    assert set(result) == {"top1", "top5", "n", "engine"}
    assert result["n"] == 50 and result["engine"] == "torch-float"
    assert 0 <= result["top1"] <= result["top5"] <= 100
    full = training.evaluate_checkpoint("resnet18", out, "digits:test", progress=False)
    assert full["n"] == 359 and round(full["top1"], 2) == trained.meta["test_top1"]


def test_evaluate_float_counts():
    class Oracle(torch.nn.Module):
        """Predicts class 0 always: top-1 = share of label 0, top-5 = share of labels 0..4."""

        def forward(self, x):
            return torch.arange(10, 0, -1, dtype=torch.float32).expand(x.shape[0], 10)

    ds = load_dataset("digits:test", input_size=8)
    result = training.evaluate_float(Oracle(), ds, batch_size=100, progress=False)
    assert result["n"] == 359
    assert result["top1"] == pytest.approx(100 * np.mean(ds.labels == 0))
    assert result["top5"] == pytest.approx(100 * np.mean(ds.labels < 5))


def test_reference_checkpoint_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert training.cache_dir() == tmp_path / "catdeploy"
    with pytest.raises(UserError, match="fmnist-r18 not trained yet"):
        training.reference_checkpoint("fmnist-r18", train_if_missing=False)
    path = tmp_path / "catdeploy" / "reference" / "fmnist-r18.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert training.reference_checkpoint("fmnist-r18") == path
    with pytest.raises(UserError, match="unknown reference model"):
        training.reference_checkpoint("cifar-r18")
    assert {s.model for s in training.REFERENCE_MODELS.values()} == {"resnet18", "mobilenet_v2", "mnasnet0_5",
                                                                   "mobilenet_v3_small", "efficientnet_b0"}


def test_settings_command_line():
    s = training.TrainSettings("mnasnet0_5", "fashion-mnist", epochs=5, seed=0)
    assert s.command("out.pt") == "catdeploy train mnasnet0_5 --data fashion-mnist -o out.pt --epochs 5 --seed 0"
    s = training.TrainSettings("resnet18", "digits", lr=0.1, limit=100, threads=1, crop_padding=2)
    assert s.command("a b.pt").endswith(
        "-o 'a b.pt' --epochs 4 --seed 0 --lr 0.1 --limit 100 --threads 1 --crop-padding 2")


def test_zero_init_classifier():
    from catdeploy.data import build_model

    model = build_model("mnasnet0_5")
    training._zero_init_classifier(model)
    assert not model.classifier[-1].weight.any() and not model.classifier[-1].bias.any()
