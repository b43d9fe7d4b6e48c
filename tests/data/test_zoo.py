import math

import pytest
import torch

from catdeploy.data import build_model, load_checkpoint, load_model, load_weights
from catdeploy.errors import UserError

NAMED_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mnasnet0_5", "regnet_x_400mf"]


@pytest.mark.parametrize("name", NAMED_MODELS)
def test_build_named_model(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=10)
    assert not model.training
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_build_is_seeded_and_never_downloads(monkeypatch):
    import torch.hub

    def no_download(*args, **kwargs):
        raise AssertionError("download attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    torch.manual_seed(1)
    a = build_model("mnasnet0_5", 7)
    torch.manual_seed(1)
    b = build_model("mnasnet0_5", 7)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert a.classifier[-1].out_features == 7


def test_any_torchvision_classifier_name():
    assert build_model("squeezenet1_1", 3)(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_unknown_model_lists_close_matches():
    with pytest.raises(UserError, match=r"unknown model 'resnet19'.*did you mean .*resnet18"):
        build_model("resnet19")
    with pytest.raises(UserError, match="unknown model 'xyz'"):
        build_model("xyz")


def _fresh(seed=0, name="resnet18", classes=10):
    torch.manual_seed(seed)
    return build_model(name, classes)


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("wrap", [None, "state_dict", "model_state_dict", "model", "module."])
def test_load_weights_formats(tmp_path, wrap):
    source = _fresh(seed=1, name="mnasnet0_5")
    state = source.state_dict()
    if wrap == "module.":
        obj = {f"module.{k}": v for k, v in state.items()}
    elif wrap is None:
        obj = state
    else:
        obj = {wrap: state, "epoch": 3}
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    target = _fresh(seed=2, name="mnasnet0_5")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    loaded = load_weights(target, path)
    assert _same_weights(loaded, source)
    assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())  # input untouched
    assert not loaded.training


def test_load_model_reads_meta(tmp_path):
    source = _fresh(seed=3, name="mnasnet0_5", classes=4)
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": source.state_dict(),
                "meta": {"model": "mnasnet0_5", "num_classes": 4, "input_size": 32}}, path)
    model, meta = load_model("mnasnet0_5", path)
    assert meta["num_classes"] == 4 and _same_weights(model, source)
    with pytest.raises(UserError, match="trained as 'mnasnet0_5', not 'resnet18'"):
        load_model("resnet18", path)
    state, meta = load_checkpoint(path)
    assert meta["input_size"] == 32 and set(state) == set(source.state_dict())


def test_plain_dict_without_module_versions_loads(tmp_path):
    source = _fresh(seed=4, name="mnasnet0_5")
    path = tmp_path / "plain.pt"
    torch.save({k: v for k, v in source.state_dict().items()}, path)  # drops _metadata
    assert _same_weights(load_weights(_fresh(name="mnasnet0_5"), path), source)
    model, meta = load_model("mnasnet0_5", path)
    assert meta == {} and _same_weights(model, source)


def _one_line(exc_info):
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match=r"--weights .*nope\.pt: file not found") as info:
        load_weights(_fresh(), tmp_path / "nope.pt")
    _one_line(info)


def test_truncated_file(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(_fresh().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError, match=r"w\.pt: not a readable torch checkpoint, corrupt or truncated") as info:
        load_weights(_fresh(), path)
    _one_line(info)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x80\x04not really a pickle" * 10)
    with pytest.raises(UserError, match=r"garbage\.pt: ") as info:
        load_weights(_fresh(), path)
    _one_line(info)


def test_pickled_object_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole module, not a state dict
    with pytest.raises(UserError, match="weights_only=True") as info:
        load_weights(_fresh(), path)
    _one_line(info)


@pytest.mark.parametrize("obj, fragment", [
    ([1, 2, 3], "not a state dict"),
    ({}, "not a state dict"),
    ({"conv1.weight": [1.0]}, "entry 'conv1.weight' is a list"),
])
def test_not_a_state_dict(tmp_path, obj, fragment):
    path = tmp_path / "w.pt"
    torch.save(obj, path)
    with pytest.raises(UserError, match=fragment):
        load_weights(_fresh(), path)


def test_mismatched_architecture(tmp_path):
    path = tmp_path / "mbv2.pt"
    torch.save(_fresh(name="mobilenet_v2").state_dict(), path)
    with pytest.raises(UserError, match=r"missing key 'conv1.weight' for resnet18") as info:
        load_weights(_fresh(), path, architecture="resnet18")
    _one_line(info)


def test_unexpected_key(tmp_path):
    state = dict(_fresh().state_dict())
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(UserError, match="unexpected key 'extra.weight' for ResNet"):
        load_weights(_fresh(), path)


def test_mismatched_shape(tmp_path):
    path = tmp_path / "five.pt"
    torch.save(_fresh(classes=5).state_dict(), path)
    with pytest.raises(UserError, match=r"key 'fc.weight' has shape \[5, 512\], resnet18 expects \[10, 512\]"):
        load_model("resnet18", path)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_weights(tmp_path, bad):
    state = dict(_fresh().state_dict())
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"].clone()
    state["layer1.0.conv1.weight"][0, 0, 0, 0] = bad
    path = tmp_path / "nan.pt"
    torch.save(state, path)
    with pytest.raises(UserError, match="'layer1.0.conv1.weight' contains NaN or Inf"):
        load_weights(_fresh(), path)
