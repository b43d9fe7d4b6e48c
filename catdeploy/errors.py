"""Errors that the CLI reports as one line with exit code 2."""


class UserError(Exception):
    """Bad input or usage. The message is one line that names the culprit (file, option, op, layer)."""


class CheckFailed(Exception):
    """A check that ran and failed (e.g. not bit-exact); the CLI exits with 1."""
