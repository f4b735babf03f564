"""Report: one self-contained HTML page (images embedded) to check a campaign.

Summary with rejected files and their reasons, a QC gallery of masks over
images, growth curves per series and trait distributions.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import zarr

from rootpipe.columns import SUMMARY_COLUMNS
from rootpipe.io.atomic import atomic_path

TRAIT_PLOTS = ["total_length_mm", "mean_diameter_mm", "n_tips", "network_area_mm2"]


def _pyplot():
    """matplotlib's pyplot on the file-only backend (jobs run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig, name: str = "figure", figures: dict | None = None) -> str:
    """The figure as an inline ``<img>``; its PNG bytes also into ``figures[name]`` when given."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    if figures is not None:
        figures[name] = buffer.getvalue()
    return f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def overlay(rgb: np.ndarray, mask: np.ndarray, max_px: int = 480) -> np.ndarray:
    """The image with the mask's outline and a light tint, scaled to at most ``max_px``."""
    scale = min(1.0, max_px / max(rgb.shape[:2]))
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = small.astype(np.float32)
    out[m] = 0.6 * out[m] + 0.4 * np.array([255, 0, 255], np.float32)
    edge = m & ~cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out[edge] = (255, 0, 255)
    return out.astype(np.uint8)


def _jpeg(rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(data.tobytes()).decode()}">'


