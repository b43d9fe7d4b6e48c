"""timm as a model source (issue 24, item 3): ``timm:NAME`` built with pretrained=False, weights as
a state dict, a timm checkpoint, catdeploy's own checkpoint or .safetensors (never unpickled beyond
tensors), clear one-line refusals, and ``catdeploy train timm:NAME``.

resnet10t is used throughout: small (4.9 M parameters) and captured today at 32 x 32.
"""
from __future__ import annotations

import argparse
import sys

import pytest
import torch

timm = pytest.importorskip("timm")

from catdeploy import api  # noqa: E402
from catdeploy.data.float_model import load_float_model  # noqa: E402
from catdeploy.data.timm_models import build_timm_model, is_timm_model  # noqa: E402
from catdeploy.data.user_model import is_user_model  # noqa: E402
from catdeploy.data.zoo import check_model_name  # noqa: E402
from catdeploy.errors import UserError  # noqa: E402

NAME = "resnet10t"


def _timm_model(num_classes=10, in_chans=3, seed=0):
    torch.manual_seed(seed)
    return timm.create_model(NAME, pretrained=False, num_classes=num_classes, in_chans=in_chans).eval()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_timm_spec_is_not_a_user_factory():
    assert is_timm_model("timm:resnet18d") and not is_user_model("timm:resnet18d")
    assert is_user_model("my_pkg.models:build") and not is_timm_model("my_pkg.models:build")


def test_build_never_downloads(monkeypatch):
    import huggingface_hub

    def no_download(*args, **kwargs):
        raise AssertionError("download attempted")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_download)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    model = build_timm_model(f"timm:{NAME}.c3_in1k", num_classes=7, in_chans=1)  # a tag is ignored
    assert not model.training
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module.", "safetensors"])
def test_weights_formats_with_classes_and_channels_from_the_weights(tmp_path, wrap):
    source = _timm_model(num_classes=5, in_chans=1, seed=3)
    state = source.state_dict()
    path = tmp_path / ("w.safetensors" if wrap == "safetensors" else "w.pth")
    if wrap == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    elif wrap == "module.":
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
    elif wrap == "plain":
        torch.save(state, path)
    else:  # timm's train.py keeps the weights under "state_dict"; DeiT-style under "model"
        torch.save({wrap: state, "epoch": 3, "arch": NAME, "version": 2}, path)
    model, meta = load_float_model(f"timm:{NAME}", path)
    assert meta["num_classes"] == 5 and meta["channels"] == 1
    assert _same(model, source) and not model.training
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


def test_catdeploy_checkpoint_meta_wins(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": _timm_model(num_classes=10).state_dict(),
                "meta": {"model": f"timm:{NAME}", "num_classes": 10, "channels": 3, "input_size": 32}}, path)
    model, meta = load_float_model(f"timm:{NAME}", path)
    assert meta["input_size"] == 32 and model.num_classes == 10
    with pytest.raises(UserError, match=r"trained as 'timm:resnet10t', not 'timm:resnet14t'"):
        load_float_model("timm:resnet14t", path)


def test_loaded_model_captures_at_32(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(_timm_model(in_chans=1).state_dict(), path)
    model, meta = load_float_model(f"timm:{NAME}", path)
    graph = api.capture(model, 32, meta["channels"])
    assert graph.nodes


def test_weights_that_do_not_fit_are_summarised_in_one_line(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("resnet18", pretrained=False, num_classes=10).state_dict(), path)
    with pytest.raises(UserError) as err:
        load_float_model(f"timm:{NAME}", path)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"--weights {path}: the weights do not fit timm:{NAME} (num_classes=10, in_chans=3)")
    assert " missing (" in message and " unexpected (" in message and "mis-shaped (" in message


def test_non_finite_weights(tmp_path):
    state = _timm_model().state_dict()
    state["fc.bias"][0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match="'fc.bias' contains NaN or Inf"):
        load_float_model(f"timm:{NAME}", path)


def test_weights_only_refuses_pickled_objects_with_a_timm_hint(tmp_path):
    path = tmp_path / "train.pth.tar"  # what timm's train.py writes: its argparse args beside the weights
    torch.save({"state_dict": _timm_model().state_dict(), "args": argparse.Namespace(model=NAME)}, path)
    with pytest.raises(UserError, match=r"weights_only=True .*argparse.Namespace.*clean_checkpoint.py"):
        load_float_model(f"timm:{NAME}", path)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="not a readable safetensors file"):
        load_float_model(f"timm:{NAME}", path)


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UserError, match=r"unknown model 'timm:resnet10' .*did you mean timm:resnet10t"):
        load_float_model("timm:resnet10", None)
    with pytest.raises(UserError, match=r"name a timm architecture"):
        load_float_model("timm:", None)
    # a timm name given as a torchvision name points to timm:NAME
    with pytest.raises(UserError, match=r"unknown model 'resnet10t' .*timm has it: timm:resnet10t"):
        check_model_name("resnet10t")


def test_without_timm_installed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm -> ImportError
    with pytest.raises(UserError) as err:
        load_float_model(f"timm:{NAME}", tmp_path / "missing.pt")
    assert str(err.value) == "timm:NAME needs the optional dependency timm: pip install 'catdeploy[timm]'"
    with pytest.raises(UserError, match="not a torchvision classification model"):  # no timm hint, no crash
        check_model_name("resnet10t")


def test_train_timm_model_grayscale(tmp_path):
    from catdeploy.train import train

    out = tmp_path / "r10t.pt"
    result = train(f"timm:{NAME}", "digits", epochs=1, input_size=32, batch_size=32, limit=64,
                   threads=1, grayscale=True, output=out, progress=False, log=lambda m: None)
    assert result.meta["model"] == f"timm:{NAME}" and result.meta["channels"] == 1
    assert result.meta["num_classes"] == 10 and result.meta["test_top1"] is not None
    model, meta = load_float_model(f"timm:{NAME}", out)
    assert _same(model, result.model) and meta["channels"] == 1
