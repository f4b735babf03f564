"""The report's figures: growth per series and per group, traits per timepoint and group.

One panel a figure, each about 5.5 x 3.6 in with 11 pt text, so the page can lay them out in a
grid that stays legible from 800 px wide up (one wide 15 in figure shrank to 5 px text).
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

PANEL_IN = (5.5, 3.6)
#: per-image traits drawn per timepoint and group
TRAIT_PLOTS = ["total_length_mm", "mean_diameter_mm", "n_tips", "network_area_mm2"]
#: growth quantities per group: (summary prefix, axis label)
GROUP_PANELS = [
    ("total_length_mm", "total root length (mm)"),
    ("growth_rate_mm_per_day", "net change (mm/day)"),
    ("length_gained_mm", "production: length gained (mm)"),
    ("length_lost_mm", "loss: length lost (mm)"),
]


def pyplot():
    """matplotlib's pyplot on the file-only backend (jobs run without a display), report fonts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 9})
    return plt


def png(fig) -> bytes:
    """The figure as PNG bytes (90 dpi: about 500 px wide a panel); the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def legend_text(text) -> str:
    """``text`` as matplotlib shows it literally: ``$`` is not maths, a leading ``_`` not hidden."""
    text = str(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def group_label(name) -> str:
    """A group's name for a legend: its values joined, an empty cell as ``(missing)``."""
    values = name if isinstance(name, tuple) else (name,)
    return legend_text(" / ".join("(missing)" if pd.isna(v) else str(v) for v in values))


def date_axis(ax, timestamps: pd.Series) -> None:
    """Label a date axis over the campaign's dates, padded by 5 % (at least 3 days).

    Set on every panel from all the campaign's dates: a panel with one point (the rate after the
    second timepoint) would otherwise get matplotlib's default span of years.
    """
    import matplotlib.dates as mdates

    ax.set_xlabel("date")
    first, last = pd.to_datetime(timestamps).min(), pd.to_datetime(timestamps).max()
    pad = max(pd.Timedelta(days=3), (last - first) * 0.05)
    ax.set_xlim(first - pad, last + pad)
    locator = mdates.AutoDateLocator(maxticks=6)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _no_interval(ax) -> None:
    ax.text(0.5, 0.5, "no interval yet:\none image per series", ha="center", va="center",
            transform=ax.transAxes, color="grey")


def series_figures(growth: pd.DataFrame) -> dict:
    """Per series over time: total length, net change per day, and length gained and lost.

    Each series keeps one colour in all three; gained is a filled triangle up, lost a hollow
    triangle down drawn below zero.
    """
    # Long on purpose: three panels drawn series by series in one loop, so a series keeps its colour.
    plt = pyplot()
    figs = {name: plt.subplots(figsize=PANEL_IN) for name in ("length", "rate", "gained_lost")}
    axes = {name: ax for name, (_, ax) in figs.items()}
    colours = plt.get_cmap("tab20").colors
    for k, (series, rows) in enumerate(growth.groupby("series")):
        colour = colours[k % len(colours)]
        axes["length"].plot(rows["timestamp"], rows["total_length_mm"], marker="o", color=colour,
                            label=legend_text(series))
        axes["rate"].plot(rows["timestamp"], rows["growth_rate_mm_per_day"], marker="o", color=colour)
        axes["gained_lost"].plot(rows["timestamp"], rows["length_gained_mm"], marker="^", color=colour,
                                 linestyle="none")
        axes["gained_lost"].plot(rows["timestamp"], -rows["length_lost_mm"], marker="v", color=colour,
                                 markerfacecolor="none", linestyle="none")
    axes["length"].set_ylabel("total root length (mm)")
    axes["rate"].set_ylabel("net change since previous (mm/day)")
    axes["gained_lost"].set_ylabel("since previous image (mm)")
    axes["gained_lost"].axhline(0, color="grey", linewidth=0.8)
    axes["gained_lost"].legend(handles=[
        plt.Line2D([], [], marker="^", color="k", linestyle="none", label="gained"),
        plt.Line2D([], [], marker="v", color="k", markerfacecolor="none", linestyle="none",
                   label="lost (below 0)")])
    for ax in axes.values():
        date_axis(ax, growth["timestamp"])
    if growth["growth_rate_mm_per_day"].isna().all():
        _no_interval(axes["rate"])
        _no_interval(axes["gained_lost"])
    if growth["series"].nunique() <= 12:
        axes["length"].legend(ncols=2)
    for fig, _ in figs.values():
        fig.tight_layout()
    return {f"series_{name}": fig for name, (fig, _) in figs.items()}


def _groups(frame: pd.DataFrame, group_by: list[str]):
    return frame.groupby(group_by, dropna=False, sort=True) if group_by else [("all series", frame)]


