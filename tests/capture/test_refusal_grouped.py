"""A capture refusal is one line of at most 400 characters, one entry per unsupported op kind (its
first sites, its count and the user's source line), and keeps every site as data: CaptureRefused
.entries in Python, the JSON object of `--json` on the command line."""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from typer.testing import CliRunner

from catdeploy.capture import capture
from catdeploy.capture.refusal import CaptureRefused, UnsupportedOp, refusal_line, group_sites, source_line
from catdeploy.cli import app
from catdeploy.errors import UserError

from tests.cli_assertions import one_line_error

torch.set_num_threads(1)
HERE = Path(__file__).resolve()


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, x):
        y = self.act(self.conv(x))
        return torch.tanh(y) + x.erf()   # the user's line for tanh and erf


class Many(nn.Module):
    """12 blocks: 36 unsupported sites of three kinds, then a fourth kind once."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 1)
        self.blocks = nn.Sequential(*[Block() for _ in range(12)])

    def forward(self, x):
        return torch.cumsum(self.blocks(self.stem(x)), dim=1)


def _line_of(fragment: str) -> int:
    return next(i for i, line in enumerate(HERE.read_text().splitlines(), 1) if fragment in line)


def test_many_sites_give_one_short_line_per_kind():
    with pytest.raises(CaptureRefused) as info:
        capture(Many(), (1, 3, 8, 8))
    message = str(info.value)
    assert "\n" not in message and len("error: " + message) <= 400
    assert message.startswith(
        "model Many: unsupported ops: aten.gelu at blocks.0.act, blocks.1.act, blocks.2.act, ... "
        f"(torch.nn.GELU; 12 sites; {HERE}:{_line_of('y = self.act(self.conv(x))')}), "
        "aten.tanh at blocks.0/tanh, blocks.1/tanh_1, blocks.2/tanh_2, ... "
        f"(torch.tanh; 12 sites; {HERE}:{_line_of('line for tanh and erf')}), ")
    assert message.endswith(" more kinds") or message.endswith(" more kind")
    # every kind and every site, as data
    entries = info.value.entries
    assert [(e["kind"], e["count"]) for e in entries] == [
        ("aten.gelu", 12), ("aten.tanh", 12), ("aten.erf", 12), ("aten.cumsum", 1)]
    assert [s["at"] for s in entries[2]["sites"]] == [f"blocks.{i}/erf" + (f"_{i}" if i else "")
                                                      for i in range(12)]
    assert entries[3]["source"] == f"{HERE}:{_line_of('torch.cumsum(')}"
    assert info.value.as_json()["unsupported"] == entries


def test_first_kind_is_always_named_even_with_a_long_reason():
    sites = [UnsupportedOp("aten.view", f"layer{i}/view", "Tensor.view", "x" * 600, "/home/u/model.py:7")
             for i in range(5)]
    line = refusal_line("Net", group_sites(sites))
    assert len(line) <= 392 and line.startswith("model Net: unsupported ops: aten.view at layer0/view")
    assert "5 sites; /home/u/model.py:7)" in line and "xxx..." in line
    many = [UnsupportedOp(f"aten.op{k}", f"m{k}", f"torch.op{k}", "", "/home/u/model.py:9") for k in range(40)]
    line = refusal_line("Net", group_sites(many))
    assert len(line) <= 392 and line.endswith("more kinds")
    shown = line.count("aten.op")
    assert line.endswith(f", and {40 - shown} more kinds")


def test_source_line_prefers_the_users_frame():
    torch_file = str(Path(torch.__file__).parent / "nn" / "modules" / "module.py")
    timm_file = "/venv/lib/python3.11/site-packages/timm/layers/norm_act.py"
    tv_file = "/venv/lib/python3.11/site-packages/torchvision/models/convnext.py"
    trace = (f'File "/home/u/model.py", line 12, in forward\n'
             f'File "{torch_file}", line 1775, in _call_impl\n'
             f'File "{timm_file}", line 136, in forward\n')
    assert source_line(trace) == "/home/u/model.py:12"
    assert source_line(f'File "{tv_file}", line 62, in forward\nFile "{torch_file}", line 1, in x') \
        == f"{tv_file}:62"
    assert source_line(f'File "{torch_file}", line 1, in x') == "" and source_line(None) == ""


def test_a_torch_export_program_refusal_is_grouped(tmp_path):
    from catdeploy.capture.exported import load_exported_model

    class Odd(nn.Module):
        def forward(self, x):
            return torch.erf(x) + torch.erf(x * x)

    torch.export.save(torch.export.export(Odd().eval(), (torch.randn(1, 3, 8, 8),)), tmp_path / "o.pt2")
    with pytest.raises(CaptureRefused) as info:
        load_exported_model(tmp_path / "o.pt2")
    assert str(info.value).startswith(f"model {tmp_path / 'o.pt2'}: unsupported ops: aten.erf at ")
    assert [(e["kind"], e["count"]) for e in info.value.entries] == [("aten.erf", 2)]
    assert info.value.entries[0]["source"] == f"{HERE}:{_line_of('torch.erf(x) + torch.erf(x * x)')}"


MODEL_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.ModuleList([nn.Conv2d(3, 3, 3, padding=1) for _ in range(10)])
            self.fc = nn.Linear(3, 10)

        def forward(self, x):
            for conv in self.convs:
                x = torch.tanh(conv(x)) * torch.erf(x)
            x = torch.logsumexp(x, dim=1, keepdim=True).expand(-1, 3, -1, -1)
            return self.fc(x.mean((2, 3)))


    def build():
        return Net()
''')


def test_cli_refusal_line_and_json_list(tmp_path):
    (tmp_path / "model.py").write_text(MODEL_PY)
    namespace: dict = {}
    exec(compile(MODEL_PY, str(tmp_path / "model.py"), "exec"), namespace)
    torch.save(namespace["build"]().state_dict(), tmp_path / "w.pt")
    args = ["calibrate", f"{tmp_path / 'model.py'}:build", "--weights", str(tmp_path / "w.pt"),
            "--data", "digits", "-o", str(tmp_path / "m.qg")]
    runner = CliRunner()

    plain = runner.invoke(app, args)
    line = one_line_error(plain, "unsupported ops: aten.tanh at tanh, tanh_1, tanh_2, ... (torch.tanh; 10 sites; "
                          f"{tmp_path / 'model.py'}:14)")
    assert len(line) <= 400 and plain.stdout == ""

    result = runner.invoke(app, args + ["--json"])
    assert one_line_error(result) == line
    doc = json.loads(result.stdout)
    assert doc["error"] == line[len("error: "):]
    kinds = {e["kind"]: e for e in doc["unsupported"]}
    assert kinds["aten.tanh"]["count"] == 10 and kinds["aten.erf"]["count"] == 10
    assert len(kinds["aten.erf"]["sites"]) == 10
    assert kinds["aten.erf"]["sites"][9] == {"at": "erf_9", "call": "torch.erf", "reason": "",
                                             "source": f"{tmp_path / 'model.py'}:14"}
    assert any(k.startswith("aten.logsumexp") for k in kinds) and "aten.expand" in kinds
    assert not (tmp_path / "m.qg").exists()


def test_a_refusal_is_a_user_error():
    assert issubclass(CaptureRefused, UserError)


# ---------------------------------------------------------------------------------------------
# every refusal path of capture: one line of at most 400 characters ("error: " included) naming
# the op kind, its count, its first site and the line of this file that made the call

class _Fn(nn.Module):
    def __init__(self, fn, channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 1)
        self.fn = fn
        self.register_buffer("scale", torch.full((1, channels, 1, 1), 0.5))

    def forward(self, x):
        return self.fn(self.conv(x), self)   # refusal: the call of a program's lambda


class _Gate(nn.Module):
    def forward(self, x):
        s = torch.sigmoid(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return x * s.view(-1, 3, 1, 1), s     # refusal: vector read outside the gate


class _ManyConstants(nn.Module):
    """30 blocks, each with a constant operand: the line names the kind once."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_Fn(lambda x, m: x * 0.5 + x) for _ in range(30)])  # refusal: x * 0.5

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


