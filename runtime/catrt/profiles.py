"""Arithmetic profiles: which integer arithmetic each op uses in one TFLite build + op resolver.

A Profile is data only; kernels read the fields they need. Today's profiles are the reference
kernels (OpResolverType.BUILTIN_REF) of the three pinned wheels, which agree on every op except
FULLY_CONNECTED (docs/tflite-int8-arithmetic.md §0.2, §2.4). Optimized (BUILTIN without
delegates), XNNPACK and Arm profiles are added by filling the same fields with other variants:
the field values below list the variants foreseen.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Union

from .errors import CatrtError
from .fixed_point import ROUNDINGS

# FULLY_CONNECTED requantization: a MultiplyByQuantizedMultiplier rounding, or
# "float64_rha": int32(round_half_away(double(acc) * double(s_in)*double(s_w[c])/double(s_out)))
# (LiteRT >= 1.3 reference kernel, commit 921360770).
FLOAT64_RHA = "float64_rha"
FC_REQUANTS = ROUNDINGS + (FLOAT64_RHA,)
# ADD: "ref" = reference_integer_ops::Add with the 20-bit left shift (§2.5);
# foreseen: "neon_fused" (optimized add.h under USE_NEON), "xnnpack".
ADD_ALGORITHMS = ("ref",)
# QUANTIZE float32 -> int8: "f32_divide_rha" = REF: round_half_away(float32(x / float32(s)));
# foreseen: "f64_divide_rha" (optimized, no USE_NEON), "reciprocal_rne" (USE_NEON / XNNPACK).
QUANTIZE_FLOAT_ALGORITHMS = ("f32_divide_rha",)


@dataclass(frozen=True)
class Profile:
    """The integer arithmetic of one interpreter build with one op resolver."""

    name: str
    interpreter: str            # "tflite_runtime" | "tensorflow" | "ai_edge_litert"
    interpreter_version: str
    resolver: str               # "BUILTIN_REF"; later "BUILTIN", "BUILTIN_WITHOUT_DEFAULT_..."
    description: str = ""
    conv_rounding: str = "dr_away"            # CONV_2D per-channel requantization
    depthwise_rounding: str = "dr_away"       # DEPTHWISE_CONV_2D
    fully_connected_requant: str = "dr_away"  # FULLY_CONNECTED, one of FC_REQUANTS
    mul_rounding: str = "dr_away"             # MUL
    requantize_rounding: str = "dr_away"      # QUANTIZE int8 -> int8
    add_algorithm: str = "ref"
    quantize_float: str = "f32_divide_rha"
    # tflite-runtime 2.14's reference per-channel FULLY_CONNECTED reads batches = Dims(0) and
    # depth = Dims(1) of the output, so keep_num_dims with an output of rank > 2 computes a few
    # values and leaves the rest uninitialized: not reproducible, catrt refuses it.
    fc_per_channel_needs_rank2_output: bool = False
    # Ops whose Prepare accepts packed INT4 filters, and whether per-channel FULLY_CONNECTED does
    # (tflite-runtime 2.14 checks filter->type == kTfLiteInt8 there). catrt refuses the others,
    # as the real kernel does. Op versions are not checked: the reference resolvers register
    # the int8 versions (CONV_2D 3, DEPTHWISE_CONV_2D 3, FULLY_CONNECTED 4/5) in every build,
    # while the int4 versions (CONV_2D 7, FULLY_CONNECTED 10) are missing from some.
    int4_filter_ops: frozenset = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
    fc_int4_per_channel: bool = True

    def __post_init__(self) -> None:
        for name in ("conv_rounding", "depthwise_rounding", "mul_rounding", "requantize_rounding"):
            if getattr(self, name) not in ROUNDINGS:
                raise CatrtError(f"profile {self.name}: {name}={getattr(self, name)!r} "
                                 f"not in {ROUNDINGS}")
        if self.fully_connected_requant not in FC_REQUANTS:
            raise CatrtError(f"profile {self.name}: fully_connected_requant "
                             f"{self.fully_connected_requant!r} not in {FC_REQUANTS}")
        if self.add_algorithm not in ADD_ALGORITHMS:
            raise CatrtError(f"profile {self.name}: add_algorithm {self.add_algorithm!r} "
                             f"not in {ADD_ALGORITHMS}")
        if self.quantize_float not in QUANTIZE_FLOAT_ALGORITHMS:
            raise CatrtError(f"profile {self.name}: quantize_float {self.quantize_float!r} "
                             f"not in {QUANTIZE_FLOAT_ALGORITHMS}")
        object.__setattr__(self, "int4_filter_ops", frozenset(self.int4_filter_ops))


REF_TFLITE214 = Profile(
    name="ref-tflite214",
    interpreter="tflite_runtime",
    interpreter_version="2.14.0",
    resolver="BUILTIN_REF",
    description="tflite-runtime 2.14.0, OpResolverType.BUILTIN_REF (reference kernels)",
    fc_per_channel_needs_rank2_output=True,
    fc_int4_per_channel=False,
)

REF_TF219 = Profile(
    name="ref-tf219",
    interpreter="tensorflow",
    interpreter_version="2.19.0",
    resolver="BUILTIN_REF",
    description="tensorflow 2.19.0 tf.lite.Interpreter, OpResolverType.BUILTIN_REF",
)

REF_LITERT21 = Profile(
    name="ref-litert21",
    interpreter="ai_edge_litert",
    interpreter_version="2.1.0",
    resolver="BUILTIN_REF",
    description="ai-edge-litert 2.1.0, OpResolverType.BUILTIN_REF (FC requantizes in double)",
    fully_connected_requant=FLOAT64_RHA,
)

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {p.name: p for p in (REF_TFLITE214, REF_TF219, REF_LITERT21)})
DEFAULT_PROFILE = REF_TFLITE214.name


def get_profile(profile: Union[str, Profile]) -> Profile:
    """A Profile from itself or its name."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise CatrtError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}") from None


