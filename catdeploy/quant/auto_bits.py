"""`--bits auto:wXaY` / `--bits auto --max-drop P`: the mixed-precision request, parsed and checked
(the search itself is catdeploy/mixed)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from catdeploy.errors import UserError

CANDIDATE_BITS = (2, 3, 4, 5, 6, 8)
AUTO_PREFIX = "auto"


@dataclass(frozen=True)
class AutoBits:
    """`--bits auto:wXaY` (X, Y may be fractional) or `--bits auto` with `--max-drop P`."""

    weight_bits: float | None = None    # X: average weight bits per parameter of the budget
    act_bits: float | None = None       # Y: with X, at most X * Y BOPs per MAC
    max_drop: float | None = None       # points of held-out top-1 below FP (with `auto` alone)

    def __str__(self) -> str:
        if self.max_drop is not None:
            return f"auto:maxdrop{self.max_drop:g}"
        return f"auto:w{self.weight_bits:g}a{self.act_bits:g}"


def is_auto(bits: str) -> bool:
    """True for `auto` and `auto:...` settings."""
    key = str(bits).strip().lower()
    return key == AUTO_PREFIX or key.startswith(AUTO_PREFIX + ":")


def parse_auto(bits: str, max_drop: float | None = None) -> AutoBits:
    """'auto:w2.5a4' -> AutoBits(2.5, 4.0); 'auto' needs max_drop; the widths lie in 2..8."""
    key = str(bits).strip().lower()
    if key == AUTO_PREFIX:
        if max_drop is None:
            raise UserError("--bits auto needs --max-drop P (or a budget: --bits auto:wXaY, e.g. auto:w4a4)")
        if not (math.isfinite(max_drop) and 0 <= max_drop <= 100):
            raise UserError(f"--max-drop {max_drop}: must be a number of points in 0..100")
        return AutoBits(max_drop=float(max_drop))
    if max_drop is not None:
        raise UserError("--max-drop goes with --bits auto (a budget auto:wXaY already fixes the widths' cost)")
    match = re.fullmatch(r"auto:w(\d+(?:\.\d+)?)a(\d+(?:\.\d+)?)", key)
    if match is None:
        raise UserError(f"--bits {bits!r} is not auto:wXaY (X, Y average bits in 2..8, e.g. auto:w4a4, auto:w2.5a4)")
    x, y = float(match.group(1)), float(match.group(2))
    for value, what in ((x, "weight"), (y, "activation")):
        if not 2 <= value <= 8:
            raise UserError(f"--bits {bits!r}: the average {what} width {value:g} is outside 2..8")
    return AutoBits(weight_bits=x, act_bits=y)
