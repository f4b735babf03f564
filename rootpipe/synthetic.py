"""Synthetic minirhizotron campaigns with exact ground truth.

A campaign is a set of *series* (one window of one tube), each imaged at
``n_timepoints`` dates.  Every series holds one branching root system whose
full, final geometry is generated once; each timepoint shows the part of it
that has grown by then.  Images are rendered as light roots over a brown,
grainy soil with uneven illumination, optical blur, sensor noise and a small
camera shift per visit, so that they are a fair test for segmentation and for
the growth statistics further down the pipeline.

Because the geometry is known, the ground truth is exact: a binary root mask
per image (the rendered root region), the end-to-end length of every root
at every timepoint, and the camera shift applied to each image.

Layout written by :func:`make_campaign`::

    out_dir/
        metadata.csv                      tube, window, genotype, treatment
        images/{tube}_{window}_{date}.png RGB, 8 bit
        truth/{tube}_{window}_{date}.png  mask, uint8, 0 = soil, 255 = root
        truth/lengths.csv                 one row per image
        truth/roots.csv                   one row per root per image

Lengths are end to end along each root's axis (``length_px``, summed per
image into ``true_length_px``): the centre-line plus the rounded apex, and the
rounded base of a primary; ``centreline_length_px`` is the centre-line alone.

Conventions
-----------
* Coordinates are pixels, ``x`` to the right and ``y`` down; a pixel's centre
  is at its integer index.
* Time is in days since the first timepoint.
* A camera shift ``(shift_y_px, shift_x_px)`` means that scene content seen at
  ``(y, x)`` in the first image of a series is seen at
  ``(y + shift_y_px, x + shift_x_px)`` in this one.
* Growth depends on the group: ``mutA`` laterals grow at
  ``MUTANT_LATERAL_RATE`` times the wild-type rate, and every root under
  ``drought`` at ``DROUGHT_RATE`` times. The treatment effect on a series'
  root length is not those factors alone: slower laterals emerge too late for
  the campaign more often, and the geometry drawn after them differs (drought
  over control for eight series of one seed: 0.70-1.03 of the length at the
  last visit, mean 0.81).

Everything is deterministic for a given ``seed``: the same arguments give the
same bytes on disk.  Each series and each timepoint draws from its own random
stream, so the root geometry of a series does not depend on ``n_series``,
``n_timepoints`` or ``p_disappear``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

__all__ = [
    "FILENAME_PATTERN",
    "MARGIN_PX",
    "MAX_SHIFT_PX",
    "Root",
    "generate_campaign",
    "make_campaign",
    "make_root_system",
    "polyline_length",
    "visible_lengths",
]

#: Regular expression that every image file name matches.
FILENAME_PATTERN = r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}-\d{2}-\d{2})"
#: Largest camera shift between visits, px (each axis).
MAX_SHIFT_PX = 6
#: Closest a root's outer edge comes to the frame border before shifting, px.
MARGIN_PX = 24
#: Growth-rate factor for laterals of the ``mutA`` genotype (dimensionless).
MUTANT_LATERAL_RATE = 0.75
#: Growth-rate factor for every root under ``drought`` (dimensionless).
DROUGHT_RATE = 0.85

GENOTYPES = ("WT", "mutA")
TREATMENTS = ("control", "drought")
WINDOWS_PER_TUBE = 3

# Supersampling factor of the root rasteriser: coverage is counted on a
# 4 x 4 sub-pixel grid, so the 0.5 threshold of the mask is exact to 1/16 px^2.
_SS = 4
# cv2 drawing takes fixed-point coordinates with this many fractional bits.
_FRAC_BITS = 4
# Distance from the border (px) at which a growing tip starts to turn away.
_STEER_PX = 40.0

# Random streams, one per purpose, so that changing one argument
# (e.g. p_disappear) leaves everything else untouched.
_STREAM_GEOMETRY, _STREAM_SOIL, _STREAM_VISIT, _STREAM_LOSS, _STREAM_SHIFT = range(5)


# ---------------------------------------------------------------------------
# Root geometry
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Root:
    """One root of a series: final geometry plus its growth schedule.

    Attributes
    ----------
    root_id, parent_id : int
        Identifiers within the series; ``parent_id`` is -1 for a primary root.
    order : int
        Branching order: 0 primary, 1 lateral, 2 second-order lateral.
    xy : ndarray, shape (n, 2)
        Centre-line vertices ``(x, y)`` in px, scene coordinates (before the
        camera shift), base first, spaced <= 1 px.  A lateral's first vertex
        lies on its parent's centre-line.
    s : ndarray, shape (n,)
        Arc length from the base to each vertex, px.
    radius : ndarray, shape (n,)
        Root radius at each vertex, px.
    t_emerge : float
        Day at which the root starts to grow (may be negative: already
        growing before the first image).
    rate : float
        Elongation rate, px/day.
    t_gone : float
        Day from which the root has disappeared (``inf`` if never).
    rgb : tuple of float
        Base colour, 0-255.
    opacity : float
        How much the root hides the soil behind it, 0-1.
    """

    root_id: int
    parent_id: int
    order: int
    xy: np.ndarray
    s: np.ndarray
    radius: np.ndarray
    t_emerge: float
    rate: float
    t_gone: float = math.inf
    rgb: tuple[float, float, float] = (225.0, 215.0, 190.0)
    opacity: float = 1.0

    @property
    def length(self) -> float:
        """Full (final) centre-line length, px."""
        return float(self.s[-1])

    def time_at(self, s: float) -> float:
        """Day at which the tip reaches arc length ``s`` (px)."""
        return self.t_emerge + s / self.rate


def _rng(seed: int, series: int, stream: int, *more: int) -> np.random.Generator:
    """Independent random stream for one (seed, series, purpose, ...) key."""
    return np.random.default_rng([seed, series, stream, *more])


def _wrap(angle: float) -> float:
    """Wrap an angle (rad) to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _walk(rng: np.random.Generator, start: tuple[float, float], heading: float,
          length: float, box: tuple[float, float, float, float], *,
          setpoint: float, gravitropism: float, wander: float,
          persistence: float = 0.94, stop_at_bottom: bool = False) -> np.ndarray:
    """Trace a tortuous root centre-line with 1 px steps.

    The heading is a smoothed random walk (an AR(1) turning rate) pulled
    towards ``setpoint``; near the edges of ``box`` the tip is turned back
    inwards, and the walk stops rather than leave the box, so every vertex
    is inside it.

    Parameters
    ----------
    rng : numpy.random.Generator
    start : (float, float)
        First vertex ``(x, y)``, px; must lie inside ``box``.
    heading : float
        Initial direction, rad, 0 = straight down, positive towards +x.
    length : float
        Wanted length, px; the result may be shorter if the walk is stopped.
    box : (xmin, xmax, ymin, ymax)
        Allowed region for the centre-line, px.
    setpoint : float
        Preferred heading, rad (0 for gravitropic primaries, oblique for
        laterals).
    gravitropism : float
        Fraction of the heading error corrected per px, 1/px.
    wander : float
        Standard deviation of the turning-rate innovation, rad/px.
    persistence : float
        AR(1) coefficient of the turning rate per px step; higher gives
        longer, smoother bends.
    stop_at_bottom : bool
        Stop when the tip nears the bottom of ``box`` instead of turning
        (primaries just leave the field of view in reality).

    Returns
    -------
    ndarray, shape (n, 2)
        Vertices ``(x, y)`` in px, ``n >= 1``.
    """
    xmin, xmax, ymin, ymax = box
    n_steps = max(int(length), 0)
    noise = (wander * rng.standard_normal(n_steps)).tolist()
    x, y = start
    theta, omega = heading, 0.0
    xs, ys = [x], [y]
    for k in range(n_steps):
        omega = persistence * omega + noise[k]
        theta += omega - gravitropism * math.sin(theta - setpoint)
        # Repulsion from the walls grows quadratically inside the steering band.
        vx = vy = 0.0
        if x - xmin < _STEER_PX:
            vx += (1.0 - (x - xmin) / _STEER_PX) ** 2
        if xmax - x < _STEER_PX:
            vx -= (1.0 - (xmax - x) / _STEER_PX) ** 2
        if y - ymin < _STEER_PX:
            vy += (1.0 - (y - ymin) / _STEER_PX) ** 2
        if stop_at_bottom:
            if ymax - y < 0.3 * _STEER_PX:
                break
        elif ymax - y < _STEER_PX:
            vy -= (1.0 - (ymax - y) / _STEER_PX) ** 2
        if vx or vy:
            dx, dy = math.sin(theta), math.cos(theta)
            target = math.atan2(dx + 3.0 * vx, dy + 3.0 * vy)
            theta += 0.2 * _wrap(target - theta)
            omega *= 0.7
        nx, ny = x + math.sin(theta), y + math.cos(theta)
        if not (xmin <= nx <= xmax and ymin <= ny <= ymax):
            break
        x, y = nx, ny
        xs.append(x)
        ys.append(y)
    return np.column_stack([xs, ys])


