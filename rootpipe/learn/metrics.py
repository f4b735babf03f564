"""Pixel scores of a predicted mask against an annotation: counts per image, pooled over a set,
and the centre-line band a polyline annotation leaves unscored.
"""
from __future__ import annotations

import cv2
import numpy as np

from rootpipe.learn.annotations import BACKGROUND, ROOT, UNLABELLED


def centreline_band(labels: np.ndarray, band_px: int) -> np.ndarray:
    """Centre-line strokes (RSML) with the pixels within ``band_px`` of them left unlabelled.

    A polyline tells where a root runs, not how wide it is: pixels beside the drawn stroke
    may be root, so neither the loss nor the scores should call them background.
    """
    root = (labels == ROOT).astype(np.uint8)
    size = 2 * band_px + 1
    near = cv2.dilate(root, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).astype(bool)
    out = labels.copy()
    out[near & (labels == BACKGROUND)] = UNLABELLED
    return out


def scores(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Pixel scores over labelled pixels: f1 (= dice), iou, precision, recall, and the counts."""
    valid = labels != UNLABELLED
    pred, truth = predicted.astype(bool) & valid, (labels == 1) & valid
    tp = int((pred & truth).sum())
    fp, fn = int(pred.sum()) - tp, int(truth.sum()) - tp
    return pool([{"tp": tp, "fp": fp, "fn": fn}])


def pool(counts) -> dict:
    """Scores from summed tp/fp/fn counts (pixel-pooled over images)."""
    tp = sum(c["tp"] for c in counts)
    fp = sum(c["fp"] for c in counts)
    fn = sum(c["fn"] for c in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    # No root annotated and none predicted: nothing to score (NaN), not a perfect 1.0 that
    # would rank an epoch predicting nothing first.
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
    return {"f1": f1, "dice": f1, "iou": iou, "precision": precision, "recall": recall,
            "tp": tp, "fp": fp, "fn": fn}


def score_line(result: dict) -> dict:
    """The scores a checkpoint records and an epoch prints, rounded."""
    return {k: round(v, 4) for k, v in result.items()
            if k in ("f1", "iou", "precision", "recall", "f1_pooled") or k.startswith("f1_")}
