"""`sim report --static`: the report's plotly figures drawn again with matplotlib as PNG, for a
page without JavaScript. Covers what the report's figures use: lines, markers, stacked areas,
error bars, bars (stacked, with a base), subplot grids, vertical lines and axis tick labels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from sim.plots import Figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "text.parse_math": False,  # user text with "$" is text, not math
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 8,
        }
    )
    return plt


def _x(trace) -> np.ndarray | list:
    """A trace's x values; x0 + dx on a date axis become dates."""
    y = np.asarray(trace.y if trace.y is not None else [])
    if trace.x is not None:
        x = list(trace.x)
        if x and isinstance(x[0], str) and len(x[0]) >= 10 and x[0][4] == "-":
            return pd.to_datetime(x).to_numpy()
        if x and isinstance(x[0], pd.Timestamp):
            return (
                pd.to_datetime(x).tz_localize(None).to_numpy()
                if x[0].tz
                else pd.to_datetime(x).to_numpy()
            )
        return x
    if trace.x0 is not None and isinstance(trace.x0, str):
        start = pd.Timestamp(trace.x0)
        return (
            start + pd.to_timedelta(np.arange(len(y)) * float(trace.dx or 1), unit="ms")
        ).to_numpy()
    return np.arange(len(y)) * float(trace.dx or 1) + float(trace.x0 or 0)


def _axis_key(ref: str | None, letter: str) -> str:
    ref = ref or letter
    return f"{letter}axis{ref[1:]}"


def _grid(fig):
    """Subplot axes of the figure: {(xref, yref): (row, col)} from the x and y domains."""
    lay = fig.layout
    pairs = []
    for t in fig.data:
        pair = (t.xaxis or "x", t.yaxis or "y")
        if pair not in pairs:
            pairs.append(pair)
    if not pairs:
        pairs = [("x", "y")]
    xs = sorted({tuple(lay[_axis_key(p[0], "x")].domain or (0, 1)) for p in pairs})
    ys = sorted({tuple(lay[_axis_key(p[1], "y")].domain or (0, 1)) for p in pairs}, reverse=True)
    where = {}
    for p in pairs:
        col = xs.index(tuple(lay[_axis_key(p[0], "x")].domain or (0, 1)))
        row = ys.index(tuple(lay[_axis_key(p[1], "y")].domain or (0, 1)))
        where[p] = (row, col)
    return where, len(ys), len(xs)


