# Seeing the graph: draw the computation graph behind a tensor as Graphviz DOT text, or as a
# self-contained SVG / HTML page laid out here in pure Python (no graphviz binary, no JS).
#
# The graph: one node per tensor and one per recorded op (an autograd Node); edges follow
# the data, input tensor -> op -> output tensor. The layout is a simple layered
# (Sugiyama-style) drawing: layer = longest path from the leaves, leaves pulled down next
# to their first consumer, a few barycenter sweeps to order each layer, and positions that
# stay as close as possible to each node's neighbours without overlapping.
"""Draw the computation graph of a tensor (ops, shapes, requires_grad, gradient norms).

Example::

    loss = model(x).mean()
    loss.backward()
    minigan.viz.save_graph(loss, "graph.svg", params=dict(model.named_parameters()))

Works before or after ``backward()``: backward frees the arrays saved for it, but the
structure of the graph (each Node's parents) stays. After backward, every tensor that has
a ``.grad`` shows its norm ‖grad‖₂.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor
from .tracing import FUSED_OPS

MAX_LABEL = 30  # characters per label line; longer lines end in "…"
FONT_SIZE = 11
CHAR_W = 6.7  # width of one monospace character at FONT_SIZE (DejaVu Sans Mono ~0.6 em)
LINE_H = 14
PAD_X, PAD_Y = 8, 6
GAP_X, GAP_Y = 18, 34  # between nodes of a layer, between layers
MARGIN = 16
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# kind -> (fill, stroke, legend text)
PALETTE: dict[str, tuple[str, str, str]] = {
    "parameter": ("#d8f0d2", "#3d8b37", "parameter (trainable leaf)"),
    "input": ("#dbe8f8", "#3267b0", "input / constant leaf"),
    "intermediate": ("#f4f4f4", "#8a8a8a", "intermediate tensor"),
    "output": ("#ffe2bd", "#d9730d", "output"),
    "op": ("#fff5c2", "#b09000", "op"),
    "fused": ("#eadcf8", "#7b4bb3", "fused kernel op"),
}


@dataclass
class _Node:
    """One node of the drawing: a tensor or an op."""

    id: str
    kind: str  # a PALETTE key
    lines: list[str]
    is_op: bool
    attrs: dict[str, str] = field(default_factory=dict)
    tooltip: str = ""
    layer: int = 0
    x: float = 0.0  # centre
    y: float = 0.0  # top
    w: float = 0.0
    h: float = 0.0


@dataclass
class _Graph:
    nodes: list[_Node]
    edges: list[tuple[int, int]]  # (source index, target index), data flow


def _roots(tensor: Tensor | Sequence[Tensor]) -> list[Tensor]:
    roots = [tensor] if isinstance(tensor, Tensor) else list(tensor)
    if not roots or not all(isinstance(t, Tensor) for t in roots):
        raise TypeError("viz: expected a Tensor or a sequence of Tensors")
    return roots


def _cut(text: str, width: int = MAX_LABEL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def grad_norm(t: Tensor) -> float | None:
    """‖t.grad‖₂ as a Python float (None when the tensor has no gradient)."""
    if t.grad is None:
        return None
    return float(np.linalg.norm(t.grad.numpy()))


def _walk(roots: list[Tensor], params: Mapping[str, Tensor] | None) -> _Graph:
    """Collect tensors and ops reachable from `roots`, parents before children."""
    names = {id(t): name for name, t in (params or {}).items()}
    root_ids = {id(t) for t in roots}
    # Iterative post-order DFS: a tensor is emitted after all of its op's inputs.
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(t, False) for t in reversed(roots)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._node is not None:
            for p in reversed(t._node.parents):
                if id(p) not in seen:
                    stack.append((p, False))

    from .nn.module import Parameter  # noqa: PLC0415 - nn sits above the core

    nodes: list[_Node] = []
    edges: list[tuple[int, int]] = []
    index: dict[int, int] = {}
    n_ops = 0
    for t in order:
        node = t._node
        op_index = -1
        if node is not None:
            fused = node.name in FUSED_OPS or node.function.__module__.endswith("ops.fused")
            op_index = len(nodes)
            nodes.append(
                _Node(
                    id=f"op{n_ops}",
                    kind="fused" if fused else "op",
                    lines=[_cut(node.name)],
                    is_op=True,
                    attrs={"data-op": node.name},
                    tooltip=f"{node.name}" + (" (fused kernel)" if fused else ""),
                )
            )
            n_ops += 1
            for p in node.parents:
                edges.append((index[id(p)], op_index))
        name = names.get(id(t)) or t.name
        if id(t) in root_ids:
            kind = "output"
        elif node is not None:
            kind = "intermediate"
        elif isinstance(t, Parameter) or id(t) in names:
            kind = "parameter"
        else:
            kind = "input"
        flags = []
        if node is None:
            flags.append("leaf")
        if t.requires_grad:
            flags.append("requires_grad")
        lines = [f"{_fmt_shape(t.shape)} {t.dtype}"]
        if name:
            lines.insert(0, name)
        if flags:
            lines.append(" · ".join(flags))
        attrs = {"data-kind": kind, "data-shape": _fmt_shape(t.shape), "data-dtype": str(t.dtype)}
        if name:
            attrs["data-name"] = name
        norm = grad_norm(t)
        if norm is not None:
            lines.append(f"‖grad‖₂ = {norm:.4g}")
            attrs["data-grad-norm"] = repr(norm)
        tip = [name or "tensor", f"shape {_fmt_shape(t.shape)}", f"dtype {t.dtype}"]
        tip += [f"device {t.device}"] + flags
        if norm is not None:
            tip.append(f"|grad|_2 = {norm!r}")
        index[id(t)] = len(nodes)
        nodes.append(
            _Node(
                id=f"t{len(index) - 1}",
                kind=kind,
                lines=[_cut(s) for s in lines],
                is_op=False,
                attrs=attrs,
                tooltip="\n".join(tip),
            )
        )
        if op_index >= 0:
            edges.append((op_index, len(nodes) - 1))
    return _Graph(nodes, edges)


# ----- layout ---------------------------------------------------------------------------
def _isotonic(targets: list[float], widths: list[float]) -> list[float]:
    """Centres x_i closest (least squares) to `targets` with x_{i+1} - x_i >= the half
    widths plus GAP_X: shift by the cumulative separations, then pool adjacent violators."""
    offsets = [0.0]
    for i in range(1, len(widths)):
        offsets.append(offsets[-1] + (widths[i - 1] + widths[i]) / 2 + GAP_X)
    ys = [t - o for t, o in zip(targets, offsets)]
    blocks: list[list[float]] = []  # [mean, count]
    for y in ys:
        blocks.append([y, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, c2 = blocks.pop()
            m1, c1 = blocks.pop()
            blocks.append([(m1 * c1 + m2 * c2) / (c1 + c2), c1 + c2])
    out: list[float] = []
    for mean, count in blocks:
        out += [mean] * int(count)
    return [y + o for y, o in zip(out, offsets)]


def _layout(g: _Graph) -> tuple[float, float]:
    """Set layer, x, y, w, h of every node; return the drawing's (width, height)."""
    n = len(g.nodes)
    for nd in g.nodes:
        longest = max(len(s) for s in nd.lines)
        nd.w = max(longest * CHAR_W + 2 * PAD_X, 48.0)
        nd.h = len(nd.lines) * LINE_H + 2 * PAD_Y
        if nd.is_op:
            nd.w += 12  # room for the rounded ends
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for a, b in g.edges:
        preds[b].append(a)
        succs[a].append(b)
    # Nodes are in topological order: longest path from the leaves in one pass.
    for i in range(n):
        g.nodes[i].layer = max((g.nodes[p].layer + 1 for p in preds[i]), default=0)
    # Leaves sit just above their first consumer instead of all in the top row.
    for i in range(n):
        if not preds[i] and succs[i]:
            g.nodes[i].layer = min(g.nodes[s].layer for s in succs[i]) - 1
    n_layers = max((nd.layer for nd in g.nodes), default=0) + 1
    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for i, nd in enumerate(g.nodes):
        layers[nd.layer].append(i)

    def place(layer: list[int], targets: list[float]) -> None:
        order = sorted(range(len(layer)), key=lambda k: targets[k])
        layer[:] = [layer[k] for k in order]
        xs = _isotonic([targets[k] for k in order], [g.nodes[i].w for i in layer])
        for i, x in zip(layer, xs):
            g.nodes[i].x = x

    for layer in layers:  # initial: packed rows centred on 0
        place(layer, [0.0] * len(layer))
    # Barycenter sweeps: each node moves towards the mean x of its neighbours in the layers
    # already placed (above on the way down, below on the way up).
    for sweep in range(6):
        down = sweep % 2 == 0
        seq = layers[1:] if down else layers[-2::-1]
        for layer in seq:
            targets = []
            for i in layer:
                nbrs = preds[i] if down else succs[i]
                nd = g.nodes[i]
                xs = [g.nodes[j].x for j in nbrs]
                targets.append(sum(xs) / len(xs) if xs else nd.x)
            place(layer, targets)
    # y: each layer as tall as its tallest node; nodes centred vertically in their layer.
    y = float(MARGIN)
    for layer in layers:
        height = max((g.nodes[i].h for i in layer), default=0.0)
        for i in layer:
            g.nodes[i].y = y + (height - g.nodes[i].h) / 2
        y += height + GAP_Y
    left = min((nd.x - nd.w / 2 for nd in g.nodes), default=0.0)
    right = max((nd.x + nd.w / 2 for nd in g.nodes), default=0.0)
    for nd in g.nodes:
        nd.x += MARGIN - left
    return right - left + 2 * MARGIN, y - GAP_Y + MARGIN