def gallery_sample(traits: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` images spread over series and time: the images with the most and the least
    root length and the least confident one first (where segmentation errors show), then the
    first and last of each series."""
    if n <= 0 or traits.empty:
        return traits.iloc[:0]
    ordered = traits.sort_values(["series", "timestamp"])
    lengths = ordered["total_length_mm"]
    extremes = ordered.loc[[lengths.idxmax(), lengths.idxmin()]] if lengths.notna().any() else ordered.iloc[:0]
    confidence = ordered.get("segmentation_confidence")
    if confidence is not None and confidence.notna().any():
        extremes = pd.concat([ordered.loc[[confidence.idxmin()]], extremes])
    ends = pd.concat([ordered.groupby("series").head(1), ordered.groupby("series").tail(1)])
    rest = ordered.drop(ends.index)
    picks = pd.concat([extremes, ends, rest]).drop_duplicates("image_id")
    return picks.head(n).sort_values(["series", "timestamp"])


#: median segmentation confidence below which a campaign looks out of the model's domain: below
#: every in-domain median measured (0.81-0.92); it did not catch soybean, whose median is 0.85
#: (docs/segmentation.md, "Segmentation confidence")
OUT_OF_DOMAIN_CONFIDENCE = 0.75


def confidence_section(traits: pd.DataFrame, n: int = 10) -> list[str]:
    """The least confident images first, and advice when the campaign looks out of the model's domain."""
    if "segmentation_confidence" not in traits or traits["segmentation_confidence"].isna().all():
        return []  # traits measured by a rootpipe before the confidence existed
    confidence = traits["segmentation_confidence"]
    median = float(confidence.median())
    parts = [f"<h2>Segmentation confidence</h2><p>The share of the pixels the model leans towards root "
             f"that it is sure of (probability 0.7 or more, of those at 0.3 or more); low values mark "
             f"images it finds unlike its training images. Median over the campaign: {median:.2f}.</p>"]
    if median < OUT_OF_DOMAIN_CONFIDENCE:
        parts.append(f"<p><b>The model is unsure of much of what it marks on these images</b> (median "
                     f"confidence {median:.2f}, below {OUT_OF_DOMAIN_CONFIDENCE}): the root lengths and "
                     "growth here may be far off. Annotate a few of the least confident images below and "
                     "fine-tune the model on them (<code>rootpipe train --folder … --init …</code>, see "
                     "the README's 'Training a model for your images'), then set "
                     "<code>segment.checkpoint</code> and run again.</p>")
    columns = [c for c in ("file", "series", "timestamp", "segmentation_confidence", "total_length_mm")
               if c in traits]
    least = traits.nsmallest(n, "segmentation_confidence")[columns]
    parts.append(f"<h3>The {len(least)} least confident images</h3>")
    parts.append(_table(least, table="traits"))
    return parts


def _date_axis(ax, timestamps: pd.Series) -> None:
    """Label a date axis over the campaign's dates, padded by 5 % (at least 3 days).

    Set on every panel from all the campaign's dates: a panel with one point (the rate after the
    second timepoint) would otherwise get matplotlib's default span of years.
    """
    import matplotlib.dates as mdates

    ax.set_xlabel("date")
    first, last = pd.to_datetime(timestamps).min(), pd.to_datetime(timestamps).max()
    pad = max(pd.Timedelta(days=3), (last - first) * 0.05)
    ax.set_xlim(first - pad, last + pad)
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def growth_figure(growth: pd.DataFrame):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for series, rows in growth.groupby("series"):
        axes[0].plot(rows["timestamp"], rows["total_length_mm"], marker="o", label=_legend(series))
        axes[1].plot(rows["timestamp"], rows["growth_rate_mm_per_day"], marker="o")
        axes[2].plot(rows["timestamp"], rows["length_gained_mm"], marker="^", color="tab:green", alpha=0.6)
        axes[2].plot(rows["timestamp"], -rows["length_lost_mm"], marker="v", color="tab:red", alpha=0.6)
    axes[0].set_ylabel("total root length (mm)")
    axes[1].set_ylabel("net change per day since previous (mm/day)")
    axes[2].set_ylabel("length since previous image (mm)")
    axes[2].legend(handles=[plt.Line2D([], [], marker="^", color="tab:green", label="gained"),
                            plt.Line2D([], [], marker="v", color="tab:red", label="lost (drawn below 0)")],
                   fontsize=7)
    for ax in axes:
        _date_axis(ax, growth["timestamp"])
    if growth["growth_rate_mm_per_day"].isna().all():
        for ax in axes[1:]:
            ax.text(0.5, 0.5, "no interval yet:\none image per series", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
    if growth["series"].nunique() <= 20:
        axes[0].legend(fontsize=7, ncols=2)
    fig.tight_layout()
    return fig


def _legend(text) -> str:
    """``text`` as matplotlib shows it literally: ``$`` is not maths, a leading ``_`` not hidden."""
    text = str(text).replace("$", r"\$")
    return "\u200b" + text if text.startswith("_") else text


def group_label(name) -> str:
    """A group's name for a legend: its values joined, an empty cell as ``(missing)``."""
    values = name if isinstance(name, tuple) else (name,)
    return _legend(" / ".join("(missing)" if pd.isna(v) else str(v) for v in values))


def summary_figure(summary: pd.DataFrame, group_by: list[str]):
    """Mean total length per group over time with its 95 % confidence interval (error bars)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = summary.groupby(group_by, dropna=False) if group_by else [("all series", summary)]
    for name, rows in groups:
        x = pd.to_datetime(rows["imaging_round"])
        mean = rows["total_length_mm_mean"]
        low, high = mean - rows["total_length_mm_ci95_low"], rows["total_length_mm_ci95_high"] - mean
        n = rows["n_series"]
        # Each round averages the series imaged in it: say so when that number varies.
        count = f"n={n.min()}" if n.min() == n.max() else f"n={n.min()}-{n.max()} per round"
        ax.errorbar(x, mean, yerr=[low.fillna(0), high.fillna(0)], marker="o", capsize=3,
                    label=f"{group_label(name)} ({count})")
    ax.set_ylabel("total root length (mm), mean and 95 % CI")
    # A t interval from two series can reach below zero (lengths cannot) or ten times the mean:
    # such bars run off the plot rather than squash every mean into its bottom tenth.
    means, highs = summary["total_length_mm_mean"], summary["total_length_mm_ci95_high"]
    top = np.nanmax([means.max(), min(highs.max(), 2.5 * means.max())]) if means.notna().any() else np.nan
    ax.set_ylim(0, top * 1.05 if np.isfinite(top) and top > 0 else None)
    _date_axis(ax, pd.to_datetime(summary["imaging_round"]))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def traits_figure(traits: pd.DataFrame):
    plt = _pyplot()
    names = [c for c in TRAIT_PLOTS if c in traits.columns]
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4 * max(1, len(names)), 3.2))
    for ax, name in zip(np.atleast_1d(axes), names):
        ax.hist(traits[name].dropna(), bins=20, color="tab:blue", alpha=0.8)
        ax.set_xlabel(name)
    np.atleast_1d(axes)[0].set_ylabel("images")
    fig.tight_layout()
    return fig


def _number(v: float) -> str:
    """A table cell: fixed decimals for readings (1234.5, 26.88, 0.5), three digits for small ones."""
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _table(frame: pd.DataFrame, max_rows: int = 500, table: str = "") -> str:
    shown = frame.head(max_rows).copy()
    # None and <NA> show blank, as NaN does (na_rep)
    text = [c for c in shown.columns if shown[c].dtype == object or pd.api.types.is_extension_array_dtype(shown[c])]
    shown[text] = shown[text].astype(object).where(shown[text].notna(), "")
    more = (f"<p>… and {len(frame) - max_rows} more rows: see {html.escape(table)} (.csv and .parquet)</p>"
            if len(frame) > max_rows else "")
    # A wide table scrolls inside its own box, not the page.
    return ("<div class='table'>" + shown.to_html(index=False, escape=True, float_format=_number, na_rep="")
            + "</div>" + more)


def _ran_on(resolved: dict) -> str:
    """'cuda, fp16, 8 tiles per pass' from a segmentation store's resolved settings."""
    parts = [resolved.get("device"), resolved.get("precision"),
             f"{resolved['batch_tiles']} tile(s) per pass" if "batch_tiles" in resolved else None]
    return ", ".join(p for p in parts if p)


def methods(segment_attrs: list[dict], config: dict, timecourse: bool = True) -> tuple[str, pd.DataFrame]:
    """A methods paragraph and the settings behind it, from what the segmentation stores recorded.

    Parameters
    ----------
    segment_attrs : the ``rootpipe`` attribute of each batch's ``segmentation/{batch}.zarr``.
    config : the run's config (``traits``, ``track`` and the pixel size are read from it).
    timecourse : whether any series has several images (else tracking is left out).

    Returns
    -------
    (text, table) : a sentence to adapt for a paper, and one row per setting.
    """
    # Long on purpose: the Methods table row by row, in the order a paper's methods read.
    from rootpipe import __version__
    from rootpipe.config import pixel_size_mm

    def key(a):
        return repr((a.get("settings"), (a.get("model") or {}).get("sha256")))

    pixel = pixel_size_mm(config)
    distinct = {key(a): a for a in segment_attrs}
    versions = sorted({a.get("version") or "(not recorded)" for a in segment_attrs})
    rows = [("rootpipe (this report)", __version__)]
    text = []
    if not distinct:
        return "", pd.DataFrame(rows, columns=["setting", "value"])
    first = next(iter(distinct.values()))
    s, model = first.get("settings") or {}, first.get("model")
    if len(distinct) > 1:
        differ = sorted({k for a in distinct.values() for k, v in (a.get("settings") or {}).items()
                         if v != s.get(k)} | ({"model"} if len({(a.get("model") or {}).get("sha256")
                                                                for a in distinct.values()}) > 1 else set()))
        rows.append(("segmentation", f"WARNING: the {len(segment_attrs)} batches were segmented with "
                     f"{len(distinct)} different settings or models (differing: {', '.join(differ)}); the "
                     "first is shown. Run again with --forcerun segment to segment all alike"))
    rows += [("segmented with rootpipe", ", ".join(versions).replace("(not recorded)",
                                                                     "(not recorded: an earlier rootpipe)")),
             ("segment method", s.get("method"))]
    if s.get("method") == "unet":
        if model:
            rows += [("model file", model["file"]), ("model SHA-256", model["sha256"]),
                     ("network", f"{model['architecture']}, {model['encoder']} encoder"),
                     ("trained on", model.get("trained_on") or "(not recorded)"),
                     *([("fine-tuned from", model["fine_tuned_from"])] if model.get("fine_tuned_from") else []),
                     *([("model's validation F1", f"{model['validation_f1']:.3f}")]
                       if model.get("validation_f1") is not None else [])]
            if (model.get("trained_on") or "").startswith("synthetic") and not model.get("fine_tuned_from"):
                rows.append(("model's training", "NOTE: synthetic images only. On real images this model can take "
                                                 "soil features for roots; fine-tune it on a few annotated images "
                                                 "of the campaign (README, 'Training a model for your images')"))
            trained_at = model.get("pixel_size_mm")
            if trained_at and pixel and not 0.8 <= trained_at / pixel <= 1.25:
                rows.append(("model scale", f"WARNING: the model was trained on images of {trained_at:g} mm per "
                                            f"pixel and this campaign's are {pixel:g}: roots appear "
                                            f"{trained_at / pixel:.1f}x as wide to it as in training. Fine-tune it "
                                            "on a few of this campaign's images (docs/segmentation.md)"))
            trained = model.get("trained_on")
            text.append(f"Roots were segmented with rootpipe {first.get('version') or __version__}, a "
                        f"{model['architecture']} with a {model['encoder']} encoder (checkpoint {model['file']}, "
                        f"SHA-256 {model['sha256'][:12]}" + (f", trained on {trained}" if trained else "") + ")")
        else:
            rows.append(("model", f"{s.get('checkpoint') or 'shipped default'} (SHA-256 not recorded: "
                                  "segmented before rootpipe recorded it)"))
            text.append(f"Roots were segmented with rootpipe's U-Net ({s.get('checkpoint') or 'shipped model'})")
        rows += [("tiles (px)", f"{s.get('tile_px')}, overlap {s.get('overlap_px')}"),
                 ("test-time flips", "yes" if s.get("tta") else "no"),
                 ("ran on", _ran_on(first.get("resolved") or {}))]
    else:
        text.append(f"Roots were segmented with rootpipe's classical ridge filter (scales "
                    f"{s.get('ridge_sigmas_px')} px)")
    rows += [("root probability threshold", s.get("threshold")),
             ("specks removed below (px)", s.get("min_object_area_px")),
             *([("centre-lines of faint roots above", s["centreline_threshold"])]
               if s.get("centreline_threshold") is not None else [])]
    text[-1] += (f"; pixels with a root probability above {s.get('threshold')} were classed as root and "
                 f"objects under {s.get('min_object_area_px')} px removed.")
    traits, track = config.get("traits") or {}, config.get("track") or {}
    rows += [("pixel size (mm)", f"{pixel:g}"),
             *([("image border left out (px)", config["border_px"])] if config.get("border_px") else []),
             *((f"traits: {k}", v) for k, v in sorted(traits.items())),
             *((f"track: {k}", v) for k, v in sorted(track.items()) if timecourse)]
    text.append(f"Root length, diameter and tip counts were measured on the masks' skeletons at "
                f"{pixel:g} mm per pixel.")
    if timecourse:
        text.append(f"Each series' images were registered to the previous timepoint "
                    f"({track.get('registration', 'translation')}) and roots matched within "
                    f"{track.get('tolerance_px', 3)} px to follow growth.")
    table = pd.DataFrame([(k, "" if v is None else str(v)) for k, v in rows], columns=["setting", "value"])
    return " ".join(text), table


def render(manifest: pd.DataFrame, traits: pd.DataFrame, growth: pd.DataFrame, results_dir: str | Path,
           gallery_images: int = 12, summary: pd.DataFrame | None = None,
           pixel_size_mm: float | None = None, methods: tuple[str, pd.DataFrame] | None = None,
           warnings: list[str] = (), figures: dict | None = None) -> str:
    """The report page as an HTML string; ``methods`` is :func:`methods`'s (text, table), ``warnings``
    ingest's warnings about the campaign (metadata rows, series fields, bit depths). Each figure's PNG
    also goes into ``figures`` (name: bytes) when it is given."""
    results_dir = Path(results_dir)
    rejected = manifest[manifest["status"] == "rejected"]
    accepted = manifest[manifest["status"] == "accepted"]
    overview = pd.DataFrame([
        ("files found", len(manifest)), ("images accepted", len(accepted)),
        ("images rejected", len(rejected)), ("images measured", len(traits)),
        ("series", accepted["series"].nunique()), ("sessions (days)", accepted["session"].nunique()),
        ("batches", accepted["batch"].nunique()),
        ("first image", str(accepted["timestamp"].min())), ("last image", str(accepted["timestamp"].max())),
        *([("pixel size (mm per pixel; every mm value depends on it)", f"{pixel_size_mm:g}")]
          if pixel_size_mm else []),
    ], columns=["", "value"])
    parts = ["<h1>rootpipe report</h1>", "<h2>Summary</h2>", _table(overview)]
    if warnings:
        parts.append(f"<h2>Warnings ({len(warnings)})</h2><ul>"
                     + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>")
    parts.append(f"<h2>Rejected files ({len(rejected)})</h2>")
    parts.append(_table(rejected[["path", "reason"]], table="manifest") if len(rejected) else "<p>None.</p>")
    parts.append("<h2>Growth per series</h2>")
    timecourse = bool(len(growth)) and growth["series"].duplicated().any()
    if not timecourse:  # a snapshot campaign (scans of plants once), or a first session
        parts.append("<p>Every series has one image so far: growth needs a second timepoint.</p>")
    else:
        parts.append(_png(growth_figure(growth), "growth", figures))
        parts += _timecourse_sections(growth, summary, figures)
    parts += confidence_section(traits)
    parts += _gallery_and_methods(traits, results_dir, gallery_images, methods, figures)
    if timecourse:
        parts.append("<h2>Growth table</h2>")
        parts.append(_table(growth.drop(columns=[c for c in ("note",) if c in growth and growth[c].eq('').all()]),
                            table="growth"))
    style = ("body{font-family:sans-serif;margin:2em;max-width:1500px} table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px} .gallery{display:flex;flex-wrap:wrap;gap:8px}"
             "figure{margin:0} figcaption{font-size:11px} img{max-width:100%;height:auto}"
             ".table{overflow-x:auto;max-width:100%} @media (max-width:900px){body{margin:0.5em}}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>rootpipe report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def _timecourse_sections(growth: pd.DataFrame, summary: pd.DataFrame | None, figures: dict | None) -> list[str]:
    """Missing rounds, single-timepoint series, the group curves and the registration flags."""
    from rootpipe.tracking.series import imaging_rounds

    parts = []
    flagged = growth[growth["registration_ok"].eq(False) | growth["note"].fillna("").str.contains("same timestamp")]
    rounds = growth["imaging_round"] if "imaging_round" in growth else imaging_rounds(growth)
    all_rounds = set(rounds.dropna())
    # Only rounds between a series' first and last image: a series planted late or ended
    # early is not missing the days outside its span.
    missing = {series: sorted(d for d in all_rounds - set(rounds[rows.index])
                              if rounds[rows.index].min() < d < rounds[rows.index].max())
               for series, rows in growth.groupby("series")}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        parts.append("<p>Series missing an imaging round (growth is measured over the longer interval): "
                     + html.escape("; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(missing.items())))
                     + "</p>")
    single = growth.groupby("series").size()
    if (single == 1).any():
        parts.append(f"<p>Series with a single timepoint (no growth yet): "
                     f"{html.escape(', '.join(single[single == 1].index))}</p>")
    if summary is not None and len(summary):
        group_by = [c for c in summary.columns if c not in ("imaging_round", "n_series", *SUMMARY_COLUMNS)]
        parts.append(f"<h2>Growth by {html.escape(', '.join(group_by) or 'campaign')}</h2>")
        parts.append(_png(summary_figure(summary, group_by), "growth_by_group", figures))
    parts.append(f"<h3>Registration flags ({len(flagged)})</h3>")
    parts.append(_table(flagged[["series", "image_id", "shift_y_px", "shift_x_px", "registration_quality", "note"]],
                        table="growth")
                 if len(flagged) else "<p>Every consecutive pair registered within limits.</p>")
    return parts


def _gallery_and_methods(traits: pd.DataFrame, results_dir: Path, gallery_images: int,
                         methods: tuple[str, pd.DataFrame] | None, figures: dict | None) -> list[str]:
    """Trait distributions, the QC gallery and the methods section."""
    from rootpipe.io.stores import read_image_level, read_mask

    parts = ["<h2>Trait distributions</h2>"]
    if len(traits):
        parts.append(_png(traits_figure(traits), "traits", figures))
    parts.append("<h2>QC gallery: masks over images</h2><div class='gallery'>")
    for row in gallery_sample(traits, gallery_images).itertuples():
        # A coarser pyramid level is plenty for a thumbnail and much cheaper to read.
        level = int(max(0, np.floor(np.log2(max(row.height_px, row.width_px) / 480))))
        rgb = read_image_level(results_dir / "images" / f"{row.batch}.zarr", row.image_id, level)
        mask = read_mask(results_dir / "segmentation" / f"{row.batch}.zarr", row.image_id)
        caption = html.escape(f"{row.file} · {row.total_length_mm:.1f} mm")
        parts.append(f"<figure>{_jpeg(overlay(rgb, mask))}<figcaption>{caption}</figcaption></figure>")
    parts.append("</div>")
    if methods is not None:
        parts.append("<h2>Methods: how these numbers were made</h2>")
        if methods[0]:
            parts.append(f"<p>{html.escape(methods[0])}</p>")
        parts.append(_table(methods[1]))
    return parts


def run(manifest_path, traits_path, growth_path, out, config: dict, figures_dir=None) -> Path:
    """Write the report page ``out``; with ``figures_dir``, also its figures there as PNG files
    (what ``snakemake --report`` shows)."""
    from rootpipe.config import pixel_size_mm

    # The stores sit beside the manifest: a report run by hand on another campaign's tables
    # must not draw its gallery and methods from the config's results_dir.
    results_dir = Path(manifest_path).parent
    summary_path = Path(growth_path).with_name("growth_summary.parquet")
    summary = pd.read_parquet(summary_path) if summary_path.exists() else None
    manifest = pd.read_parquet(manifest_path)
    batches = sorted(manifest.loc[manifest["status"] == "accepted", "batch"].dropna().unique())
    stores = [results_dir / "segmentation" / f"{b}.zarr" for b in batches]
    attrs = [dict(zarr.open_group(p, mode="r").attrs).get("rootpipe") or {} for p in stores if p.exists()]
    # Ingest's warnings live in its log (ingest runs at the start of every run): a metadata typo
    # or a missing series field must reach whoever reads the report, not only the console.
    log = results_dir / "logs" / "ingest.log"
    warnings = [line.removeprefix("ingest: warning: ") for line in
                (log.read_text(errors="replace").splitlines() if log.exists() else [])
                if line.startswith("ingest: warning: ")]
    growth = pd.read_parquet(growth_path)
    page = render(manifest, pd.read_parquet(traits_path), growth, results_dir, config["report"]["gallery_images"],
                  summary, pixel_size_mm(config), methods(attrs, config, growth["series"].duplicated().any()),
                  warnings, figures := {})
    with atomic_path(out) as tmp:
        Path(tmp).write_text(page)
    if figures_dir is not None:
        with atomic_path(figures_dir) as tmp:
            Path(tmp).mkdir()
            for name, png in figures.items():
                (Path(tmp) / f"{name}.png").write_bytes(png)
    print(f"report: {Path(out).resolve()}")
    return Path(out)
