"""What the corrections after calibration do (CAT on the logits, the in-network affine): one frozen
record, built once by the CLI or `catdeploy.quantize`, checked once."""
from __future__ import annotations

from dataclasses import dataclass

from catdeploy.errors import UserError


DEFAULT_CAT_SAMPLES = 4096   # CAT images (train images beyond the calibration draw)
DEFAULT_MAX_COST = 0.05      # a head may add 5 % latency / file size unless it gains >= 1 point


@dataclass(frozen=True)
class CatOptions:
    """enabled: fit CAT (--cat); affine_layers: the per-channel affine inside the network
    (--affine-layers). samples: CAT images (--cat-samples; None: the whole train split), train
    images the calibration did not take, or the calibration images where no dataset is given.
    clusters / alpha None: selected by cross-fitting over `folds` folds of the CAT images
    (cat/select.py); views: augmented views per fit image; max_cost: the largest head (modelled
    latency share or file share) applied without a gain of PAYS_FOR_ITSELF points; seed: of the
    folds, the draw and the fit."""

    enabled: bool = False
    clusters: int | None = None
    alpha: float | None = None
    views: int = 0
    affine_layers: bool = False
    samples: int | None = DEFAULT_CAT_SAMPLES
    folds: int = 5
    max_cost: float = DEFAULT_MAX_COST
    seed: int = 0

    def __post_init__(self) -> None:
        if self.views < 0:
            raise UserError(f"--cat-views {self.views}: must be at least 0")
        if self.clusters is not None and self.clusters < 1:
            raise UserError(f"--clusters {self.clusters}: must be at least 1")
        if self.alpha is not None and not 0.0 < self.alpha <= 1.0:
            raise UserError(f"--alpha {self.alpha}: must be in (0, 1]")
        if self.samples is not None and self.samples < 16:
            raise UserError(f"--cat-samples {self.samples}: must be at least 16 (or 'all')")
        if not 2 <= self.folds <= 20:
            raise UserError(f"--cat-folds {self.folds}: must be between 2 and 20")
        if not 0.0 <= self.max_cost <= 1.0:
            raise UserError(f"--cat-max-cost {self.max_cost}: must be a fraction in [0, 1]")


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


def parse_cat_samples(value: str) -> int | None:
    """--cat-samples as an integer (checked by CatOptions), or None for 'all'."""
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise UserError(f"--cat-samples {value!r}: expected a positive integer or 'all'") from None