# ----- output formats -------------------------------------------------------------------
def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(tensor: Tensor | Sequence[Tensor], params: Mapping[str, Tensor] | None = None) -> str:
    """Graphviz DOT text of the graph behind `tensor` (render with `dot -Tsvg`).

    `params` (e.g. ``dict(model.named_parameters())``) labels parameters by their names.
    """
    g = _walk(_roots(tensor), params)
    out = [
        "digraph minigan {",
        "  rankdir=TB;",
        f'  node [fontname="{FONT.split(",")[0]}", fontsize={FONT_SIZE}];',
        '  edge [color="#777777", arrowsize=0.7];',
    ]
    for nd in g.nodes:
        fill, stroke, _ = PALETTE[nd.kind]
        shape = 'shape=box, style="rounded,filled"' if nd.is_op else 'shape=box, style="filled"'
        if nd.is_op:
            shape = 'shape=ellipse, style="filled"'
        label = _dot_escape("\n".join(nd.lines))
        out.append(
            f'  {nd.id} [{shape}, fillcolor="{fill}", color="{stroke}", label="{label}", '
            f'tooltip="{_dot_escape(nd.tooltip)}"];'
        )
    for a, b in g.edges:
        out.append(f"  {g.nodes[a].id} -> {g.nodes[b].id};")
    out.append("}")
    return "\n".join(out) + "\n"


