# tests/test_trace.py: minigan.trace() records forward and backward of every op with the
# right shapes, devices and implementation names, prints a table with the backend footer,
# round-trips through JSON, leaves the autograd hooks clean (also after exceptions and when
# nested), and its per-op summary counts match the ops that ran.
"""Tests of minigan.trace (op tracing)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from helpers import device_params

import minigan
from minigan import autograd, backend, nn
from minigan.autograd import Function
from minigan.tracing import FUSED_OPS, Trace


def model_and_input(device: str = "cpu"):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).to(device)
    x = minigan.randn(5, 4, device=device)
    return model, x


def run_step(model, x):
    y = model(x)  # two fused LinearAct calls (Linear + ReLU fused, then Linear)
    loss = (y * y).mean()
    loss.backward()
    return loss


def count_forward_ops(fn):
    """Op names applied by fn(), counted by a hook of our own (the independent oracle)."""
    counts: Counter = Counter()

    def hook(event, name, info):
        if event == "forward_start":
            counts[name] += 1

    autograd.op_hooks.append(hook)
    try:
        fn()
    finally:
        autograd.op_hooks.remove(hook)
    return counts


@pytest.mark.parametrize("device", device_params())
def test_records_forward_and_backward(device):
    model, x = model_and_input(device)
    with minigan.trace() as t:
        run_step(model, x)
    assert isinstance(t, Trace)
    fwd = [r for r in t.records if r["phase"] == "forward"]
    bwd = [r for r in t.records if r["phase"] == "backward"]
    assert [r["op"] for r in fwd] == ["LinearAct", "LinearAct", "Mul", "Mean"]
    assert [r["op"] for r in bwd] == ["Mean", "Mul", "LinearAct", "LinearAct"]
    assert [r["index"] for r in t.records] == list(range(len(t.records)))

    l1, l2, mul, mean = fwd
    assert l1["input_shapes"] == [[5, 4], [8, 4], [8]] and l1["output_shape"] == [5, 8]
    assert l2["input_shapes"] == [[5, 8], [3, 8], [3]] and l2["output_shape"] == [5, 3]
    assert mul["input_shapes"] == [[5, 3], [5, 3]] and mul["output_shape"] == [5, 3]
    assert mean["input_shapes"] == [[5, 3]] and mean["output_shape"] == []
    assert l1["kernels"] == ["linear_act_forward"] and mul["kernels"] == []

    fused_impl = backend.implementation(device)[0]
    array_impl = {"cpu": "numpy", "cuda": "cupy"}[device]
    for r in t.records:
        assert r["device"] == device
        assert r["dtype"] == "float32"
        assert r["ms"] >= 0.0
        assert r["impl"] == (fused_impl if r["op"] in FUSED_OPS else array_impl)

    # backward: same op shapes, plus the gradient computed for each input
    b_mean, b_mul, b_l2, b_l1 = bwd
    assert b_l1["input_shapes"] == l1["input_shapes"]
    assert b_l1["output_shape"] == [5, 8]
    assert b_l1["grad_shapes"] == [None, [8, 4], [8]]  # x needs no gradient: skipped
    assert b_l2["grad_shapes"] == [[5, 8], [3, 8], [3]]
    assert b_mul["grad_shapes"] == [[5, 3], [5, 3]]
    assert b_mean["grad_shapes"] == [[5, 3]]
    assert b_l1["kernels"] == ["linear_act_backward"]


def test_table_lists_ops_and_backend_reason():
    model, x = model_and_input()
    with minigan.trace() as t:
        run_step(model, x)
    table = t.table()
    assert str(t) == table
    rows = [line for line in table.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == len(t.records)
    for row, r in zip(rows, t.records):
        assert r["phase"] in row and r["op"] in row and r["impl"] in row
    assert "5x4, 8x4, 8" in table  # first LinearAct's inputs
    assert "-, 8x4, 8" in table  # its backward: no gradient for x
    info = minigan.backend_info()
    for device, d in info.items():
        assert f"backend {device}: {d['implementation']} ({d['reason']})" in table
    assert "forward 4 calls" in table and "backward 4 calls" in table
    short = t.table(max_rows=2)
    assert "6 more rows" in short and "forward 4 calls" in short
    assert "LinearAct" in t.summary_table()
    assert "8 records" in repr(t)


def test_json_round_trip(tmp_path):
    model, x = model_and_input()
    opt = minigan.optim.Adam(model.parameters())
    with minigan.trace() as t:
        run_step(model, x)
        opt.step()
    path = tmp_path / "trace.json"
    t.save_json(path)
    data = json.loads(path.read_text())
    assert data["records"] == t.records
    assert data["summary"] == json.loads(json.dumps(t.summary()))
    assert data["backend"] == minigan.backend_info()
    assert data["sync"] is True


def test_summary_counts_match_ops():
    model, x = model_and_input()
    with minigan.trace() as t:
        counts = count_forward_ops(lambda: run_step(model, x))
    summary = t.summary()
    assert set(summary) == set(counts)
    for op, n in counts.items():
        assert summary[op]["forward"] == n
        assert summary[op]["backward"] == n  # every op here takes part in backward
        assert summary[op]["count"] == 2 * n
        ms = sum(r["ms"] for r in t.records if r["op"] == op)
        assert summary[op]["total_ms"] == pytest.approx(ms)
    assert summary["LinearAct"]["impl"] == [backend.implementation("cpu")[0]]
    totals = [s["total_ms"] for s in summary.values()]
    assert totals == sorted(totals, reverse=True)


def test_optimizer_step_recorded():
    model, x = model_and_input()
    opt = minigan.optim.Adam(model.parameters())
    run_step(model, x)
    with minigan.trace() as t:
        opt.step()
    assert [r["op"] for r in t.records] == ["adam_step"]
    (r,) = t.records
    assert r["phase"] == "optimizer" and r["impl"] == backend.implementation("cpu")[0]
    assert r["input_shapes"] == [list(p.shape) for p in model.parameters()]
    with minigan.trace(kernels=False) as t2:
        opt.step()
    assert t2.records == []


def test_hooks_clean_after_block_and_exception():
    before_hooks = list(autograd.op_hooks)
    kernel = backend.kernel
    with minigan.trace():
        assert len(autograd.op_hooks) == len(before_hooks) + 1
        assert len(backend.kernel_hooks) == 1 and backend.kernel is kernel  # a hook, no swap
    assert autograd.op_hooks == before_hooks and backend.kernel_hooks == []
    with pytest.raises(KeyError):
        with minigan.trace():
            minigan.randn(3, requires_grad=True).sum().backward()
            raise KeyError("an error in the user's code")
    assert autograd.op_hooks == before_hooks and backend.kernel_hooks == []
    assert backend.kernel is kernel


class Boom(Function):
    """An op whose forward raises (to test a trace around a failing op)."""

    @staticmethod
    def forward(ctx, x):
        raise RuntimeError("boom")


def test_failing_op_does_not_confuse_later_records():
    x = minigan.randn(2, 3, requires_grad=True)
    with minigan.trace() as t:
        with pytest.raises(RuntimeError, match="boom"):
            Boom.apply(x)
        y = (x * 2.0).sum()
        y.backward()
    assert [(r["phase"], r["op"]) for r in t.records] == [
        ("forward", "Mul"),
        ("forward", "Sum"),
        ("backward", "Sum"),
        ("backward", "Mul"),
    ]
    assert autograd.op_hooks == []


def test_nested_traces():
    model, x = model_and_input()
    kernel = backend.kernel
    with minigan.trace() as outer:
        y = model(x)
        with minigan.trace() as inner:
            loss = (y * y).mean()
        assert len(autograd.op_hooks) == 1
        assert len(backend.kernel_hooks) == 1  # still hooked while the outer trace runs
        loss.backward()
    assert autograd.op_hooks == [] and backend.kernel_hooks == [] and backend.kernel is kernel
    assert [r["op"] for r in inner.records] == ["Mul", "Mean"]
    assert len(outer.records) == 8
    assert [r["op"] for r in outer.records[2:4]] == ["Mul", "Mean"]
    with pytest.raises(RuntimeError, match="already recording"):
        with outer:
            with outer:
                pass
    assert autograd.op_hooks == []


def test_records_under_no_grad_and_no_sync():
    x = minigan.randn(3, 3)
    with minigan.trace(sync=False) as t, minigan.no_grad():
        (x @ x).relu()
    assert [r["op"] for r in t.records] == ["MatMul", "ReLU"]
    assert "sync=False" in t.table()
