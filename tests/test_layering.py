"""Imports in catdeploy/ only go down the ranks of docs/architecture.md, inside functions too.

Every import is read from the source (ast), so an import inside a function, a relative import and
``from catdeploy import api`` (the module catdeploy.api) all count. A module whose package has no
rank fails: a new package must be given one here. The CLI has its own rule: a command module of
catdeploy/cli imports no other command module, and cli/app.py imports none.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "catdeploy"

# rank -> packages or modules; an import may only go to the same or a lower rank.
RANK_TABLE: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("catdeploy.ir", "catdeploy.errors", "catdeploy.util_io")),
    (1, ("catdeploy.capture", "catdeploy.data", "catdeploy.assets")),
    (2, ("catdeploy.quant",)),
    (3, ("catdeploy.lower", "catdeploy.export")),
    (4, ("catdeploy.integer",)),
    (5, ("catdeploy.cat", "catdeploy.check", "catdeploy.mixed")),
    (6, ("catdeploy.api",)),
    (7, ("catdeploy.pipeline", "catdeploy.quantized_model", "catdeploy.demo", "catdeploy.train")),
    (8, ("catdeploy.report", "catdeploy.cli")),
)
ROOT_RANK = 9  # catdeploy/__init__.py: re-exports the Python API, above everything
CLI_PACKAGE = "catdeploy.cli"
CLI_CORE = ("app", "__init__", "__main__")  # cli modules that are not command modules


@dataclass(frozen=True)
class Import:
    path: Path      # the importing file
    line: int
    importer: str   # dotted module name of the importing file
    target: str     # dotted name of the imported module


def module_name(path: Path, root: Path) -> str:
    """catdeploy/quant/plan.py -> catdeploy.quant.plan; a package's __init__.py -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str, root: Path) -> bool:
    """True if `name` is a module or package (namespace packages too) in the source tree under `root`."""
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir()


