"""Kaplan-Meier plot of all arms with censor marks and a numbers-at-risk table.

Rendered with matplotlib's Agg canvas on a private :class:`~matplotlib.figure.Figure` (no
pyplot, no global backend switch, safe in a Dagster worker) under matplotlib's default style, so
the user's matplotlibrc does not change the picture. The PNG carries no metadata (no software
version, no timestamp): identical input gives byte-identical files.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from . import estimators as est
from .survival import AnalysisInputError, SurvivalSpec, prepare

# Colour-blind-safe palette (Okabe-Ito), one colour per arm in spec.arms order.
DEFAULT_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def render_km_png(
    adtte: pl.DataFrame,
    spec: SurvivalSpec,
    *,
    title: str | None = None,
    ylabel: str | None = None,
    xlabel: str | None = None,
    risk_table_every: float = 3.0,
    x_max: float | None = None,
    show_censor: bool = True,
    show_median: bool = True,
    annotation: str | None = None,
    arm_labels: Mapping[str, str] | None = None,
    colors: Sequence[str] | None = None,
    figsize: tuple[float, float] = (9.0, 6.5),
    dpi: int = 150,
) -> bytes:
    """The Kaplan-Meier plot as PNG bytes.

    Times on the x axis are in ``spec.time_unit``; the numbers at risk are given at
    0, ``risk_table_every``, 2 x ``risk_table_every`` ... (same unit). ``annotation`` is an
    optional text box (e.g. :func:`pipelines.analysis.results.km_annotation`).
    """
    if not (isinstance(risk_table_every, (int, float)) and risk_table_every > 0):
        raise AnalysisInputError(f"risk_table_every must be positive, got {risk_table_every!r}")
    if x_max is not None and not (isinstance(x_max, (int, float)) and x_max > 0):
        raise AnalysisInputError(f"x_max must be positive, got {x_max!r}")
    colors = tuple(colors or DEFAULT_COLORS)
    if len(colors) < len(spec.arms):
        raise AnalysisInputError(f"colors: {len(colors)} given for {len(spec.arms)} arms")
    labels = {a: (arm_labels or {}).get(a, a) for a in spec.arms}

    data = prepare(adtte, spec)
    dpu = spec.days_per_unit
    t_unit = data.time_days / dpu
    if x_max is None:
        x_max = float(np.ceil(max(t_unit.max(), risk_table_every) / risk_table_every)
                      * risk_table_every)
    ticks = np.arange(0.0, x_max + 1e-9 * x_max, risk_table_every)

    # matplotlib is imported here: it costs a third of a second and only the plot needs it
    import matplotlib as mpl
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with mpl.style.context("default"), mpl.rc_context({"font.size": 9, "axes.titlesize": 10}):
        fig = Figure(figsize=figsize, dpi=dpi)
        FigureCanvasAgg(fig)
        n_arms = len(spec.arms)
        # Left margin wide enough for the arm names of the risk table (about 0.075 in a char).
        label_in = 0.075 * max(len(v) for v in labels.values()) + 0.45
        left = min(0.45, max(0.1, label_in / figsize[0]))
        gs = fig.add_gridspec(2, 1, height_ratios=[5.0, 0.55 + 0.32 * n_arms], hspace=0.28,
                              left=left, right=0.97, top=0.93 if title else 0.97, bottom=0.03)
        ax = fig.add_subplot(gs[0])
        ax_risk = fig.add_subplot(gs[1], sharex=ax)

        for i, arm in enumerate(spec.arms):
            sel = data.arm_index == i
            tt, ev = data.time_days[sel], data.event[sel]
            km = est.kaplan_meier(tt, ev)
            x = np.concatenate(([0.0], km.time, [km.last_time])) / dpu
            y = np.concatenate(([1.0], km.survival, [km.survival[-1] if km.time.size else 1.0]))
            ax.step(x, y, where="post", color=colors[i], lw=1.6,
                    label=f"{labels[arm]} (n={km.n}, events={km.events})")
            if show_censor:
                ct = np.unique(tt[~ev])
                if ct.size:
                    ax.plot(ct / dpu, km.survival_at(ct), linestyle="none", marker="|",
                            markersize=6, markeredgewidth=1.0, color=colors[i])
            if show_median:
                med = est.quantile_estimate(km, 0.5, spec.conf_level).estimate
                if med is not None:
                    ax.plot([0, med / dpu, med / dpu], [0.5, 0.5, 0.0], color=colors[i],
                            lw=0.8, ls=":")
            at_risk = est.number_at_risk(tt, ticks * dpu)
            for tick, n in zip(ticks, at_risk):
                ax_risk.text(tick, n_arms - 1 - i, str(int(n)), ha="center", va="center",
                             color=colors[i], fontsize=8)

        ax.set_xlim(0, x_max)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(ticks)
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.grid(True, color="0.9", lw=0.6)
        ax.set_ylabel(ylabel or f"{spec.paramcd} probability")
        ax.set_xlabel(xlabel or f"Time ({spec.time_unit})")
        ax.legend(loc="upper right", frameon=False)
        if title:
            ax.set_title(title)
        if annotation:
            ax.text(0.02, 0.03, annotation, transform=ax.transAxes, ha="left", va="bottom",
                    fontsize=8, bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})

        ax_risk.set_ylim(-0.6, n_arms - 0.4)
        ax_risk.set_yticks(range(n_arms))
        ax_risk.set_yticklabels([labels[a] for a in reversed(spec.arms)])
        for tick_label, i in zip(ax_risk.get_yticklabels(), reversed(range(n_arms))):
            tick_label.set_color(colors[i])
        ax_risk.tick_params(axis="both", length=0, labelbottom=False)
        ax_risk.tick_params(axis="y", pad=22)  # clear of the counts centred on x = 0
        for side in ("top", "right", "bottom", "left"):
            ax_risk.spines[side].set_visible(False)
        ax_risk.set_title("Number at risk", loc="left", fontsize=9)

        buf = io.BytesIO()
        # metadata={"Software": None}: no matplotlib version string; Agg PNGs carry no time.
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def plot_km(adtte: pl.DataFrame, spec: SurvivalSpec, path: str | Path, **kwargs) -> Path:
    """Write :func:`render_km_png` to ``path`` (parent folders are created); returns the path."""
    png = render_km_png(adtte, spec, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path