def group_figures(growth: pd.DataFrame, summary: pd.DataFrame, group_by: list[str]) -> dict:
    """Per group and imaging round: mean and 95 % CI of length, net rate, production and loss,
    with each series' value as a small point beside it.

    Groups are drawn side by side within a round (dodged by up to a quarter of the shortest
    interval), so their bars do not hide one another.
    """
    # Long on purpose: four panels of the same layout, drawn in one pass over the groups.
    plt = pyplot()
    colours = plt.get_cmap("tab10").colors
    rounds = pd.to_datetime(summary["imaging_round"])
    steps = np.diff(np.unique(rounds.values)).astype("timedelta64[s]").astype(float) / 86400
    n_groups = max(1, len(list(_groups(summary, group_by))))
    width_days = 0.25 * (steps.min() if len(steps) else 4.0)
    offsets = (np.arange(n_groups) - (n_groups - 1) / 2) * (width_days / max(1, n_groups - 1) if n_groups > 1 else 0)
    per_series = dict(list(_groups(growth, group_by)))
    out = {}
    for quantity, label in GROUP_PANELS:
        fig, ax = plt.subplots(figsize=PANEL_IN)
        shown = []
        for k, (name, rows) in enumerate(_groups(summary, group_by)):
            colour, shift = colours[k % len(colours)], pd.Timedelta(days=float(offsets[k]))
            x = pd.to_datetime(rows["imaging_round"]) + shift
            mean = rows[f"{quantity}_mean"]
            low = (mean - rows[f"{quantity}_ci95_low"]).fillna(0).clip(lower=0)
            high = (rows[f"{quantity}_ci95_high"] - mean).fillna(0).clip(lower=0)
            n = rows["n_series"]
            count = f"n={n.min()}" if n.min() == n.max() else f"n={n.min()}-{n.max()} per round"
            ax.errorbar(x, mean, yerr=[low, high], marker="o", capsize=3, color=colour, linewidth=1.5,
                        label=f"{group_label(name)} ({count})")
            points = per_series.get(name)
            if points is not None and "imaging_round" in points:
                values = points[quantity].astype(float)
                jitter = np.random.default_rng(k).uniform(-0.3, 0.3, len(points)) * width_days / max(1, n_groups)
                ax.scatter(pd.to_datetime(points["imaging_round"]) + shift + pd.to_timedelta(jitter, unit="D"),
                           values, s=12, color=colour, alpha=0.45, linewidths=0)
                shown.append(values)
            shown.append(mean)
        values = pd.concat(shown).dropna() if shown else pd.Series(dtype=float)
        means = summary[f"{quantity}_mean"]
        if len(values) and means.notna().any():
            # A t interval from two series can reach far past every series: such bars run off the
            # plot rather than squash every mean into a tenth of it.
            top = max(values.max(), min(summary[f"{quantity}_ci95_high"].max(), 2.5 * np.abs(means).max()))
            bottom = min(0.0, values.min())  # a length's interval below 0 runs off too
            span = (top - bottom) or 1.0
            ax.set_ylim(bottom - (0.05 * span if bottom < 0 else 0), top + 0.05 * span)
        else:
            _no_interval(ax)
        if quantity == "growth_rate_mm_per_day":
            ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_ylabel(f"{label},\nmean and 95 % CI")
        date_axis(ax, rounds)
        if quantity == "total_length_mm":
            ax.legend()
        fig.tight_layout()
        out[f"group_{quantity}"] = fig
    return out


def trait_box_figures(traits: pd.DataFrame, group_by: list[str]) -> dict:
    """Box plots of each trait per imaging round (``traits['imaging_round']``, else one box for all
    images), with a box per group side by side; every image is a point over its box."""
    # Long on purpose: one figure a trait, boxes placed by round and group.
    plt = pyplot()
    colours = plt.get_cmap("tab10").colors
    rounds = sorted(traits["imaging_round"].dropna().unique()) if "imaging_round" in traits else ["all images"]
    round_of = traits["imaging_round"] if "imaging_round" in traits else pd.Series("all images", traits.index)
    groups = list(_groups(traits, group_by))
    width = 0.8 / max(1, len(groups))
    out = {}
    for name in [c for c in TRAIT_PLOTS if c in traits]:
        fig, ax = plt.subplots(figsize=PANEL_IN)
        for k, (group, rows) in enumerate(groups):
            colour = colours[k % len(colours)]
            positions, data = [], []
            for r, round_ in enumerate(rounds):
                values = rows.loc[round_of[rows.index] == round_, name].dropna().to_numpy(float)
                if values.size:
                    positions.append(r + (k - (len(groups) - 1) / 2) * width)
                    data.append(values)
            if not data:
                continue
            ax.boxplot(data, positions=positions, widths=0.85 * width, patch_artist=True, showfliers=False,
                       boxprops={"facecolor": (*colour, 0.25), "edgecolor": colour},
                       medianprops={"color": colour}, whiskerprops={"color": colour}, capprops={"color": colour})
            for position, values in zip(positions, data):
                jitter = np.random.default_rng(k).uniform(-0.25, 0.25, values.size) * width
                ax.scatter(position + jitter, values, s=10, color=colour, alpha=0.6, linewidths=0)
            ax.plot([], [], color=colour, linewidth=6, alpha=0.4, label=group_label(group))
        ax.set_xticks(range(len(rounds)), [str(r) for r in rounds], rotation=30 if len(rounds) > 3 else 0,
                      ha="right" if len(rounds) > 3 else "center")
        ax.set_xlim(-0.6, len(rounds) - 0.4)
        ax.set_ylabel(name)
        ax.set_xlabel("imaging round" if "imaging_round" in traits else "")
        if group_by and len(groups) > 1 and name == TRAIT_PLOTS[0]:
            ax.legend()
        fig.tight_layout()
        out[f"traits_{name}"] = fig
    return out
