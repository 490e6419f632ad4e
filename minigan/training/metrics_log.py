# Per-epoch metrics rows (metrics.csv + metrics.json, written atomically), the running sums
# of an epoch's step statistics, and the optional metrics plot.
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..utils.checkpoint import atomic_write


class MetricsLog:
    """Per-epoch metrics written to OUT/metrics.csv and OUT/metrics.json after every epoch."""

    def __init__(self, out_dir: Path, rows: list[dict[str, Any]] | None = None) -> None:
        self.out_dir = out_dir
        self.rows: list[dict[str, Any]] = list(rows or [])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        with atomic_write(self.out_dir / "metrics.json") as f:
            f.write(json.dumps(self.rows, indent=1).encode())
        fields: list[str] = []
        for row in self.rows:
            fields += [k for k in row if k not in fields]
        with atomic_write(self.out_dir / "metrics.csv") as f:
            text = _csv_text(fields, self.rows)
            f.write(text.encode())


def _csv_text(fields: list[str], rows: list[dict[str, Any]]) -> str:
    import io  # noqa: PLC0415

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


class RunningSums:
    """Per-epoch sums of step statistics, kept on the training device.

    Adding a step's 0-d tensors costs no host-device synchronisation; `values()` copies
    the sums to the host once (for the progress bar every few steps, the epoch's metrics
    row, or a checkpoint). Sums are accumulated in float64.
    """

    def __init__(self, keys: tuple[str, ...], initial: dict[str, float] | None = None) -> None:
        self.keys = keys
        self._host = {k: float((initial or {}).get(k, 0.0)) for k in keys}
        self._device: dict[str, Any] = {}

    def add(self, stats: dict[str, Any], weight: float = 1.0) -> None:
        """Add each `stats[k]` (a 0-d Tensor or a number) times `weight`."""
        for k in self.keys:
            value = stats[k]
            data = value.data if hasattr(value, "data") else value
            term = (
                data.astype("float64") * weight if hasattr(data, "astype") else float(data) * weight
            )
            self._device[k] = term if k not in self._device else self._device[k] + term

    def values(self) -> dict[str, float]:
        """The sums as Python floats (one device-to-host copy per key)."""
        for k, v in self._device.items():
            self._host[k] += float(v)
        self._device.clear()
        return dict(self._host)


def plot_metrics(
    rows: list[dict[str, Any]], path: Path, panels: list[tuple[str, ...]]
) -> Path | None:
    """Curves of the metrics rows against the epoch as a PNG, one panel per tuple of keys
    in `panels` (those no row has are left out); needs matplotlib, skipped without it."""
    try:
        import matplotlib  # noqa: PLC0415 - optional dependency

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    epochs = [r["epoch"] for r in rows]
    panels = [p for p in panels if any(k in r for r in rows for k in p)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3), squeeze=False)
    for ax, keys in zip(axes[0], panels, strict=True):
        for key in keys:
            pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if key in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
