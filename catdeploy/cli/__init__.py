"""The ``catdeploy`` command line (docs: cli.md). Thin: parse, call a catdeploy module, print.

    app.py         the typer app, @command (errors -> one line, exit codes), shared options, main()
    train_eval.py  train, eval
    quantize.py    calibrate, export
    check.py       verify, inspect (and eval of a .tflite / .qg)
    demo.py        demo
    report.py      report

Importing this package registers every command on ``app``.
"""
from catdeploy.cli.app import (EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_USER_ERROR, DataOption,  # noqa: F401
                               DataRootOption, JsonOption, app, command, emit_json, main, report_errors)
from catdeploy.cli import train_eval, quantize, check, demo, report  # noqa: E402,F401  (registration)

__all__ = ["app", "main", "command", "emit_json", "report_errors"]
