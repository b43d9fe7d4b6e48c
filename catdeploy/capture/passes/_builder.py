"""GraphBuilder: rebuild a graph node by node in topological order while passes drop, replace
and alias values. Pure: the source graph is never modified."""
from __future__ import annotations

from collections import Counter

from catdeploy.ir.graph import Graph, Node, Value


class GraphBuilder:
    def __init__(self, source: Graph) -> None:
        self.source = source
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = dict(source.values)
        self._aliases: dict[str, str] = {}
        self._node_names = {n.name for n in source.nodes} | set(source.values)

    def resolve(self, value: str) -> str:
        while value in self._aliases:
            value = self._aliases[value]
        return value

    def alias(self, old: str, new: str) -> None:
        """Later readers of value `old` (and the graph outputs) read `new` instead."""
        new = self.resolve(new)
        if new != old:
            self._aliases[old] = new

    def add(self, node: Node) -> Node:
        """Append `node` with its inputs resolved through the aliases."""
        resolved = tuple(self.resolve(v) for v in node.inputs)
        if resolved != node.inputs:
            node = Node(node.name, node.kind, resolved, node.outputs, node.attrs, node.params)
        self.nodes.append(node)
        return node

    def replace(self, name: str, node: Node) -> None:
        """Swap an already added node (found by name) for `node`."""
        for i, n in enumerate(self.nodes):
            if n.name == name:
                self.nodes[i] = node
                return
        raise KeyError(name)

    def added(self, name: str) -> Node:
        for n in reversed(self.nodes):
            if n.name == name:
                return n
        raise KeyError(name)

    def fresh_name(self, base: str) -> str:
        name, k = base, 0
        while name in self._node_names:
            k += 1
            name = f"{base}@{k}"
        self._node_names.add(name)
        return name

    def build(self) -> Graph:
        outputs = tuple(self.resolve(v) for v in self.source.outputs)
        live = list(self.source.inputs) + [v for n in self.nodes for v in n.outputs]
        values = {name: self.values[name] for name in live}
        return Graph(nodes=tuple(self.nodes), values=values, inputs=self.source.inputs,
                     outputs=outputs, name=self.source.name)


def consumer_counts(graph: Graph) -> Counter:
    """How many times each value is read (node inputs, plus once per graph output listing)."""
    counts: Counter = Counter()
    for node in graph.nodes:
        counts.update(node.inputs)
    counts.update(graph.outputs)
    return counts
