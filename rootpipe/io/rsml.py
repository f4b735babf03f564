"""RSML (Root System Markup Language 1.0) export and import of root centre-lines.

Writing: one ``<root>`` per root given, its centre-line as a ``<polyline>`` in pixel
coordinates of the image (``x`` = column, ``y`` = row, pixel centres at integers) and
its diameter at every point as a ``<function name="diameter" domain="polyline">`` (px).
With ``parents`` a lateral is nested in its parent root, as RSML tools expect; the
stages pass the plants, primary and lateral roots that
:func:`rootpipe.traits.hierarchy.root_hierarchy` reads off the skeleton, each with the
``branch_ids`` it joins (the branches table's rows) as a property.

Reading: any RSML 1.0 file (roots nested at any depth, namespaces ignored),
with its roots' ``<polyline>`` or RootNav's ``<rootnavspline>`` (sampled like
RootNav's cardinal spline, or its control points as they are), and diameter
functions whether samples are written as ``<sample>v</sample>`` or
``<sample value="v"/>``.

Coordinates stay in pixels: ``<unit>`` and ``<resolution>`` say how many
pixels make one unit (``unit=mm, resolution=20`` for 0.05 mm/px), as SmartRoot
and RootNav write them. All arrays here are ``(n, 2)`` in (y, x) = (row,
column) order, like :mod:`rootpipe.traits`.
"""
from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from rootpipe.io.atomic import atomic_path

#: Branch type names for ``label`` attributes (skan's codes).
BRANCH_TYPE_LABELS = {0: "tip-tip", 1: "tip-junction", 2: "junction-junction",
                      3: "cycle"}


@dataclass
class RsmlRoot:
    """One root read from an RSML file.

    Attributes
    ----------
    yx : (n, 2) float array
        Centre-line, (y, x) in the file's coordinates (px for pixel-unit
        files).
    diameter : (n,) float array or None
        The ``diameter`` function, one sample per point, when the file has
        one that matches the points.
    root_id, plant_id : str
        The ``ID`` (or ``id``) attributes; generated ("1", "1.2") where
        missing.
    parent_id : str or None
        The enclosing root's id for a nested (lateral) root.
    label : str or None
    """
    yx: np.ndarray
    diameter: np.ndarray | None
    root_id: str
    plant_id: str
    parent_id: str | None = None
    label: str | None = None

    @property
    def length(self) -> float:
        """Polyline length, in the file's coordinate units."""
        return polyline_length(self.yx)


def polyline_length(yx: np.ndarray) -> float:
    """Sum of segment lengths of an (n, 2) polyline."""
    yx = np.asarray(yx, dtype=float)
    if yx.shape[0] < 2:
        return 0.0
    return float(np.hypot(*np.diff(yx, axis=0).T).sum())


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------

