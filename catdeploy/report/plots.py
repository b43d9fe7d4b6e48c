"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes the collected report dict and returns PNG bytes, or None when the run has
nothing of that kind (no .qg for SQNR, no CAT model for the CAT figure)."""
from __future__ import annotations

import io

import numpy as np

DPI = 100
OK_COLOR, BAD_COLOR, ERROR_COLOR = "#4caf50", "#e53935", "#9e9e9e"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _bits_key(setting: str | None) -> tuple:
    """Sort settings from wide to narrow: w8a8 before w4a4 before w2a4."""
    import re

    m = re.fullmatch(r"w(\d+)a(\d+)", setting or "")
    return (-int(m.group(1)), -int(m.group(2))) if m else (0, 0, setting or "")


def _short_names(names: list[str], limit: int = 28) -> list[str]:
    return [n if len(n) <= limit else "…" + n[-(limit - 1):] for n in names]


def accuracy_png(report: dict) -> bytes | None:
    """Integer top-1 per model, grouped by bit width, coloured by method; FP top-1 as a line; a
    CAT model also marks its top-1 without the head."""
    models = report["models"]
    if not models:
        return None
    settings = sorted({m["setting"] for m in models}, key=_bits_key)
    methods = sorted({m["label"].split(" ", 1)[1] if " " in m["label"] else m["label"] for m in models})
    colors = {label: f"C{i % 10}" for i, label in enumerate(methods)}
    fig = _figure(10, 4.2)
    ax = fig.add_subplot()
    width = 0.8 / max(1, max(sum(m["setting"] == s for m in models) for s in settings))
    shown = set()
    for g, setting in enumerate(settings):
        group = [m for m in models if m["setting"] == setting]
        for i, m in enumerate(group):
            method = m["label"].split(" ", 1)[1] if " " in m["label"] else m["label"]
            x = g - 0.4 + width * (i + 0.5)
            ax.bar(x, m["int_top1"], width * 0.9, color=colors[method],
                   label=method if method not in shown else None)
            shown.add(method)
            ax.annotate(f"{m['int_top1']:.1f}", (x, m["int_top1"]), ha="center", va="bottom", fontsize=8)
            inside = m["int_top1"] >= 35  # the file name inside a tall bar, above a short one
            ax.annotate(m["name"], (x, 2 if inside else m["int_top1"] + 6), ha="center", va="bottom", rotation=90,
                        fontsize=7, color="white" if inside else "black")
            without = (m.get("cat") or {}).get("int_top1_without_cat")
            if without is not None:
                ax.plot([x - width * 0.45, x + width * 0.45], [without] * 2, color="black", lw=2,
                        label="without CAT head" if "without" not in shown else None)
                shown.add("without")
    fp = sorted({round(m["fp_top1"], 6) for m in models if m["fp_top1"] is not None})
    for j, value in enumerate(fp):
        ax.axhline(value, color="black", ls="--", lw=1, label=f"FP top-1 {value:.1f} %" if j < 3 else None)
    ax.set_xticks(range(len(settings)), [s or "?" for s in settings])
    ax.set_xlim(-0.6, len(settings) - 0.4)
    ax.set_ylim(0, 105)
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"Integer top-1 (catrt) on the first {report['n']} images of {report['data']}")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def sqnr_png(report: dict) -> bytes | None:
    """Per-layer SQNR (dB) of the integer activations against the float graph, a line per model."""
    models = [m for m in report["models"] if m["layers"]]
    if not models:
        return None
    order: list[str] = []  # by integer tensor name: a CAT output (fc/cat) gets its own place after fc
    for m in models:
        for row in m["layers"]:
            if row["tensor"] not in order:
                order.append(row["tensor"])
    position = {v: i for i, v in enumerate(order)}
    fig = _figure(10, 4.6)
    ax = fig.add_subplot()
    for i, m in enumerate(models):
        rows = [r for r in m["layers"] if r["sqnr_db"] is not None]
        ax.plot([position[r["tensor"]] for r in rows], [r["sqnr_db"] for r in rows], marker="os^vD"[i % 5],
                ms=3, lw=1.2, ls=("-", "--", ":", "-.")[i % 4], color=f"C{i % 10}", label=f"{m['name']} ({m['label']})")
    step = max(1, len(order) // 60)
    ax.set_xticks(range(0, len(order), step), _short_names(order[::step]), rotation=90, fontsize=6)
    ax.set_ylabel("SQNR (dB)")
    ax.set_title("Per-layer SQNR of the integer activations vs the float graph")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def cat_png(report: dict) -> bytes | None:
    """CAT: samples per cluster, and top-1 without / with the head (held-out calibration images
    and evaluation images)."""
    models = [m for m in report["models"] if m.get("cat")]
    if not models:
        return None
    fig = _figure(10, 4)
    sizes_ax, gain_ax = fig.subplots(1, 2)
    kmax = max([len(m["cat"]["cluster_sizes"]) for m in models] + [1])
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        sizes = m["cat"]["cluster_sizes"]
        sizes_ax.bar(np.arange(len(sizes)) - 0.4 + width * (i + 0.5), sizes, width * 0.9, color=f"C{i % 10}",
                     label=m["name"])
    sizes_ax.set_xticks(range(kmax), [str(k) for k in range(kmax)])
    sizes_ax.set_xlabel("cluster")
    sizes_ax.set_ylabel("fit logits in cluster")
    sizes_ax.set_title("CAT cluster sizes")
    sizes_ax.legend(fontsize=8)
    pairs = [("held-out (calibration)", "heldout_top1_none", "heldout_top1"),
             ("evaluation", "int_top1_without_cat", "int_top1_with_cat")]
    labels = []
    for j, m in enumerate(models):
        for p, (what, before, after) in enumerate(pairs):
            b, a = m["cat"].get(before), m["cat"].get(after)
            if b is None or a is None:
                continue
            x = len(labels)
            labels.append(f"{m['name']}\n{what}")
            gain_ax.bar(x - 0.2, b, 0.38, color="#bdbdbd", label="without CAT" if x == 0 else None)
            gain_ax.bar(x + 0.2, a, 0.38, color=f"C{j % 10}", label="with CAT" if x == 0 else None)
            gain_ax.annotate(f"{a - b:+.1f}", (x + 0.2, a), ha="center", va="bottom", fontsize=8)
    if labels:
        gain_ax.set_xticks(range(len(labels)), labels, fontsize=7)
        gain_ax.legend(fontsize=8, loc="lower right")
    else:
        gain_ax.text(0.5, 0.5, "no held-out or evaluation split recorded", ha="center", transform=gain_ax.transAxes)
    gain_ax.set_ylim(0, 105)
    gain_ax.set_ylabel("top-1 (%)")
    gain_ax.set_title("CAT gain (annotated: with - without)")
    return _png(fig)


def levels_png(report: dict) -> bytes | None:
    """Distinct int8 codes each activation tensor took on the evaluation images, against 2^bits."""
    models = [m for m in report["models"] if m["levels"]]
    if not models:
        return None
    fig = _figure(10, 2.2 * len(models) + 0.4)
    axes = np.atleast_1d(fig.subplots(len(models), 1, squeeze=False)[:, 0])
    for ax, m in zip(axes, models):
        rows = m["levels"]
        x = np.arange(len(rows))
        over = [r["within"] is False for r in rows]
        ax.bar(x, [r["distinct"] for r in rows], 0.8, color=[BAD_COLOR if o else "C0" for o in over],
               label="distinct codes")
        limits = [r["limit"] if r["limit"] is not None else np.nan for r in rows]
        ax.plot(x, limits, ls="none", marker="_", ms=9, mew=2, color="black", label="2^bits")
        ax.set_yscale("log", base=2)
        ax.set_ylim(1, 2048)
        step = max(1, len(rows) // 60)
        ax.set_xticks(x[::step], _short_names([r["tensor"] for r in rows][::step]), rotation=90, fontsize=5)
        ax.set_title(f"{m['name']} ({m['label']}): {sum(over)} tensors over 2^bits", fontsize=9)
        ax.set_ylabel("values")
        ax.legend(fontsize=7, loc="upper right", ncols=2)
    return _png(fig)


def bitexact_png(report: dict) -> bytes | None:
    """Mismatched elements, catrt vs each interpreter x resolver (rows: models)."""
    from matplotlib.colors import ListedColormap

    models = report["models"]
    columns: list[str] = []
    for m in models:
        for r in m["verify"]:
            key = f"{r['interpreter']} {r['version']}\n{r['resolver']}"
            if key not in columns:
                columns.append(key)
    if not models or not columns:
        return None
    state = np.full((len(models), len(columns)), 2)
    fig = _figure(max(6.0, 1.6 * len(columns) + 2.5), 0.55 * len(models) + 1.6)
    ax = fig.add_subplot()
    for i, m in enumerate(models):
        for r in m["verify"]:
            j = columns.index(f"{r['interpreter']} {r['version']}\n{r['resolver']}")
            state[i, j] = 2 if r["error"] else (0 if r["bit_exact"] else 1)
            text = "error" if r["error"] else f"{r['mismatched_elements']}"
            ax.text(j, i, text, ha="center", va="center", fontsize=9, color="white")
    ax.imshow(state, cmap=ListedColormap([OK_COLOR, BAD_COLOR, ERROR_COLOR]), vmin=0, vmax=2, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, fontsize=8)
    ax.set_yticks(range(len(models)), [m["name"] for m in models], fontsize=8)
    ax.set_title(f"Mismatched elements, every tensor, first {report['verify_samples']} images "
                 "(green: bit-exact)", fontsize=10)
    return _png(fig)


def sensitivity_png(report: dict) -> bytes | None:
    """Per-tensor held-out damage (KL to FP) when only that tensor is at the low width, weights and
    activations side by side in graph order, one panel per sensitivity table of the run."""
    tables = report.get("sensitivity") or []
    if not tables:
        return None
    fig = _figure(10, 3.4 * len(tables))
    for k, table in enumerate(tables):
        ax = fig.add_subplot(len(tables), 1, k + 1)
        layers = list(dict.fromkeys(r["layer"] for r in table["rows"]))
        position = {name: i for i, name in enumerate(layers)}
        for kind, offset, color in (("weight", -0.2, "C0"), ("activation", 0.2, "C1")):
            rows = [r for r in table["rows"] if r["tensor"] == kind]
            ax.bar([position[r["layer"]] + offset for r in rows], [max(r["damage_kl"], 1e-6) for r in rows], 0.4,
                   color=color, label=f"{kind} at {table['low']['weight_bits' if kind == 'weight' else 'act_bits']} bit")
        ax.set_yscale("log")
        step = max(1, len(layers) // 60)
        ax.set_xticks(range(0, len(layers), step), _short_names(layers[::step]), rotation=90, fontsize=6)
        ax.set_ylabel("damage (KL, nats)")
        ax.set_title(f"{table.get('model', table['file'])}: only this tensor low, the rest 8 bit "
                     f"({table['held_out_images']} held-out images)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def pareto_png(report: dict) -> bytes | None:
    """Integer top-1 against average weight bits per parameter of the budget, uniform settings and
    mixed-precision choices (held-out top-1 as hollow markers), one colour per float model."""
    models = [m for m in report["models"] if m.get("budget")]
    if not any(m["budget"]["mixed"] for m in models):
        return None
    fig = _figure(8, 4.6)
    ax = fig.add_subplot()
    groups = sorted({(m.get("fp_top1") or 0.0) for m in models})
    for m in models:
        color = f"C{groups.index(m.get('fp_top1') or 0.0) % 10}"
        b = m["budget"]
        marker = "*" if b["mixed"] else "o"
        ax.scatter(b["weight_bits_per_parameter"], m["int_top1"], marker=marker, s=80 if b["mixed"] else 40,
                   color=color, zorder=3)
        if b["held_out_top1"] is not None:
            ax.scatter(b["weight_bits_per_parameter"], b["held_out_top1"], marker=marker, s=80, facecolors="none",
                       edgecolors=color, zorder=3)
        ax.annotate(m["setting"], (b["weight_bits_per_parameter"], m["int_top1"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("weight bits per parameter (layers of the budget)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Storage vs accuracy: uniform (o) and mixed precision (*; hollow: held-out)", fontsize=10)
    ax.grid(alpha=0.3)
    return _png(fig)


PLOTS = {
    "accuracy.png": accuracy_png,
    "sqnr.png": sqnr_png,
    "cat.png": cat_png,
    "levels.png": levels_png,
    "bitexact.png": bitexact_png,
    "sensitivity.png": sensitivity_png,
    "pareto.png": pareto_png,
}


def draw_all(report: dict) -> dict[str, bytes]:
    """{file name: PNG bytes} of every figure the run has data for."""
    out = {}
    for name, draw in PLOTS.items():
        png = draw(report)
        if png is not None:
            out[name] = png
    return out
