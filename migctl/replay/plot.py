"""``--plot``: allocation, fragmentation and pending pods over time, one line per variant.

matplotlib is an optional extra (``pip install 'migctl[plot]'``); :func:`require_matplotlib` says so
with exit 2 before any replay runs, so nothing is computed for a plot that cannot be drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from migctl.errors import InputError

FORMATS = (".png", ".svg", ".pdf")


class PlotUnavailable(InputError):
    """matplotlib is not installed (exit 2)."""


def require_matplotlib(path: Path) -> None:
    """InputError when the file type is not drawable or matplotlib is missing."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"--plot {path}: give a file ending in {', '.join(FORMATS)}")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib, which is not installed",
                              hint="pip install 'migctl[plot]'") from None


def _unit(span: float) -> tuple[str, float]:
    if span >= 2 * 86400:
        return "days", 86400.0
    if span >= 2 * 3600:
        return "hours", 3600.0
    if span >= 120:
        return "minutes", 60.0
    return "seconds", 1.0


def render(figures: Sequence[Any], path: Path, *, title: str = "") -> None:
    """Draw the variants' series into ``path`` (written whole: a temporary file renamed into place)."""
    require_matplotlib(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_fgd = any(s.fgd is not None for f in figures for s in f.series)
    rows = 3 if has_fgd else 2
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.3 * rows + 0.6), sharex=True, dpi=90)
    span = max((f.series[-1].t - f.series[0].t for f in figures if f.series), default=0.0)
    unit, scale = _unit(span)
    for f in figures:
        if not f.series:
            continue
        t0 = f.series[0].t
        xs = [(s.t - t0) / scale for s in f.series]
        axes[0].plot(xs, [100 * s.alloc_mem for s in f.series], label=f.name, linewidth=1.2)
        axes[1].plot(xs, [s.pending for s in f.series], label=f.name, linewidth=1.2)
        if has_fgd:
            axes[2].plot(xs, [100 * (s.fgd or 0.0) for s in f.series], label=f.name, linewidth=1.2)
    axes[0].set_ylabel("GPU memory\nallocated (%)")
    axes[1].set_ylabel("pods waiting")
    if has_fgd:
        axes[2].set_ylabel("FGD: free memory\nstranded (%)")
    axes[-1].set_xlabel(f"{unit} since the first arrival")
    axes[0].legend(fontsize="small", loc="best")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        fig.savefig(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"--plot {path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
