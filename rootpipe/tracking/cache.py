"""Per-series tracking results kept between runs, signed with their inputs.

Each series has three files in ``{results_dir}/growth/``: ``{series}.parquet`` (its growth
rows), ``{series}.roots.parquet`` and ``{series}.state.npz`` (root identities, to carry on
from the last timepoint). All three carry the signature of the inputs they were made from;
they are one result only when the signatures agree, so a run stopped between their writes
is never read as valid.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.compat import TRACK_VERSION
from rootpipe.io.atomic import atomic_path


def series_signature(frames: pd.DataFrame, settings: dict, stamps: list) -> str:
    """Identifies a series' inputs: images, their lengths and segmentations, settings, code."""
    from rootpipe import __version__

    key = frames.sort_values("image_id")[["image_id", "total_length_mm"]].to_json(orient="values")
    blob = json.dumps([key, settings, sorted(stamps), __version__, TRACK_VERSION], sort_keys=True,
                      default=str).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def _to_parquet_signed(frame: pd.DataFrame, path: Path, signature: str) -> None:
    """Write ``frame`` with ``signature`` in the parquet file's metadata (rows may be none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"rootpipe_signature": signature.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _parquet_signature(path: Path) -> str | None:
    """The signature :func:`_to_parquet_signed` wrote, or None."""
    import pyarrow.parquet as pq

    value = (pq.read_schema(path).metadata or {}).get(b"rootpipe_signature")
    return value.decode() if value is not None else None


def _paths(cache_dir: Path, series: str) -> tuple[Path, Path, Path]:
    return (cache_dir / f"{series}.parquet", cache_dir / f"{series}.roots.parquet",
            cache_dir / f"{series}.state.npz")


def read(cache_dir: Path, series: str, frames: pd.DataFrame, signature_of) -> tuple[tuple | None, dict | None]:
    """What the cache holds for a series whose frames (sorted by time) are ``frames``.

    ``signature_of(frames)`` signs a run of frames. Returns ``(result, resume)``: ``result`` is
    ``(growth, roots)`` when the cache matches all of ``frames``; ``resume`` (for
    :func:`rootpipe.tracking.series.track_series`) when it matches their first timepoints only
    (a new timepoint arrived); both None when there is nothing to reuse.
    """
    cached, cached_roots, cached_state = _paths(cache_dir, series)
    if not (cached.exists() and cached_roots.exists() and cached_state.exists()):
        return None, None
    table = pd.read_parquet(cached)
    signature = table["signature"].iloc[0] if len(table) else None  # one per table
    with np.load(cached_state) as npz:
        saved = ({"id_image": npz["id_image"], "next_id": int(npz["next_id"])}
                 if "signature" in npz and str(npz["signature"]) == signature else None)
    if saved is None or _parquet_signature(cached_roots) != signature:
        return None, None
    if signature == signature_of(frames):
        return (table.drop(columns="signature"), pd.read_parquet(cached_roots)), None
    n = len(table)
    if (n < len(frames) and list(table["image_id"]) == list(frames["image_id"].iloc[:n])
            and signature == signature_of(frames.iloc[:n])):
        return None, {"growth": table, "roots": pd.read_parquet(cached_roots), **saved}
    return None, None


def write(cache_dir: Path, series: str, table: pd.DataFrame, roots: pd.DataFrame, state: dict,
          signature: str) -> None:
    """Keep a series' results; the growth table is written last: it marks the three valid."""
    cached, cached_roots, cached_state = _paths(cache_dir, series)
    with atomic_path(cached_state) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, id_image=state["id_image"], next_id=state["next_id"], signature=signature)
    with atomic_path(cached_roots) as tmp:
        _to_parquet_signed(roots, tmp, signature)
    with atomic_path(cached) as tmp:
        table.assign(signature=signature).to_parquet(tmp, index=False)
