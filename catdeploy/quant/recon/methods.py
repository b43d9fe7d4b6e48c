"""Reconstruction methods, presets and per-architecture defaults (cat-method.md §1).

    adaround  layer-wise units, squared error of the layer output, AdaRound rounding only
    brecq     block units (residual-closed), squared error, AdaRound + learned activation steps
    qdrop     brecq + QDrop: each activation (and the unit input) stays float with probability 0.5
    pdquant   qdrop + prediction-difference loss KL(softmax(z_fp / T) || softmax(z_q / T)) / 0.1
              through the remaining full-precision layers, and distribution correction of the
              unit's full-precision input (BatchNorm statistics)
"""
from __future__ import annotations

from dataclasses import dataclass

from catdeploy.errors import UserError


@dataclass(frozen=True)
class MethodConfig:
    name: str
    granularity: str          # "layer" | "block"
    learn_act: bool           # learn per-tensor activation steps (LSQ-style, Adam lr 4e-5, cosine)
    drop_prob: float          # QDrop: probability that an activation stays float during training
    prediction_difference: bool


METHOD_CONFIGS = {
    "adaround": MethodConfig("adaround", "layer", False, 0.0, False),
    "brecq": MethodConfig("brecq", "block", True, 0.0, False),
    "qdrop": MethodConfig("qdrop", "block", True, 0.5, False),
    "pdquant": MethodConfig("pdquant", "block", True, 0.5, True),
}
RECON_METHODS = tuple(METHOD_CONFIGS)


@dataclass(frozen=True)
class Preset:
    name: str
    iterations: int           # optimisation steps per unit
    batch_size: int
    correction_steps: int     # PD-Quant distribution-correction Adam steps per unit (published: 500)


PRESETS = {
    "fast": Preset("fast", 300, 32, 50),
    "default": Preset("default", 2000, 32, 500),
    "paper": Preset("paper", 20000, 32, 500),
}


@dataclass(frozen=True)
class Hyper:
    """Published settings (AdaRound / BRECQ / QDrop / PD-Quant code bases)."""

    round_weight: float = 0.01      # rounding regulariser weight (ResNet, RegNetX)
    temperature: float = 4.0        # PD loss temperature T
    pd_divisor: float = 0.1         # PD loss is KL / 0.1
    beta_start: float = 20.0        # regulariser exponent, annealed to beta_end
    beta_end: float = 2.0
    warmup: float = 0.2             # fraction of iterations without the regulariser
    weight_lr: float = 3e-3         # Adam on AdaRound's V
    act_lr: float = 4e-5            # Adam on the activation steps, cosine-annealed


def hyper_for(model: str | None) -> Hyper:
    """Per-architecture knobs: rounding weight 0.01 (ResNet, RegNetX), 0.1 (MobileNetV2),
    0.2 (MnasNet); T = 4 (ResNet, RegNetX) or 1 (MobileNetV2, MnasNet). Other models: ResNet's."""
    name = (model or "").lower()
    if name.startswith("mobilenet_v2"):
        return Hyper(round_weight=0.1, temperature=1.0)
    if name.startswith("mnasnet"):
        return Hyper(round_weight=0.2, temperature=1.0)
    return Hyper()


def method_config(method: str) -> MethodConfig:
    try:
        return METHOD_CONFIGS[method]
    except KeyError:
        raise UserError(f"--method {method!r} is not one of rtn, {', '.join(RECON_METHODS)}") from None


def preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"--preset {name!r} is not one of {', '.join(PRESETS)}") from None