def _resolve_relative(module: str | None, level: int, importer: str, is_package: bool) -> str:
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    if level > 1:
        package = package[:len(package) - (level - 1)]
    return ".".join(package + ([module] if module else []))


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import of `path` (module level and inside functions/classes), as imported modules.

    ``from X import Y`` imports the module X.Y when X.Y is a module of the tree, else X. Calls of
    ``importlib.import_module("...")`` with a literal name count as imports too.
    """
    importer = module_name(path, root)
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = (node.module or "") if node.level == 0 else _resolve_relative(
                node.module, node.level, importer, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if alias.name != "*" and is_module(sub, root) else base)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) == "import_module")):
            targets = [node.args[0].value]
        found += [Import(path, node.lineno, importer, t) for t in dict.fromkeys(targets)]
    return found


def rank_of(module: str, table=RANK_TABLE, root_package: str = PACKAGE) -> int | None:
    """The rank of the longest entry of `table` that is `module` or a package above it."""
    if module == root_package:
        return ROOT_RANK
    best: tuple[int, int] | None = None  # (length of the entry, rank)
    for rank, names in table:
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > best[0]):
                best = (len(name), rank)
    return None if best is None else best[1]


def _where(imp: Import, root: Path) -> str:
    return f"{imp.path.relative_to(root)}:{imp.line}"


def _source_files(root: Path, package: str) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def layering_violations(root: Path, package: str = PACKAGE, table=RANK_TABLE) -> list[str]:
    """One line per unranked module and per import that goes up the ranks, under root/package."""
    problems: list[str] = []
    for path in _source_files(root, package):
        importer = module_name(path, root)
        importer_rank = rank_of(importer, table, package)
        if importer_rank is None:
            problems.append(f"{path.relative_to(root)}: module {importer} has no rank (add its package "
                            f"to RANK_TABLE in tests/test_layering.py)")
            continue
        for imp in imports_of(path, root):
            if imp.target != package and not imp.target.startswith(package + "."):
                continue  # numpy, torch, catrt, ...
            target_rank = rank_of(imp.target, table, package)
            if target_rank is None:
                problems.append(f"{_where(imp, root)}: {importer} (rank {importer_rank}) imports "
                                f"{imp.target}, which has no rank")
            elif target_rank > importer_rank:
                problems.append(f"{_where(imp, root)}: {importer} (rank {importer_rank}) imports "
                                f"{imp.target} (rank {target_rank})")
    return problems


def cli_violations(root: Path, cli_package: str = CLI_PACKAGE) -> list[str]:
    """One line per import of a command module (or of the cli package, whose __init__ imports them
    all) by another command module or by cli/app.py."""
    cli_dir = root.joinpath(*cli_package.split("."))
    commands = {p.stem for p in cli_dir.glob("*.py") if p.stem not in CLI_CORE}
    problems: list[str] = []
    for path in sorted(cli_dir.glob("*.py")):
        if path.stem not in commands and path.stem != "app":
            continue
        for imp in imports_of(path, root):
            if imp.target == cli_package:
                problems.append(f"{_where(imp, root)}: {imp.importer} imports {cli_package} "
                                f"(its __init__ imports every command module)")
                continue
            if not imp.target.startswith(cli_package + "."):
                continue
            imported = imp.target[len(cli_package) + 1:].split(".")[0]
            if imported in commands and imported != path.stem:
                problems.append(f"{_where(imp, root)}: {imp.importer} imports the command module "
                                f"{imp.target}")
    return problems


def import_cycles(root: Path, package: str = PACKAGE) -> list[str]:
    """One line per import circle among the modules under root/package (imports inside functions
    count): each strongly connected component of the import graph with more than one module."""
    graph: dict[str, set[str]] = {}
    for path in _source_files(root, package):
        importer = module_name(path, root)
        graph.setdefault(importer, set()).update(
            imp.target for imp in imports_of(path, root)
            if imp.target.startswith(package + ".") and imp.target != importer)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return ["import circle: " + " <-> ".join(component) for component in sorted(components)]


# ---------------------------------------------------------------------------- the real tree

def test_imports_go_down_the_ranks():
    problems = layering_violations(REPO_ROOT)
    assert not problems, "imports that go up the ranks or modules without a rank:\n" + "\n".join(problems)


def test_no_import_circle():
    assert import_cycles(REPO_ROOT) == []


def test_cli_command_modules_import_no_command_module():
    problems = cli_violations(REPO_ROOT)
    assert not problems, "command modules importing command modules:\n" + "\n".join(problems)


def test_every_rank_table_entry_exists():
    """A typo in the table would rank nothing; catdeploy.integer may not exist yet."""
    missing = [name for _, names in RANK_TABLE for name in names
               if name != "catdeploy.integer" and not is_module(name, REPO_ROOT)]
    assert not missing


# ---------------------------------------------------------------------------- the checker itself

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    """A fake source tree under tmp_path: `files` (path -> text), every folder a package."""
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in [tmp_path / PACKAGE, *(tmp_path / PACKAGE).rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
    return tmp_path


def test_checker_flags_an_upward_import_inside_a_function(tmp_path):
    root = _tree(tmp_path, {
        "catdeploy/api.py": "def y():\n    return 1\n",
        "catdeploy/quant/x.py": "import numpy\n\n\ndef f():\n    from catdeploy.api import y\n    return y()\n",
    })
    assert layering_violations(root) == [
        "catdeploy/quant/x.py:5: catdeploy.quant.x (rank 2) imports catdeploy.api (rank 6)"]


@pytest.mark.parametrize("statement, line", [
    ("from catdeploy import api", "catdeploy.api (rank 6)"),
    ("import catdeploy.api", "catdeploy.api (rank 6)"),
    ("from ... import api", "catdeploy.api (rank 6)"),
    ("from ...api import y", "catdeploy.api (rank 6)"),
    ("from ...cat.fit import fit", "catdeploy.cat.fit (rank 5)"),
    ("from ...cat import fit", "catdeploy.cat.fit (rank 5)"),
    ("from catdeploy import quantize", "catdeploy (rank 9)"),
    ("from catdeploy.nsp import flat", "catdeploy.nsp.flat (rank 8)"),
    ("import importlib\nimportlib.import_module('catdeploy.api')", "catdeploy.api (rank 6)"),
])
def test_checker_resolves_every_form_of_import(tmp_path, statement, line):
    root = _tree(tmp_path, {
        "catdeploy/api.py": "y = 1\n",
        "catdeploy/cat/fit.py": "def fit():\n    pass\n",
        "catdeploy/nsp/flat.py": "x = 1\n",
        "catdeploy/quant/sub/x.py": f"def f():\n    {statement.replace(chr(10), chr(10) + '    ')}\n",
    })
    (tmp_path / "catdeploy/nsp/__init__.py").unlink()  # a namespace package, as catdeploy/quant is
    table = RANK_TABLE + ((8, ("catdeploy.nsp",)),)
    (problem,) = layering_violations(root, table=table)
    assert problem.startswith("catdeploy/quant/sub/x.py:")
    assert problem.endswith(f"catdeploy.quant.sub.x (rank 2) imports {line}")


def test_checker_flags_an_unranked_module(tmp_path):
    root = _tree(tmp_path, {"catdeploy/newpkg/thing.py": "x = 1\n",
                            "catdeploy/data/y.py": "from catdeploy.newpkg.thing import x\n"})
    problems = layering_violations(root)
    assert problems[0] == ("catdeploy/data/y.py:1: catdeploy.data.y (rank 1) imports catdeploy.newpkg.thing, "
                           "which has no rank")
    assert problems[1].startswith("catdeploy/newpkg/__init__.py: module catdeploy.newpkg has no rank")
    assert problems[2].startswith("catdeploy/newpkg/thing.py: module catdeploy.newpkg.thing has no rank")
    assert len(problems) == 3


def test_checker_accepts_equal_and_lower_ranks(tmp_path):
    root = _tree(tmp_path, {
        "catdeploy/errors.py": "class UserError(Exception):\n    pass\n",
        "catdeploy/capture/c.py": "z = 1\n",
        "catdeploy/data/a.py": "from catdeploy.errors import UserError\nfrom . import b\n\n\n"
                               "def f():\n    from catdeploy.capture.c import z\n    import catdeploy.data.b\n",
        "catdeploy/data/b.py": "from .a import f\n",
        "catdeploy/lower/l.py": "from catdeploy.export import e\n",
        "catdeploy/export/e.py": "from ..lower import l\n",
        "catdeploy/__init__.py": "def __getattr__(name):\n    from catdeploy import api\n",
        "catdeploy/api.py": "import numpy\nfrom catdeploy.data import a\n",
    })
    assert layering_violations(root) == []


def test_cli_checker(tmp_path):
    root = _tree(tmp_path, {
        "catdeploy/cli/__init__.py": "from catdeploy.cli.app import main\nfrom catdeploy.cli import one, two\n",
        "catdeploy/cli/__main__.py": "from catdeploy.cli import main\n",
        "catdeploy/cli/app.py": "def main():\n    from .two import g\n",
        "catdeploy/cli/one.py": "from catdeploy.cli.app import main\n\n\ndef f():\n    from catdeploy.cli import two\n",
        "catdeploy/cli/two.py": "from catdeploy.cli import app\nfrom catdeploy.cli import main\n",
    })
    assert cli_violations(root) == [
        "catdeploy/cli/app.py:2: catdeploy.cli.app imports the command module catdeploy.cli.two",
        "catdeploy/cli/one.py:5: catdeploy.cli.one imports the command module catdeploy.cli.two",
        "catdeploy/cli/two.py:2: catdeploy.cli.two imports catdeploy.cli (its __init__ imports every "
        "command module)",
    ]


def test_cycle_checker_flags_a_circle_inside_functions(tmp_path):
    root = _tree(tmp_path, {
        "catdeploy/data/a.py": "def f():\n    from catdeploy.data.b import g\n    return g()\n",
        "catdeploy/data/b.py": "def g():\n    from catdeploy.data import a\n    return a\n",
        "catdeploy/data/c.py": "from catdeploy.data.b import g\n",
    })
    assert import_cycles(root) == ["import circle: catdeploy.data.a <-> catdeploy.data.b"]
