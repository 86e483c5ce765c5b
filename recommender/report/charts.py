"""Charts as inline SVG strings (matplotlib's SVG backend): small, crisp, readable in light print.

Text stays text (``svg.fonttype: none``) so the report is searchable and small; colours come from a
colour-blind-safe palette with enough contrast in greyscale.
"""

from __future__ import annotations

import io
import re

import numpy as np

from recommender.report.format import usd as money  # the one money format, on charts too

PALETTE = ["#1f5f8b", "#e07b39", "#3a9a6e", "#b8475a", "#7a5fa8", "#8c7a3e", "#4aa3c7", "#9a9a9a"]
INK, MUTED, GRID = "#1d2733", "#5b6675", "#e3e7ec"
ACCENT, GOOD, BAD = "#1f5f8b", "#3a9a6e", "#b8475a"
_RC = {
    "svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9,
    "font.sans-serif": ["Inter", "Helvetica Neue", "Arial", "DejaVu Sans"],
    "axes.edgecolor": GRID, "axes.labelcolor": MUTED, "xtick.color": MUTED, "ytick.color": MUTED,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": GRID,
    "grid.linewidth": 0.8, "axes.axisbelow": True, "text.color": INK, "svg.hashsalt": "rightsizer",
}
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def _plt():
    import matplotlib

    matplotlib.use("svg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _svg(fig, label: str) -> str:
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", transparent=True, metadata={"Date": None})
    plt.close(fig)
    svg = _XML_HEAD.sub("", buf.getvalue(), count=1)
    # Natural size (so text is the same size in every chart), shrinking with the page; an accessible name.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_esc(label)}" ', 1)
    return svg


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def bar_h(labels: list[str], values: list[float], label: str, *, highlight: set[str] | None = None,
          max_bars: int = 10, width: float = 3.5, fmt=money, others: bool = True) -> str:
    """Horizontal bars, largest first, with the value printed at each bar's end (``fmt``: money by
    default). ``others``: bars past ``max_bars`` are summed into one (False for rates, which do not add)."""
    plt = _plt()
    pairs = sorted(zip(labels, values, strict=True), key=lambda p: -p[1])
    if len(pairs) > max_bars and others:
        rest = sum(v for _, v in pairs[max_bars - 1:])
        pairs = pairs[: max_bars - 1] + [(f"{len(pairs) - max_bars + 1} others", rest)]
    pairs = pairs[:max_bars]
    pairs = pairs[::-1]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(width, 0.32 * len(pairs) + 0.6))
        colors = [MUTED if (highlight and name in highlight) else ACCENT for name, _ in pairs]
        ax.barh([p[0] for p in pairs], [p[1] for p in pairs], color=colors, height=0.62)
        top = max([p[1] for p in pairs] + [1e-9])
        for i, (_, v) in enumerate(pairs):
            ax.text(v + top * 0.01, i, fmt(v), va="center", fontsize=8, color=INK)
        ax.set_xlim(0, top * 1.22)
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_formatter(lambda x, _: fmt(x))
        return _svg(fig, label)


def daily_stacked(table, label: str, *, spikes: list[tuple[str, str]] = (), max_series: int = 7) -> str:
    """Daily cost stacked by series (columns of ``table``, index = date strings); spikes ringed."""
    plt = _plt()
    cols = list(table.sum().sort_values(ascending=False).index)
    if len(cols) > max_series:
        keep = cols[: max_series - 1]
        table = table[keep].assign(others=table[cols[max_series - 1:]].sum(axis=1))
        cols = [*keep, "others"]
    dates = list(table.index)
    x = np.arange(len(dates))
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(10.5, 2.6))
        bottom = np.zeros(len(dates))
        for i, col in enumerate(cols):
            vals = table[col].to_numpy(float)
            ax.bar(x, vals, bottom=bottom, color=PALETTE[i % len(PALETTE)], width=0.78, label=str(col))
            bottom += vals
        marked: dict[str, list[str]] = {}
        for name, date in spikes:
            if date in dates:
                marked.setdefault(date, []).append(str(name))
        for date, names in marked.items():
            j = dates.index(date)
            ax.annotate("spike: " + ", ".join(names), (j, bottom[j]), xytext=(0, 8), textcoords="offset points",
                        ha="center", color=BAD, fontsize=8, fontweight="bold",
                        arrowprops={"arrowstyle": "-", "color": BAD})
        step = max(1, len(dates) // 10)
        ax.set_xticks(x[::step], [d[5:] for d in dates[::step]])
        ax.grid(axis="x", visible=False)
        ax.yaxis.set_major_formatter(lambda v, _: money(v))
        ax.set_ylim(0, max(bottom.max() if len(bottom) else 1, 1e-9) * 1.18)
        ax.legend(ncol=min(len(cols), 4), frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0, 1.22))
        return _svg(fig, label)


def portfolio(rows: list[dict], label: str) -> str:
    """Monthly spend and potential savings per value class, side by side."""
    plt = _plt()
    names = [r["value_class"] for r in rows]
    y = np.arange(len(rows))[::-1]
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(4.0, 1.9))
        ax.barh(y + 0.18, [r["monthly"] for r in rows], height=0.34, color=ACCENT, label="monthly spend")
        ax.barh(y - 0.18, [r["savings"] for r in rows], height=0.34, color=GOOD, label="potential savings")
        ax.set_yticks(y, names)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_formatter(lambda v, _: money(v))
        ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
        return _svg(fig, label)


