"""The graph lookups the plan, the lowering and CAT share: the producer index and the classifier."""
from __future__ import annotations

from dataclasses import replace

import pytest

import catdeploy.lower
from catdeploy.errors import UserError
from catdeploy.ir import queries
from catdeploy.ir.graph import Node, OpKind, Value
from catdeploy.quant.plan import make_plan
from tests.quant.tiny_graphs import tiny_mobilenet, tiny_resnet


def _with_nodes(graph, nodes, outputs=None):
    return replace(graph, nodes=tuple(nodes), outputs=tuple(outputs or graph.outputs))


def test_producer_index_names_the_writer_of_every_value_and_none_for_inputs():
    g = tiny_resnet(0)
    assert all(g.producer(n.output) is n for n in g.nodes)
    assert g.producer(g.inputs[0]) is None
    assert dict(g.producers) == {n.output: n for n in g.nodes}


@pytest.mark.parametrize("make", [tiny_resnet, tiny_mobilenet])
def test_the_strict_classifier_is_the_plans_classifier(make):
    g = make(0)
    node = queries.classifier_node(g)
    assert node is queries.classifier_candidate(g)
    assert make_plan(g, "w4a4").last_linear == node.name


def test_lowering_reexports_the_shared_query():
    assert catdeploy.lower.classifier_node is queries.classifier_node


def test_classifier_candidate_falls_back_to_the_last_linear():
    g = tiny_resnet(0)
    fc = g.node("fc")
    relu = Node("relu", OpKind.RELU, ("fc",), ("relu",), {})
    g2 = replace(_with_nodes(g, list(g.nodes) + [relu], ("relu",)),
                 values={**g.values, "relu": Value("relu", g.values["fc"].shape)})
    assert queries.classifier_candidate(g2) is fc
    with pytest.raises(UserError, match=r"produced by RELU"):
        queries.classifier_node(g2)
    no_linear = _with_nodes(g, [n for n in g.nodes if n.kind is not OpKind.LINEAR], ("flatten",))
    assert queries.classifier_candidate(no_linear) is None


def test_classifier_node_refuses_two_outputs_and_a_fused_activation():
    g = tiny_resnet(0)
    with pytest.raises(UserError, match="one output, this one has 2"):
        queries.classifier_node(replace(g, outputs=("fc", "add")))
    fused = [replace(n, attrs={**n.attrs, "activation": "relu"}) if n.kind is OpKind.LINEAR else n for n in g.nodes]
    with pytest.raises(UserError, match=r"produced by LINEAR"):
        queries.classifier_node(_with_nodes(g, fused))
