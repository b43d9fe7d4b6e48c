"""Check `catdeploy inspect --json` outputs against the planned bit widths.

For every inspect JSON (from `catdeploy inspect MODEL.tflite --data fashion-mnist:test --samples N
--json > DIR/inspect_<ref>_<bits>.json`) of a bench/bench_spine.py export: activation tensors with
more distinct values than 2^b of their planned width, weight channels likewise, float ops. Prints
a Markdown table row per model.

    .venv/bin/python bench/check_grids.py DIR
"""
import glob
import json
import os
import sys
from catdeploy import api
from catdeploy.train import reference_checkpoint
ARCH = {"fmnist-r18": "resnet18", "fmnist-mbv2": "mobilenet_v2", "fmnist-mnas": "mnasnet0_5"}
graphs = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "inspect_fmnist-*.json"))):
    tag = os.path.basename(path)[len("inspect_"):-len(".json")]
    ref, bits = tag.rsplit("_", 1)
    if ref not in graphs:
        m, _ = api.load_float_model(ARCH[ref], str(reference_checkpoint(ref)))
        graphs[ref] = api.capture(m, 32)
    plan = api.plan(graphs[ref], bits)
    info = json.load(open(path))
    planned = {**plan.values, **{k: v[1] for k, v in plan.requants.items()}}
    over, checked, wover, wchecked = [], 0, [], 0
    for t in info["tensors"]:
        if "distinct_values" in t and t["name"] in planned:
            checked += 1
            if t["distinct_values"] > 2 ** planned[t["name"]]:
                over.append((t["name"], t["distinct_values"], planned[t["name"]]))
        if "max_distinct_per_channel" in t and t["name"].endswith("/weight"):
            wchecked += 1
            wb = plan.weights[t["name"][:-len("/weight")]]
            if t["max_distinct_per_channel"] > 2 ** wb:
                wover.append(t["name"])
    print(f"| {ref} | {bits} | {info['n_images']} | {checked} | {len(over)} | {wchecked} | {len(wover)} | {len(info['float_ops'])} |")