def budgets(items: list, label: str) -> str:
    """Projected month-end spend as a share of each budget; the 100 % line and the warning line.

    Drawn at the page's full width (10.5 in, like the daily chart) with one 0.45 in row per budget, so
    its text is the report's text size at a 1,400 px window instead of a thumbnail."""
    plt = _plt()
    items = list(items)[::-1]
    with plt.rc_context({**_RC, "font.size": 10}):
        fig, ax = plt.subplots(figsize=(10.5, 0.45 * len(items) + 0.9))
        colors = [BAD if b.status == "over" else "#d9a23a" if b.status == "warning" else GOOD for b in items]
        ratios = [min(b.ratio, 3.0) * 100 for b in items]
        ax.barh([f"{b.scope} {b.name}" for b in items], ratios, color=colors, height=0.6)
        for i, b in enumerate(items):
            ax.text(ratios[i] + 1.5, i, f"{b.ratio:.0%} ({money(b.projected)} of {money(b.monthly_budget)})",
                    va="center", fontsize=9)
        ax.axvline(100, color=INK, linewidth=1)
        ax.axvline(80, color=MUTED, linewidth=0.8, linestyle="--")
        ax.set_xlim(0, max(ratios + [100]) * 1.35)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0f}%")
        ax.set_xlabel("projected month-end spend, % of budget (dashed: the 80 % warning line)")
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        return _svg(fig, label)


def utilization_histogram(edges, weights, label: str, *, source: str | None = None, bins: int = 20) -> str:
    """Share of time at each GPU activity level, re-binned to ``bins`` bars over 0..100 %.

    Accepts the profiles' ``(upper edges, seconds)`` (one upper edge per bin, the first bin holding exact
    zeros) or classic ``(edges, weights)`` with one more edge than weights.
    """
    plt = _plt()
    edges = np.asarray(edges, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if len(edges) == len(weights):
        lower = np.concatenate([[0.0], edges[:-1]])
        upper = edges
    else:
        lower, upper = edges[:-1], edges[1:]
    centers = np.clip((lower + np.minimum(upper, 1.0)) / 2, 0.0, 1.0 - 1e-9)
    shares, out_edges = np.histogram(centers, bins=bins, range=(0.0, 1.0), weights=weights)
    total = shares.sum() or 1.0
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(3.0, 1.9))
        ax.bar(out_edges[:-1] * 100, shares / total * 100, width=100 / bins, align="edge",
               color=ACCENT, edgecolor="white", linewidth=0.5)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, max(5.0, float((shares / total * 100).max()) * 1.1))
        ax.set_xlabel(f"GPU activity % ({source})" if source else "GPU activity %")
        ax.set_ylabel("% of time")
        ax.grid(axis="x", visible=False)
        return _svg(fig, label)


def hour_of_week_heatmap(values, label: str) -> str:
    """7 x 24 grid of mean GPU activity (UTC); blank where there was no data."""
    plt = _plt()
    grid = np.asarray(values, dtype=float).reshape(7, 24) * 100
    with plt.rc_context({**_RC, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(3.6, 1.9))
        masked = np.ma.masked_invalid(grid)
        im = ax.imshow(masked, aspect="auto", cmap="Blues", vmin=0, vmax=100, interpolation="nearest")
        ax.set_yticks(range(7), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], fontsize=7)
        ax.set_xticks(range(0, 24, 6), [f"{h:02d}h" for h in range(0, 24, 6)], fontsize=7)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03)
        bar.ax.tick_params(labelsize=7, length=0)
        bar.outline.set_visible(False)
        bar.set_label("activity %", fontsize=7)
        return _svg(fig, label)


def memory_vs_capacity(memory: dict, label: str, *, gpus_per_pod: int = 1) -> str:
    """GPU memory used (p50, p95, p99, max) against the device's (or slice's) capacity, both per GPU: a
    multi-GPU pod's total is divided by its GPU count, so use and capacity are in the same unit."""
    plt = _plt()
    gib = 1024**3
    names = ["p50", "p95", "p99", "max"]
    vals = [(memory.get(n) or 0) / gib for n in names]
    cap = (memory.get("capacity") or 0) / gib
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(3.0, 1.9))
        ax.barh(names[::-1], vals[::-1], color=[ACCENT, ACCENT, ACCENT, MUTED][::-1], height=0.6)
        top = max(vals + [cap, 1e-9])
        if cap:
            ax.axvline(cap, color=BAD, linewidth=1.4)
            ax.text(cap, 3.45, f"capacity {cap:.0f} GiB per GPU", color=BAD, fontsize=7, ha="right", va="bottom")
        for i, v in enumerate(vals[::-1]):
            ax.text(v + top * 0.02, i, f"{v:.1f}", va="center", fontsize=7)
        ax.set_xlim(0, top * 1.15)
        ax.set_ylim(-0.6, 4.0)
        ax.set_xlabel("GPU memory per GPU, GiB" + (f" (pod total ÷ {gpus_per_pod} GPUs)" if gpus_per_pod > 1 else ""))
        ax.grid(axis="y", visible=False)
        ax.tick_params(axis="y", length=0)
        return _svg(fig, label)


def hour_of_day_bars(values, label: str, *, busiest: int | None = None, idlest: int | None = None,
                     fmt=money) -> str:
    """24 bars, one per UTC hour of the day (NaN: no such hour in the window); the busiest hour in the
    accent colour, the idlest in the muted one."""
    plt = _plt()
    vals = np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(10.5, 2.2))
        colors = [BAD if h == busiest else MUTED if h == idlest else ACCENT for h in range(24)]
        ax.bar(np.arange(24), vals, color=colors, width=0.78)
        ax.set_xticks(range(0, 24, 2), [f"{h:02d}h" for h in range(0, 24, 2)])
        ax.set_xlabel("hour of the day (UTC)")
        ax.grid(axis="x", visible=False)
        ax.yaxis.set_major_formatter(lambda v, _: fmt(v))
        return _svg(fig, label)
