"""Capture passes, one per file; each maps a Graph to a new Graph (inputs untouched).

PIPELINE is the order capture() applies them: identities out, channel shuffles recognised,
pooling/reshape variants made canonical, batch norm folded, activations fused, dead nodes dropped.
"""
from __future__ import annotations

from catdeploy.capture.passes.canonicalize import canonicalize
from catdeploy.capture.passes.channel_shuffle import channel_shuffle
from catdeploy.capture.passes.fold_bn import fold_bn
from catdeploy.capture.passes.fuse_activation import fuse_activation
from catdeploy.capture.passes.remove_dead import remove_dead
from catdeploy.capture.passes.remove_identity import remove_identity

PIPELINE = (remove_identity, channel_shuffle, canonicalize, fold_bn, fuse_activation, remove_dead)

__all__ = ["PIPELINE", "canonicalize", "channel_shuffle", "fold_bn", "fuse_activation", "remove_dead", "remove_identity"]
