"""Capture passes, one per file; each maps a Graph to a new Graph (inputs untouched).

PIPELINE is the order capture() applies them: identities out, written-out hard sigmoid / hard
swish made canonical, pooling/reshape variants made canonical, reshapes of per-sample vectors
resolved, channel shuffles recognised (other reshapes refused), batch norm folded, activations
fused, dead nodes dropped.
"""
from __future__ import annotations

from catdeploy.capture.passes.canonicalize import canonicalize
from catdeploy.capture.passes.channel_shuffle import channel_shuffle
from catdeploy.capture.passes.fold_bn import fold_bn
from catdeploy.capture.passes.fuse_activation import fuse_activation
from catdeploy.capture.passes.hard_activations import hard_activations
from catdeploy.capture.passes.remove_dead import remove_dead
from catdeploy.capture.passes.remove_identity import remove_identity
from catdeploy.capture.passes.vector_reshape import vector_reshape

PIPELINE = (remove_identity, hard_activations, canonicalize, vector_reshape, channel_shuffle, fold_bn,
            fuse_activation, remove_dead)

__all__ = ["PIPELINE", "canonicalize", "channel_shuffle", "fold_bn", "fuse_activation", "hard_activations",
           "remove_dead", "remove_identity", "vector_reshape"]
