"""What calibration does: one frozen record, built once by the CLI or `catdeploy.quantize` and
passed whole to the plan and the calibration stages."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from catdeploy.errors import UserError

METHODS = ("rtn", "adaround", "brecq", "qdrop", "pdquant")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class CalibrationOptions:
    """The plan (bits, convention, grids, observer, per-layer overrides) and the calibration
    (method, reconstruction preset / device / iterations, the seeded draw of `samples` images;
    None: the default, DEFAULT_CALIBRATION_SAMPLES or every image of smaller data)."""

    bits: str = "w4a4"
    method: str = "rtn"
    samples: int | None = None       # None: the default (an explicit count more than the data has is an error)
    seed: int = 0
    strict: bool = False
    convention: str = "default"      # default, paper or strict (strict=True is the same as "strict")
    symmetric_weights: bool = False
    observer: str = "lp"
    weight_overrides: Mapping[str, int] = field(default_factory=dict)   # LAYER_GLOB -> bits
    act_overrides: Mapping[str, int] = field(default_factory=dict)
    preset: str = "default"          # reconstruction preset: fast, default, paper
    device: str = "cpu"              # reconstruction device: cpu or cuda
    iterations: int | None = None    # reconstruction iterations per unit (None: the preset's)
    batch_size: int = 64             # images per batch of the RTN observers
    max_drop: float | None = None    # --bits auto --max-drop P: points of held-out top-1 below FP
    held_out: int = 512              # --bits auto: held-out train images (not calibration, never test)

    def __post_init__(self) -> None:
        from catdeploy.quant.auto_bits import is_auto, parse_auto

        if is_auto(self.bits):
            parse_auto(self.bits, self.max_drop)
            if self.weight_overrides or self.act_overrides:
                raise UserError("--bits auto chooses every layer's widths: leave out --weight-bits / --act-bits")
            if self.held_out < 64:
                raise UserError(f"--held-out {self.held_out}: mixed precision needs at least 64 held-out images")
        elif self.max_drop is not None:
            raise UserError("--max-drop goes with --bits auto")
        if self.samples is not None and self.samples < 1:
            raise UserError(f"--samples {self.samples}: must be at least 1")
        if self.iterations is not None and self.iterations < 1:
            raise UserError(f"--iters {self.iterations}: must be at least 1")
        if self.method not in METHODS:
            raise UserError(f"--method {self.method!r} is not one of {', '.join(METHODS)}")
        if self.method != "rtn":
            from catdeploy.quant.recon.methods import preset

            preset(self.preset)
            if self.device not in DEVICES:
                raise UserError(f"--device {self.device!r} is not one of {', '.join(DEVICES)}")

    @property
    def most_samples(self) -> int:
        """The most calibration images this draw takes (the data may have fewer under the default)."""
        from catdeploy.data.splits import DEFAULT_CALIBRATION_SAMPLES

        return DEFAULT_CALIBRATION_SAMPLES if self.samples is None else self.samples

    @property
    def mixed(self) -> bool:
        """True for `--bits auto...`: widths chosen by catdeploy/mixed before calibration."""
        from catdeploy.quant.auto_bits import is_auto

        return is_auto(self.bits)

    @property
    def reconstructs(self) -> bool:
        return self.method != "rtn"


def plan_for(graph, options: CalibrationOptions):
    """The QuantPlan of `graph` under `options`."""
    from catdeploy.quant.plan import make_plan

    return make_plan(graph, options.bits, strict=options.strict, convention=options.convention,
                     symmetric_weights=options.symmetric_weights, observer=options.observer,
                     weight_overrides=dict(options.weight_overrides), act_overrides=dict(options.act_overrides))