def _arc_length(xy: np.ndarray) -> np.ndarray:
    """Cumulative arc length (px) at each vertex of a polyline ``(n, 2)``."""
    seg = np.hypot(*np.diff(xy, axis=0).T) if len(xy) > 1 else np.zeros(0)
    return np.concatenate([[0.0], np.cumsum(seg)])


def _taper(rng: np.random.Generator, s: np.ndarray, r_base: float, r_tip: float) -> np.ndarray:
    """Radius (px) along a root: base-to-tip taper with slow +-6 % wobble.

    The taper is concave (thick for most of the root, thinning towards the
    tip) as in real roots; the wobble mimics uneven growth.
    """
    length = max(float(s[-1]), 1.0)
    u = s / length
    r = r_tip + (r_base - r_tip) * (1.0 - u) ** 0.7
    # Wobble: a few random sinusoids along the root, wavelengths 40-200 px.
    wobble = np.zeros_like(s)
    for _ in range(3):
        wobble += np.sin(2 * np.pi * s / rng.uniform(40, 200) + rng.uniform(0, 2 * np.pi))
    return np.maximum(r * (1.0 + 0.02 * wobble), 1.0)


def _heading_at(xy: np.ndarray, i: int) -> float:
    """Local heading (rad, 0 = down) of a polyline at vertex ``i``."""
    a, b = xy[max(i - 3, 0)], xy[min(i + 3, len(xy) - 1)]
    return math.atan2(b[0] - a[0], b[1] - a[1])