def _fmt(v: float) -> str:
    """Compact decimal: 3 decimals (a thousandth of a pixel) is plenty."""
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _write_metadata(rsml: ET.Element, pixel_size_mm, software: str, file_key, image_name, stem: str,
                    properties: dict) -> None:
    """The ``<metadata>`` of :func:`write_rsml`'s file: units, software, keys, property definitions."""
    meta = ET.SubElement(rsml, "metadata")
    ET.SubElement(meta, "version").text = "1.0"
    if pixel_size_mm is None:
        unit, resolution = "pixel", "1"
    else:
        unit, resolution = "mm", repr(1.0 / float(pixel_size_mm))
    ET.SubElement(meta, "unit").text = unit
    ET.SubElement(meta, "resolution").text = resolution
    ET.SubElement(meta, "last-modified").text = (
        datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    ET.SubElement(meta, "software").text = software
    ET.SubElement(meta, "user").text = "rootpipe"  # required by the RSML schema; no person drew these
    # required by the schema: a file without an image name keys by its own name
    ET.SubElement(meta, "file-key").text = str(file_key if file_key is not None else stem)
    # Declared where SmartRoot declares its diameter function.
    defs = ET.SubElement(meta, "property-definitions")
    fd = ET.SubElement(defs, "property-definition")
    ET.SubElement(fd, "label").text = "diameter"
    ET.SubElement(fd, "type").text = "float"
    ET.SubElement(fd, "unit").text = "pixel"
    for label, kind in properties.items():
        rd = ET.SubElement(defs, "property-definition")
        ET.SubElement(rd, "label").text = label
        ET.SubElement(rd, "type").text = kind
    if image_name is not None:
        ET.SubElement(ET.SubElement(meta, "image"), "name").text = str(image_name)


def write_rsml(paths, path, *, plant_ids=None, labels=None, image_name=None,
               file_key=None, pixel_size_mm=None, software="rootpipe", root_ids=None,
               parents=None, properties=None) -> Path:
    """Write root centre-lines with diameters as an RSML 1.0 file.

    Parameters
    ----------
    paths : sequence of (yx, diameter_px)
        Per root: (n, 2) float (y, x) px coordinates and (n,) diameters in px,
        e.g. :func:`rootpipe.traits.branch_paths` or ``measure_all().paths``.
        ``diameter_px`` may be None (no function is written).
    path : str or Path
        Output file; written atomically.
    plant_ids : sequence of int, optional
        Plant (connected root object) of each path, e.g. the branches table's
        ``component_id``. Default: all in one plant.
    labels : sequence of str, optional
        ``label`` attribute of each root, e.g. branch type names
        (:data:`BRANCH_TYPE_LABELS`). Default: ``"branch"``.
    image_name : str, optional
        The image's file name, written as the metadata's ``image/name``.
    file_key : str, optional
        Written as the metadata's ``file-key`` (default: `image_name`).
    pixel_size_mm : float, optional
        With it the metadata say ``unit=mm`` and ``resolution`` = px per mm;
        without, ``unit=pixel`` and ``resolution=1``. Coordinates and
        diameters are px either way.
    software : str
    root_ids : sequence of int, optional
        The tracking's ``root_id`` of each path (0: none), written as the root's ``root_id``
        property: the same root has the same id in every file of a series.
    parents : sequence of int, optional
        Index of each root's parent root (-1: none), parents before their laterals: a lateral
        is written inside its parent's ``<root>``.
    properties : sequence of dict, optional
        More properties of each root (name: value), e.g. ``order`` and ``branch_ids``; their
        types (``integer``, ``float``, ``string``) are declared in the metadata.

    Returns
    -------
    Path
    """
    paths = list(paths)
    plant_ids = (np.zeros(len(paths), np.int64) if plant_ids is None
                 else np.asarray(plant_ids))
    if plant_ids.shape != (len(paths),):
        raise ValueError("plant_ids needs one entry per path")
    if labels is not None and len(labels) != len(paths):
        raise ValueError("labels needs one entry per path")
    for name, given in (("root_ids", root_ids), ("parents", parents), ("properties", properties)):
        if given is not None and len(given) != len(paths):
            raise ValueError(f"{name} needs one entry per path")
    parents = [-1] * len(paths) if parents is None else [int(v) for v in parents]
    if any(not -1 <= parent < i for i, parent in enumerate(parents)):
        raise ValueError("parents must name an earlier root (or -1)")
    properties = [dict(p) for p in properties] if properties is not None else [{} for _ in paths]
    if root_ids is not None:
        for props, root_id in zip(properties, root_ids):
            if root_id:
                props["root_id"] = int(root_id)
    kinds = {"root_id": "integer"} if root_ids is not None else {}
    for props in properties:
        for name, value in props.items():
            kinds.setdefault(name, "integer" if isinstance(value, (int, np.integer)) else
                             "float" if isinstance(value, (float, np.floating)) else "string")

    rsml = ET.Element("rsml")
    _write_metadata(rsml, pixel_size_mm, software, file_key if file_key is not None else image_name,
                    image_name, Path(path).stem, kinds)
    scene = ET.SubElement(rsml, "scene")
    plants = {}
    for plant in sorted(set(plant_ids.tolist())):
        # The plant's ID is its id in plant_ids (the branches table's component_id).
        plants[plant] = ET.SubElement(scene, "plant", id=str(plant), label="root object")
    written = []
    for i, item in enumerate(paths):
        yx, diameter = item[0], item[1]
        yx = np.asarray(yx, dtype=float)
        # The root's id is its index in `paths` (for branches as roots, the branches table's branch_id).
        root = ET.SubElement(
            written[parents[i]] if parents[i] >= 0 else plants[plant_ids[i].item()], "root", id=str(i),
            label="branch" if labels is None else str(labels[i]))
        written.append(root)
        if properties[i]:
            listed = ET.SubElement(root, "properties")
            for name, value in properties[i].items():
                ET.SubElement(listed, name, value=str(value))
        line = ET.SubElement(ET.SubElement(root, "geometry"), "polyline")
        # A polyline has at least two points (the schema's rule): a one-pixel root is one point twice.
        points = yx if len(yx) != 1 else np.repeat(yx, 2, axis=0)
        for y, x in points:
            ET.SubElement(line, "point", x=_fmt(x), y=_fmt(y))
        if diameter is not None:
            fn = ET.SubElement(ET.SubElement(root, "functions"), "function",
                               name="diameter", domain="polyline")
            diameter = np.asarray(diameter, dtype=float)
            for d in diameter if len(yx) != 1 else np.repeat(diameter, 2):
                ET.SubElement(fn, "sample", value=_fmt(d))
    ET.indent(rsml)
    with atomic_path(path) as tmp:
        ET.ElementTree(rsml).write(tmp, encoding="utf-8", xml_declaration=True)
    return Path(path)


# --------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------

def _tag(e: ET.Element) -> str:
    """Tag without namespace, lower case."""
    return e.tag.rsplit("}", 1)[-1].lower()


def _children(e: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in e if _tag(c) == name]


def _attr(e: ET.Element, name: str):
    """Attribute by name, ignoring case and namespace."""
    for k, v in e.attrib.items():
        if k.rsplit("}", 1)[-1].lower() == name:
            return v
    return None


def _point_xy(p: ET.Element) -> tuple[float, float]:
    """(x, y) of a ``<point>``: attributes, or ``<x>``/``<y>`` children."""
    x, y = _attr(p, "x"), _attr(p, "y")
    if x is None or y is None:
        sub = {_tag(c): c.text for c in p}
        x, y = sub.get("x"), sub.get("y")
    return float(x), float(y)


def sample_cardinal_spline(control_xy, tension=0.5, intermediate=50) -> np.ndarray:
    """Points of a cardinal spline through control points, as RootNav samples
    its ``rootnavspline``.

    Each span between control points k and k + 1 is a cubic Hermite curve
    with tangents ``(1 - tension) / 2 * (p[k+1] - p[k-1])``; the ends use
    control points reflected about the first and last. Each span gets
    `intermediate` points at t = i / (intermediate + 1) besides its control
    points.

    Parameters
    ----------
    control_xy : (n, 2) float array
    tension : float
    intermediate : int

    Returns
    -------
    (m, 2) float array, starting and ending at the first and last control
    point.
    """
    p = np.asarray(control_xy, dtype=float)
    if p.shape[0] < 2:
        return p.copy()
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
    s = (1.0 - float(tension)) / 2.0
    t = (np.arange(intermediate) + 1.0) / (intermediate + 1.0)
    t = np.concatenate([[0.0], t])[:, None]  # the span's start, then the rest
    h00 = 2 * t ** 3 - 3 * t ** 2 + 1
    h10 = t ** 3 - 2 * t ** 2 + t
    h01 = -2 * t ** 3 + 3 * t ** 2
    h11 = t ** 3 - t ** 2
    spans = []
    for k in range(p.shape[0] - 1):
        p0, p1, p2, p3 = ext[k], ext[k + 1], ext[k + 2], ext[k + 3]
        spans.append(h00 * p1 + h10 * s * (p2 - p0) + h01 * p2
                     + h11 * s * (p3 - p1))
    spans.append(p[-1:])
    return np.concatenate(spans)


def _geometry_yx(root: ET.Element, splines: str) -> np.ndarray:
    """(n, 2) (y, x) of a root's first polyline or rootnavspline."""
    for geometry in _children(root, "geometry"):
        for line in geometry:
            kind = _tag(line)
            if kind not in ("polyline", "rootnavspline"):
                continue
            xy = np.array([_point_xy(p) for p in _children(line, "point")],
                          dtype=float).reshape(-1, 2)
            if kind == "rootnavspline" and splines == "sampled":
                tension = float(_attr(line, "tension") or 0.5)
                separation = float(_attr(line, "controlpointseparation") or 40)
                # RootNav: max(3, round(separation x sample resolution 1.0)).
                n_mid = max(3, int(round(separation)))
                xy = sample_cardinal_spline(xy, tension, n_mid)
            return xy[:, ::-1].copy()
    return np.zeros((0, 2))


def _diameter(root: ET.Element, n: int) -> np.ndarray | None:
    """The root's ``diameter`` function if it has one sample per point."""
    for functions in _children(root, "functions"):
        for fn in _children(functions, "function"):
            if (_attr(fn, "name") or "").lower() != "diameter":
                continue
            samples = _children(fn, "sample")
            values = [float(_attr(s, "value") if _attr(s, "value") is not None
                            else s.text) for s in samples]
            if len(values) == n:
                return np.array(values, dtype=float)
    return None


def read_rsml(path, *, splines: str = "sampled") -> list[RsmlRoot]:
    """Every root of every plant of an RSML file, laterals included.

    Parameters
    ----------
    path : str or Path
    splines : {"sampled", "control"}
        For RootNav's ``<rootnavspline>``: the cardinal spline sampled as
        RootNav draws it (:func:`sample_cardinal_spline`; its
        ``controlpointseparation`` intermediate points per span), or the
        control points joined by straight lines.

    Returns
    -------
    list of RsmlRoot
        Parents before their laterals, in file order; coordinates as written
        in the file (px for pixel-unit files), (y, x) order.
    """
    if splines not in ("sampled", "control"):
        raise ValueError(f"splines must be 'sampled' or 'control', got {splines!r}")
    tree = ET.parse(path).getroot()
    out: list[RsmlRoot] = []

    def visit(root, plant_id, parent_id, default_id):
        root_id = _attr(root, "id") or default_id
        yx = _geometry_yx(root, splines)
        out.append(RsmlRoot(yx, _diameter(root, yx.shape[0]), str(root_id),
                            str(plant_id), parent_id, _attr(root, "label")))
        for k, child in enumerate(_children(root, "root"), start=1):
            visit(child, plant_id, str(root_id), f"{root_id}.{k}")

    plants = [e for e in tree.iter() if _tag(e) == "plant"]
    for i, plant in enumerate(plants, start=1):
        plant_id = _attr(plant, "id") or str(i)
        for k, root in enumerate(_children(plant, "root"), start=1):
            visit(root, plant_id, None, f"{plant_id}.{k}")
    return out


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _stroke_kernel(out, yx, r):  # pragma: no cover - numba
    """Set pixels of `out` whose centre lies within r of polyline `yx`."""
    h, w = out.shape
    r2 = r * r
    n = yx.shape[0]
    for k in range(max(n - 1, 1)):
        ay, ax = yx[k, 0], yx[k, 1]
        by, bx = yx[min(k + 1, n - 1), 0], yx[min(k + 1, n - 1), 1]
        dy, dx = by - ay, bx - ax
        dd = dy * dy + dx * dx
        y0 = max(int(np.floor(min(ay, by) - r)), 0)
        y1 = min(int(np.ceil(max(ay, by) + r)), h - 1)
        x0 = max(int(np.floor(min(ax, bx) - r)), 0)
        x1 = min(int(np.ceil(max(ax, bx) + r)), w - 1)
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                t = 0.0
                if dd > 0:
                    t = ((y - ay) * dy + (x - ax) * dx) / dd
                    t = min(max(t, 0.0), 1.0)
                ey = y - ay - t * dy
                ex = x - ax - t * dx
                if ey * ey + ex * ex <= r2:
                    out[y, x] = True
    return out


def render_mask(roots, shape, width_px: float = 4.0) -> np.ndarray:
    """Draw centre-lines as strokes of a given width: the pixels whose centre
    lies within ``width_px / 2`` of a polyline (round caps and joins).

    Parameters
    ----------
    roots : sequence of RsmlRoot or (n, 2) (y, x) arrays, px
    shape : (int, int)
        Image (height, width).
    width_px : float
        Stroke width (RootNav's loader draws 4 px).

    Returns
    -------
    2-D bool array
    """
    out = np.zeros(tuple(int(v) for v in shape), bool)
    for r in roots:
        yx = np.ascontiguousarray(getattr(r, "yx", r), dtype=np.float64)
        if yx.shape[0]:
            _stroke_kernel(out, yx, float(width_px) / 2)
    return out
