# tests/test_viz.py: minigan.viz draws every tensor and op of a graph (DOT, SVG, HTML),
# the SVG is valid XML with non-overlapping nodes, gradient norms and parameter names show,
# save_graph picks the format from the suffix, and a whole GAN generator step draws fine.
"""Tests of minigan.viz (graph drawing)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter

import numpy as np
import pytest

import minigan
from minigan import nn, viz
from minigan.models import MLPDiscriminator, MLPGenerator
from minigan.models.gan import frozen
from minigan.nn import functional as F

SVG_NS = "{http://www.w3.org/2000/svg}"


def walk(*roots):
    """The graph behind `roots`, collected independently of viz: tensors, Nodes, edges."""
    tensors, nodes, n_edges = {}, {}, 0
    stack = list(roots)
    while stack:
        t = stack.pop()
        if id(t) in tensors:
            continue
        tensors[id(t)] = t
        if t._node is not None:
            nodes[id(t._node)] = t._node
            n_edges += len(t._node.parents) + 1  # one per input, one to the output
            stack.extend(t._node.parents)
    return list(tensors.values()), list(nodes.values()), n_edges


def small_mlp():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = minigan.randn(5, 4)
    y = model(x)
    loss = (y * y).mean()  # Mul uses y twice: two edges from one tensor
    return model, x, loss


def svg_nodes(svg: str):
    root = ET.fromstring(svg)
    groups = [g for g in root.iter(f"{SVG_NS}g") if "node" in g.get("class", "").split()]
    edges = [p for p in root.iter(f"{SVG_NS}path") if p.get("class") == "edge"]
    return root, groups, edges


def fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def test_dot_contains_every_tensor_op_and_edge():
    model, x, loss = small_mlp()
    tensors, nodes, n_edges = walk(loss)
    dot = viz.to_dot(loss)
    assert dot.startswith("digraph")
    tensor_lines = re.findall(r"^\s+t\d+ \[", dot, flags=re.M)
    op_lines = re.findall(r"^\s+op\d+ \[", dot, flags=re.M)
    assert len(tensor_lines) == len(tensors) == 9
    assert len(op_lines) == len(nodes) == 4
    assert dot.count("->") == n_edges
    labels = Counter(re.findall(r'^\s+op\d+ \[.*?label="(\w+)"', dot, flags=re.M))
    assert labels == Counter(n.name for n in nodes)
    for t in tensors:
        assert fmt_shape(t.shape) in dot


def test_svg_parses_and_matches_graph():
    model, x, loss = small_mlp()
    tensors, nodes, n_edges = walk(loss)
    svg = viz.to_svg(loss)
    root, groups, edges = svg_nodes(svg)
    assert root.tag == f"{SVG_NS}svg"
    ops = [g for g in groups if "op" in g.get("class").split()]
    tens = [g for g in groups if "tensor" in g.get("class").split()]
    assert len(tens) == len(tensors)
    assert len(ops) == len(nodes)
    assert len(edges) == n_edges
    assert Counter(g.get("data-op") for g in ops) == Counter(n.name for n in nodes)
    assert Counter(g.get("data-shape") for g in tens) == Counter(
        fmt_shape(t.shape) for t in tensors
    )
    ids = {g.get("id") for g in groups}
    for e in edges:  # every edge joins two drawn nodes
        assert e.get("data-from") in ids and e.get("data-to") in ids
    kinds = Counter(g.get("data-kind") for g in tens)
    assert kinds == {"parameter": 4, "input": 1, "intermediate": 3, "output": 1}


def test_svg_nodes_do_not_overlap():
    model, x, loss = small_mlp()
    _, groups, _ = svg_nodes(viz.to_svg(loss))
    boxes = []
    for g in groups:
        r = g.find(f"{SVG_NS}rect")
        boxes.append(tuple(float(r.get(k)) for k in ("x", "y", "width", "height")))
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, "two node boxes overlap"


def test_gradient_norms_after_backward():
    model, x, loss = small_mlp()
    params = dict(model.named_parameters())
    _, groups, _ = svg_nodes(viz.to_svg(loss, params=params))
    assert not any(g.get("data-grad-norm") for g in groups)  # no gradients yet
    loss.backward()  # frees saved arrays; the structure stays drawable
    svg = viz.to_svg(loss, params=params)
    _, groups, _ = svg_nodes(svg)
    by_name = {g.get("data-name"): g for g in groups if g.get("data-name")}
    dot = viz.to_dot(loss, params=params)
    for name, p in params.items():
        expected = float(np.linalg.norm(p.grad.numpy()))
        assert float(by_name[name].get("data-grad-norm")) == pytest.approx(expected, rel=1e-6)
        assert f"‖grad‖₂ = {expected:.4g}" in svg
        assert f"‖grad‖₂ = {expected:.4g}" in dot
    # x does not require grad: no gradient, no norm
    assert sum(1 for g in groups if g.get("data-grad-norm")) == len(params)


def test_parameter_names_and_tensor_names():
    model, x, loss = small_mlp()
    x.name = "x"
    loss.name = "the loss"
    params = dict(model.named_parameters())
    dot = viz.to_dot(loss, params=params)
    svg = viz.to_svg(loss, params=params)
    for name in list(params) + ["x", "the loss"]:
        assert f"{name}\\n" in dot
        assert f'data-name="{name}"' in svg
    # without params=, Parameters are still recognised but unnamed
    _, groups, _ = svg_nodes(viz.to_svg(loss))
    assert sum(g.get("data-kind") == "parameter" for g in groups) == len(params)
    assert not any(g.get("data-name", "").endswith("weight") for g in groups)


def test_long_labels_are_capped():
    x = minigan.randn(2, 3, requires_grad=True)
    x.name = "a" * 200
    root, groups, _ = svg_nodes(viz.to_svg(x * 2.0))
    lines = [ts.text for g in groups for ts in g.iter(f"{SVG_NS}tspan")]
    assert "a" * (viz.MAX_LABEL - 1) + "…" in lines
    assert max(len(s) for s in lines) <= viz.MAX_LABEL
    assert "a" * 200 in viz.to_svg(x)  # the full name stays in the hover tooltip


def test_leaf_and_several_roots():
    x = minigan.randn(3, requires_grad=True)
    _, groups, edges = svg_nodes(viz.to_svg(x))
    assert len(groups) == 1 and not edges
    a, b = (x * 2.0).sum(), (x + 1.0).mean()
    tensors, nodes, n_edges = walk(a, b)
    _, groups, edges = svg_nodes(viz.to_svg([a, b]))
    assert len(groups) == len(tensors) + len(nodes)
    assert len(edges) == n_edges
    assert sum(g.get("data-kind") == "output" for g in groups) == 2
    with pytest.raises(TypeError):
        viz.to_svg([a, "not a tensor"])


def test_save_graph_each_format(tmp_path):
    model, x, loss = small_mlp()
    loss.backward()
    params = dict(model.named_parameters())
    svg_path = viz.save_graph(loss, tmp_path / "g.svg", params=params)
    ET.parse(svg_path)
    html_text = viz.save_graph(loss, tmp_path / "g.html", params=params).read_text("utf-8")
    assert html_text.startswith("<!DOCTYPE html>") and "<svg" in html_text
    assert "parameter (trainable leaf)" in html_text  # the legend
    assert "0.weight" in html_text
    dot_text = viz.save_graph(loss, str(tmp_path / "g.dot"), params=params).read_text("utf-8")
    assert dot_text.startswith("digraph") and "0.weight" in dot_text
    with pytest.raises(ValueError, match="suffix"):
        viz.save_graph(loss, tmp_path / "g.png")


def test_gan_generator_step_graph():
    """The generator half of one MLP-GAN training step (default model sizes)."""
    G, D = MLPGenerator(), MLPDiscriminator()
    opt_d = minigan.optim.Adam(D.parameters(), lr=2e-4)
    real = minigan.rand(8, 784) * 2.0 - 1.0
    z = minigan.randn(8, G.latent_dim)
    # discriminator update
    fake = G(z)
    bce = F.binary_cross_entropy_with_logits
    d_loss = bce(D(real), minigan.ones(8, 1)) + bce(D(fake.detach()), minigan.zeros(8, 1))
    d_loss.backward()
    opt_d.step()
    # generator update, D frozen (as GANTrainer.step does)
    params = {f"G.{k}": p for k, p in G.named_parameters()}
    params.update({f"D.{k}": p for k, p in D.named_parameters()})
    for p in G.parameters():
        p.zero_grad()
    with frozen(D):
        g_loss = F.binary_cross_entropy_with_logits(D(fake), minigan.ones(8, 1))
        g_loss.backward()
        svg = viz.to_svg(g_loss, params=params)
        dot = viz.to_dot(g_loss, params=params)
    tensors, nodes, n_edges = walk(g_loss)
    _, groups, edges = svg_nodes(svg)
    assert len(groups) == len(tensors) + len(nodes)
    assert len(edges) == n_edges == dot.count("->")
    names = {n.name for n in nodes}
    assert {"LinearAct", "BatchNorm", "LeakyReLU", "SigmoidBCE"} <= names
    assert len(svg.encode()) < 300_000
    by_name = {g.get("data-name"): g for g in groups if g.get("data-name")}
    assert set(by_name) == set(params)  # every parameter of G and D is drawn, named
    for name, p in params.items():
        norm = by_name[name].get("data-grad-norm")
        if name.startswith("G."):
            assert float(norm) == pytest.approx(float(np.linalg.norm(p.grad.numpy())), rel=1e-6)
        else:
            # D's gradients here are from its own update; the G step did not touch them
            text = "".join(by_name[name].find(f"{SVG_NS}text").itertext())
            assert "requires_grad" not in text  # frozen: drawn as the constant it was
    # both losses in one picture
    _, groups, _ = svg_nodes(viz.to_svg([d_loss, g_loss], params=params))
    assert sum(g.get("data-kind") == "output" for g in groups) == 2
