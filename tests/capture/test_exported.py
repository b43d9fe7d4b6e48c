"""torch.export programs (.pt2): raised to the graph capture reads from the nn.Module itself, read
without unpickling anything but tensors, and refused with one line naming the op and the user's line."""
from __future__ import annotations

import io
import pickle
import textwrap

import numpy as np
import pytest
import torch
import torchvision

from catdeploy.capture import capture
from catdeploy.capture.exported import _tensors_only, load_exported_model
from catdeploy.errors import UserError
from catdeploy.ir.execute import float_logits


def _node_signature(graph):
    return [(n.kind, n.inputs, n.outputs, repr(sorted(n.attrs.items()))) for n in graph.nodes]


@pytest.mark.parametrize("factory, batch", [
    (torchvision.models.resnet18, 1),            # residual adds, max pool, BN folding
    (torchvision.models.mobilenet_v3_small, 2),  # hardswish, SE (hardsigmoid * x), dropout; static batch 2
    (torchvision.models.shufflenet_v2_x0_5, 2),  # channel shuffle reshapes with the batch baked in
])
def test_program_gives_the_graph_of_the_module(tmp_path, factory, batch):
    torch.manual_seed(0)
    model = factory(num_classes=10).eval()
    torch.export.save(torch.export.export(model, (torch.randn(batch, 3, 32, 32),)), tmp_path / "m.pt2")
    from_program = capture(load_exported_model(tmp_path / "m.pt2"), (1, 3, 32, 32))
    from_module = capture(model, (1, 3, 32, 32))
    assert [n.kind for n in from_program.nodes] == [n.kind for n in from_module.nodes]
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(float_logits(from_program, x), float_logits(from_module, x))
    # parameters are named by the program's module paths, as fx names them on the module
    assert [n.name for n in from_program.nodes if n.kind.name.startswith("CONV")][:3] == \
        [n.name for n in from_module.nodes if n.kind.name.startswith("CONV")][:3]


def test_dynamic_batch_program(tmp_path):
    model = torchvision.models.resnet18(num_classes=4).eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (torch.randn(2, 3, 40, 40),), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "d.pt2")
    graph = capture(load_exported_model(tmp_path / "d.pt2"), (1, 3, 40, 40))
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 40)).astype(np.float32)
    with torch.no_grad():
        reference = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(float_logits(graph, x), reference, rtol=1e-4, atol=1e-4)


USER_CODE = textwrap.dedent('''
    import torch
    import torch.nn as nn


    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            x = torch.erf(self.conv(x))
            x = x.permute(0, 1, 3, 2)
            return self.fc(x.mean((2, 3)))
''')


def test_unsupported_ops_name_the_users_line(tmp_path):
    path = tmp_path / "odd_model.py"
    path.write_text(USER_CODE)
    namespace: dict = {}
    exec(compile(USER_CODE, str(path), "exec"), namespace)
    torch.export.save(torch.export.export(namespace["Odd"]().eval(), (torch.randn(1, 3, 16, 16),)), tmp_path / "o.pt2")
    with pytest.raises(UserError) as info:
        load_exported_model(tmp_path / "o.pt2")
    message = str(info.value)
    assert "\n" not in message
    assert "aten.erf at " in message and f"{path}:13" in message
    assert "aten.permute at " in message and f"{path}:14" in message


def test_not_a_program_is_one_line(tmp_path):
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(UserError, match=r"junk.pt2: not a torch.export archive"):
        load_exported_model(tmp_path / "junk.pt2")
    with pytest.raises(UserError, match=r"missing.pt2: file not found"):
        load_exported_model(tmp_path / "missing.pt2")


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_loading_unpickles_tensors_only(capsys):
    """While a program is read, torch.load runs with weights_only=True and pickle.loads is refused:
    a payload that would run code is rejected instead of executed."""
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2), "evil": _Payload()}, buffer)
    with _tensors_only():
        buffer.seek(0)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(buffer, weights_only=False)  # the caller's weights_only=False is overridden
        from torch.export.pt2_archive import _package

        with pytest.raises(Exception, match="not a tensor"):
            _package.pickle.loads(pickle.dumps(_Payload()))
    assert "unpickled code ran" not in capsys.readouterr().out
    assert torch.load.__module__ == "torch.serialization" and _package.pickle is pickle  # restored after


def test_decomposed_program(tmp_path):
    """After run_decompositions, batch norm is _native_batch_norm_legit_no_training (a tuple whose
    output 0 is read by getitem) and add_/relu_ are functional: the same Graph and logits."""
    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v3_small(num_classes=10).eval()
    program = torch.export.export(model, (torch.randn(1, 3, 32, 32),)).run_decompositions({})
    torch.export.save(program, tmp_path / "dec.pt2")
    graph = capture(load_exported_model(tmp_path / "dec.pt2"), (1, 3, 32, 32))
    x = np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(float_logits(graph, x), float_logits(capture(model, (1, 3, 32, 32)), x))


class TinyLeakyProgram(torch.nn.Module):
    """nn.LeakyReLU, F.leaky_relu_ in place, PReLU with one and with per-channel slopes, Hardtanh,
    clamp / clamp_min / clamp_max, and identity constants (x + 0.0, x * 1, x - 0, x / 1.0)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act = torch.nn.LeakyReLU(0.1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.prelu = torch.nn.PReLU()
        self.prelu8 = torch.nn.PReLU(8)
        self.hardtanh = torch.nn.Hardtanh(-2.0, 2.0)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        x = self.act(self.conv1(x))
        x = torch.nn.functional.leaky_relu_(self.conv2(x) + 0.0, 0.2)
        x = (self.prelu8(self.prelu(x)) * 1 - 0) / 1.0
        x = torch.clamp_max(torch.clamp_min(self.hardtanh(x), -1.5), 1.5).clamp(-1.25, 1.25)
        return self.fc(x.mean((2, 3)))


def test_leaky_relu_program_round_trip(tmp_path):
    """Saved with torch.export and read back, aten.leaky_relu / leaky_relu_ / prelu / hardtanh /
    clamp / clamp_min / clamp_max (and add / mul / sub / div by an identity constant) give the
    Graph the module gives, node for node."""
    torch.manual_seed(0)
    model = TinyLeakyProgram().eval()
    with torch.no_grad():
        model.prelu8.weight.copy_(torch.linspace(-0.3, 0.6, 8))
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), tmp_path / "leaky.pt2")
    from_program = capture(load_exported_model(tmp_path / "leaky.pt2"), (1, 3, 8, 8))
    from_module = capture(model, (1, 3, 8, 8))
    kinds = [n.kind.value for n in from_program.nodes]
    assert kinds == [n.kind.value for n in from_module.nodes]
    assert kinds.count("LEAKY_RELU") == 3 and kinds.count("PRELU") == 1 and kinds.count("CLAMP") == 4
    assert [n.attrs for n in from_program.nodes] == [n.attrs for n in from_module.nodes]
    x = np.random.default_rng(3).standard_normal((3, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(float_logits(from_program, x), float_logits(from_module, x))
    with torch.no_grad():
        np.testing.assert_allclose(float_logits(from_program, x), model(torch.from_numpy(x)).numpy(),
                                   rtol=1e-5, atol=1e-5)