# (model, op kind, first site, the tag of the line that made the call)
REFUSALS = {
    "unknown_op": (lambda: _Fn(lambda x, m: torch.erf(x)),  # refusal: unknown op
                   "aten.erf", "erf", "refusal: unknown op"),
    "refused_argument": (lambda: _Fn(lambda x, m: torch.clamp(x, 2.0, 1.0)),  # refusal: min above max
                         "aten.clamp", "clamp", "refusal: min above max"),
    "clamp_without_bound": (lambda: _Fn(lambda x, m: x.clamp(float("-inf"), float("inf"))),  # refusal: no bound
                            "aten.clamp", "clamp", "refusal: no bound"),
    "scalar_constant": (lambda: _Fn(lambda x, m: x * 2.0),  # refusal: scalar constant
                        "aten.mul", "mul", "refusal: scalar constant"),
    "many_scalar_constants": (_ManyConstants, "aten.mul", "blocks.0/mul", "refusal: x * 0.5"),
    "subtraction": (lambda: _Fn(lambda x, m: x - m.conv(x)),  # refusal: subtraction
                    "aten.sub", "sub", "refusal: subtraction"),
    "reshape": (lambda: _Fn(lambda x, m: x.reshape(1, 3, 16, 4)),  # refusal: reshape
                "aten.view", "reshape", "refusal: reshape"),
    "transpose": (lambda: _Fn(lambda x, m: x.transpose(2, 3)),  # refusal: transpose
                  "aten.transpose", "transpose", "refusal: transpose"),
    "vector_reshape": (_Gate, "aten.view", "view", "refusal: vector read outside the gate"),
    "in_place_on_a_view": (lambda: _Fn(lambda x, m: (x[:, :1].relu_(), x + x)[1]),  # refusal: in place on a view
                           "aten.relu_", "relu_", "refusal: in place on a view"),
    "several_tensors": (lambda: _Fn(lambda x, m: torch.tensor_split(x, 3, 1)[0]),  # refusal: several tensors
                        "aten.slice", "tensor_split", "refusal: several tensors"),
    "split_refused": (lambda: _Fn(lambda x, m: torch.split(x, 1, dim=0)[0]),  # refusal: split on the batch
                      "aten.split", "split", "refusal: split on the batch"),
    "integer_result": (lambda: _Fn(lambda x, m: x * x.argmax(1, keepdim=True)),  # refusal: integer result
                       "aten.argmax", "argmax", "refusal: integer result"),
}
# torch.export programs (.pt2): the aten ops left over when the program is raised (a program's
# stack trace ends in the module's forward, the line that calls the lambda)
PROGRAM_REFUSALS = {
    "program_unknown_op": (lambda: _Fn(lambda x, m: torch.erf(x)),
                           "aten.erf", "erf", "refusal: the call of a program's lambda"),
    "program_stored_operand": (lambda: _Fn(lambda x, m: x * m.scale),
                               "aten.mul", "mul", "refusal: the call of a program's lambda"),
    "program_scalar_constant": (lambda: _Fn(lambda x, m: x * 2.0),
                                "aten.mul", "mul", "refusal: the call of a program's lambda"),
}