def _box(shape: tuple[int, int], r: float) -> tuple[float, float, float, float]:
    """Region (xmin, xmax, ymin, ymax) in px where a centre-line of radius
    ``r`` keeps its edge ``MARGIN_PX`` inside a frame of ``shape`` (h, w)."""
    h, w = shape
    pad = MARGIN_PX + r
    return pad, w - 1 - pad, pad, h - 1 - pad


def _root_colour(rng: np.random.Generator, order: int) -> tuple[tuple[float, float, float], float]:
    """Cream/white base colour (RGB 0-255) and opacity for a new root.

    Thin roots are a little whiter and more translucent than primaries.
    """
    bright = rng.uniform(0.80, 0.98) if order == 0 else rng.uniform(0.84, 1.0)
    yellow = rng.uniform(0.84, 0.95)  # blue channel factor: cream vs white
    rgb = (238.0 * bright, 228.0 * bright, 228.0 * yellow * bright)
    opacity = 1.0 if order == 0 else rng.uniform(0.85, 1.0) if order == 1 else rng.uniform(0.8, 0.95)
    return rgb, float(opacity)


def _primaries(rng: np.random.Generator, shape: tuple[int, int], duration: float,
               rate_factor: float) -> list[Root]:
    """1-3 primary roots entering near the top and growing downwards.

    Each is already growing at the first image (emergence 10-35 % of the
    campaign before it) and would reach its full length at 75-110 % of the
    campaign (times ``1 / rate_factor``).
    """
    h, w = shape
    n = int(rng.integers(1, 4))
    # Spread the entry points over the width, jittered, so that laterals of
    # neighbours can reach and cross each other.
    slots = (np.arange(n) + 0.5) / n
    xs = (0.12 + 0.76 * slots + rng.uniform(-0.25, 0.25, n) / n) * w
    roots = []
    for j in range(n):
        r_base = rng.uniform(5.0, 7.5)          # diameter 10-15 px
        r_tip = rng.uniform(2.3, 2.8)           # diameter ~5 px
        box = _box(shape, r_base)
        start = (float(np.clip(xs[j], box[0], box[1])), box[2] + rng.uniform(0, 12))
        xy = _walk(rng, start, rng.normal(0, 0.35), rng.uniform(0.7, 1.4) * h, box,
                   setpoint=0.0, gravitropism=0.012, wander=0.0032, stop_at_bottom=True)
        s = _arc_length(xy)
        t0 = -rng.uniform(0.10, 0.35) * duration
        t_full = rng.uniform(0.75, 1.10) * duration
        rgb, opacity = _root_colour(rng, 0)
        roots.append(Root(root_id=j, parent_id=-1, order=0, xy=xy, s=s,
                          radius=_taper(rng, s, r_base, r_tip), t_emerge=t0,
                          rate=max(s[-1], 1.0) / (t_full - t0) * rate_factor,
                          rgb=rgb, opacity=opacity))
    return roots


def _laterals(rng: np.random.Generator, parent: Root, shape: tuple[int, int], duration: float,
              rate_factor: float, first_id: int) -> list[Root]:
    """Laterals of one parent, in acropetal order (oldest near the base).

    Branch points are spaced along the parent, away from its base and tip.
    A lateral emerges a lag after the parent's tip passed its branch point,
    so it only ever grows from an existing part of the parent; laterals that
    would emerge after the campaign ends are not kept.
    """
    order = parent.order + 1
    if order == 1:
        spacing, keep, s0, tip_free = (22.0, 70.0), 0.7, 35.0, 60.0
        length_range, lag_range, grow_range = (40.0, 0.33 * shape[1]), (0.10, 0.45), (0.3, 0.9)
    else:
        spacing, keep, s0, tip_free = (25.0, 60.0), 0.35, 25.0, 30.0
        length_range, lag_range, grow_range = (15.0, 60.0), (0.05, 0.30), (0.2, 0.6)
    out: list[Root] = []
    s_b = s0 + rng.uniform(0, spacing[1] - spacing[0])
    while s_b < parent.length - tip_free:
        here = s_b
        s_b += rng.uniform(*spacing)
        if rng.random() > keep:
            continue
        t_emerge = parent.time_at(here) + rng.uniform(*lag_range) * duration
        if t_emerge >= duration:
            continue
        i = int(np.searchsorted(parent.s, here))
        side = 1.0 if rng.random() < 0.5 else -1.0
        r_parent = float(parent.radius[i])
        r_base = float(np.clip(rng.uniform(0.25, 0.5) * r_parent * (1.6 if order == 1 else 1.0),
                               1.0, 3.0))
        r_tip = 1.0
        heading = _heading_at(parent.xy, i) + side * rng.uniform(0.8, 1.45)
        setpoint = side * rng.uniform(0.9, 1.35)
        xy = _walk(rng, tuple(parent.xy[i]), heading, rng.uniform(*length_range),
                   _box(shape, r_base), setpoint=setpoint,
                   gravitropism=0.006 if order == 1 else 0.003,
                   wander=0.0045 if order == 1 else 0.006, persistence=0.93)
        if len(xy) < 6:  # squeezed against the margin: no room to grow
            continue
        s = _arc_length(xy)
        rgb, opacity = _root_colour(rng, order)
        rate = s[-1] / (rng.uniform(*grow_range) * duration) * rate_factor
        out.append(Root(root_id=first_id + len(out), parent_id=parent.root_id, order=order,
                        xy=xy, s=s, radius=_taper(rng, s, r_base, r_tip),
                        t_emerge=t_emerge, rate=rate, rgb=rgb, opacity=opacity))
    return out


