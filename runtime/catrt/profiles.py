"""Arithmetic profiles: which integer arithmetic each op uses in one TFLite build + op resolver.

A Profile is data only; kernels read the fields they need. There is one profile per
(interpreter, version, resolver, CPU architecture) that catrt reproduces bit for bit
(docs/PROFILES.md has the table and how each was measured):

- BUILTIN_REF: the reference kernels of the three pinned wheels. They agree on every op except
  FULLY_CONNECTED (docs/tflite-int8-arithmetic.md §0.2, §2.4) and are the same on x86_64 and
  aarch64 (arm-emulation.md).
- BUILTIN_WITHOUT_DEFAULT_DELEGATES on x86_64: the optimized kernels. ruy's x86 AVX kernels
  round CONV_2D / FULLY_CONNECTED with "dr_up" (§1.3). The TF 2.19 and LiteRT 2.1.0 wheels
  also compile the NEON code paths through NEON_2_SSE (USE_NEON): those vector loops round
  differently from their scalar leftovers, so the choice depends on shapes (channels in
  blocks of 8 for DEPTHWISE_CONV_2D, flat elements in blocks of 16 or 8 for ADD, QUANTIZE and
  DEQUANTIZE); catrt models the split, not one case. tflite-runtime 2.14 has no USE_NEON.
- BUILTIN and AUTO: the same kernels plus the default XNNPACK delegate. tflite-runtime 2.14
  never delegates int8 ops (its BUILTIN/AUTO equal its BUILTIN_WITHOUT_DEFAULT_DELEGATES);
  TF 2.19 and LiteRT 2.1.0 do. A delegated op uses XNNPACK's arithmetic (catrt.xnnpack), an op
  XNNPACK refuses for its types or scales falls back to the built-in optimized kernel: the
  choice is made per op from the same checks as the delegate's VisitNode.
- FULLY_CONNECTED 16x8 (int16 input, int8 weights, int64 bias; the CAT cluster scores) and CAST
  run TFLite's own kernels under every resolver (XNNPACK takes no int16 node and no CAST); the
  16x8 kernel is the reference one even in the optimized resolvers (fc_16x8_requant).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Optional, Union

from .errors import CatrtError
from .fixed_point import DR_AWAY, DR_UP, ROUNDINGS, SR_UP

# FULLY_CONNECTED requantization: a MultiplyByQuantizedMultiplier rounding, or
# "float64_rha": int32(round_half_away(double(acc) * double(s_in)*double(s_w[c])/double(s_out)))
# (LiteRT >= 1.3 reference kernel, commit 921360770).
FLOAT64_RHA = "float64_rha"
FC_REQUANTS = ROUNDINGS + (FLOAT64_RHA,)
# FULLY_CONNECTED 16x8 (int16 input, int8 weights, int64 bias, int16 output): every resolver runs
# the reference kernel (the ruy path needs an int32 bias). "int64_mbqm" = the int64
# MultiplyByQuantizedMultiplier overload (tflite-runtime 2.14, TF 2.19); "float64_rha" = LiteRT
# >= 1.3's double rescale, in its optimized resolvers too (FullyConnectedPerChannelInt16).
INT64_MBQM = "int64_mbqm"
FC_16X8_REQUANTS = (INT64_MBQM, FLOAT64_RHA)
# ADD: "ref" = reference_integer_ops::Add with the 20-bit left shift (§2.5); "neon" =
# optimized_integer_ops::AddElementwiseInt8 under USE_NEON (fused shifts on the leading
# multiple of 16 elements, the reference formula on the rest).
ADD_ALGORITHMS = ("ref", "neon")
# QUANTIZE float32 -> int8: "f32_divide_rha" = REF: round_half_away(float32(x / float32(s)));
# "f64_divide_rha" = optimized AffineQuantize without USE_NEON: round_half_away(double(x) / s);
# "neon_reciprocal_rne" = optimized AffineQuantize under USE_NEON: the leading multiple of 8
# elements rne(float32(x * float32(1/s))), the rest as f64_divide_rha.
QUANTIZE_FLOAT_ALGORITHMS = ("f32_divide_rha", "f64_divide_rha", "neon_reciprocal_rne")
# DEQUANTIZE int8 -> float32: "ref" = float32(double(s) * (q - z)); "neon" = optimized
# Dequantize under USE_NEON: the leading multiple of 8 elements
# float32(float32(q) * float32(s)) + float32(-z * s), the rest as ref.
# "neon_fma" = the same on aarch64, where ScaleWithNewZeroPoint is one fused multiply-add
# float32(q * s + float32(-z * s)).
DEQUANTIZE_ALGORITHMS = ("ref", "neon", "neon_fma")
# XNNPACK delegate taking int8 ops: "" none, or the build whose rules and arithmetic apply.
XNNPACK_BUILDS = ("", "tf219", "litert21")
ARCHES = ("any", "x86_64", "aarch64")


@dataclass(frozen=True)
class Profile:
    """The integer arithmetic of one interpreter build with one op resolver on one CPU."""

    name: str
    interpreter: str            # "tflite_runtime" | "tensorflow" | "ai_edge_litert"
    interpreter_version: str
    resolver: str               # "BUILTIN_REF" | "BUILTIN" | "BUILTIN_WITHOUT_DEFAULT_DELEGATES" | "AUTO"
    description: str = ""
    arch: str = "any"           # "any" (same arithmetic on every CPU), "x86_64", "aarch64"
    conv_rounding: str = DR_AWAY              # CONV_2D per-channel requantization
    depthwise_rounding: str = DR_AWAY         # DEPTHWISE_CONV_2D (scalar channels)
    # optimized_ops::Quantize under USE_NEON: channels [0, 8*floor(OC/8)) are requantized by
    # the vector loop with "dr_up" (vqrdmulh + vrshl), the rest with depthwise_rounding. 0 = off.
    depthwise_neon_channel_block: int = 0
    fully_connected_requant: str = DR_AWAY    # FULLY_CONNECTED, one of FC_REQUANTS
    fc_16x8_requant: str = INT64_MBQM         # FULLY_CONNECTED int16 x int8, one of FC_16X8_REQUANTS
    # cpu_backend_gemm's custom GEMV (USE_NEON, cpu_backend_gemm_custom_gemv.h): a CONV_2D /
    # FULLY_CONNECTED GEMM whose destination has one column (batch x output pixels == 1), at
    # least 4 output channels and a depth of at least 8 requantizes with this rounding instead
    # of ruy's. "" = no such path, or one that rounds like ruy (x86: both dr_up).
    gemv_rounding: str = ""
    mul_rounding: str = DR_AWAY               # MUL
    requantize_rounding: str = DR_AWAY        # QUANTIZE int8 -> int8 (scalar elements)
    # optimized Requantize<int8, int8> under USE_NEON: the leading multiple of 16 flat elements
    # use "dr_up" (MultiplyByQuantizedMultiplier4Rows). 0 = off.
    requantize_neon_block: int = 0
    add_algorithm: str = "ref"
    # optimized_ops::HardSwish<int8> under __ARM_NEON (true NEON only, not NEON_2_SSE): the leading
    # multiple of 8 flat elements take the vector loop (vrshl rounds its two right shifts half
    # up), the rest reference_ops::HardSwish. 0 = off (x86, reference resolvers).
    hard_swish_neon_block: int = 0
    quantize_float: str = "f32_divide_rha"
    dequantize_algorithm: str = "ref"
    xnnpack: str = ""
    # tflite-runtime 2.14's reference per-channel FULLY_CONNECTED reads batches = Dims(0) and
    # depth = Dims(1) of the output, so keep_num_dims with an output of rank > 2 computes a few
    # values and leaves the rest uninitialized: not reproducible, catrt refuses it.
    fc_per_channel_needs_rank2_output: bool = False
    # Ops whose Prepare accepts packed INT4 filters, and whether per-channel FULLY_CONNECTED does
    # (tflite-runtime 2.14 checks filter->type == kTfLiteInt8 there). catrt refuses the others,
    # as the real kernel does. Op versions are not checked: the reference resolvers register
    # the int8 versions (CONV_2D 3, DEPTHWISE_CONV_2D 3, FULLY_CONNECTED 4/5) in every build,
    # while the int4 versions are missing from some (CONV_2D 7, FULLY_CONNECTED 10 from
    # tflite-runtime 2.14's; DEPTHWISE_CONV_2D 7 from all three wheels' BUILTIN_REF, measured,
    # tests/golden/dw_int4_ties.npz). Under XNNPACK an INT4 CONV_2D / DEPTHWISE_CONV_2D stays
    # on the built-in kernel (measured, tests/golden/{conv,dw}_int4_ties.npz).
    int4_filter_ops: frozenset = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
    fc_int4_per_channel: bool = True
    # (op kind, version) pairs the resolver does not register: the interpreter refuses to load
    # the model ("Didn't find op for builtin opcode ... version ..."), and catrt does too.
    unregistered_op_versions: frozenset = frozenset()
    # Packed INT2 FULLY_CONNECTED weights (v14): registered in ai-edge-litert 2.1's resolvers only.
    fc_int2: bool = False

    def __post_init__(self) -> None:
        if self.gemv_rounding not in ("",) + ROUNDINGS:
            raise CatrtError(f"profile {self.name}: gemv_rounding {self.gemv_rounding!r} not in {ROUNDINGS}")
        for name in ("conv_rounding", "depthwise_rounding", "mul_rounding", "requantize_rounding"):
            if getattr(self, name) not in ROUNDINGS:
                raise CatrtError(f"profile {self.name}: {name}={getattr(self, name)!r} "
                                 f"not in {ROUNDINGS}")
        choices = (("fully_connected_requant", FC_REQUANTS), ("fc_16x8_requant", FC_16X8_REQUANTS),
                   ("add_algorithm", ADD_ALGORITHMS),
                   ("quantize_float", QUANTIZE_FLOAT_ALGORITHMS),
                   ("dequantize_algorithm", DEQUANTIZE_ALGORITHMS), ("xnnpack", XNNPACK_BUILDS),
                   ("arch", ARCHES))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise CatrtError(f"profile {self.name}: {name} {getattr(self, name)!r} "
                                 f"not in {allowed}")
        for name in ("depthwise_neon_channel_block", "requantize_neon_block", "hard_swish_neon_block"):
            if getattr(self, name) not in (0, 8, 16):
                raise CatrtError(f"profile {self.name}: {name} must be 0, 8 or 16")
        object.__setattr__(self, "int4_filter_ops", frozenset(self.int4_filter_ops))
        object.__setattr__(self, "unregistered_op_versions", frozenset(self.unregistered_op_versions))


# ------------------------------------------------------------------------------- reference kernels

REF_TFLITE214 = Profile(
    name="ref-tflite214",
    interpreter="tflite_runtime",
    interpreter_version="2.14.0",
    resolver="BUILTIN_REF",
    description="tflite-runtime 2.14.0, OpResolverType.BUILTIN_REF (reference kernels)",
    fc_per_channel_needs_rank2_output=True,
    fc_int4_per_channel=False,
    unregistered_op_versions=frozenset({("CONV_2D", 7), ("DEPTHWISE_CONV_2D", 7), ("FULLY_CONNECTED", 10)}),
)

REF_TF219 = Profile(
    name="ref-tf219",
    interpreter="tensorflow",
    interpreter_version="2.19.0",
    resolver="BUILTIN_REF",
    description="tensorflow 2.19.0 tf.lite.Interpreter, OpResolverType.BUILTIN_REF",
    unregistered_op_versions=frozenset({("DEPTHWISE_CONV_2D", 7)}),
)

REF_LITERT21 = Profile(
    name="ref-litert21",
    interpreter="ai_edge_litert",
    interpreter_version="2.1.0",
    resolver="BUILTIN_REF",
    description="ai-edge-litert 2.1.0, OpResolverType.BUILTIN_REF (FC requantizes in double)",
    fully_connected_requant=FLOAT64_RHA, fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    unregistered_op_versions=frozenset({("DEPTHWISE_CONV_2D", 7)}),
)

# ------------------------------------------------------------------------------- x86_64 optimized

# tflite-runtime 2.14: ruy (dr_up) for CONV_2D and FULLY_CONNECTED, the scalar DepthwiseConvGeneral
# output stage (dr_away), reference ADD / Requantize, AffineQuantize in double. Its XNNPACK never
# takes int8 ops, so the three non-reference resolvers are one arithmetic.
_TFLITE214_OPT = dict(
    interpreter="tflite_runtime", interpreter_version="2.14.0", arch="x86_64",
    conv_rounding=DR_UP, fully_connected_requant=DR_UP, quantize_float="f64_divide_rha",
    int4_filter_ops=frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"}), fc_int4_per_channel=False,
)
OPT_TFLITE214_NODELEGATE = Profile(
    name="nodelegate-tflite214-x86", resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    description="tflite-runtime 2.14.0 optimized kernels on x86_64 (ruy AVX, no USE_NEON)",
    **_TFLITE214_OPT)
OPT_TFLITE214_BUILTIN = Profile(
    name="builtin-tflite214-x86", resolver="BUILTIN",
    description="tflite-runtime 2.14.0 BUILTIN on x86_64 (XNNPACK takes no int8 op)",
    **_TFLITE214_OPT)
OPT_TFLITE214_AUTO = Profile(
    name="auto-tflite214-x86", resolver="AUTO",
    description="tflite-runtime 2.14.0 AUTO on x86_64 (XNNPACK takes no int8 op)",
    **_TFLITE214_OPT)

# TF 2.19 / LiteRT 2.1.0: the same ruy rounding plus the USE_NEON (NEON_2_SSE) loops.
_NEON_X86 = dict(
    arch="x86_64", conv_rounding=DR_UP, fully_connected_requant=DR_UP,
    depthwise_neon_channel_block=8, requantize_neon_block=16, add_algorithm="neon",
    quantize_float="neon_reciprocal_rne", dequantize_algorithm="neon",
)
OPT_TF219_NODELEGATE = Profile(
    name="nodelegate-tf219-x86", interpreter="tensorflow", interpreter_version="2.19.0",
    resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    description="tensorflow 2.19.0 optimized kernels on x86_64 (ruy AVX, USE_NEON via NEON_2_SSE)",
    **_NEON_X86)
OPT_TF219_BUILTIN = Profile(
    name="builtin-tf219-x86", interpreter="tensorflow", interpreter_version="2.19.0",
    resolver="BUILTIN", xnnpack="tf219",
    description="tensorflow 2.19.0 BUILTIN on x86_64: XNNPACK for the int8 ops it takes",
    **_NEON_X86)
OPT_TF219_AUTO = Profile(
    name="auto-tf219-x86", interpreter="tensorflow", interpreter_version="2.19.0",
    resolver="AUTO", xnnpack="tf219",
    description="tensorflow 2.19.0 AUTO on x86_64: XNNPACK for the int8 ops it takes",
    **_NEON_X86)
OPT_LITERT21_NODELEGATE = Profile(
    name="nodelegate-litert21-x86", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    description="ai-edge-litert 2.1.0 optimized kernels on x86_64 (ruy AVX, USE_NEON via NEON_2_SSE)",
    **_NEON_X86)
OPT_LITERT21_BUILTIN = Profile(
    name="builtin-litert21-x86", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="BUILTIN", xnnpack="litert21",
    description="ai-edge-litert 2.1.0 BUILTIN on x86_64: XNNPACK for the int8 ops it takes",
    **_NEON_X86)
OPT_LITERT21_AUTO = Profile(
    name="auto-litert21-x86", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="AUTO", xnnpack="litert21",
    description="ai-edge-litert 2.1.0 AUTO on x86_64: XNNPACK for the int8 ops it takes",
    **_NEON_X86)

# ------------------------------------------------------------------------------- aarch64 (Raspberry Pi)

# Both aarch64 wheels compile USE_NEON natively. Their GEMM backends differ: ai-edge-litert's
# (Bazel) uses ruy, whose arm64 kernels round with single rounding ("sr_up"); tflite-runtime
# 2.14's (CMake, TFLITE_ENABLE_RUY off) uses gemmlowp, whose output stage is SRDHM +
# RoundingDivideByPOT ("dr_away", as the reference kernels). Both take the custom GEMV (vqrdmulh +
# vrshl, "dr_up") for one destination column. The DW, ADD, Requantize and
# AffineQuantize NEON loops as on x86 (DepthwiseConv3x3FilterPerChannel, taken for 3x3 filters
# with channels a multiple of 8, rounds upward like the vector output stage); DEQUANTIZE fuses
# its multiply-add. XNNPACK's qs8 kernels give the same integers as on x86 (fp32 with vcvtnq,
# the same integer ADD, vqrdmulh Q8 convert). Checked under qemu-user (bench/bench_arm.py).
_NEON_ARM = dict(
    arch="aarch64", conv_rounding=SR_UP, fully_connected_requant=SR_UP, gemv_rounding=DR_UP,
    depthwise_neon_channel_block=8, requantize_neon_block=16, add_algorithm="neon",
    quantize_float="neon_reciprocal_rne", dequantize_algorithm="neon_fma", hard_swish_neon_block=8,
)
_TFLITE214_ARM = dict(_NEON_ARM, interpreter="tflite_runtime", interpreter_version="2.14.0",
                      conv_rounding=DR_AWAY, fully_connected_requant=DR_AWAY,
                      int4_filter_ops=frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"}), fc_int4_per_channel=False)
OPT_TFLITE214_ARM_NODELEGATE = Profile(
    name="nodelegate-tflite214-arm64", resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    description="tflite-runtime 2.14.0 optimized kernels on aarch64 (gemmlowp, NEON)", **_TFLITE214_ARM)
OPT_TFLITE214_ARM_BUILTIN = Profile(
    name="builtin-tflite214-arm64", resolver="BUILTIN",
    description="tflite-runtime 2.14.0 BUILTIN on aarch64 (XNNPACK takes no int8 op)", **_TFLITE214_ARM)
OPT_TFLITE214_ARM_AUTO = Profile(
    name="auto-tflite214-arm64", resolver="AUTO",
    description="tflite-runtime 2.14.0 AUTO on aarch64 (XNNPACK takes no int8 op)", **_TFLITE214_ARM)
OPT_LITERT21_ARM_NODELEGATE = Profile(
    name="nodelegate-litert21-arm64", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    description="ai-edge-litert 2.1.0 optimized kernels on aarch64 (ruy arm64, NEON)", **_NEON_ARM)
OPT_LITERT21_ARM_BUILTIN = Profile(
    name="builtin-litert21-arm64", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="BUILTIN", xnnpack="litert21",
    description="ai-edge-litert 2.1.0 BUILTIN on aarch64: XNNPACK for the int8 ops it takes", **_NEON_ARM)
OPT_LITERT21_ARM_AUTO = Profile(
    name="auto-litert21-arm64", interpreter="ai_edge_litert", interpreter_version="2.1.0",
    fc_16x8_requant=FLOAT64_RHA, fc_int2=True,
    resolver="AUTO", xnnpack="litert21",
    description="ai-edge-litert 2.1.0 AUTO on aarch64: XNNPACK for the int8 ops it takes", **_NEON_ARM)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in (
    REF_TFLITE214, REF_TF219, REF_LITERT21,
    OPT_TFLITE214_BUILTIN, OPT_TFLITE214_NODELEGATE, OPT_TFLITE214_AUTO,
    OPT_TF219_BUILTIN, OPT_TF219_NODELEGATE, OPT_TF219_AUTO,
    OPT_LITERT21_BUILTIN, OPT_LITERT21_NODELEGATE, OPT_LITERT21_AUTO,
    OPT_TFLITE214_ARM_BUILTIN, OPT_TFLITE214_ARM_NODELEGATE, OPT_TFLITE214_ARM_AUTO,
    OPT_LITERT21_ARM_BUILTIN, OPT_LITERT21_ARM_NODELEGATE, OPT_LITERT21_ARM_AUTO)})
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
    "builtin": "BUILTIN", "auto": "AUTO",
    "builtinwithoutdefaultdelegates": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
    "nodelegate": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "nodelegates": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
}
_ARCH_ALIASES = {"x8664": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def _key(text: str) -> str:
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def host_arch() -> str:
    """This machine's CPU architecture in profile terms ("x86_64", "aarch64" or as reported)."""
    machine = platform.machine()
    return _ARCH_ALIASES.get(_key(machine), machine.lower())


