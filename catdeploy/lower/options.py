"""How a QuantizedGraph is lowered and packed: one frozen record, built once by the CLI or the API."""
from __future__ import annotations

from dataclasses import dataclass

from catdeploy.errors import UserError

IO_MODES = ("int8", "float")


@dataclass(frozen=True)
class LoweringOptions:
    """io: "int8" model inputs / outputs, or "float" (QUANTIZE / DEQUANTIZE at the edges).
    int4_weights: pack weights of <= 4 bit whose codes fit [-8, 7] as TFLite INT4 (symmetric grids,
    and 2-bit asymmetric ones). int2_weights: pack 2-bit FULLY_CONNECTED weights whose codes fit
    [-2, 1] as TFLite INT2 (FC v14; symmetric 2-bit grids), before int4_weights."""

    io: str = "int8"
    int4_weights: bool = False
    int2_weights: bool = False

    def __post_init__(self) -> None:
        if self.io not in IO_MODES:
            raise UserError(f"--io {self.io!r} is not one of {', '.join(IO_MODES)}")


DEFAULT_LOWERING = LoweringOptions()
