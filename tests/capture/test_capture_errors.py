"""Bad models give one-line UserErrors that name every culprit."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from catdeploy.capture import capture
from catdeploy.capture.refusal import CaptureRefused
from catdeploy.errors import UserError

from tests.capture.helpers import assert_same_state, state_snapshot

torch.set_num_threads(1)


class TwoCulprits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh())
        self.head = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Sequential(nn.GELU()))

    def forward(self, x):
        return self.head(self.features(x)).mean((2, 3))


def _error(model: nn.Module, shape=(1, 3, 16, 16)) -> str:
    with pytest.raises(UserError) as info:
        capture(model, shape)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_all_unsupported_ops_in_one_line() -> None:
    model = TwoCulprits()
    before = state_snapshot(model)
    message = _error(model)
    assert "unsupported ops: " in message
    assert "aten.tanh at features.1 (torch.nn.Tanh; " in message
    assert "aten.gelu at head.1.0 (torch.nn.GELU; " in message
    assert message.index("features.1") < message.index("head.1.0")
    assert_same_state(before, model)


def test_functions_methods_and_refused_arguments_are_listed() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.se = nn.Conv2d(3, 3, 1)
            self.pool = nn.MaxPool2d(2, dilation=2)

        def forward(self, x):
            gate = torch.erf(self.se(x))                # function
            y = x * gate + 1.0                          # scalar add
            y = y.tanh()                                # method
            a, b = y.tensor_split(2, dim=1)             # several tensors (reported once)
            return self.pool(a + b[:, :1]).mean(1)      # dilation; getitem slice; mean over C

    with pytest.raises(CaptureRefused) as info:
        capture(Odd(), (1, 3, 16, 16))
    message = str(info.value)
    # each names the line of the forward above that made the call
    erf_line = next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1)
                    if "gate = torch.erf(self.se(x))" in line)
    assert "\n" not in message and len(message) <= 400
    assert message.split("unsupported ops: ")[1].startswith(
        f"aten.erf at erf (torch.erf; 1 site; {__file__}:{erf_line}), "
        f"aten.tanh at tanh (Tensor.tanh; 1 site; {__file__}:{erf_line + 2}), ")
    # every site, as data (the line may stop early: "and N more kinds")
    entries = {e["kind"]: e for e in info.value.entries}
    assert entries["aten.tanh"]["sites"] == [
        {"at": "tanh", "call": "Tensor.tanh", "reason": "", "source": f"{__file__}:{erf_line + 2}"}]
    split = next(e for e in entries.values() if e["call"] == "Tensor.tensor_split")
    assert split["sites"][0]["at"] == "tensor_split" and split["reason"] == "returns several tensors"
    pool = next(e for k, e in entries.items() if k.startswith("aten.max_pool2d"))
    assert pool["sites"][0]["at"] == "pool" and "dilation" in pool["reason"]
    assert "dims (1,)" in entries["aten.mean"]["reason"]
    assert all(e["count"] == 1 for e in entries.values())   # b[:, :1] is a SLICE now


def test_function_inside_submodule_names_the_module() -> None:
    class SE(nn.Module):
        def forward(self, x):
            return x * torch.tanh(x)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Conv2d(3, 3, 1), SE())

        def forward(self, x):
            return self.block(x)

    assert "aten.tanh at block.1/tanh (torch.tanh; " in _error(Net())


def test_subclass_with_own_forward_is_not_mistaken_for_its_base() -> None:
    class WeirdConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x).tanh()

    message = _error(nn.Sequential(WeirdConv(3, 3, 1)))
    assert "aten.tanh at 0/tanh (Tensor.tanh; 1 site; " in message   # traced: its conv2d captured


def test_subclass_keeping_forward_is_captured() -> None:
    class MyConv(nn.Conv2d):
        pass

    graph = capture(nn.Sequential(MyConv(3, 4, 3), nn.ReLU()), (1, 3, 8, 8))
    assert [(n.name, n.kind.value, n.attrs["activation"]) for n in graph.nodes] == [("0", "CONV2D", "relu")]


def test_untraceable_model_names_model_and_fx_error() -> None:
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    message = _error(Branchy())
    assert message.startswith("cannot trace model Branchy with torch.fx: TraceError: ")
    assert "control flow" in message


def test_wrong_input_shape() -> None:
    message = _error(nn.Sequential(nn.Conv2d(1, 2, 3)))
    assert message.startswith("model Sequential fails on an input of shape (1, 3, 16, 16)")


def test_two_inputs_refused() -> None:
    class Two(nn.Module):
        def forward(self, x, y):
            return x + y

    assert "takes 2 inputs" in _error(Two())


@pytest.mark.parametrize("module, fragment", [
    (nn.Conv2d(3, 3, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (nn.AvgPool2d(2, divisor_override=3), "divisor_override=3"),
    (nn.AdaptiveAvgPool2d(3), "does not divide"),
    (nn.BatchNorm2d(3, track_running_stats=False), "running statistics"),
    (nn.Hardtanh(float("-inf"), float("inf")), "clamp without a finite bound"),
    (nn.ReflectionPad2d(1), "torch.nn.ReflectionPad2d"),
])
def test_refused_module_settings(module, fragment) -> None:
    message = _error(nn.Sequential(module))
    assert "at 0 (" in message and fragment in message