def make_root_system(seed: int, series: int, image_size: tuple[int, int], duration: float,
                     genotype: str = "WT", treatment: str = "control") -> list[Root]:
    """Generate the full, final root system of one series.

    Parameters
    ----------
    seed, series : int
        Campaign seed and series index; together they fix the geometry.
    image_size : (int, int)
        Frame (height, width), px.
    duration : float
        Days from the first to the last timepoint (> 0).
    genotype, treatment : str
        Group of the series; scales the elongation rates (see the module
        notes). Slower growth also leaves out the laterals that would emerge
        after the last timepoint, and the random draws of every later root
        shift with them, so two groups of one seed differ in geometry too.

    Returns
    -------
    list of Root
        Primaries first, then first-order and second-order laterals;
        ``root_id`` is the list index.
    """
    rng = _rng(seed, series, _STREAM_GEOMETRY)
    shape = (int(image_size[0]), int(image_size[1]))
    factor = DROUGHT_RATE if treatment == "drought" else 1.0
    lateral_factor = factor * (MUTANT_LATERAL_RATE if genotype == "mutA" else 1.0)
    roots = _primaries(rng, shape, duration, factor)
    for parent in list(roots):
        roots += _laterals(rng, parent, shape, duration, lateral_factor, len(roots))
    for parent in [r for r in roots if r.order == 1 and r.length > 90]:
        roots += _laterals(rng, parent, shape, duration, lateral_factor, len(roots))
    return roots


def visible_lengths(roots: list[Root], t: float) -> np.ndarray:
    """Visible centre-line length of each root at day ``t``, px.

    ``min(full length, rate * (t - t_emerge))``, clamped at 0, and 0 from the
    root's ``t_gone`` on.
    """
    out = np.array([min(r.length, max(0.0, r.rate * (t - r.t_emerge))) for r in roots])
    gone = np.array([t >= r.t_gone for r in roots], dtype=bool)
    out[gone] = 0.0
    return out


def _with_losses(roots: list[Root], rng: np.random.Generator, times: np.ndarray,
                 p_disappear: float) -> list[Root]:
    """Let some laterals disappear (decay, or grow out of the window plane).

    Each lateral, with probability ``p_disappear``, vanishes at a timepoint
    after the first one at which it was visible; a root's descendants vanish
    with it.
    """
    if p_disappear <= 0:
        return roots
    out = list(roots)
    for k, r in enumerate(roots):
        draw_gone, draw_when = rng.random(), rng.random()  # always draw: stable stream
        if r.order == 0 or draw_gone >= p_disappear:
            continue
        seen = [j for j, t in enumerate(times) if visible_lengths([r], t)[0] > 0]
        later = times[seen[0] + 1:] if seen else times[:0]
        if len(later):
            out[k] = dataclasses.replace(r, t_gone=float(later[int(draw_when * len(later))]))
    # Parents precede their laterals in the list, so one pass propagates.
    for k, r in enumerate(out):
        if r.parent_id >= 0 and out[r.parent_id].t_gone < r.t_gone:
            out[k] = dataclasses.replace(r, t_gone=out[r.parent_id].t_gone)
    return out


