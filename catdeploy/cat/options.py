"""What the corrections after calibration do (CAT on the logits, the in-network affine): one frozen
record, built once by the CLI or `catdeploy.quantize`, checked once."""
from __future__ import annotations

from dataclasses import dataclass

from catdeploy.errors import UserError


@dataclass(frozen=True)
class CatOptions:
    """enabled: fit CAT (--cat); affine_layers: the per-channel affine inside the network
    (--affine-layers). clusters / alpha None: selected on the held-out part of the calibration
    images; views: augmented views per fit image; seed: of the held-out split and the fit."""

    enabled: bool = False
    clusters: int | None = None
    alpha: float | None = None
    views: int = 0
    affine_layers: bool = False
    held_out_fraction: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.views < 0:
            raise UserError(f"--cat-views {self.views}: must be at least 0")
        if self.clusters is not None and self.clusters < 1:
            raise UserError(f"--clusters {self.clusters}: must be at least 1")
        if self.alpha is not None and not 0.0 < self.alpha <= 1.0:
            raise UserError(f"--alpha {self.alpha}: must be in (0, 1]")


NO_CAT = CatOptions()


def parse_clusters(value: str) -> int | None:
    """--clusters as an integer (checked by CatOptions), or None for 'auto'."""
    if value == "auto":
        return None
    try:
        k = int(value)
    except ValueError:
        raise UserError(f"--clusters {value!r}: expected a positive integer or 'auto'") from None
    return k


def parse_alpha(value: str) -> float | None:
    """--alpha as a number (checked by CatOptions), or None for 'auto'."""
    if value == "auto":
        return None
    try:
        a = float(value)
    except ValueError:
        raise UserError(f"--alpha {value!r}: expected a number in (0, 1] or 'auto'") from None
    return a