_INTERPRETER_ALIASES = {
    "tfliteruntime": "tflite_runtime", "tflite": "tflite_runtime", "tflite214": "tflite_runtime",
    "tensorflow": "tensorflow", "tf": "tensorflow", "tflite2": "tensorflow", "tf219": "tensorflow",
    "tensorflowcpu": "tensorflow",
    "aiedgelitert": "ai_edge_litert", "litert": "ai_edge_litert", "litert21": "ai_edge_litert",
}
_RESOLVER_ALIASES = {
    "builtinref": "BUILTIN_REF", "ref": "BUILTIN_REF", "reference": "BUILTIN_REF",
}


def _key(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def profile_for(interpreter_name: str, resolver) -> Profile:
    """The profile of an interpreter ("tflite_runtime" / "tensorflow" / "ai_edge_litert", aliases
    such as "tflite-runtime", "tf", "litert" accepted) run with an OpResolverType (a name such as
    "BUILTIN_REF" or an enum member)."""
    interpreter = _INTERPRETER_ALIASES.get(_key(interpreter_name))
    if interpreter is None:
        raise CatrtError(f"unknown interpreter {interpreter_name!r}; "
                         "expected tflite_runtime, tensorflow or ai_edge_litert")
    resolver_name = getattr(resolver, "name", resolver)
    resolver_key = _RESOLVER_ALIASES.get(_key(resolver_name), str(resolver_name).upper())
    for p in PROFILES.values():
        if p.interpreter == interpreter and p.resolver == resolver_key:
            return p
    known = ", ".join(f"{p.interpreter}/{p.resolver}" for p in PROFILES.values())
    raise CatrtError(f"no arithmetic profile yet for {interpreter} with resolver "
                     f"{resolver_name!r}; known: {known}")
