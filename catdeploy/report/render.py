"""The report as Markdown (figures as sibling PNG files) and as one self-contained HTML page
(figures as base64 data URIs, inline CSS, no scripts, fonts or links).

Both come from one list of blocks — ("h1"|"h2"|"p", text), ("table", headers, rows),
("img", file name, caption) — so the two pages cannot say different things."""
from __future__ import annotations

import base64
import html
import re
import statistics

Block = tuple

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #212121; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: .8em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
""".strip()


def _pct(value) -> str:
    return "–" if value is None else f"{value:.2f} %"


def _db(value) -> str:
    return "–" if value is None else f"{value:.1f} dB"


def _text(value) -> str:
    return "–" if value is None else str(value)


def _gain(before, after) -> str:
    return "–" if before is None or after is None else f"{before:.2f} → {after:.2f} % ({after - before:+.2f})"


def overview_blocks(report: dict) -> list[Block]:
    """Title, what was run, and the table of models."""
    exact = {True: "yes, every run", False: "NO (see below)", None: "not checked (no interpreter installed)"}
    blocks: list[Block] = [
        ("h1", f"catdeploy report: {report['run_dir']}"),
        ("p", f"{len(report['models'])} model(s); first {report['n']} images of {report['data']} "
              f"(evaluation split), preprocessed as each model was calibrated; integer results by catrt "
              f"(profile {report['profile']}). Bit-exact against "
              f"{', '.join(report['interpreters']) or 'no interpreter'} x resolver "
              f"{', '.join(report['resolvers'])} on the first {report['verify_samples']} images: "
              f"{exact[report['bit_exact']]}."),
    ]
    rows = []
    for m in report["models"]:
        cat = m.get("cat") or {}
        rows.append([m["name"] + (f" (+ {', '.join(m['covers'])})" if m["covers"] else ""), m["label"],
                     f"{m['size_bytes']:,} B", _pct(m["fp_top1"]), _pct(m["int_top1"]),
                     _pct(cat.get("int_top1_without_cat")), _pct(cat.get("int_top1_with_cat"))])
    blocks.append(("table", ["model", "setting", ".tflite size", "FP top-1", "integer top-1",
                             "integer, without CAT head", "integer, with CAT head"], rows))
    return blocks


def accuracy_blocks(report: dict, figures: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "Accuracy by bit width and method")]
    if "accuracy.png" in figures:
        blocks.append(("img", "accuracy.png", "Integer top-1 per model (bars), grouped by bit width; "
                       "FP top-1 of the float graph (dashed); black tick: a CAT model without its head."))
    return blocks


def sqnr_blocks(report: dict, figures: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "Per-layer error (SQNR)")]
    models = [m for m in report["models"] if m["layers"]]
    if not models:
        return blocks + [("p", "No .qg archive in the run: per-layer SQNR needs the float graph.")]
    blocks.append(("img", "sqnr.png", "10 log10(sum f^2 / sum (f - q)^2) per activation tensor: f the float "
                   "graph's value, q the dequantized catrt tensor (same name; NCHW moved to NHWC)."))
    rows = []
    for m in models:
        known = [r for r in m["layers"] if r["sqnr_db"] is not None]
        worst = min(known, key=lambda r: r["sqnr_db"]) if known else None
        rows.append([m["name"], str(len(m["layers"])),
                     _db(statistics.median(r["sqnr_db"] for r in known) if known else None),
                     "–" if worst is None else f"{worst['tensor']} ({_db(worst['sqnr_db'])})",
                     _db(m["layers"][-1]["sqnr_db"])])
    return blocks + [("table", ["model", "tensors", "median SQNR", "lowest", "output"], rows)]


def cat_blocks(report: dict, figures: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "CAT (cluster-wise affine correction of the logits)")]
    models = [m for m in report["models"] if m.get("cat")]
    if not models:
        return blocks + [("p", "No model of the run was calibrated with --cat.")]
    if "cat.png" in figures:
        blocks.append(("img", "cat.png", "Left: fit logits per cluster. Right: top-1 without / with the "
                       "head, on the held-out calibration images (selection) and on the evaluation images."))
    rows = []
    for m in models:
        c = m["cat"]
        rows.append([m["name"], "yes" if c["applied"] else "no", _text(c["clusters"]), _text(c["alpha"]),
                     ", ".join(map(str, c["cluster_sizes"])) or "–",
                     _gain(c["heldout_top1_none"], c["heldout_top1"]) + (
                         f", {c['held_out_images']} images" if c["held_out_images"] else "") + (
                         f", interval [{c['gain_low']:+.2f}, {c['gain_high']:+.2f}]" if c.get("gain_low") is not None
                         else "") + (f"; {c['reason'].split(' (')[0]}" if c.get("reason") else ""),
                     _gain(c["int_top1_without_cat"], c["int_top1_with_cat"])])
    return blocks + [("table", ["model", "applied", "K", "alpha", "cluster sizes", "held-out top-1",
                                "evaluation top-1"], rows)]


def levels_blocks(report: dict, figures: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "Distinct levels per tensor")]
    if "levels.png" in figures:
        blocks.append(("img", "levels.png", "Distinct int8 codes each activation tensor took on the evaluation "
                       "images (bars) against 2^bits of its planned bit width (black ticks); red: over."))
    rows = []
    for m in report["models"]:
        over = [r for r in m["levels"] if r["within"] is False]
        rows.append([m["name"], str(len(m["levels"])), str(sum(r["within"] is True for r in m["levels"])),
                     ", ".join(f"{r['tensor']} ({r['distinct']} > {r['limit']})" for r in over) or "none"])
    return blocks + [("table", ["model", "int8 activation tensors", "within 2^bits", "over 2^bits"], rows)]


def bitexact_blocks(report: dict, figures: dict) -> list[Block]:
    blocks: list[Block] = [("h2", "Bit-exactness: catrt vs TFLite interpreters")]
    if not report["interpreters"]:
        return blocks + [("p", "No TFLite interpreter is installed: nothing was compared.")]
    if "bitexact.png" in figures:
        blocks.append(("img", "bitexact.png", "Mismatched elements over every tensor (as catdeploy verify "
                       "counts them); 0 = bit-exact."))
    rows = []
    for m in report["models"]:
        for r in m["verify"]:
            rows.append([m["name"], f"{r['interpreter']} {r['version']}", r["resolver"], r["profile"],
                         str(r["tensors_compared"]), f"{r['elements_compared']:,}", str(r["mismatched_elements"]),
                         "error: " + r["error"] if r["error"] else ("yes" if r["bit_exact"] else "no")])
    return blocks + [("table", ["model", "interpreter", "resolver", "catrt profile", "tensors", "elements",
                                "mismatched", "bit-exact"], rows)]


def mixed_blocks(report: dict, figures: dict) -> list[Block]:
    """Per-tensor sensitivity (catdeploy sensitivity -o *.sensitivity.json) and the Pareto front of
    uniform and mixed-precision models."""
    blocks: list[Block] = []
    tables = report.get("sensitivity") or []
    if tables:
        blocks.append(("h2", "Per-layer sensitivity"))
        if "sensitivity.png" in figures:
            blocks.append(("img", "sensitivity.png", "Held-out KL to the FP logits when only one tensor is at the low "
                           "width (the rest at 8 bit), integer-exact simulator (catdeploy sensitivity)."))
        for t in tables:
            worst = sorted(t["rows"], key=lambda r: -r["damage_kl"])[:10]
            blocks.append(("p", f"{t['file']}: {t.get('model', '?')} at w{t['low']['weight_bits']}a{t['low']['act_bits']}, "
                           f"{t['held_out_images']} held-out images; all 8 bit {_pct(t['all_8bit']['top1'])}, "
                           f"all low {_pct(t['all_low']['top1'])}; the ten most damaging tensors:"))
            blocks.append(("table", ["layer", "tensor", "damage top-1", "damage KL", "recovery top-1"],
                           [[r["layer"], r["tensor"], f"{r['damage_top1']:+.2f}", f"{r['damage_kl']:.4f}",
                             f"{r['recovery_top1']:+.2f}"] for r in worst]))
    models = [m for m in report["models"] if m.get("budget")]
    if any(m["budget"]["mixed"] for m in models):
        blocks.append(("h2", "Mixed precision: storage against accuracy"))
        if "pareto.png" in figures:
            blocks.append(("img", "pareto.png", "Weight bits per parameter and BOPs per MAC over the layers the "
                           "convention quantizes below 8 bit; test top-1 filled, held-out top-1 hollow."))
        blocks.append(("table", ["model", "setting", "bits / parameter", "BOPs / MAC", "held-out top-1", "top-1"],
                       [[m["name"], m["setting"], f"{m['budget']['weight_bits_per_parameter']:.3f}",
                         f"{m['budget']['bops_per_mac']:.2f}", _pct(m["budget"]["held_out_top1"]), _pct(m["int_top1"])]
                        for m in sorted(models, key=lambda m: m["budget"]["weight_bits_per_parameter"])]))
    return blocks


def report_blocks(report: dict, figures: dict) -> list[Block]:
    """The whole report as blocks, in page order."""
    return [*overview_blocks(report), *accuracy_blocks(report, figures), *sqnr_blocks(report, figures),
            *cat_blocks(report, figures), *mixed_blocks(report, figures), *bitexact_blocks(report, figures),
            *levels_blocks(report, figures),
            ("p", "How each number is computed: docs/REPORT.md of catdeploy. Numbers: report.json.")]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """Markdown; figures are referenced as sibling files."""
    out = []
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            out += [f"# {block[1]}", ""]
        elif kind == "h2":
            out += [f"## {block[1]}", ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "img":
            out += [f"![{block[1].rsplit('.', 1)[0]}]({block[1]})", "", f"*{block[2]}*", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            out.append("| " + " | ".join(map(_md_cell, headers)) + " |")
            out.append("|" + "---|" * len(headers))
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


NUMBER = re.compile(r"^(–|[+-]?[\d,.]+( (%|dB|B))?)$")


def _numeric(text: str) -> bool:
    return bool(NUMBER.match(str(text)))


def to_html(blocks: list[Block], figures: dict[str, bytes], title: str) -> str:
    """One self-contained HTML page: inline CSS, figures as data:image/png;base64 URIs."""
    esc = html.escape
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{esc(block[1])}</{kind}>")
        elif kind == "img":
            data = base64.b64encode(figures[block[1]]).decode("ascii")
            body.append(f'<figure><img alt="{esc(block[2])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{esc(block[2])}</figcaption></figure>")
        elif kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f'<td class="num">{esc(c)}</td>' if _numeric(c) else f"<td>{esc(c)}</td>"
                                            for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>\n{CSS}\n</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
