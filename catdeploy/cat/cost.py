"""What a CAT head of K clusters costs the exported model: a modelled latency share and the exact
file share.

Latency is modelled, not timed, so that the selection (and the .qg) is the same on every machine.
The model (tflite-runtime 2.14 default resolver, one thread, batch 1; the constants fitted to the
"CAT head cost" tables of docs/BENCHMARKS.md, where heads of K = 8..64 on FMNIST-MBV2 / R18 cost
0.6..2.9 ms against 7.7 / 35 ms bodies):
    body  = MACs of the weighted layers x BODY_NS_PER_MAC + ops x OP_US
    head  = (K + HEAD_FIXED_OPS) x OP_US + K x D x C x HEAD_NS_PER_MAC      (K >= 2; K = 1: 0)
the K heads being K separate D x C FULLY_CONNECTED ops at batch 1 (memory-bound GEMVs), plus the
assignment (CAST, two 16x8 FCs, CAST, ARG_MAX) and CONCATENATION / RESHAPE / GATHER.
share = head / (body + head). bench/bench_cat.py measures the real share beside the modelled one.

File share: bytes the head adds to the lowered classifier program / bytes of the whole model with
the head (exact: both programs are serialised).
"""
from __future__ import annotations

from catdeploy.ir.graph import Graph

OP_US = 10.0             # per-op overhead, microseconds
BODY_NS_PER_MAC = 1.0    # convolutions of the body, nanoseconds per MAC
HEAD_NS_PER_MAC = 5.0    # the heads' batch-1 FULLY_CONNECTED, nanoseconds per MAC
HEAD_FIXED_OPS = 7       # CAST, FC (split), FC (scores), CAST, ARG_MAX, CONCATENATION, RESHAPE (+ GATHER)


def body_latency_us(graph: Graph) -> float:
    """Modelled latency (microseconds) of the model without a head."""
    from catdeploy.mixed.budget import macs_of
    from catdeploy.quant.plan import WEIGHTED_OPS

    macs = sum(macs_of(graph, n) for n in graph.nodes if n.kind in WEIGHTED_OPS)
    return macs * BODY_NS_PER_MAC / 1000.0 + len(graph.nodes) * OP_US


def head_latency_us(clusters: int, features: int, classes: int) -> float:
    """Modelled extra latency (microseconds) of a CAT head of `clusters` over a D x C classifier."""
    if clusters <= 1:
        return 0.0
    return (clusters + HEAD_FIXED_OPS) * OP_US + clusters * features * classes * HEAD_NS_PER_MAC / 1000.0


def latency_share(graph: Graph, clusters: int, features: int, classes: int) -> float:
    """Modelled head latency / latency of the model with the head."""
    head = head_latency_us(clusters, features, classes)
    return head / (body_latency_us(graph) + head)


def file_share(head_bytes: int, base_model_bytes: int) -> float:
    """Bytes the head adds / size of the model with the head."""
    return max(head_bytes, 0) / (base_model_bytes + max(head_bytes, 0))