def profile_for(interpreter_name: str, resolver, version: Optional[str] = None,
                arch: Optional[str] = None) -> Profile:
    """The profile of an interpreter ("tflite_runtime" / "tensorflow" / "ai_edge_litert", aliases
    such as "tflite-runtime", "tf", "litert" accepted) run with an OpResolverType (a name such as
    "BUILTIN_REF", "nodelegate" or an enum member), at `version` (None: the pinned one) on `arch`
    (None: this machine). Raises CatrtError when catrt has no profile for that combination."""
    interpreter = _INTERPRETER_ALIASES.get(_key(interpreter_name))
    if interpreter is None:
        raise CatrtError(f"unknown interpreter {interpreter_name!r}; "
                         "expected tflite_runtime, tensorflow or ai_edge_litert")
    resolver_name = getattr(resolver, "name", resolver)
    resolver_key = _RESOLVER_ALIASES.get(_key(resolver_name), str(resolver_name).upper())
    cpu = host_arch() if arch is None else _ARCH_ALIASES.get(_key(arch), str(arch).lower())
    for p in PROFILES.values():
        if (p.interpreter == interpreter and p.resolver == resolver_key
                and (version is None or p.interpreter_version == str(version))
                and p.arch in ("any", cpu)):
            return p
    known = ", ".join(f"{p.interpreter} {p.interpreter_version}/{p.resolver}/{p.arch}"
                      for p in PROFILES.values())
    what = f"{interpreter}{' ' + str(version) if version else ''} with resolver {resolver_name!r} on {cpu}"
    raise CatrtError(f"no arithmetic profile yet for {what}; known: {known}")