def render(f: Figure) -> bytes:
    """PNG of the figure's plotly figure, drawn with matplotlib."""
    plt = _plt()
    fig = f.fig
    where, rows, cols = _grid(fig)
    height = (fig.layout.height or 450) / 100
    mfig, grid = plt.subplots(rows, cols, figsize=(11.5, max(2.5, height)), squeeze=False)
    axes = {p: grid[r][c] for p, (r, c) in where.items()}
    stacks: dict[tuple, np.ndarray] = {}
    bars: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    labelled = set()
    for t in fig.data:
        pair = (t.xaxis or "x", t.yaxis or "y")
        ax = axes[pair]
        name = t.name if t.showlegend is not False and t.name not in labelled else None
        if name:
            labelled.add(name)
        if t.type == "bar" and t.orientation == "h":
            c = t.marker.color if t.marker and t.marker.color is not None else None
            ax.barh([str(v) for v in t.y], np.asarray(t.x, float), color=c, label=name)
            continue
        if t.type == "box":  # precomputed quartiles (q1, median, q3, fences), one box per x
            c = t.marker.color if t.marker and t.marker.color is not None else None
            for i, xv in enumerate(t.x or ()):
                stats = {"label": str(xv), "q1": t.q1[i], "med": t.median[i], "q3": t.q3[i],
                         "whislo": t.lowerfence[i], "whishi": t.upperfence[i]}
                ax.bxp([stats], positions=[len(ax.get_xticks())], showfliers=False,
                       boxprops={"color": c}, medianprops={"color": c})
            continue
        x, y = _x(t), np.asarray(t.y if t.y is not None else [], dtype=float)
        if t.type == "bar":
            c = t.marker.color if t.marker and t.marker.color is not None else None
            if t.base is not None:
                ax.bar(range(len(y)), y, bottom=np.asarray(t.base, float), color=c, label=name)
                ax.set_xticks(range(len(y)), [str(v) for v in x], rotation=50, ha="right")
            elif fig.layout.barmode == "relative":
                key = (pair, len(y))
                pos, neg = bars.get(key, (np.zeros(len(y)), np.zeros(len(y))))
                up, down = np.clip(y, 0, None), np.clip(y, None, 0)
                ax.bar(x, up, bottom=pos, color=c, label=name, width=20)
                ax.bar(x, down, bottom=neg, color=c, width=20, hatch="//")
                bars[key] = (pos + up, neg + down)
            else:
                ax.bar([str(v) for v in x], y, color=c, label=name)
            continue
        line = t.line or {}
        c = line.color if line and line.color else None
        lw = (line.width if line and line.width is not None else 1.5) * 0.8
        if t.stackgroup:
            key = (pair, t.stackgroup)
            lo = stacks.get(key, np.zeros(len(y)))
            ax.fill_between(x, lo, lo + y, color=t.fillcolor or c, label=name, linewidth=0)
            stacks[key] = lo + y
            continue
        ls = {"dash": "--", "dot": ":", "dashdot": "-."}.get(line.dash if line else None, "-")
        mode = t.mode or "lines"
        alpha = t.opacity if t.opacity is not None else 1.0
        if t.error_y and t.error_y.array is not None:
            up = np.asarray(t.error_y.array, float)
            down = np.asarray(
                t.error_y.arrayminus if t.error_y.arrayminus is not None else up, float
            )
            ax.errorbar(
                x,
                y,
                yerr=[np.nan_to_num(down), np.nan_to_num(up)],
                color=c,
                capsize=3,
                lw=lw,
                label=name,
                marker="o" if "markers" in mode else None,
                ms=4,
            )
        elif "lines" in mode:
            ax.plot(
                x,
                y,
                ls,
                color=c,
                lw=lw,
                label=name,
                alpha=alpha,
                marker="o" if "markers" in mode else None,
                ms=3,
            )
        else:
            m = t.marker
            sym = "v" if m and m.symbol and "triangle-down" in str(m.symbol) else "o"
            ms = (m.size if m and m.size else 6) * 0.6
            ax.plot(
                x,
                y,
                sym,
                color=(m.color if m and isinstance(m.color, str) else c),
                ms=ms,
                label=name,
                alpha=0.6 if sym == "o" else 1.0,
            )
    for pair, ax in axes.items():
        xa, ya = fig.layout[_axis_key(pair[0], "x")], fig.layout[_axis_key(pair[1], "y")]
        if ya.title and ya.title.text:
            ax.set_ylabel(ya.title.text)
        if xa.title and xa.title.text:
            ax.set_xlabel(xa.title.text)
        if ya.tickvals is not None:
            ax.set_yticks(list(ya.tickvals), list(ya.ticktext or ya.tickvals))
        if ya.autorange == "reversed":
            ax.invert_yaxis()
        if ya.range is not None:
            ax.set_ylim(*ya.range)
        if xa.type == "date":
            for label in ax.get_xticklabels():
                label.set_rotation(30)
                label.set_ha("right")
    for shape in fig.layout.shapes or ():
        if shape.type == "line" and shape.x0 == shape.x1:
            for ax in axes.values():
                ax.axvline(
                    pd.Timestamp(shape.x0).tz_localize(None)
                    if isinstance(shape.x0, (str, pd.Timestamp))
                    else shape.x0,
                    color="#333",
                    ls=":",
                    lw=1,
                )
    titles = [a for a in fig.layout.annotations or () if a.xref == "paper" and a.yref == "paper"]
    ordered = sorted(where.items(), key=lambda kv: kv[1])
    for a, (_, (r, c)) in zip(titles, ordered, strict=False):
        grid[r][c].set_title(a.text, loc="left", fontsize=8)
    handles, labels = [], []
    for ax in axes.values():
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab, strict=True):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    if handles:
        mfig.legend(
            handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False, fontsize=7
        )
    mfig.tight_layout(rect=(0, 0.04 + 0.012 * (len(labels) // 6), 1, 1))
    buf = io.BytesIO()
    mfig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(mfig)
    return buf.getvalue()
