"""The CLI is a package of one module per command group whose imports form no circle (issue 11)."""
from __future__ import annotations

import ast
from pathlib import Path

from typer.testing import CliRunner

from catdeploy.cli import app

CLI_DIR = Path(__file__).resolve().parents[2] / "catdeploy" / "cli"
GROUPS = {"train_eval": {"train", "eval"}, "quantize": {"calibrate", "export", "sensitivity"}, "check": {"verify", "inspect"},
          "demo": {"demo"}, "report": {"report"}}


def cli_imports(path: Path) -> set[str]:
    """catdeploy.cli.X modules that `path` imports (anywhere in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("catdeploy.cli."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.ImportFrom) and node.module == "catdeploy.cli":
            found |= {a.name for a in node.names}
    return found


def test_cli_modules_import_no_circle():
    graph = {p.stem: cli_imports(p) for p in CLI_DIR.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert set(graph) == {"app"} | set(GROUPS)
    assert graph["app"] == set()  # the core knows no command module
    state: dict[str, str] = {}

    def visit(name: str, path: tuple) -> None:
        assert state.get(name) != "open", f"import circle: {' -> '.join(path + (name,))}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dep in graph.get(name, ()):
            visit(dep, path + (name,))
        state[name] = "done"

    for name in graph:
        visit(name, ())


def test_each_group_registers_its_commands():
    registered = {c.name: c.callback.__module__ for c in app.registered_commands}
    for group, commands in GROUPS.items():
        for command in commands:
            assert registered[command] == f"catdeploy.cli.{group}", (command, registered[command])
    assert set(registered) == set().union(*GROUPS.values())
    assert CliRunner().invoke(app, ["--help"]).exit_code == 0


def test_python_dash_m_runs_the_same_cli():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "catdeploy.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert all(name in proc.stdout for name in set().union(*GROUPS.values()))


def test_layout_doc_names_every_module():
    """docs/LAYOUT.md lists every package and top-level module of catdeploy/ (so the doc cannot rot)."""
    root = CLI_DIR.parent
    doc = (root.parent / "docs" / "LAYOUT.md").read_text()
    names = [p.name + "/" for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists()]
    names += [p.name for p in root.glob("*.py") if p.name != "__init__.py"]
    missing = [n for n in names if n not in doc]
    assert not missing, f"docs/LAYOUT.md does not name {missing}"


def test_check_package_imports_no_torch_at_module_level():
    """The interpreter worker (catdeploy.check.interpreters) must start where only numpy and an
    interpreter are installed (the aarch64 root under qemu)."""
    import subprocess
    import sys

    code = ("import sys, catdeploy.check.interpreters, catdeploy.check.verify; "
            "bad = [m for m in ('torch', 'tensorflow', 'torchvision') if m in sys.modules]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
