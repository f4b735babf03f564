"""Synthetic root systems: branching roots grown by a steered random walk, tapered,
with their visible length at any time and the losses between visits (px, days).
"""

import dataclasses
import math

import numpy as np

from rootpipe.io.rsml import polyline_length

#: Closest a root's outer edge comes to the frame border before shifting, px.
MARGIN_PX = 24
#: Growth-rate factor for laterals of the ``mutA`` genotype (dimensionless).
MUTANT_LATERAL_RATE = 0.75
#: Growth-rate factor for every root under ``drought`` (dimensionless).
DROUGHT_RATE = 0.85
# Distance from the border (px) at which a growing tip starts to turn away.
_STEER_PX = 40.0
# Random streams, one per purpose, so that changing one argument
# (e.g. p_disappear) leaves everything else untouched.
_STREAM_GEOMETRY, _STREAM_SOIL, _STREAM_VISIT, _STREAM_LOSS, _STREAM_SHIFT = range(5)


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


