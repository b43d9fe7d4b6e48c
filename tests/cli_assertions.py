"""Assertions shared by CLI tests."""
from __future__ import annotations


def one_line_error(result, *fragments) -> str:
    """A typer CliRunner result that failed as bad input: exit 2, one stderr line starting with
    "error: " that contains every fragment; returns that line."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
