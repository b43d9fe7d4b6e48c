"""The ``catdeploy`` command line's core (docs: cli.md): the typer app, the ``@command`` decorator
with its error mapping, options shared by several command groups, the entry point. Commands live
in one module per group (catdeploy/cli/*.py) and import only this module, never each other's
registration, so there is no import circle; catdeploy/cli/__init__.py imports them all.

Conventions for every command (add new ones with ``@command(...)``):
- ``--json`` prints exactly one JSON object on stdout; logs and progress bars go to stderr;
- UserError -> "error: <one line>" on stderr, exit 2; with ``--json`` a UserError that carries its
  details as data (``as_json()``: a capture refusal's every unsupported op and site) also prints
  them as the JSON object on stdout; CheckFailed -> exit 1; KeyboardInterrupt -> exit 130.
  Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import contextlib

import functools
import json
import sys
from typing import Any, Callable

import typer

from catdeploy.errors import CheckFailed, UserError

EXIT_CHECK_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="catdeploy",
    help="Post-training 2/4-bit quantization with CAT for CNNs (torchvision, your own nn.Module or a "
         "torch.export .pt2), exported as bit-exact integer TFLite graphs.",
    epilog="[bold]Examples[/bold]\n\n"
           "  catdeploy demo\n\n"
           "  catdeploy calibrate resnet18 --weights r18.pt --data fashion-mnist --bits w2a4 --method qdrop --cat -o r18.qg\n\n"
           "  catdeploy export r18.qg --target tflite -o r18.tflite --golden 16\n\n"
           "  catdeploy verify r18.tflite --data fashion-mnist:test --interpreter all --resolver all\n\n"
           "  catdeploy export my_net.py:build --weights my_net.pt --data imagefolder:photos --input-size 96 -o my_net.tflite\n\n"
           "  catdeploy report runs/r18 --data fashion-mnist\n\n"
           "Each command's --help has its own examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _one_line(message: object) -> str:
    return " ".join(str(message).split()) or "unknown error"


def report_errors(func: Callable) -> Callable:
    """Map UserError / CheckFailed / KeyboardInterrupt to a one-line message and exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            if kwargs.get("json_out") and callable(getattr(exc, "as_json", None)):
                emit_json(exc.as_json())
            raise typer.Exit(EXIT_USER_ERROR) from None
        except CheckFailed as exc:
            print(f"check failed: {_one_line(exc)}", file=sys.stderr)
            raise typer.Exit(EXIT_CHECK_FAILED) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if not raised_by_interrupt(exc):
                raise
            print("interrupted", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def raised_by_interrupt(exc: BaseException) -> bool:
    """Whether Ctrl-C caused ``exc``: an extension module whose import is interrupted (scipy's
    HiGHS wrapper, for one) reports ``ImportError: initialization failed`` with the
    KeyboardInterrupt as its cause."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def command(name: str, examples: list[str], **kwargs: Any) -> Callable:
    """Register ``func`` as a subcommand with error handling and an Examples section in --help."""
    epilog = "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  $ {e}" for e in examples)

    def decorate(func: Callable) -> Callable:
        return app.command(name, epilog=epilog, **kwargs)(report_errors(func))

    return decorate


def emit_json(obj: dict) -> None:
    """The single JSON object of a ``--json`` run, on stdout."""
    sys.stdout.write(json.dumps(obj, sort_keys=False) + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    """Progress and notes of a command: stderr, so that --json keeps stdout to one object."""
    print(message, file=sys.stderr)


def parse_names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """A comma-separated list of names, each one of `allowed`; "all" is every one of them."""
    if value == "all":
        return list(allowed)
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise UserError(f"{option}: name at least one of {', '.join(allowed)}, all")
    for v in items:
        if v not in allowed:
            raise UserError(f"{option} {v!r} is not one of {', '.join(allowed)}, all")
    return items


DataOption = typer.Option(..., "--data", "-d", help="fashion-mnist[:train|:test], "
                          "digits[:train|:test], imagefolder:PATH or npz:PATH.")
DataRootOption = typer.Option(None, "--data-root", help="Directory holding the Fashion-MNIST IDX "
                              "files (default /usr/share/datasets/fashion-mnist).")
InputSizeOption = typer.Option(None, "--input-size", help="Model input H or HxW in pixels (default: the "
                               "checkpoint's, else 32).")
MeanOption = typer.Option(None, "--mean", help="Per-channel mean, 1 or 3 comma-separated values in [0, 1] "
                          "units (default: the checkpoint's, the dataset's constants, or the data's own).")
StdOption = typer.Option(None, "--std", help="Per-channel std, with --mean.")
GrayscaleOption = typer.Option(None, "--grayscale/--rgb", help="1-channel input (RGB data converted to luma) "
                               "or 3 (grey data replicated); default: the checkpoint's, else RGB.")
JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout (logs go to stderr).")



def main() -> None:
    """Console-script entry point."""
    app(prog_name="catdeploy")


@contextlib.contextmanager
def reconstruction_progress(method: str):
    """A rich progress bar on stderr (unit, iteration, loss) for reconstruction methods; None for rtn."""
    if method == "rtn":
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.4g}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(method, total=1, loss=float("nan"))

        def update(step) -> None:
            bar.update(task, description=f"{method} unit {step.unit_index + 1}/{step.units} {step.unit}",
                       completed=step.iteration, total=step.iterations, loss=step.loss)
        yield update
