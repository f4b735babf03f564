"""Synthetic images drawn: grainy soil with particles, uneven illumination, roots
rasterised with exact coverage, optical blur, sensor noise and a camera shift per visit.
"""

import dataclasses
import math

import cv2
import numpy as np

from rootpipe.synthetic.geometry import Root, _arc_length, _visible_polyline

#: Largest camera shift between visits, px (each axis).
MAX_SHIFT_PX = 6
# Supersampling factor of the root rasteriser: coverage is counted on a
# 4 x 4 sub-pixel grid, so the 0.5 threshold of the mask is exact to 1/16 px^2.
_SS = 4
# cv2 drawing takes fixed-point coordinates with this many fractional bits.
_FRAC_BITS = 4


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
