"""Graph <-> (JSON-ready dict, dict of float32 arrays); no pickle.

The dict holds everything but the parameter arrays; each node's "params" maps a parameter name to
its key in the array dict ("<node name>.<param name>", like a torch state_dict key). Callers save
the dict as .json and the arrays with np.savez (optionally under a key prefix of their own).
Round trips are exact: attrs come back with tuples where tuples went in, arrays bit for bit.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from catdeploy.ir.graph import Graph, Node, OpKind, Value
from catdeploy.ir.validate import InvalidGraph, validate

FORMAT = "catdeploy.graph"
FORMAT_VERSION = 1


def graph_to_json_and_arrays(graph: Graph) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split `graph` into a JSON-serialisable dict and a dict of float32 parameter arrays."""
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for node in graph.nodes:
        param_keys = {}
        for pname, array in node.params.items():
            key = f"{node.name}.{pname}"
            if key in arrays:
                raise InvalidGraph(f"parameter key {key!r} is produced twice")
            arrays[key] = np.ascontiguousarray(array)
            param_keys[pname] = key
        nodes.append({
            "name": node.name,
            "kind": OpKind(node.kind).value,
            "inputs": list(node.inputs),
            "outputs": list(node.outputs),
            "attrs": {k: _attr_to_json(node.name, k, v) for k, v in node.attrs.items()},
            "params": param_keys,
        })
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "values": [{"name": v.name, "shape": list(v.shape), "dtype": v.dtype}
                   for v in graph.values.values()],
        "nodes": nodes,
    }
    return doc, arrays


def graph_from_json_and_arrays(doc: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Graph:
    """Rebuild and validate a Graph written by graph_to_json_and_arrays.

    Raises InvalidGraph (a ValueError) on a wrong format, a missing array or an invalid graph.
    """
    if doc.get("format") != FORMAT or doc.get("version") != FORMAT_VERSION:
        raise InvalidGraph(f"not a {FORMAT} v{FORMAT_VERSION} document "
                           f"(format={doc.get('format')!r}, version={doc.get('version')!r})")
    try:
        values = {}
        for v in doc["values"]:
            value = Value(name=str(v["name"]), shape=tuple(int(d) for d in v["shape"]),
                          dtype=str(v["dtype"]))
            values[value.name] = value
        nodes = []
        for n in doc["nodes"]:
            params = {}
            for pname, key in n["params"].items():
                if key not in arrays:
                    raise InvalidGraph(f"node {n['name']!r}: array {key!r} is missing")
                params[pname] = np.array(arrays[key], dtype=np.float32, copy=True)
            nodes.append(Node(
                name=str(n["name"]),
                kind=OpKind(n["kind"]),
                inputs=tuple(str(x) for x in n["inputs"]),
                outputs=tuple(str(x) for x in n["outputs"]),
                attrs={k: _attr_from_json(v) for k, v in n["attrs"].items()},
                params=params,
            ))
        graph = Graph(nodes=tuple(nodes), values=values,
                      inputs=tuple(str(x) for x in doc["inputs"]),
                      outputs=tuple(str(x) for x in doc["outputs"]),
                      name=str(doc.get("name", "model")))
    except (KeyError, TypeError) as exc:
        raise InvalidGraph(f"malformed graph document ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        if isinstance(exc, InvalidGraph):
            raise
        raise InvalidGraph(f"malformed graph document ({exc})") from None
    return validate(graph)


def _attr_to_json(node: str, key: str, value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidGraph(f"node {node!r} attr {key!r} is not finite ({value})")
        return value
    if isinstance(value, (tuple, list)):
        return [_attr_to_json(node, key, v) for v in value]
    raise InvalidGraph(f"node {node!r} attr {key!r} has a non-JSON value {value!r}")


def _attr_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_attr_from_json(v) for v in value)
    return value
