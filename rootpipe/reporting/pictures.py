"""The report's pictures, small RGB arrays drawn over the images: the mask outline, the skeleton
coloured by diameter class (as RhizoVision Explorer draws its feature image) and the roots gained
and lost between two timepoints.
"""
from __future__ import annotations

import base64

import cv2
import numpy as np

#: colours (RGB) of the diameter classes, thinnest first (Okabe-Ito: told apart by colour-blind readers)
CLASS_COLOURS = [(86, 180, 233), (0, 158, 115), (240, 228, 66), (230, 159, 0), (213, 94, 0), (204, 121, 167)]
GAINED, LOST, KEPT = (0, 158, 115), (213, 94, 0), (235, 235, 235)


def _size(shape: tuple[int, ...], max_px: int) -> tuple[int, int]:
    """(width, height) of a thumbnail of an image of ``shape``, at most ``max_px`` on its long side."""
    scale = min(1.0, max_px / max(shape[:2]))
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def _small(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if rgb.shape[1::-1] != size else rgb.copy()


def _shrink_lines(lines: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A thin-line mask at thumbnail size: any covered pixel stays set, one pixel wider."""
    small = cv2.resize(lines.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA) > 0
    return cv2.dilate(small.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0


def overlay(rgb: np.ndarray, mask: np.ndarray, max_px: int = 480) -> np.ndarray:
    """The image with the mask's outline and a light tint, scaled to at most ``max_px``."""
    size = _size(mask.shape, max_px)
    small = _small(rgb, size)
    m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    out = small.astype(np.float32)
    out[m] = 0.6 * out[m] + 0.4 * np.array([255, 0, 255], np.float32)
    edge = m & ~cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    out[edge] = (255, 0, 255)
    return out.astype(np.uint8)


def class_of(diameter_mm: np.ndarray, edges_mm) -> np.ndarray:
    """Diameter class index of each diameter: an edge belongs to the class below it (as in RVE)."""
    return np.searchsorted(np.asarray(edges_mm, float), diameter_mm, side="left")


def feature_image(rgb: np.ndarray, full_shape: tuple[int, int], paths, pixel_size_mm: float, edges_mm,
                  max_px: int = 480) -> np.ndarray:
    """The skeleton coloured by diameter class over the darkened image, as RVE's feature image.

    Parameters
    ----------
    rgb : (h, w, 3) uint8 image, any pyramid level of the image whose full size is ``full_shape``.
    paths : the image's :class:`rootpipe.traits.BranchPath` list (``yx``, ``diameter_px``: full size, px).
    pixel_size_mm : mm per full-size pixel.
    edges_mm : diameter class edges (mm), as in ``traits.diameter_classes_mm``.
    """
    size = _size(full_shape, max_px)
    out = (_small(rgb, size).astype(np.float32) * 0.35).astype(np.uint8)
    sy, sx = size[1] / full_shape[0], size[0] / full_shape[1]
    for path in paths:
        if len(path.yx) < 2:
            continue
        # cv2 draws at quarter-pixel precision with shift=2
        xy = np.round(np.column_stack([path.yx[:, 1] * sx, path.yx[:, 0] * sy]) * 4).astype(np.int32)
        d = np.asarray(path.diameter_px, float)
        classes = class_of(0.5 * (d[1:] + d[:-1]) * pixel_size_mm, edges_mm)
        for k in np.unique(classes):
            colour = CLASS_COLOURS[min(int(k), len(CLASS_COLOURS) - 1)]
            cv2.polylines(out, [xy[i:i + 2] for i in np.flatnonzero(classes == k)], False, colour, 2,
                          cv2.LINE_AA, shift=2)
    return out


def class_legend(labels: list[str]) -> list[tuple[str, str]]:
    """(label, '#rrggbb') of each diameter class, for the page's legend."""
    return [(label, "#%02x%02x%02x" % CLASS_COLOURS[min(k, len(CLASS_COLOURS) - 1)])
            for k, label in enumerate(labels)]


def change_image(rgb: np.ndarray, current_skeleton: np.ndarray, gained: np.ndarray,
                 lost_in_current: np.ndarray, max_px: int = 480) -> np.ndarray:
    """Roots kept (light grey), gained (green) and lost (orange) over the darkened current image.

    Parameters
    ----------
    rgb : (h, w, 3) uint8 current image (any pyramid level).
    current_skeleton, gained, lost_in_current : (H, W) bool, full size: the current skeleton, its
        gained pixels, and the lost skeleton of the previous image moved into the current frame.
    """
    size = _size(current_skeleton.shape, max_px)
    out = (_small(rgb, size).astype(np.float32) * 0.35).astype(np.uint8)
    out[_shrink_lines(current_skeleton & ~gained, size)] = KEPT
    out[_shrink_lines(lost_in_current, size)] = LOST
    out[_shrink_lines(gained, size)] = GAINED
    return out


def jpeg_uri(rgb: np.ndarray) -> str:
    """The picture as a ``data:`` URI (JPEG, quality 85), to embed in the page."""
    _, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode()