def _visible_polyline(root: Root, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre-line vertices (px) and radii (px) of the first ``length`` px."""
    i = int(np.searchsorted(root.s, length, side="right"))
    xy, r = root.xy[:i], root.radius[:i]
    if i < len(root.s) and root.s[i - 1] < length:
        # Cut the last segment exactly at the tip.
        f = (length - root.s[i - 1]) / (root.s[i] - root.s[i - 1])
        xy = np.vstack([xy, root.xy[i - 1] + f * (root.xy[i] - root.xy[i - 1])])
        r = np.append(r, root.radius[i - 1] + f * (root.radius[i] - root.radius[i - 1]))
    return xy, r


def end_to_end_length(root: Root, length: float) -> float:
    """Length (px) of a rendered root from end to end along its axis.

    The centre-line up to ``length`` plus the rounded ends that stick out
    beyond it: the apex always, the base only for a primary (a lateral's base
    lies inside its parent). This is what a root measured in an image is: its
    apex is where the root ends, not the centre of the apex's curvature.
    """
    if length <= 0:
        return 0.0
    xy, r = _visible_polyline(root, length)
    ends = r[-1] + (r[0] if root.parent_id < 0 else 0.0)
    return polyline_length(xy) + float(ends)


def polyline_length(xy: np.ndarray) -> float:
    """Sum of segment lengths of a polyline ``(n, 2)``, px."""
    return float(_arc_length(xy)[-1]) if len(xy) else 0.0


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Isotropic smooth noise with unit standard deviation, float32.

    White noise on a grid of spacing ``scale / 4`` px is blurred and then
    upsampled, which costs a fraction of a full-resolution blur with a
    kernel of ``scale`` px.
    """
    h, w = shape
    cell = max(scale / 4.0, 1.0)
    gh, gw = int(math.ceil(h / cell)) + 4, int(math.ceil(w / cell)) + 4
    grid = cv2.GaussianBlur(rng.standard_normal((gh, gw)).astype(np.float32), (0, 0), 2.0)
    up = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    oy, ox = int(2 * cell), int(2 * cell)
    out = up[oy:oy + h, ox:ox + w]
    return (out - out.mean()) / (out.std() + 1e-6)


@dataclasses.dataclass(frozen=True)
class _Soil:
    """What stays the same in a series' soil across visits (scene-fixed,
    padded by ``MAX_SHIFT_PX`` on every side so it can be shifted)."""

    grey: np.ndarray        # (H + 2P, W + 2P) float32, soil brightness 0-255
    particles: np.ndarray   # (n, 6): x, y, half-axis a, b (px), angle (deg), brightness delta
    tint: np.ndarray        # (3,) RGB factors turning grey into brown
    root_texture: np.ndarray  # (H + 2P, W + 2P) float32, relative brightness texture of roots
    illumination: np.ndarray  # (H, W) float32, camera-fixed light falloff (~0.8-1.2)


def _particles(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Soil particles as ellipses: rows ``x, y, a, b, angle_deg, delta``.

    Many small bright sand grains, fewer dark pores, and a few large soft
    clods, at densities per frame area that look like a loamy sand.
    """
    h, w = shape
    area = h * w / (768 * 1024)
    kinds = [  # count, (a range px), (delta range grey levels)
        (int(1400 * area), (0.6, 2.2), (25.0, 85.0)),    # sand grains, bright
        (int(600 * area), (0.8, 3.0), (8.0, 25.0)),      # silt specks, slightly bright
        (int(320 * area), (1.2, 6.0), (-45.0, -18.0)),   # pores / organic bits, dark
        (int(30 * area), (8.0, 30.0), (-22.0, -8.0)),    # dark clods
        (int(22 * area), (8.0, 28.0), (8.0, 20.0)),      # light clods
    ]
    rows = []
    for n, (a0, a1), (d0, d1) in kinds:
        a = rng.uniform(a0, a1, n)
        rows.append(np.column_stack([
            rng.uniform(0, w, n), rng.uniform(0, h, n), a, a * rng.uniform(0.5, 1.0, n),
            rng.uniform(0, 180, n), rng.uniform(d0, d1, n)]))
    return np.vstack(rows)


def _illumination(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Camera-fixed multiplicative light field, ~0.8-1.2.

    Vignetting from the ring light, a tilt from an off-centre lamp and a
    faint low-frequency blotchiness from the tube wall.
    """
    h, w = shape
    yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j].astype(np.float32)
    cy, cx = rng.uniform(-0.3, 0.3, 2)
    vignette = -rng.uniform(0.10, 0.20) * ((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0
    phi = rng.uniform(0, 2 * np.pi)
    tilt = rng.uniform(0.03, 0.08) * (np.cos(phi) * xx + np.sin(phi) * yy)
    blotch = 0.04 * _smooth_noise(rng, shape, 0.4 * max(h, w))
    light = 1.0 + vignette + tilt + blotch
    return np.clip(light / light.mean() * 1.02, 0.8, 1.2).astype(np.float32)


def _grain(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Fine granular texture: white noise blurred by ``sigma`` px, unit std."""
    g = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return g / (g.std() + 1e-6)


def _soil(rng: np.random.Generator, shape: tuple[int, int]) -> _Soil:
    """Draw the persistent soil of one series (structure, particles, light)."""
    h, w = shape
    padded = (h + 2 * MAX_SHIFT_PX, w + 2 * MAX_SHIFT_PX)
    mean = rng.uniform(68.0, 95.0)
    grey = (mean + 13.0 * _smooth_noise(rng, padded, 160.0) + 8.0 * _smooth_noise(rng, padded, 40.0)
            + 5.0 * _smooth_noise(rng, padded, 8.0) + 7.0 * _grain(rng, padded, 1.2)
            + 5.0 * _grain(rng, padded, 0.7))
    # Brown: red > green > blue, with a per-series hue so windows differ.
    tint = np.array([1.17, 0.96, 0.75]) * rng.uniform(0.95, 1.05, 3)
    texture = cv2.GaussianBlur(rng.standard_normal(padded).astype(np.float32), (0, 0), 1.8)
    texture *= 0.06 / (texture.std() + 1e-6)
    return _Soil(grey=grey.astype(np.float32), particles=_particles(rng, padded), tint=tint,
                 root_texture=texture, illumination=_illumination(rng, shape))


def _draw_particles(grey: np.ndarray, particles: np.ndarray) -> np.ndarray:
    """Add particles to a soil brightness map (returns a new float32 map).

    Small particles are drawn sharp; large clods on a separate layer that is
    blurred so they have soft edges, as aggregates out of the focal plane.
    """
    sharp = np.zeros_like(grey)
    soft = np.zeros_like(grey)
    scale = 1 << _FRAC_BITS
    for x, y, a, b, ang, d in particles.tolist():
        layer = soft if a > 7.0 else sharp
        cv2.ellipse(layer, (int(x * scale), int(y * scale)),
                    (max(int(a * scale), 1), max(int(b * scale), 1)), ang, 0, 360,
                    float(d), -1, cv2.LINE_8, _FRAC_BITS)
    return grey + sharp + cv2.GaussianBlur(soft, (0, 0), 3.0)


def _crop(field: np.ndarray, shape: tuple[int, int], shift: tuple[int, int]) -> np.ndarray:
    """Window of a padded scene-fixed field as seen with camera ``shift``."""
    h, w = shape
    y0, x0 = MAX_SHIFT_PX - shift[0], MAX_SHIFT_PX - shift[1]
    return field[y0:y0 + h, x0:x0 + w]


def _visit_soil(soil: _Soil, rng: np.random.Generator, shape: tuple[int, int],
                shift: tuple[int, int], brightness: float) -> np.ndarray:
    """RGB soil (H, W, 3) float32 as seen at one visit.

    The same soil as every other visit, except that ~8 % of the particles
    have gone and as many new ones appeared (settling, condensation), the
    finest texture is redrawn, and the moisture changes the brightness.
    The padded scene is cropped at the camera shift.
    """
    keep = rng.random(len(soil.particles)) > 0.08
    padded = soil.grey.shape
    new = _particles(rng, padded)
    new = new[rng.random(len(new)) < 0.08]
    grey = _draw_particles(soil.grey, np.vstack([soil.particles[keep], new]))
    grey += 3.0 * _grain(rng, padded, 0.7)
    grey = np.clip(_crop(grey, shape, shift) * brightness, 15.0, 200.0)
    return grey[..., None] * soil.tint.astype(np.float32)


def _rasterize_tube(xy: np.ndarray, radius: np.ndarray,
                    shape: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Area coverage (0-1) of a tube of varying radius around a polyline.

    The tube is the union of discs of radius ``radius[i]`` around densely
    resampled centre-line points, drawn on a ``_SS``-times supersampled
    canvas over the tube's bounding box and averaged back to pixels.

    Parameters
    ----------
    xy : ndarray, shape (n, 2)
        Centre-line ``(x, y)`` in image px.
    radius : ndarray, shape (n,)
        Radius at each vertex, px.
    shape : (int, int)
        Image (height, width), px.

    Returns
    -------
    coverage : ndarray, float32
        Coverage over the bounding box.
    box : (slice, slice)
        Where ``coverage`` sits in the image.
    """
    h, w = shape
    # Disc spacing h_s gives scallops of depth ~h_s^2 / (8 r): keep them < 0.04 px.
    s = _arc_length(xy)
    step = float(np.clip(0.55 * math.sqrt(radius.min()), 0.5, 1.5))
    n = max(int(math.ceil(s[-1] / step)) + 1, 2)
    si = np.linspace(0.0, s[-1], n)
    px, py, pr = np.interp(si, s, xy[:, 0]), np.interp(si, s, xy[:, 1]), np.interp(si, s, radius)
    r_max = float(pr.max())
    x0, x1 = max(int(px.min() - r_max) - 2, 0), min(int(px.max() + r_max) + 3, w)
    y0, y1 = max(int(py.min() - r_max) - 2, 0), min(int(py.max() + r_max) + 3, h)
    canvas = np.zeros(((y1 - y0) * _SS, (x1 - x0) * _SS), np.uint8)
    scale = _SS * (1 << _FRAC_BITS)
    # Pixel j spans [j - 0.5, j + 0.5]; sub-pixel J has centre (J + 0.5) / SS - 0.5.
    cx = np.rint(((px - x0 + 0.5) * _SS - 0.5) * (1 << _FRAC_BITS)).astype(np.int64).tolist()
    cy = np.rint(((py - y0 + 0.5) * _SS - 0.5) * (1 << _FRAC_BITS)).astype(np.int64).tolist()
    cr = np.rint(pr * scale).astype(np.int64).tolist()
    for X, Y, R in zip(cx, cy, cr):
        cv2.circle(canvas, (X, Y), R, 1, -1, cv2.LINE_8, _FRAC_BITS)
    cov = canvas.reshape(y1 - y0, _SS, x1 - x0, _SS).sum(axis=(1, 3), dtype=np.uint16)
    return cov.astype(np.float32) / (_SS * _SS), (slice(y0, y1), slice(x0, x1))


def _composite_roots(rgb: np.ndarray, roots: list[Root], lengths: np.ndarray, t: float,
                     duration: float, texture: np.ndarray,
                     shift: tuple[int, int]) -> np.ndarray:
    """Paint the visible roots over ``rgb`` in place; return their coverage.

    Each root is alpha-composited with its own colour, darkened towards its
    edges (a cylinder seen from the side), modulated by a scene-fixed
    texture and slightly browned with age.  Laterals are painted first so
    that a parent covers the base of its laterals.

    Returns
    -------
    ndarray, (H, W) float32
        Union coverage ``1 - prod(1 - coverage_i)``; the truth mask is this
        at >= 0.5.
    """
    h, w = rgb.shape[:2]
    clear = np.ones((h, w), np.float32)
    dy, dx = shift
    for k in sorted(range(len(roots)), key=lambda k: (-roots[k].order, k)):
        if lengths[k] <= 0:
            continue
        root = roots[k]
        xy, rad = _visible_polyline(root, lengths[k])
        cov, box = _rasterize_tube(xy + (dx, dy), rad, (h, w))
        inside = cv2.distanceTransform((cov >= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        shade = 0.74 + 0.26 * (1.0 - np.exp(-inside / 2.0))
        age = min(max(t - root.t_emerge, 0.0) / max(duration, 1e-9), 1.0)
        colour = np.asarray(root.rgb, np.float32) * (1.0 - 0.08 * age)
        paint = colour * (shade * (1.0 + texture[box]))[..., None]
        alpha = (cov * root.opacity)[..., None]
        rgb[box] = rgb[box] * (1.0 - alpha) + paint * alpha
        clear[box] *= 1.0 - cov
    return 1.0 - clear


def _finish(rgb: np.ndarray, rng: np.random.Generator, illumination: np.ndarray) -> np.ndarray:
    """Camera: illumination, optical blur (sigma 0.8-1.2 px), then sensor
    noise (sigma 4-6 grey levels, partly shared by the channels); uint8."""
    img = rgb * illumination[..., None]
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.8, 1.2))
    sigma = rng.uniform(4.0, 6.0)
    lum = rng.standard_normal(img.shape[:2], dtype=np.float32)
    chroma = rng.standard_normal(img.shape, dtype=np.float32)
    img += sigma * (0.8 * lum[..., None] + 0.6 * chroma)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Campaign
# ---------------------------------------------------------------------------

def _series_names(i: int) -> tuple[str, str]:
    """Tube and window of series ``i``: three windows per tube."""
    return f"T{i // WINDOWS_PER_TUBE + 1:02d}", f"L{i % WINDOWS_PER_TUBE + 1:02d}"


def _group(i: int) -> tuple[str, str]:
    """Genotype and treatment of series ``i``, alternated so that any four
    consecutive series cover the 2 x 2 design."""
    return GENOTYPES[i % 2], TREATMENTS[(i // 2) % 2]


def _shifts(seed: int, series: int, n_timepoints: int) -> np.ndarray:
    """Camera shift (dy, dx) per timepoint, px; (0, 0) at the first."""
    rng = _rng(seed, series, _STREAM_SHIFT)
    out = rng.integers(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1, size=(n_timepoints, 2))
    out[0] = 0
    return out


def _check_args(n_series: int, n_timepoints: int, image_size, seed: int,
                interval_days: int, p_disappear: float) -> tuple[int, int]:
    """Validate arguments; return the image shape (h, w)."""
    h, w = (int(v) for v in image_size)
    if n_series < 1 or n_timepoints < 1:
        raise ValueError("n_series and n_timepoints must be >= 1")
    if min(h, w) < 8 * MARGIN_PX:
        raise ValueError(f"image_size {image_size} too small: need >= {8 * MARGIN_PX} px a side")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if interval_days < 1 or interval_days != int(interval_days):
        raise ValueError("interval_days must be a whole number >= 1 (file names carry the date)")
    if not 0.0 <= p_disappear <= 1.0:
        raise ValueError("p_disappear must be in [0, 1]")
    return h, w


def generate_campaign(n_series: int = 6, n_timepoints: int = 4,
                      image_size: tuple[int, int] = (768, 1024), seed: int = 0,
                      pixel_size_mm: float = 0.05, start_date: str | _dt.date = "2026-05-01",
                      interval_days: int = 7, p_disappear: float = 0.0,
                      ) -> Iterator[tuple[dict, np.ndarray, np.ndarray, list[dict]]]:
    """Render a campaign in memory, one image at a time.

    Same arguments as :func:`make_campaign`, without the output folder.

    Yields
    ------
    record : dict
        The image's row of ``lengths.csv``.
    image : ndarray, (H, W, 3) uint8
        RGB image.
    mask : ndarray, (H, W) bool
        Ground-truth root region.
    roots : list of dict
        The image's rows of ``roots.csv``.
    """
    shape = _check_args(n_series, n_timepoints, image_size, seed, interval_days, p_disappear)
    start = pd.Timestamp(start_date).date()  # str, date or datetime; the time is dropped
    times = np.arange(n_timepoints, dtype=float) * interval_days
    duration = float(max(n_timepoints - 1, 1) * interval_days)
    for i in range(n_series):
        tube, window = _series_names(i)
        series = f"{tube}_{window}"
        genotype, treatment = _group(i)
        roots = make_root_system(seed, i, shape, duration, genotype, treatment)
        roots = _with_losses(roots, _rng(seed, i, _STREAM_LOSS), times, p_disappear)
        soil = _soil(_rng(seed, i, _STREAM_SOIL), shape)
        shifts = _shifts(seed, i, n_timepoints)
        for k, t in enumerate(times):
            date = (start + _dt.timedelta(days=int(t))).isoformat()
            name = f"{series}_{date}.png"
            rng = _rng(seed, i, _STREAM_VISIT, k)
            shift = (int(shifts[k, 0]), int(shifts[k, 1]))
            # Drought dries the soil, which lightens it a little over time.
            drying = 0.05 * t / duration if treatment == "drought" else 0.0
            rgb = _visit_soil(soil, rng, shape, shift, rng.uniform(0.96, 1.04) + drying)
            lengths = visible_lengths(roots, t)
            coverage = _composite_roots(rgb, roots, lengths, t, duration,
                                        _crop(soil.root_texture, shape, shift), shift)
            image = _finish(rgb, rng, soil.illumination)
            end_to_end = [end_to_end_length(r, L) for r, L in zip(roots, lengths)]
            true_px = sum(end_to_end)
            record = {"file": name, "tube": tube, "window": window, "series": series,
                      "date": date, "true_length_px": true_px,
                      "true_length_mm": true_px * pixel_size_mm,
                      "shift_y_px": shift[0], "shift_x_px": shift[1]}
            root_rows = [{"file": name, "series": series, "date": date, "root_id": r.root_id,
                          "parent_id": r.parent_id, "length_px": e, "centreline_length_px": float(L)}
                         for r, L, e in zip(roots, lengths, end_to_end)]
            yield record, image, coverage >= 0.5, root_rows


def make_campaign(out_dir, n_series: int = 6, n_timepoints: int = 4,
                  image_size: tuple[int, int] = (768, 1024), seed: int = 0,
                  pixel_size_mm: float = 0.05, start_date: str | _dt.date = "2026-05-01",
                  interval_days: int = 7, p_disappear: float = 0.0,
                  progress: bool = False, reuse: bool = False) -> pd.DataFrame:
    """Write a synthetic minirhizotron campaign with its ground truth.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder, created if needed. One that already holds images is refused
        unless they are a campaign made with the same arguments (``truth/campaign.json``),
        which is written again: a smaller campaign written over a larger one would leave
        the larger one's images among its own.
    n_series : int
        Number of series (tube windows); series ``i`` is tube
        ``T{i // 3 + 1:02d}``, window ``L{i % 3 + 1:02d}``.
    n_timepoints : int
        Number of visits per series.
    image_size : (int, int)
        Image (height, width), px; at least 192 px a side.
    seed : int
        Non-negative seed; same arguments give byte-identical files.
    pixel_size_mm : float
        Pixel size, mm/px, used for ``true_length_mm``.
    start_date : str or datetime.date
        Date of the first visit, ISO ``YYYY-MM-DD``.
    interval_days : int
        Days between visits (>= 1).
    p_disappear : float
        Probability (0-1) that a lateral disappears at a later visit.
    progress : bool
        Show a tqdm progress bar (on stderr).
    reuse : bool
        Return the truth of a campaign already there with the same arguments without
        writing it again.

    Returns
    -------
    pandas.DataFrame
        The ``truth/lengths.csv`` table: ``file, tube, window, series, date,
        true_length_px, true_length_mm, shift_y_px, shift_x_px``.
    """
    _check_args(n_series, n_timepoints, image_size, seed, interval_days, p_disappear)  # before any folder
    out = Path(out_dir)
    arguments = {"n_series": n_series, "n_timepoints": n_timepoints, "image_size": [int(v) for v in image_size],
                 "seed": seed, "pixel_size_mm": pixel_size_mm, "start_date": str(pd.Timestamp(start_date).date()),
                 "interval_days": int(interval_days), "p_disappear": p_disappear}
    recorded = out / "truth" / "campaign.json"
    same = recorded.exists() and json.loads(recorded.read_text()) == arguments
    if same and reuse and (out / "truth" / "lengths.csv").exists():
        return pd.read_csv(out / "truth" / "lengths.csv")
    held = sorted((out / "images").glob("*")) if (out / "images").is_dir() else []
    if held and not same:
        raise ValueError(f"{out / 'images'} already holds {len(held)} files ({held[0].name}, ...) that are not a "
                         "campaign made with these arguments; a campaign written there would mix with them: "
                         f"remove {out} or write to another folder")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(arguments, indent=1) + "\n")  # first: a stopped run may be re-run
    meta = pd.DataFrame([dict(zip(("tube", "window"), _series_names(i)),
                              **dict(zip(("genotype", "treatment"), _group(i))))
                         for i in range(n_series)])
    images = generate_campaign(n_series, n_timepoints, image_size, seed, pixel_size_mm,
                               start_date, interval_days, p_disappear)
    if progress:
        from tqdm.auto import tqdm
        images = tqdm(images, total=n_series * n_timepoints, desc="synthetic images")
    records, root_rows = [], []
    for record, image, mask, rows in images:
        stem = record["file"]
        if not cv2.imwrite(str(out / "images" / stem), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"could not write {out / 'images' / stem}")
        if not cv2.imwrite(str(out / "truth" / stem), mask.astype(np.uint8) * 255):
            raise OSError(f"could not write {out / 'truth' / stem}")
        records.append(record)
        root_rows += rows
    meta.to_csv(out / "metadata.csv", index=False)
    lengths = pd.DataFrame(records)
    lengths.to_csv(out / "truth" / "lengths.csv", index=False)
    pd.DataFrame(root_rows).to_csv(out / "truth" / "roots.csv", index=False)
    return lengths