def _assert_grouped(message: str, model_name: str, kind: str, site: str, tag: str) -> None:
    assert "\n" not in message and len("error: " + message) <= 400, message
    assert message.startswith(f"model {model_name}: unsupported ops: {kind} at {site}"), message
    first = message.split("unsupported ops: ", 1)[1].split("), ")[0]
    assert re.search(r"; \d+ sites?; ", first), message
    assert f"; {HERE}:{_line_of(tag)})" in first, message


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_every_capture_refusal_is_one_grouped_line(case):
    build, kind, site, tag = REFUSALS[case]
    model = build()
    with pytest.raises(CaptureRefused) as info:
        capture(model, (1, 3, 8, 8))
    _assert_grouped(str(info.value), type(model).__name__, kind, site, tag)
    assert info.value.entries[0]["count"] == (30 if case == "many_scalar_constants" else 1)


@pytest.mark.parametrize("case", sorted(PROGRAM_REFUSALS))
def test_every_program_refusal_is_one_grouped_line(case, tmp_path):
    from catdeploy.capture.exported import load_exported_model

    build, kind, site, tag = PROGRAM_REFUSALS[case]
    torch.export.save(torch.export.export(build().eval(), (torch.randn(1, 3, 8, 8),)), tmp_path / "p.pt2")
    with pytest.raises(CaptureRefused) as info:
        capture(load_exported_model(tmp_path / "p.pt2"), (1, 3, 8, 8))
    _assert_grouped(str(info.value), str(tmp_path / "p.pt2") if case != "program_scalar_constant" else "p",
                    kind, site, tag)
