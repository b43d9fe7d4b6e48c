"""Capture-only op kinds: they exist between tracing and the passes, never in a finished Graph.

Nodes of these kinds use the ordinary Node class; validate() rejects them, so a pass that forgets
one is caught.
"""
from __future__ import annotations

import enum


class CaptureKind(str, enum.Enum):
    BATCHNORM = "BATCHNORM"              # params mean, var, weight, bias; attrs eps. fold_bn removes it
    IDENTITY = "IDENTITY"                # dropout, nn.Identity, contiguous, ...; remove_identity removes it
    MEAN = "MEAN"                        # attrs dims (sorted, non-negative), keepdim; canonicalize
    ADAPTIVE_AVG_POOL = "ADAPTIVE_AVG_POOL"  # attrs output_size (h, w); canonicalize
    ADAPTIVE_MAX_POOL = "ADAPTIVE_MAX_POOL"  # attrs output_size (h, w); canonicalize
    RESHAPE = "RESHAPE"                  # attrs shape (the output shape), refusal; vector_reshape, channel_shuffle passes
    TRANSPOSE = "TRANSPOSE"              # attrs dims (two sorted non-batch dims); channel_shuffle pass
    SCALAR = "SCALAR"                    # attrs op (add | sub | mul | div), value, refusal; hard_activations
