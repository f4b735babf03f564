"""The report page: HTML tables, per-image QC flags and the Jinja2 template that lays it all out."""
from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np
import pandas as pd

#: median segmentation confidence below which a campaign looks out of the model's domain: below
#: every in-domain median measured (0.81-0.92); it did not catch soybean, whose median is 0.85
#: (docs/segmentation.md, "Segmentation confidence")
OUT_OF_DOMAIN_CONFIDENCE = 0.75
#: a drop in total length between consecutive images beyond this share is flagged for a look
LENGTH_DROP_FLAG = 0.3

#: columns of the per-image table, where the campaign has them
IMAGE_TABLE_COLUMNS = ["file", "series", "imaging_round", "timestamp", "total_length_mm", "length_gained_mm",
                       "length_lost_mm", "mean_diameter_mm", "n_tips", "segmentation_confidence"]


def number(v: float) -> str:
    """A table cell: fixed decimals for readings (1234.5, 26.88, 0.5), three digits for small ones."""
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def table(frame: pd.DataFrame, max_rows: int = 500, name: str = "", sortable: bool = False) -> str:
    """``frame`` as an HTML table in a box that scrolls sideways on its own (not the page).

    Parameters
    ----------
    max_rows : rows shown; a note names the file ``name`` (.csv, .parquet) that holds them all.
    sortable : the page's script sorts it by the column whose header is clicked.
    """
    shown = frame.head(max_rows).copy()
    # None and <NA> show blank, as NaN does (na_rep)
    text = [c for c in shown.columns if shown[c].dtype == object or pd.api.types.is_extension_array_dtype(shown[c])]
    shown[text] = shown[text].astype(object).where(shown[text].notna(), "")
    more = (f"<p>… and {len(frame) - max_rows} more rows: see {name} (.csv and .parquet)</p>"
            if len(frame) > max_rows else "")
    classes = "sortable" if sortable else None
    return ("<div class='table'>" + shown.to_html(index=False, escape=True, float_format=number, na_rep="",
                                                  classes=classes, border=0)
            + "</div>" + more)


def qc_flags(traits: pd.DataFrame, growth: pd.DataFrame | None) -> pd.Series:
    """Reasons to look at each image again, joined by '; ' (blank: none), indexed like ``traits``.

    Low segmentation confidence, no root found, a flagged registration or a note of the tracking
    (same timestamp, size change), and total length falling by more than ``LENGTH_DROP_FLAG`` since
    the previous image (senescence, or a segmentation that missed roots).
    """
    flags = pd.Series([[] for _ in range(len(traits))], index=traits.index, dtype=object)

    def add(where, text):
        for i in traits.index[np.asarray(where, bool)]:
            flags[i].append(text)

    if "segmentation_confidence" in traits:
        add(traits["segmentation_confidence"] < OUT_OF_DOMAIN_CONFIDENCE, "low confidence")
    if "total_length_mm" in traits:
        add(traits["total_length_mm"].fillna(0) == 0, "no root found")
    if growth is not None and len(growth):
        rows = growth.drop_duplicates("image_id").set_index("image_id").reindex(traits["image_id"])
        add(rows["registration_ok"].eq(False).to_numpy(), "registration flagged")
        add(rows["note"].fillna("").str.contains("same timestamp").to_numpy(), "same timestamp as previous")
        previous = rows["total_length_mm"] - rows["length_change_mm"]
        add((rows["length_change_mm"] < -LENGTH_DROP_FLAG * previous).to_numpy(),
            f"length fell > {LENGTH_DROP_FLAG:.0%}")
    return flags.map("; ".join)


def image_table(traits: pd.DataFrame, growth: pd.DataFrame | None) -> pd.DataFrame:
    """One row per image: its key traits, growth since the previous image and its QC flags, flagged first."""
    frame = traits.copy()
    if growth is not None and len(growth):
        extra = [c for c in ("imaging_round", "length_gained_mm", "length_lost_mm") if c in growth]
        frame = frame.merge(growth[["image_id", *extra]], on="image_id", how="left")
    frame["qc_flags"] = qc_flags(frame, growth).to_numpy()
    columns = [c for c in IMAGE_TABLE_COLUMNS if c in frame] + ["qc_flags"]
    frame = frame[columns].assign(_ok=frame["qc_flags"].eq(""))
    order = ["_ok", "series", "timestamp"] if "timestamp" in frame else ["_ok", "series"]
    return frame.sort_values(order, kind="stable").drop(columns="_ok")


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@lru_cache(maxsize=1)
def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("rootpipe.reporting", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2")


def render_page(**context) -> str:
    """The report page from the template ``templates/report.html.j2``; HTML pieces (tables) are
    passed as :class:`markupsafe.Markup`, everything else is escaped."""
    return _template().render(**context)
