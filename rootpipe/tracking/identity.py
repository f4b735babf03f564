"""Per-root tracking: skeleton segments followed across sessions with a persistent id.

Each session's skeleton is cut at its junctions into segments. A segment
inherits the id of the previous session's root it lies on (after
registration) when enough of its length falls on that root; otherwise it
starts a new root. Several segments may share one id, which is how a root
split by a new lateral's junction, or by a crossing, stays one root.
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], np.float32)


def segments(length_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut a skeleton at its junctions.

    Parameters
    ----------
    length_px : (H, W) per-pixel skeleton length (px), 0 off the skeleton
        (see :func:`rootpipe.traits.skeleton_length_map`).

    Returns
    -------
    labels : (H, W) int32, 0 off the skeleton, 1..n per segment; junction pixels
        join a neighbouring segment so that no length is dropped.
    lengths : (n + 1,) float64, segment lengths (px); index 0 unused.
    """
    skeleton = (length_px > 0).astype(np.uint8)
    neighbours = cv2.filter2D(skeleton.astype(np.float32), -1, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
    junction = (skeleton > 0) & (neighbours > 2.5)
    _, labels = cv2.connectedComponents(((skeleton > 0) & ~junction).astype(np.uint8), connectivity=8)
    if junction.any():
        grown = ndimage.grey_dilation(labels, size=(3, 3))
        labels = np.where(junction, grown, labels).astype(np.int32)
        if (junction & (labels == 0)).any():  # junction clusters with no segment beside them
            extra, k = ndimage.label(junction & (labels == 0), structure=np.ones((3, 3)))
            labels[extra > 0] = extra[extra > 0] + labels.max()
    labels = labels.astype(np.int32)
    lengths = np.bincount(labels.ravel(), weights=length_px.ravel().astype(np.float64))
    return labels, lengths


def inherit(labels: np.ndarray, lengths: np.ndarray, previous_ids: np.ndarray, previous_mask: np.ndarray,
            matrix: np.ndarray, tolerance_px: float, min_overlap_px: float) -> np.ndarray:
    """Root id each current segment inherits (0 = a new root).

    Parameters
    ----------
    labels, lengths : current segments (see :func:`segments`).
    previous_ids : (H, W) int32 root id on each previous skeleton pixel, 0 elsewhere.
    previous_mask : (H, W) previous root mask.
    matrix : 2x3 transform from previous to current px coordinates.
    tolerance_px : how far (px) a root may move and still be the same root.
    min_overlap_px : skeleton length (px) a segment must share with a previous root to
        inherit its id. A new lateral overlaps its parent only for about the parent's
        radius, an elongating root for all of its previous length.

    Returns
    -------
    (n + 1,) int64 root ids; index 0 unused.
    """
    shape = labels.shape
    warped_ids = cv2.warpAffine(previous_ids.astype(np.float32), matrix, shape[::-1],
                                flags=cv2.INTER_NEAREST, borderValue=0).astype(np.int64)
    warped_mask = cv2.warpAffine(previous_mask.astype(np.uint8), matrix, shape[::-1],
                                 flags=cv2.INTER_NEAREST, borderValue=0)
    # Every pixel near the previous roots takes the id of the nearest previous skeleton pixel.
    has_id = warped_ids > 0
    out = np.zeros(len(lengths), np.int64)
    if not has_id.any():
        return out
    distance, nearest = ndimage.distance_transform_edt(~has_id, return_indices=True)
    nearest_id = warped_ids[nearest[0], nearest[1]]
    near = (warped_mask > 0) | (distance <= tolerance_px)
    on = (labels > 0) & near
    if not on.any():
        return out
    votes = pd.DataFrame({"segment": labels[on], "root": nearest_id[on],
                          "length": np.ones(int(on.sum()))})
    share = votes.groupby(["segment", "root"])["length"].sum().reset_index()
    best = share.sort_values("length", ascending=False).drop_duplicates("segment")
    # Pixel counts stand in for length here: both only decide whether overlap is substantial.
    # A young root shorter than min_overlap_px cannot overlap by that much: covering most of
    # it (and more than the tolerance) is enough, or it would be a new root at each sighting.
    previous_px = np.bincount(warped_ids.ravel(), minlength=int(warped_ids.max()) + 1)
    covers = best["length"] >= np.maximum(tolerance_px, 0.8 * previous_px[best["root"].to_numpy()])
    keep = best[(best["length"] >= np.minimum(min_overlap_px, 0.5 * lengths[best["segment"].to_numpy()]))
                | covers]
    out[keep["segment"].to_numpy()] = keep["root"].to_numpy()
    return out


def id_image(labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """(H, W) root id per skeleton pixel."""
    return ids[labels].astype(np.int32) * (labels > 0)


def tips(length_px: np.ndarray) -> np.ndarray:
    """(H, W) bool: skeleton end points (one 8-neighbour)."""
    skeleton = (length_px > 0).astype(np.float32)
    neighbours = cv2.filter2D(skeleton, -1, _NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
    return (skeleton > 0) & (neighbours < 1.5)


def lengths_by_id(ids: np.ndarray, length_px: np.ndarray, where: np.ndarray) -> dict:
    """Skeleton length (px) per root id, counting only pixels in ``where``."""
    keep = (ids > 0) & where
    totals = pd.Series(length_px[keep].astype(np.float64)).groupby(ids[keep]).sum()
    return {int(k): float(v) for k, v in totals.items()}


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Add ``first_seen`` and ``last_seen`` per root, placing ``elongation_rate_mm_per_day`` last.

    The elongation rate comes with the rows (see :func:`rootpipe.tracking.series.track_series`): it compares
    a root's length within the field of view two consecutive images share, which the lengths of
    whole frames cannot give.
    """
    if rows.empty:
        return rows.drop(columns="elongation_rate_mm_per_day", errors="ignore").assign(
            first_seen=pd.Series(dtype="datetime64[ns]"), last_seen=pd.Series(dtype="datetime64[ns]"),
            elongation_rate_mm_per_day=pd.Series(dtype="float64"))
    rows = rows.sort_values(["series", "root_id", "timestamp"], ignore_index=True)
    by_root = rows.groupby(["series", "root_id"])
    rows["first_seen"] = by_root["timestamp"].transform("min")
    rows["last_seen"] = by_root["timestamp"].transform("max")
    rate = rows.pop("elongation_rate_mm_per_day") if "elongation_rate_mm_per_day" in rows else np.nan
    rows["elongation_rate_mm_per_day"] = pd.to_numeric(rate, errors="coerce")
    return rows
