"""Evaluate a segmenter against annotations: pixel scores and root-length agreement."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rootpipe.learn.annotations import UNLABELLED, load_pairs
from rootpipe.learn.metrics import centreline_band, scores


def length_agreement(predicted: np.ndarray, annotated: np.ndarray) -> dict:
    """How predicted root lengths follow annotated ones.

    Returns
    -------
    ``length_r2``: r² of the least-squares line of predicted on annotated (squared Pearson
    correlation), as segmentation papers report it; it ignores bias, so read it with
    ``length_slope`` (through the origin; 1 = no bias). ``length_r2_identity``: R² about the
    1:1 line, which bias lowers too (a model that halves every length scores r² 1, this 0 or less).
    """
    predicted, annotated = np.asarray(predicted, float), np.asarray(annotated, float)
    if len(annotated) < 2 or np.var(annotated) == 0:
        return {"length_r2": float("nan"), "length_r2_identity": float("nan"), "length_slope": float("nan")}
    slope, intercept = np.polyfit(annotated, predicted, 1)
    fitted = slope * annotated + intercept
    spread = np.sum((predicted - predicted.mean()) ** 2)  # 0 where every length is alike: r² undefined
    r2 = 1 - np.sum((predicted - fitted) ** 2) / spread if spread > 0 else float("nan")
    identity = 1 - np.sum((predicted - annotated) ** 2) / np.sum((annotated - annotated.mean()) ** 2)
    return {"length_r2": float(r2), "length_r2_identity": float(identity),
            "length_slope": float(np.sum(annotated * predicted) / np.sum(annotated**2))}


def evaluate(pairs: pd.DataFrame, settings: dict, threads: int = 1, rsml_width_px: float = 4.0,
             progress: bool = True, bit_depth: int | None = None,
             centreline_band_px: int = 0, border_px: int = 0) -> tuple[pd.DataFrame, dict]:
    """Per-image scores and lengths, and a summary.

    Parameters
    ----------
    pairs : ``image``, ``annotation``, ``annotation_type``.
    settings : the config's ``segment`` section (method, checkpoint, tiling, threshold).
    centreline_band_px : pixels beside RSML centre-line strokes left out of the pixel scores
        (:func:`rootpipe.learn.train.centreline_band`: a polyline gives no root width); lengths are
        measured on the strokes alone either way.
    border_px : pixels along every edge left out of both lengths, as the config's ``border_px``
        leaves them out of a campaign's traits (:func:`rootpipe.traits.clear_border`).

    Returns
    -------
    per_image : ``image``, ``f1``, ``dice``, ``iou``, ``precision``, ``recall``,
        ``predicted_length_px``, ``annotated_length_px`` (same trait code on both masks),
        ``confidence`` (:func:`rootpipe.segmentation.confidence.segmentation_confidence`).
    summary : pooled scores, mean per-image F1, length agreement (:func:`length_agreement`),
        ``confidence_f1_spearman`` (does the confidence rank images by their F1?).
    """
    from scipy.stats import spearmanr
    from tqdm import tqdm

    from rootpipe.learn.metrics import pool
    from rootpipe.segmentation.confidence import segmentation_confidence
    from rootpipe.segmentation.segmenter import Segmenter, to_mask
    from rootpipe.traits import clear_border, measure

    segmenter = Segmenter(settings, threads)
    rows, counts = [], []
    for (rgb, labels), image, kind in tqdm(zip(load_pairs(pairs, rsml_width_px, bit_depth), pairs["image"],
                                               pairs["annotation_type"]),
                                           total=len(pairs), desc="evaluate", unit="img", disable=not progress):
        probability = segmenter(rgb)
        mask = to_mask(probability, segmenter.settings["threshold"], settings["min_object_area_px"],
                       settings.get("centreline_threshold"), settings.get("max_object_width_px"))
        s = scores(mask, centreline_band(labels, centreline_band_px)
                   if centreline_band_px and kind == "rsml_centrelines" else labels)
        counts.append(s)
        sparse = bool((labels == UNLABELLED).any())
        # A sparse annotation marks some of the roots only: its length says nothing of the image's.
        rows.append({"image": image, **{k: s[k] for k in ("f1", "dice", "iou", "precision", "recall")},
                     "predicted_length_px": np.nan if sparse else measure(clear_border(mask, border_px))[
                         "total_length_mm"],
                     "annotated_length_px": np.nan if sparse else measure(clear_border(labels == 1, border_px))[
                         "total_length_mm"],
                     "sparse": sparse, "confidence": segmentation_confidence(probability)})
    per_image = pd.DataFrame(rows)
    summary = {f"pooled_{k}": v for k, v in pool(counts).items() if k not in ("tp", "fp", "fn")}
    summary["mean_f1"] = float(per_image["f1"].mean()) if len(per_image) else float("nan")
    dense = per_image[~per_image["sparse"]] if len(per_image) else per_image
    summary.update(length_agreement(dense["predicted_length_px"], dense["annotated_length_px"]))
    scored = per_image.dropna(subset=["f1"]) if len(per_image) else per_image
    summary["confidence_f1_spearman"] = (float(spearmanr(scored["confidence"], scored["f1"]).statistic)
                                         if len(scored) > 2 else float("nan"))
    summary["n_images"] = len(per_image)
    return per_image, summary