def _legend_svg(x: float, y: float) -> tuple[list[str], float]:
    parts = ['<g class="legend">']
    for kind, (fill, stroke, text) in PALETTE.items():
        rx = 7 if kind in ("op", "fused") else 0
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="14" height="14" rx="{rx}" fill="{fill}" '
            f'stroke="{stroke}"/>'
        )
        parts.append(
            f'<text x="{x + 19:.1f}" y="{y + 11:.1f}" fill="#333">{html.escape(text)}</text>'
        )
        x += 19 + len(text) * CHAR_W + 16
    parts.append("</g>")
    return parts, x


def to_svg(
    tensor: Tensor | Sequence[Tensor],
    params: Mapping[str, Tensor] | None = None,
    legend: bool = True,
    title: str | None = None,
) -> str:
    """A self-contained SVG drawing of the graph behind `tensor` (or several tensors).

    Boxes are tensors (name, shape, dtype, leaf / requires_grad, and ‖grad‖₂ once a
    gradient exists), rounded boxes are ops (purple: a fused backend kernel); colours tell
    parameters, other inputs, intermediates and outputs apart. Hover a node for details.
    """
    g = _walk(_roots(tensor), params)
    width, height = _layout(g)
    top = 0.0
    header: list[str] = []
    if title:
        header.append(
            f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="14" font-weight="bold" '
            f'fill="#222">{html.escape(title)}</text>'
        )
        top += 22
    if legend:
        items, right = _legend_svg(MARGIN, MARGIN + top)
        header += items
        width = max(width, right + MARGIN)
        top += 26
    height += top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{math.ceil(width)}" '
        f'height="{math.ceil(height)}" viewBox="0 0 {math.ceil(width)} {math.ceil(height)}" '
        f'font-family="{FONT}" font-size="{FONT_SIZE}">',
        f"<title>{html.escape(title or 'minigan computation graph')}</title>",
        "<defs>",
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>',
        "</defs>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        *header,
        '<g class="edges">',
    ]
    # Edges into a node enter at spread-out ports, ordered by the source's x (no crossing
    # at the port), so that a tensor used twice by one op (x * x) shows two arrows.
    incoming: list[list[int]] = [[] for _ in g.nodes]
    for k, (_, b) in enumerate(g.edges):
        incoming[b].append(k)
    port_x: dict[int, float] = {}
    for b, ks in enumerate(incoming):
        ks.sort(key=lambda k: g.nodes[g.edges[k][0]].x)
        step = min(14.0, g.nodes[b].w / (len(ks) + 1))
        for j, k in enumerate(ks):
            port_x[k] = g.nodes[b].x + (j - (len(ks) - 1) / 2) * step
    for k, (a, b) in enumerate(g.edges):
        s, t = g.nodes[a], g.nodes[b]
        x1, y1 = s.x, s.y + s.h + top
        x2, y2 = port_x[k], t.y + top - 1
        dy = max((y2 - y1) / 2, 12.0)
        parts.append(
            f'<path class="edge" id="e{k}" data-from="{s.id}" data-to="{t.id}" '
            f'd="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + dy:.1f} {x2:.1f},{y2 - dy:.1f} '
            f'{x2:.1f},{y2:.1f}" fill="none" stroke="#777" stroke-width="1.1" '
            f'marker-end="url(#arrow)"/>'
        )
    parts.append("</g>")
    parts.append('<g class="nodes">')
    for nd in g.nodes:
        fill, stroke, _ = PALETTE[nd.kind]
        cls = f"node {'op' if nd.is_op else 'tensor'} {nd.kind}"
        attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in nd.attrs.items())
        x0, y0 = nd.x - nd.w / 2, nd.y + top
        rx = nd.h / 2 if nd.is_op else 3
        parts.append(f'<g class="{cls}" id="{nd.id}"{attrs}>')
        parts.append(f"<title>{html.escape(nd.tooltip)}</title>")
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{nd.w:.1f}" height="{nd.h:.1f}" '
            f'rx="{rx:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>'
        )
        ty = y0 + PAD_Y + LINE_H - 3.5
        parts.append(f'<text x="{nd.x:.1f}" y="{ty:.1f}" text-anchor="middle" fill="#222">')
        for i, line in enumerate(nd.lines):
            bold = (
                ' font-weight="bold"' if (i == 0 and (nd.is_op or "data-name" in nd.attrs)) else ""
            )
            dy = "0" if i == 0 else str(LINE_H)
            parts.append(f'<tspan x="{nd.x:.1f}" dy="{dy}"{bold}>{html.escape(line)}</tspan>')
        parts.append("</text></g>")
    parts.append("</g></svg>")
    return "\n".join(parts) + "\n"


def to_html(
    tensor: Tensor | Sequence[Tensor],
    params: Mapping[str, Tensor] | None = None,
    title: str = "minigan computation graph",
) -> str:
    """A minimal self-contained HTML page: a title, a colour legend and the SVG."""
    svg = to_svg(tensor, params=params, legend=False)
    g = _walk(_roots(tensor), params)
    n_ops = sum(nd.is_op for nd in g.nodes)
    legend = "\n".join(
        f'<li><span class="swatch{" op" if kind in ("op", "fused") else ""}" '
        f'style="background:{fill};border-color:{stroke}"></span>{html.escape(text)}</li>'
        for kind, (fill, stroke, text) in PALETTE.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
ul.legend {{ list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 1.2em; }}
.swatch {{ display: inline-block; width: 14px; height: 14px; border: 1px solid;
  vertical-align: middle; margin-right: 0.4em; }}
.swatch.op {{ border-radius: 7px; }}
.graph {{ overflow: auto; border: 1px solid #ddd; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<ul class="legend">
{legend}
</ul>
<p>{len(g.nodes) - n_ops} tensors, {n_ops} ops, {len(g.edges)} edges. Data flows top to
bottom; hover a node for details. ‖grad‖₂ is shown for tensors that have a gradient.</p>
<div class="graph">
{svg}</div>
</body>
</html>
"""


def save_graph(
    tensor: Tensor | Sequence[Tensor],
    path: str | os.PathLike[str],
    params: Mapping[str, Tensor] | None = None,
    **kwargs: Any,
) -> Path:
    """Write the graph to `path`; the suffix picks the format: .svg, .html (.htm) or .dot
    (.gv). Extra keyword arguments go to `to_svg` / `to_html`. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        text = to_svg(tensor, params=params, **kwargs)
    elif suffix in (".html", ".htm"):
        text = to_html(tensor, params=params, **kwargs)
    elif suffix in (".dot", ".gv"):
        text = to_dot(tensor, params=params, **kwargs)
    else:
        raise ValueError(f"save_graph: unknown suffix {path.suffix!r}; use .svg, .html or .dot")
    path.write_text(text, encoding="utf-8")
    return path
